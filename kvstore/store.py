"""The app's one datastore, built on first use rather than at import or app creation.

Building lazily keeps `import kvstore.wsgi` free of disk and network work (Lambda cold start,
gunicorn's master before fork), and builds it once per process after that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, current_app

from kvstore.datastores.base import Datastore

EXTENSION = "kvstore.datastore"


class DatastoreHolder:
    def __init__(self, build: Callable[[], Datastore]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._datastore: Datastore | None = None

    def get(self) -> Datastore:
        datastore = self._datastore
        if datastore is None:
            with self._lock:
                if self._datastore is None:
                    self._datastore = self._build()
                datastore = self._datastore
        return datastore

    @classmethod
    def of(cls, app: Flask) -> DatastoreHolder:
        holder: DatastoreHolder = app.extensions[EXTENSION]
        return holder


def current_datastore() -> Datastore:
    return DatastoreHolder.of(current_app).get()
