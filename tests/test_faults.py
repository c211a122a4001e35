"""Faults in the backend: the API answers 503 problem+json with Retry-After, logs one line
saying what failed, recovers by itself, and never corrupts or double-applies anything.

DynamoDB faults are injected by a small proxy (tests/fault_proxy.py) between the app and
moto's server: the server vanishing, hanging past the read timeout, throttling, and losing
a response after the write was applied. SQLite faults are a lock held by another connection
and a read-only file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.datastores.dynamodb import DynamoDBDatastore
from kvstore.datastores.dynamodb.table import create_table
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.settings import Settings
from tests.backends import selected_backends
from tests.dynamodb_servers import DUMMY_CREDENTIALS, REGION, Server, make_client, unique_table
from tests.fault_proxy import FaultProxy

pytestmark = pytest.mark.slow


def api(store: Datastore, datastore: str) -> FlaskClient:
    app = create_app(Settings(datastore=datastore), datastore=store)
    app.config["TESTING"] = True
    return app.test_client()


def assert_unavailable(response: TestResponse) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "Traceback" not in response.get_data(as_text=True)


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the app logged about failures (the access log's line per request excluded)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name != "kvstore.access"
    ]


# -- DynamoDB behind a fault-injecting proxy -------------------------------------------------


@pytest.fixture
def proxy(request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    if "dynamodb-moto" not in selected_backends():
        pytest.skip("backend dynamodb-moto is not in KVSTORE_TEST_BACKENDS")
    moto: Server = request.getfixturevalue("moto_server")
    port = urlsplit(moto.endpoint).port
    assert port is not None
    proxy = FaultProxy(port)
    yield proxy
    proxy.close()


@pytest.fixture
def dynamodb(proxy: FaultProxy, request: pytest.FixtureRequest) -> Iterator[FlaskClient]:
    """The API on DynamoDB through the proxy, with short timeouts and two attempts in all."""
    moto: Server = request.getfixturevalue("moto_server")
    admin = make_client(moto.endpoint)
    table = unique_table()
    create_table(admin, table)
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=proxy.endpoint,
        region_name=REGION,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=0.5,
            read_timeout=0.5,
        ),
        aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
    )
    store = DynamoDBDatastore(client, table, sleep=lambda _: None)
    yield api(store, "dynamodb")
    client.close()
    admin.delete_table(TableName=table)
    admin.close()


@pytest.mark.parametrize("mode", ["drop", "stall", "throttle"])
def test_dynamodb_fault_is_503_logged_once_then_recovers(
    dynamodb: FlaskClient, proxy: FaultProxy, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    assert dynamodb.put("/v1/key/k", json={"value": "before"}).status_code == 201

    proxy.set_mode(mode)
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert_unavailable(dynamodb.get("/v1/key/k"))
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines
    assert "DynamoDB" in lines[0]
    assert "GetItem" in lines[0]
    assert proxy.seen[mode] == 2  # botocore's retry, then the 503
    assert_unavailable(dynamodb.put("/v1/key/k", json={"value": "during"}))
    assert_unavailable(dynamodb.get("/readyz"))

    proxy.set_mode("pass")  # the backend is back: no restart, no intervention
    got = dynamodb.get("/v1/key/k")
    assert got.status_code == 200
    assert got.get_json()["value"] in ("before", "during")  # a dropped request may have landed
    assert dynamodb.get("/readyz").status_code == 200


def test_a_lost_response_never_double_applies_a_conditional_write(
    dynamodb: FlaskClient, proxy: FaultProxy
) -> None:
    """The write lands, its answer is lost, everyone retries: it is applied exactly once."""
    assert dynamodb.put("/v1/key/k", json={"value": 0}).status_code == 201

    proxy.set_mode("lose_response")
    first = dynamodb.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert_unavailable(first)  # botocore retried (the condition now fails) and lost that too
    assert proxy.seen["lose_response"] == 2

    proxy.set_mode("pass")
    retry = dynamodb.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert retry.status_code == 412  # the first attempt had landed: not applied again
    item = dynamodb.get("/v1/key/k").get_json()
    assert (item["value"], item["version"]) == (1, 2)


# -- SQLite: locked, read-only ----------------------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    if "sqlite" not in selected_backends():
        pytest.skip("backend sqlite is not in KVSTORE_TEST_BACKENDS")
    return tmp_path / "kv.sqlite3"


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        return str(verdict)


def test_sqlite_locked_is_503_then_recovers(
    sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteDatastore(sqlite_path, busy_timeout_ms=50)
    client = api(store, "sqlite")
    assert client.put("/v1/key/k", json={"value": "before"}).status_code == 201

    with closing(sqlite3.connect(sqlite_path, isolation_level=None)) as locker:
        locker.execute("BEGIN EXCLUSIVE")
        caplog.clear()
        caplog.set_level(logging.INFO)
        assert_unavailable(client.put("/v1/key/k", json={"value": "during"}))
        lines = failure_lines(caplog)
        assert len(lines) == 1, lines
        assert "locked" in lines[0]
        assert_unavailable(client.delete("/v1/key/k"))
        assert_unavailable(client.post("/v1/key", json={"key": "new", "value": 1}))
        # WAL: readers are never blocked by a writer.
        assert client.get("/v1/key/k").get_json()["value"] == "before"
        locker.execute("ROLLBACK")

    updated = client.put("/v1/key/k", json={"value": "after"})
    assert updated.status_code == 200
    assert updated.get_json()["version"] == 2  # the refused writes left no trace
    assert client.get("/v1/key/new").status_code == 404
    store.close()
    assert integrity(sqlite_path) == "ok"


NOBODY = 65534


def statuses_as_unprivileged(
    client: FlaskClient, calls: list[tuple[str, str, dict[str, object]]]
) -> list[int]:
    """The statuses of `calls` (method, path, body), made by a process that cannot write the file.

    Not root: this process. Root writes read-only files regardless of permissions, so as root
    the calls run in a forked child that first drops to `nobody`.
    """

    def run() -> list[int]:
        return [
            client.open(path, method=method, json=body).status_code for method, path, body in calls
        ]

    if os.geteuid() != 0:
        return run()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, report, and leave without running pytest's exit
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, json.dumps(run()).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        reported = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    result: list[int] = json.loads(reported)
    return result


def test_sqlite_read_only_file_is_503_and_left_intact() -> None:
    if "sqlite" not in selected_backends():
        pytest.skip("backend sqlite is not in KVSTORE_TEST_BACKENDS")
    # A directory `nobody` can traverse but not write, under the world-traversable /tmp.
    folder = Path(tempfile.mkdtemp(prefix="kvstore-readonly-"))
    path = folder / "kv.sqlite3"
    try:
        seed = SQLiteDatastore(path)
        seed.put("k", "before")
        seed.close()
        path.chmod(0o444)
        folder.chmod(0o555)
        # Warm up imports on a throwaway app, so the child needs no file it cannot read.
        warm = api(MemoryDatastore(), "memory")
        warm.put("/v1/key/k", json={"value": 1})
        warm.delete("/v1/key/k")

        store = SQLiteDatastore(path, busy_timeout_ms=50)
        client = api(store, "sqlite")
        calls: list[tuple[str, str, dict[str, object]]] = [
            ("PUT", "/v1/key/k", {"value": "after"}),
            ("DELETE", "/v1/key/k", {}),
            ("POST", "/v1/key", {"key": "new", "value": 1}),
        ]
        assert statuses_as_unprivileged(client, calls) == [503, 503, 503]
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert integrity(path) == "ok"
    check = SQLiteDatastore(path)
    item = check.get("k")
    assert item is not None
    assert (item.value, item.version) == ("before", 1)
    check.close()
    shutil.rmtree(folder)
