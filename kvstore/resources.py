"""The app's resources: its settings, and, built on first use and released with the app, its
datastore and the thread pool on which `/v1/batch` runs its operations.

Building lazily keeps `import kvstore.wsgi` free of disk and network work (Lambda cold start,
gunicorn's master before fork), and builds each once per process after that. They are
released by `close(app)`, or when the app is garbage collected: an app a test or a server
drops takes its connections and threads with it. A datastore passed in by the caller is the
caller's to close.

One pool per app rather than one per request: threads per request would cost more than the
operations they overlap, and a fixed bound keeps a burst of batches from starting hundreds
of threads (or opening hundreds of backend connections) in one process.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app

from kvstore.datastores.base import Datastore
from kvstore.settings import Settings

EXTENSION = "kvstore.resources"

#: Operations of one process in flight at once. I/O bound (a backend round trip each), so more
#: than the cores; bounded so DynamoDB's connection pool and SQLite's writer lock are not swamped.
MAX_WORKERS = 16


class AppResources:
    """Holds what an app builds on first use; never refers back to the app."""

    def __init__(
        self, settings: Settings, build: Callable[[], Datastore], *, owns_datastore: bool
    ) -> None:
        self.settings = settings
        self._build = build
        self._owns_datastore = owns_datastore
        self._lock = threading.Lock()
        self._datastore: Datastore | None = None
        self._executor: ThreadPoolExecutor | None = None

    def datastore(self) -> Datastore:
        datastore = self._datastore
        if datastore is None:
            with self._lock:
                if self._datastore is None:
                    self._datastore = self._build()
                datastore = self._datastore
        return datastore

    def executor(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=MAX_WORKERS, thread_name_prefix="kvstore-batch"
                    )
                executor = self._executor
        return executor

    @property
    def started(self) -> bool:
        """Whether anything has been built yet."""
        return self._datastore is not None or self._executor is not None

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            datastore, self._datastore = self._datastore, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if datastore is not None and self._owns_datastore:
            datastore.close()


def init_app(
    app: Flask, settings: Settings, build: Callable[[], Datastore], *, owns_datastore: bool
) -> None:
    resources = AppResources(settings, build, owns_datastore=owns_datastore)
    app.extensions[EXTENSION] = resources
    weakref.finalize(app, resources.close)


def resources_of(app: Flask) -> AppResources:
    resources: AppResources = app.extensions[EXTENSION]
    return resources


def close(app: Flask) -> None:
    """Release the app's datastore (if it built it) and its thread pool now."""
    resources_of(app).close()


def settings_of(app: Flask) -> Settings:
    """The settings the app was built with: the one place code reads them from."""
    return resources_of(app).settings


def current_settings() -> Settings:
    return resources_of(current_app).settings


def current_datastore() -> Datastore:
    return resources_of(current_app).datastore()


def current_executor() -> ThreadPoolExecutor:
    return resources_of(current_app).executor()
