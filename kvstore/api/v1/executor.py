"""The app's one bounded thread pool, on which `/v1/batch` runs its operations concurrently.

One pool per app rather than one per request: creating threads per request would cost more
than the operations it overlaps, and a fixed bound keeps a burst of batches from starting
hundreds of threads (or opening hundreds of backend connections) in one process. Operations
beyond the bound queue for a free worker. The pool is created on the first batch, so an app
that never serves one starts no threads; its threads end when the app is garbage collected
or the interpreter exits.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

EXTENSION = "kvstore.executor"

#: Operations of one process in flight at once. I/O bound (a backend round trip each), so more
#: than the cores; bounded so DynamoDB's connection pool and SQLite's writer lock are not swamped.
MAX_WORKERS = 16

_create_lock = threading.Lock()


def app_executor(app: Flask) -> ThreadPoolExecutor:
    """The app's pool, created once on first use (thread-safe)."""
    executor: ThreadPoolExecutor | None = app.extensions.get(EXTENSION)
    if executor is None:
        with _create_lock:
            executor = app.extensions.get(EXTENSION)
            if executor is None:
                executor = ThreadPoolExecutor(
                    max_workers=MAX_WORKERS, thread_name_prefix="kvstore-batch"
                )
                app.extensions[EXTENSION] = executor
    return executor
