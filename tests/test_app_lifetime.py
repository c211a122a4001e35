"""An app holds its datastore and threads for as long as it lives, and no longer.

Tests create hundreds of apps; a server or a test that drops one must get back its
connections and threads, as flaskr's app closes its database.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from kvstore import resources
from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.settings import Settings


def use(app_settings: Settings) -> tuple[weakref.ref[object], weakref.ref[object], object]:
    """Builds an app, serves a write, a read and a batch; returns weak references to the
    app and its datastore, and the datastore's batch pool."""
    app = create_app(app_settings)
    client = app.test_client()
    assert client.put("/v1/key/k", json={"value": 1}).status_code == 201
    assert client.get("/v1/key/k").status_code == 200
    batch = client.post("/v1/batch", json={"operations": [{"op": "get", "key": "k"}]})
    assert batch.status_code == 200
    held = resources.resources_of(app)
    datastore, executor = held.datastore(), held.executor()
    return weakref.ref(app), weakref.ref(datastore), executor


def test_a_dropped_app_and_its_datastore_are_collected(tmp_path: Path) -> None:
    settings = Settings(
        datastore="sqlite", sqlite_path=str(tmp_path / "kv.sqlite3"), log_level="WARNING"
    )
    app, datastore, executor = use(settings)
    gc.collect()
    assert app() is None, "something still refers to the app"
    assert datastore() is None, "something still refers to the datastore"
    assert executor._shutdown  # type: ignore[attr-defined]


def test_many_apps_do_not_accumulate() -> None:
    refs = [use(Settings(datastore="memory", log_level="WARNING"))[0] for _ in range(20)]
    gc.collect()
    assert [ref for ref in refs if ref() is not None] == []


def test_close_releases_what_the_app_built(tmp_path: Path) -> None:
    app = create_app(Settings(datastore="sqlite", sqlite_path=str(tmp_path / "kv.sqlite3")))
    app.test_client().get("/readyz")
    built = resources.resources_of(app).datastore()
    assert isinstance(built, SQLiteDatastore)
    resources.close(app)
    assert not resources.resources_of(app).started


def test_an_injected_datastore_is_left_open() -> None:
    datastore = MemoryDatastore()
    app = create_app(Settings(datastore="memory", log_level="WARNING"), datastore=datastore)
    app.test_client().put("/v1/key/k", json={"value": 1})
    resources.close(app)
    assert datastore.get("k") is not None
