"""What a JSON API should and should not send, and hostile keys that must be only data."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.settings import Settings
from tests.processes import kvstore_server

HOSTILE_KEYS = [
    "'; DROP TABLE kv; --",
    '" OR "1"="1',
    "etc/passwd",
    "etc/shadow/../passwd".replace("/..", "/x.."),  # '..' segments are refused; this is not one
    "%",
    "_",
    "a%b_c",
    "\\",
    "kv WHERE 1=1",
    "<script>alert(1)</script>",
    "${jndi:ldap:x}",
    "ключ/値",
]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SQLiteDatastore:
    return SQLiteDatastore(tmp_path / "kv.sqlite3")


@pytest.fixture
def app(sqlite_store: SQLiteDatastore) -> Flask:
    return create_app(Settings(datastore="sqlite"), datastore=sqlite_store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/key"),
        ("GET", "/v1/key/there"),
        ("GET", "/v1/key/missing"),
        ("PUT", "/v1/key/there"),
        ("PATCH", "/v1/key/there"),
        ("GET", "/nowhere"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/v1/swagger.json"),
    ],
)
def test_every_response_says_nosniff_and_no_store(
    client: FlaskClient, sqlite_store: SQLiteDatastore, method: str, path: str
) -> None:
    sqlite_store.put("there", 1)
    response = client.open(path, method=method, json={"value": 2})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_app_is_never_in_debug_mode(app: Flask) -> None:
    assert not app.debug
    assert not app.config["PROPAGATE_EXCEPTIONS"]
    from kvstore.wsgi import app as served

    assert not served.debug


def test_an_internal_error_shows_no_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryDatastore()

    def explode(key: str, now: float) -> None:
        raise RuntimeError("secret internal detail at /srv/app/kvstore.py")

    monkeypatch.setattr(store, "_get", explode)
    app = create_app(Settings(datastore="memory"), datastore=store)
    response = app.test_client().get("/v1/key/k")
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_only_data(
    client: FlaskClient, sqlite_store: SQLiteDatastore, tmp_path: Path, key: str
) -> None:
    other = "innocent"
    sqlite_store.put(other, "kept")
    created = client.post("/v1/key", json={"key": key, "value": key})
    assert created.status_code == 201, created.get_data(as_text=True)
    location = created.headers["Location"]
    assert client.get(location).get_json()["value"] == key
    assert client.put(location, json={"value": "again"}).status_code == 200
    # Listing by the key as a prefix finds exactly it: no LIKE wildcard, no injected clause.
    listed = client.get("/v1/key", query_string={"prefix": key}).get_json()["items"]
    assert [item["key"] for item in listed] == [key]
    assert client.delete(location).status_code == 204

    with closing(sqlite3.connect(tmp_path / "kv.sqlite3")) as conn:
        rows = conn.execute("SELECT key, value FROM kv").fetchall()
    assert rows == [(other, '"kept"')]  # the table is intact and holds only the bystander
    assert not (tmp_path / "etc").exists()


def test_wildcard_prefixes_match_literally(client: FlaskClient, sqlite_store: Datastore) -> None:
    for key in ("%x", "_x", "ax", "bx"):
        sqlite_store.put(key, 1)
    for prefix, expected in (("%", ["%x"]), ("_", ["_x"]), ("a", ["ax"])):
        items = client.get("/v1/key", query_string={"prefix": prefix}).get_json()["items"]
        assert [item["key"] for item in items] == expected


@pytest.mark.slow
@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_the_server_sends_no_version_banner(tmp_path: Path, server: str) -> None:
    env = {"KVSTORE_DATASTORE": "memory"}
    with kvstore_server(env, cwd=tmp_path, args=["--server", server]) as (base, _):
        response = requests.get(f"{base}/v1/key/missing", timeout=5)
    assert response.status_code == 404
    banner = response.headers.get("Server", "")
    assert banner in ("", server), f"version banner: {banner!r}"
    assert "X-Powered-By" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
