"""End to end: the real production server on SQLite, driven over HTTP as the README does."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import requests

from tests.processes import kvstore_server

SPORTS = ["baseball", "hockey", "football"]


def test_readme_session_against_gunicorn_on_sqlite(tmp_path: Path) -> None:
    with kvstore_server({}, cwd=tmp_path) as (base, _):
        http = requests.Session()
        created = http.post(f"{base}/v1/key", json={"key": "sports", "value": SPORTS}, timeout=5)
        assert created.status_code == 201
        assert created.headers["Location"] == "/v1/key/sports"

        got = http.get(f"{base}/v1/key/sports", timeout=5)
        assert got.json()["value"] == SPORTS
        assert got.headers["ETag"] == '"1"'

        listed = http.get(f"{base}/v1/key", timeout=5).json()
        assert [item["key"] for item in listed["items"]] == ["sports"]

        updated = http.put(
            f"{base}/v1/key/sports",
            json={"value": [*SPORTS, "soccer"]},
            headers={"If-Match": '"1"'},
            timeout=5,
        )
        assert updated.status_code == 200
        assert updated.json()["version"] == 2

        stale = http.put(
            f"{base}/v1/key/sports", json={"value": []}, headers={"If-Match": '"1"'}, timeout=5
        )
        assert stale.status_code == 412
        assert stale.headers["Content-Type"] == "application/problem+json"

        assert http.delete(f"{base}/v1/key/sports", timeout=5).status_code == 204
        missing = http.get(f"{base}/v1/key/sports", timeout=5)
        assert missing.status_code == 404
        assert missing.json()["status"] == 404

        assert http.get(f"{base}/readyz", timeout=5).status_code == 200
        assert http.get(f"{base}/nope", timeout=5).headers["Content-Type"] == (
            "application/problem+json"
        )

    # The default datastore is SQLite in ./data, WAL mode.
    database = tmp_path / "data" / "kvstore.sqlite3"
    assert database.exists()
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_several_workers_share_one_sqlite_file(tmp_path: Path) -> None:
    env = {"KVSTORE_SQLITE_PATH": str(tmp_path / "shared.sqlite3")}
    with kvstore_server(env, cwd=tmp_path, args=["--workers", "3"]) as (base, _):
        http = requests.Session()
        for i in range(30):
            response = http.put(f"{base}/v1/key/k{i}", json={"value": i}, timeout=5)
            assert response.status_code == 201
        keys = set()
        for _ in range(6):  # requests land on different workers
            body = http.get(f"{base}/v1/key?limit=1000", timeout=5).json()
            keys.add(len(body["items"]))
        assert keys == {30}
