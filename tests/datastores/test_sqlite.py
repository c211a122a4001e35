"""SQLite specifics the shared contract cannot see: a new file opened by many at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kvstore.datastores.sqlite import SQLiteDatastore


def test_threads_opening_a_new_file_together_all_succeed(tmp_path: Path) -> None:
    """Each thread's first connection initialises WAL; none may see 'database is locked'."""
    for attempt in range(20):
        store = SQLiteDatastore(tmp_path / f"new-{attempt}.sqlite3")
        threads = 6
        start = threading.Barrier(threads)

        def first_operation(
            i: int, store: SQLiteDatastore = store, start: threading.Barrier = start
        ) -> None:
            start.wait(timeout=10)
            if i % 2:
                store.put(f"k{i}", i)
            else:
                store.get_many(["k1", "k3"])

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(first_operation, range(threads)))  # re-raises any failure
        assert {item.key for item in store.list().items} == {"k1", "k3", "k5"}
        store.close()
