"""Faults in the backend: the API answers 503 problem+json with Retry-After, logs one line
saying what failed, recovers by itself, and never corrupts or double-applies anything.

DynamoDB faults are injected by a small proxy (tests/fault_proxy.py) between the app and
moto's server: the server vanishing, hanging past the read timeout, throttling, and losing
a response after the write was applied. SQLite faults are a lock held by another connection
and a read-only file. PostgreSQL faults are real ones, on a server of the module's own: it
stops and restarts, a backend is killed with `pg_terminate_backend`, a lock outlasts the
statement timeout, every connection of the pool is busy, and a relay
(tests/postgres_proxy.py) loses the answer to a write the server committed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.app import create_app
from kvstore.client import KVStoreClient, ServiceUnavailable
from kvstore.datastores.base import Datastore
from kvstore.datastores.dynamodb import DynamoDBDatastore, build_client
from kvstore.datastores.dynamodb.client import MAX_ATTEMPTS, REQUEST_BUDGET_S, call_budget_s
from kvstore.datastores.dynamodb.table import create_table
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.import_export import Importer
from kvstore.media import MERGE_PATCH
from kvstore.resources import resources_of
from kvstore.settings import Settings
from tests.backends import selected_backends
from tests.clients import KINDS, open_client
from tests.dynamodb_servers import DUMMY_CREDENTIALS, REGION, Server, make_client, unique_table
from tests.fault_proxy import FaultProxy
from tests.live_server import serve
from tests.postgres_proxy import PostgresProxy
from tests.postgres_servers import FAST, PostgresCluster, own_server

pytestmark = pytest.mark.slow

T = TypeVar("T")


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


@pytest.fixture(autouse=True)
def _capture_kvstore_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """caplog listens at the root logger, which the `kvstore` logger does not propagate to."""
    logger = logging.getLogger("kvstore")
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


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
    """The API on DynamoDB through the proxy, with short timeouts and two attempts in all.

    Short, yet long enough that moto's reply on a busy host is not taken for a hung server:
    only the proxy's stalls and lost answers time out."""
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
            connect_timeout=1.5,
            read_timeout=1.5,
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
    """The write lands, every answer is lost, the client retries: it is applied exactly once."""
    assert dynamodb.put("/v1/key/k", json={"value": 0}).status_code == 201

    proxy.set_mode("lose_response")
    first = dynamodb.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert_unavailable(first)  # the write's answer was lost, and the read that would tell
    assert first.get_json()["type"] == "urn:kvstore:problem:write-outcome-unknown"
    assert proxy.operations["PutItem"] == 1  # never re-sent

    proxy.set_mode("pass")
    retry = dynamodb.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert retry.status_code == 412  # the first attempt had landed: not applied again
    item = dynamodb.get("/v1/key/k").get_json()
    assert (item["value"], item["version"]) == (1, 2)


class LostWrite(NamedTuple):
    """A write whose answer is lost after DynamoDB applied it, and what it must come to."""

    seeded: bool  # the key exists (version 1) before the write
    method: str
    path: str
    headers: dict[str, str]
    body: object
    lost: str  # the DynamoDB operation whose answer is lost
    status: int  # what the write answers
    version: int | None  # the key's version afterwards; None: it is gone
    content_type: str = "application/json"


def put_op(**extra: object) -> dict[str, object]:
    return {"operations": [{"op": "put", "key": "k", "value": "w", **extra}]}


LOST_WRITES = {
    "put": LostWrite(True, "PUT", "/v1/key/k", {}, {"value": "w"}, "UpdateItem", 200, 2),
    "put-new": LostWrite(False, "PUT", "/v1/key/k", {}, {"value": "w"}, "UpdateItem", 201, 1),
    "put-if-match-any": LostWrite(
        True, "PUT", "/v1/key/k", {"If-Match": "*"}, {"value": "w"}, "UpdateItem", 200, 2
    ),
    "put-if-none-match": LostWrite(
        False, "PUT", "/v1/key/k", {"If-None-Match": "*"}, {"value": "w"}, "PutItem", 201, 1
    ),
    "put-if-match-version": LostWrite(
        True, "PUT", "/v1/key/k", {"If-Match": '"1"'}, {"value": "w"}, "PutItem", 200, 2
    ),
    "post": LostWrite(False, "POST", "/v1/key", {}, {"key": "k", "value": "w"}, "PutItem", 201, 1),
    "delete": LostWrite(True, "DELETE", "/v1/key/k", {}, None, "DeleteItem", 204, None),
    "delete-if-match-version": LostWrite(
        True, "DELETE", "/v1/key/k", {"If-Match": '"1"'}, None, "DeleteItem", 204, None
    ),
    "patch": LostWrite(
        True, "PATCH", "/v1/key/k", {}, "w", "PutItem", 200, 2, content_type=MERGE_PATCH
    ),
    "batch-put": LostWrite(True, "POST", "/v1/batch", {}, put_op(), "UpdateItem", 200, 2),
    "batch-patch": LostWrite(
        True,
        "POST",
        "/v1/batch",
        {},
        {"operations": [{"op": "patch", "key": "k", "patch": "w"}]},
        "PutItem",
        200,
        2,
    ),
    "batch-put-if-version": LostWrite(
        True, "POST", "/v1/batch", {}, put_op(if_version=1), "PutItem", 200, 2
    ),
    "batch-delete": LostWrite(
        True,
        "POST",
        "/v1/batch",
        {},
        {"operations": [{"op": "delete", "key": "k"}]},
        "DeleteItem",
        200,
        None,
    ),
    "txn": LostWrite(
        True,
        "POST",
        "/v1/txn",
        {},
        {"operations": [{"op": "put", "key": "k", "value": "w"}, {"op": "delete", "key": "x"}]},
        "TransactWriteItems",
        200,
        2,
    ),
    "txn-delete": LostWrite(
        True,
        "POST",
        "/v1/txn",
        {},
        {"operations": [{"op": "delete", "key": "k", "if_version": 1}]},
        "TransactWriteItems",
        200,
        None,
    ),
}


@pytest.mark.parametrize("shape", LOST_WRITES)
def test_a_write_whose_answer_is_lost_is_applied_once_and_answered(
    dynamodb: FlaskClient, proxy: FaultProxy, shape: str
) -> None:
    """DynamoDB applied the write and its answer never came: the write is not sent again,
    and the store, finding its token (or the key gone, for a delete), answers its success."""
    write = LOST_WRITES[shape]
    if write.seeded:
        assert dynamodb.put("/v1/key/k", json={"value": "before"}).status_code == 201
    proxy.operations.clear()

    proxy.lose_next(write.lost)
    response = dynamodb.open(
        write.path,
        method=write.method,
        headers=write.headers,
        data=None if write.body is None else json.dumps(write.body),
        content_type=write.content_type,
    )

    assert response.status_code == write.status, response.get_data(as_text=True)
    if write.path == "/v1/batch":
        (result,) = response.get_json()["results"]
        assert result["status"] in (200, 204), result
    assert proxy.seen["lose_response"] == 1
    assert proxy.operations[write.lost] == 1  # sent once: never re-sent
    got = dynamodb.get("/v1/key/k")
    if write.version is None:
        assert got.status_code == 404
    else:
        assert (got.get_json()["value"], got.get_json()["version"]) == ("w", write.version)


def test_a_prefix_delete_whose_answer_is_lost_is_sent_once_and_says_so(
    dynamodb: FlaskClient, proxy: FaultProxy
) -> None:
    """BatchWriteItem deleted the keys and its answer never came: sent again, it could delete
    a value written since, so it is not; the client hears that the outcome is unknown."""
    for key in ("p/a", "p/b"):
        assert dynamodb.put(f"/v1/key/{key}", json={"value": 1}).status_code == 201
    proxy.operations.clear()

    proxy.lose_next("BatchWriteItem")
    response = dynamodb.delete("/v1/key?prefix=p/")

    assert_unavailable(response)
    assert response.get_json()["type"] == "urn:kvstore:problem:write-outcome-unknown"
    assert proxy.operations["BatchWriteItem"] == 1  # never re-sent
    assert dynamodb.get("/v1/key?prefix=p/").get_json()["items"] == []  # applied once


def test_a_lost_write_overtaken_by_another_writer_is_an_unknown_outcome_not_a_second_write(
    dynamodb: FlaskClient, proxy: FaultProxy, request: pytest.FixtureRequest
) -> None:
    """The write lands and its answer is lost; another writer replaces it before the store
    looks: the store cannot tell, so it says so (503), and it never writes again."""
    assert dynamodb.put("/v1/key/k", json={"value": "before"}).status_code == 201
    moto: Server = request.getfixturevalue("moto_server")
    admin = make_client(moto.endpoint)
    store = resources_of(dynamodb.application).datastore()
    assert isinstance(store, DynamoDBDatastore)
    table = store.table

    def overtake(operation: str) -> None:
        if operation == "GetItem":  # the store's look, after the lost write
            admin.put_item(
                TableName=table,
                Item={
                    "key": {"S": "k"},
                    "value": {"S": '"theirs"'},
                    "version": {"N": "3"},
                    "updated_at": {"S": "2026-01-01T00:00:00.000Z"},
                },
            )

    proxy.operations.clear()
    proxy.lose_next("UpdateItem")
    proxy.before_forward = overtake
    response = dynamodb.put("/v1/key/k", json={"value": "w"})
    admin.close()

    assert_unavailable(response)
    assert response.get_json()["type"] == "urn:kvstore:problem:write-outcome-unknown"
    assert proxy.operations["UpdateItem"] == 1
    item = dynamodb.get("/v1/key/k").get_json()
    assert (item["value"], item["version"]) == ("theirs", 3)


def test_a_stuck_dynamodb_is_503_inside_the_budget_with_the_shipped_client(
    proxy: FaultProxy, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the client `kvstore serve` and Lambda build (timeouts, attempts), a DynamoDB that
    never answers is a 503 with Retry-After well inside API Gateway's 29 s, for a read and a
    write, and the write is sent once."""
    moto: Server = request.getfixturevalue("moto_server")
    admin = make_client(moto.endpoint)
    table = unique_table()
    create_table(admin, table)
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    settings = Settings(
        datastore="dynamodb", dynamodb_endpoint=proxy.endpoint, dynamodb_table=table
    )
    client = build_client(settings)
    assert call_budget_s(client) <= REQUEST_BUDGET_S < 29  # so the budget holds, in time
    api_client = api(DynamoDBDatastore(client, table), "dynamodb")
    assert api_client.put("/v1/key/k", json={"value": 1}).status_code == 201
    proxy.operations.clear()

    proxy.set_mode("stall")
    for method, body in (("GET", None), ("PUT", {"value": 2})):
        started = time.monotonic()
        response = api_client.open("/v1/key/k", method=method, json=body)
        assert_unavailable(response)
        assert time.monotonic() - started < REQUEST_BUDGET_S
    assert proxy.operations["GetItem"] == 2 * MAX_ATTEMPTS  # the GET's, and the PUT's look
    assert proxy.operations["UpdateItem"] == 1
    client.close()
    admin.delete_table(TableName=table)
    admin.close()


def test_an_import_whose_answer_is_lost_writes_nothing_twice(
    dynamodb: FlaskClient, proxy: FaultProxy
) -> None:
    """`kvstore import` retries an operation answered 503; one whose write had landed is
    read again first, found written, and left alone."""
    proxy.lose_next("UpdateItem")
    proxy.lose_next("GetItem", count=2)  # the store's look is lost too: the answer is 503
    with serve(dynamodb.application, quiet=True) as url, KVStoreClient(url, retries=0) as kv:
        report = Importer(kv, sleep=lambda _: None).run([b'{"key": "k", "value": "w"}'])

    assert report.ok, report
    assert report.counts()["unchanged"] == 1  # the first attempt had landed: not written again
    assert proxy.operations["UpdateItem"] == 1
    item = dynamodb.get("/v1/key/k").get_json()
    assert (item["value"], item["version"]) == ("w", 1)


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


def as_unprivileged(run: Callable[[], T]) -> T:
    """`run()` (its result JSON) in a process that cannot write what it does not own.

    Not root: this process. Root writes read-only files regardless of permissions, so as root
    `run` goes to a forked child that first drops to `nobody`.
    """
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
    result: T = json.loads(reported)
    return result


def statuses_as_unprivileged(
    client: FlaskClient, calls: list[tuple[str, str, dict[str, object]]]
) -> list[int]:
    """The statuses of `calls` (method, path, body), made by a process that cannot write."""
    return as_unprivileged(
        lambda: [
            client.open(path, method=method, json=body).status_code for method, path, body in calls
        ]
    )


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


# -- SQLite: recovery, and files changed under the server ------------------------------------


class Workers:
    """Long-lived threads, one call at a time each: every thread keeps its own SQLite
    connection from one call to the next, as a server's threads do."""

    def __init__(self, client: FlaskClient, count: int) -> None:
        self.client = client
        self._threads = [ThreadPoolExecutor(max_workers=1) for _ in range(count)]

    def run(self, call: Callable[[FlaskClient, int], list[object]]) -> list[list[object]]:
        """`call(client, index)` on every thread at once; their results, in index order."""
        futures = [pool.submit(call, self.client, n) for n, pool in enumerate(self._threads)]
        return [future.result(timeout=30) for future in futures]

    def close(self) -> None:
        for pool in self._threads:
            pool.shutdown()


THREADS = 3


def answer(response: TestResponse) -> list[object]:
    body = response.get_json(silent=True) or {}
    return [response.status_code, body.get("detail", "")]


@pytest.fixture
def sqlite_api(sqlite_path: Path) -> Iterator[tuple[FlaskClient, Workers]]:
    """The API on SQLite with `key` stored, and threads that have each opened a connection."""
    client = api(SQLiteDatastore(sqlite_path, busy_timeout_ms=50), "sqlite")
    assert client.put("/v1/key/key", json={"value": "before"}).status_code == 201
    workers = Workers(client, THREADS)
    assert workers.run(lambda c, n: [c.get("/v1/key/key").status_code]) == [[200]] * THREADS
    yield client, workers
    workers.close()


def writes_and_readiness(client: FlaskClient, index: int) -> list[object]:
    return [
        *answer(client.put("/v1/key/key", json={"value": index})),
        *answer(client.post("/v1/key", json={"key": f"new{index}", "value": 1})),
        *answer(client.get("/readyz")),
    ]


def every_thread(client: FlaskClient, workers: Workers) -> list[list[object]]:
    """A write, a create and readiness on threads with a connection open, on this thread
    (which wrote first), and on a thread that never opened the file."""
    fresh = Workers(client, 1)
    try:
        return [
            *workers.run(writes_and_readiness),
            writes_and_readiness(client, THREADS),
            *fresh.run(writes_and_readiness),
        ]
    finally:
        fresh.close()


@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_sqlite_file_changed_under_the_server_is_503_on_every_thread_never_written(
    sqlite_api: tuple[FlaskClient, Workers], sqlite_path: Path, tmp_path: Path, change: str
) -> None:
    """Writes into an unlinked file would be acknowledged and lost at restart, and a thread
    opening the path anew would create an empty database: both are refused, naming why."""
    if change == "removed":
        sqlite_path.unlink()
    else:
        other = SQLiteDatastore(tmp_path / "other.sqlite3")
        other.put("theirs", 1)
        other.close()
        os.replace(tmp_path / "other.sqlite3", sqlite_path)
        replacement = sqlite_path.read_bytes()

    for row in every_thread(*sqlite_api):
        put, put_detail, post, _, ready, ready_detail = row
        assert (put, post, ready) == (503, 503, 503), row
        assert f"was {change}" in str(put_detail)
        assert f"was {change}" in str(ready_detail)

    if change == "removed":
        assert not sqlite_path.exists()  # no thread created a new, empty database
    else:
        assert sqlite_path.read_bytes() == replacement  # never opened, never written


def put_status(client: FlaskClient, index: int) -> list[object]:
    return [client.put("/v1/key/key", json={"value": index}).status_code]


def ready_status(client: FlaskClient, index: int) -> list[object]:
    return [client.get("/readyz").status_code]


def test_sqlite_connections_opened_read_only_write_again_once_the_file_is_writable() -> None:
    """A connection opened while the file was read-only is dropped at its first failure, so
    every thread writes again once the file is writable, and /readyz says which is which."""
    if "sqlite" not in selected_backends():
        pytest.skip("backend sqlite is not in KVSTORE_TEST_BACKENDS")
    folder = Path(tempfile.mkdtemp(prefix="kvstore-readonly-"))  # under world-traversable /tmp
    path = folder / "kv.sqlite3"
    seed = SQLiteDatastore(path)
    seed.put("key", "before")
    seed.close()
    path.chmod(0o444)
    if os.geteuid() == 0:  # the unprivileged child owns the file, so it can make it writable
        for owned in (folder, path):
            os.chown(owned, NOBODY, NOBODY)
    warm = api(MemoryDatastore(), "memory")  # imports done, so the child reads no new file
    warm.get("/readyz")
    client = api(SQLiteDatastore(path), "sqlite")  # threads queue for the lock as in service

    def run() -> list[list[object]]:
        workers = Workers(client, THREADS)
        try:
            before = workers.run(put_status)
            ready_before = workers.run(ready_status)
            for made in folder.glob("kv.sqlite3*"):  # SQLite gave -wal and -shm the file's mode
                made.chmod(0o644)
            after = workers.run(put_status)
            ready_after = workers.run(ready_status)
        finally:
            workers.close()
        phases = (before, ready_before, after, ready_after)
        return [[status for (status,) in rows] for rows in phases]

    try:
        statuses = as_unprivileged(run)
        assert statuses == [[503] * THREADS, [503] * THREADS, [200] * THREADS, [200] * THREADS]
    finally:
        shutil.rmtree(folder)


def test_sqlite_missing_table_is_503_then_recovers_on_the_same_thread(
    sqlite_api: tuple[FlaskClient, Workers], sqlite_path: Path
) -> None:
    client, _ = sqlite_api
    with closing(sqlite3.connect(sqlite_path, isolation_level=None)) as other:
        other.execute("ALTER TABLE kv RENAME TO kv_aside")
        response = client.put("/v1/key/key", json={"value": "during"})
        assert_unavailable(response)
        assert "no such table" in response.get_json()["detail"]
        assert client.get("/readyz").status_code == 503
        other.execute("ALTER TABLE kv_aside RENAME TO kv")
    assert client.put("/v1/key/key", json={"value": "after"}).get_json()["version"] == 2
    assert client.get("/readyz").status_code == 200


def test_a_corrupt_sqlite_page_is_a_lasting_500_logged_once(
    sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed = SQLiteDatastore(sqlite_path)
    for n in range(400):
        seed.put(f"k{n:04d}", "x" * 500)
    seed.close()  # the last connection checkpoints the WAL into the file
    with sqlite_path.open("r+b") as raw:
        raw.seek(4096 * 10)
        raw.write(b"\xa5" * 4096 * 4)  # pages in the middle of the table's b-tree
    client = api(SQLiteDatastore(sqlite_path), "sqlite")
    caplog.set_level(logging.INFO)

    listing = client.get("/v1/key?limit=1000")
    assert listing.status_code == 500, listing.get_data(as_text=True)
    assert listing.get_json()["type"] == "urn:kvstore:problem:datastore-corrupt"
    assert "Retry-After" not in listing.headers
    for response in (
        client.get("/v1/key/k0000"),
        client.put("/v1/key/new", json={"value": 1}),
        client.get("/readyz"),
    ):
        assert response.status_code == 500  # lasting: not "retry later"
        assert response.get_json()["type"] == "urn:kvstore:problem:datastore-corrupt"
    corruption = [line for line in failure_lines(caplog) if "corrupt" in line]
    assert len(corruption) == 1, failure_lines(caplog)


# -- PostgreSQL: its own server, stopped, restarted, its backends killed -----------------------

#: How long a request waits for a pool connection here, and for a lock before the statement
#: timeout cancels it (long enough never to fire unless a test means it to).
POOL_TIMEOUT_S = 1.0
STATEMENT_TIMEOUT_MS = 10_000
DEADLINE_S = 30


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresCluster]:
    """A server of this module's own, which its tests stop and restart."""
    yield from own_server(FAST)


class PostgresFaults:
    """The API on a fresh table through a small pool of its own (on `port`: the server's, or
    a relay's), its sessions named so that a superuser beside it can find them."""

    def __init__(
        self,
        cluster: PostgresCluster,
        *,
        size: int = 2,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
        port: int | None = None,
    ) -> None:
        from kvstore.datastores.postgres import PostgresDatastore, create_table, open_pool

        self.cluster = cluster
        self.proxy: PostgresProxy | None = None
        self.name = f"kvstore-fault-{uuid.uuid4().hex[:8]}"  # its sessions' application_name
        self.table = f"kv_{uuid.uuid4().hex[:12]}"
        create_table(cluster.dsn(), self.table)
        dsn = cluster.dsn(application_name=self.name)
        if port is not None:
            dsn = dsn.replace(f"port={cluster.port}", f"port={port}")
        self.pool = open_pool(
            dsn, size=size, statement_timeout_ms=statement_timeout_ms, timeout=POOL_TIMEOUT_S
        )
        self.pool.wait(timeout=DEADLINE_S)
        store = PostgresDatastore(self.pool, self.table)
        app = create_app(Settings(datastore="postgres", postgres_dsn=dsn), datastore=store)
        app.config["TESTING"] = True
        self.client = app.test_client()

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        """A superuser session holds `key`'s row lock until the block ends."""
        with self.cluster.admin() as conn, conn.transaction():
            conn.execute(f'SELECT 1 FROM "{self.table}" WHERE key = %s FOR UPDATE', (key,))
            yield

    def blocked_backend(self) -> int:
        """The pid of this pool's session that waits on a lock, once one does."""
        (pid,) = self.cluster.wait_for_lock_waiters(1, application_name=self.name)
        return pid


@pytest.fixture
def postgres(
    own_postgres: PostgresCluster, request: pytest.FixtureRequest
) -> Iterator[PostgresFaults]:
    """The API on the module's server; a test changes the options by indirect parametrisation
    (`proxy`: through a `PostgresProxy`). Built before the test runs, so that its log lines
    are captured (pytest captures a non-propagating logger configured before the test)."""
    options: dict[str, Any] = dict(getattr(request, "param", {}))
    proxy = PostgresProxy(own_postgres.port) if options.pop("proxy", False) else None
    faults = PostgresFaults(own_postgres, port=None if proxy is None else proxy.port, **options)
    faults.proxy = proxy
    yield faults
    faults.pool.close()
    if proxy is not None:
        proxy.close()


def item_of(client: FlaskClient, key: str) -> tuple[object, int]:
    got = client.get(f"/v1/key/{key}")
    assert got.status_code == 200, got.get_data(as_text=True)
    body = got.get_json()
    return body["value"], body["version"]


def wait_until_ready(client: FlaskClient) -> None:
    """Until /readyz answers 200: the service recovering by itself, with no one's help."""
    deadline = time.monotonic() + DEADLINE_S
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the service never recovered"


def test_postgres_down_is_503_logged_once_then_recovers(
    postgres: PostgresFaults, caplog: pytest.LogCaptureFixture
) -> None:
    faults = postgres
    client = faults.client
    assert client.put("/v1/key/k", json={"value": "before"}).status_code == 201

    faults.cluster.stop()
    try:
        caplog.clear()
        caplog.set_level(logging.INFO)
        response = client.get("/v1/key/k")
        assert_unavailable(response)
        assert response.headers["Retry-After"] == "5"
        lines = failure_lines(caplog)
        assert len(lines) == 1, lines
        assert "PostgreSQL is unreachable" in lines[0]
        assert "Connection refused" in lines[0]  # the driver's words, for the operator
        assert "Connection refused" not in response.get_json()["detail"]  # never the client's
        assert_unavailable(client.put("/v1/key/k", json={"value": "during"}))
        assert_unavailable(client.get("/readyz"))
    finally:
        faults.cluster.start()

    wait_until_ready(client)
    assert item_of(client, "k") == ("before", 1)  # the refused write left no trace
    assert client.put("/v1/key/k", json={"value": "after"}).get_json()["version"] == 2


def test_a_postgres_restart_costs_no_request(
    postgres: PostgresFaults, caplog: pytest.LogCaptureFixture
) -> None:
    """Pooled connections the restart closed are found closed before anything is sent on
    them, and replaced: the requests after it succeed at once."""
    faults = postgres
    client = faults.client
    assert client.put("/v1/key/k", json={"value": 1}).status_code == 201
    faults.cluster.restart()
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert item_of(client, "k") == (1, 1)
    updated = client.put("/v1/key/k", json={"value": 2}, headers={"If-Match": '"1"'})
    assert updated.status_code == 200
    assert failure_lines(caplog) == []


def test_a_killed_backend_is_503_and_its_write_is_not_applied(
    postgres: PostgresFaults, caplog: pytest.LogCaptureFixture
) -> None:
    faults = postgres
    client = faults.client
    assert client.put("/v1/key/k", json={"value": 0}).status_code == 201
    with faults.holding("k"), ThreadPoolExecutor(max_workers=1) as threads:
        caplog.clear()
        caplog.set_level(logging.INFO)
        blocked = threads.submit(
            client.put, "/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'}
        )
        with faults.cluster.admin() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (faults.blocked_backend(),))
        response = blocked.result(timeout=DEADLINE_S)
    assert_unavailable(response)
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines
    assert "PostgreSQL connection failed" in lines[0]
    assert "terminating connection due to administrator command" in lines[0]
    assert item_of(client, "k") == (0, 1)  # killed before it ran: not applied
    retry = client.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert retry.status_code == 200
    assert item_of(client, "k") == (1, 2)


@pytest.mark.parametrize("postgres", [{"statement_timeout_ms": 200}], indirect=True)
def test_a_statement_timeout_is_503_busy_and_changes_nothing(
    postgres: PostgresFaults, caplog: pytest.LogCaptureFixture
) -> None:
    faults = postgres
    client = faults.client
    assert client.put("/v1/key/k", json={"value": 0}).status_code == 201
    with faults.holding("k"):
        caplog.clear()
        caplog.set_level(logging.INFO)
        response = client.put("/v1/key/k", json={"value": 1})
    assert_unavailable(response)
    assert response.headers["Retry-After"] == "1"
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines
    assert "statement timeout" in lines[0]
    assert item_of(client, "k") == (0, 1)
    assert client.put("/v1/key/k", json={"value": 1}).get_json()["version"] == 2


@pytest.mark.parametrize("postgres", [{"size": 1}], indirect=True)
def test_an_exhausted_pool_is_503_busy_then_serves_again(
    postgres: PostgresFaults, caplog: pytest.LogCaptureFixture
) -> None:
    faults = postgres
    client = faults.client
    assert client.put("/v1/key/k", json={"value": 0}).status_code == 201
    with ThreadPoolExecutor(max_workers=1) as threads:
        with faults.holding("k"):
            blocked = threads.submit(client.put, "/v1/key/k", json={"value": 1})
            faults.blocked_backend()  # the pool's only connection waits on the lock
            caplog.clear()
            caplog.set_level(logging.INFO)
            response = client.get("/v1/key/other")
        assert blocked.result(timeout=DEADLINE_S).status_code == 200
    assert_unavailable(response)
    assert response.headers["Retry-After"] == "1"
    lines = failure_lines(caplog)
    assert len(lines) == 1, lines
    assert "pool exhausted" in lines[0]
    assert item_of(client, "k") == (1, 2)


@pytest.mark.parametrize("postgres", [{"size": 1, "proxy": True}], indirect=True)
def test_a_lost_answer_never_double_applies_a_postgres_write(postgres: PostgresFaults) -> None:
    """The server commits the write, its answer is lost: the client hears 503, and its retry
    is refused by its own precondition, because the first attempt had landed."""
    client, proxy = postgres.client, postgres.proxy
    assert proxy is not None
    assert client.put("/v1/key/k", json={"value": 0}).status_code == 201
    proxy.lose_next_answer()
    lost = client.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert_unavailable(lost)
    assert lost.get_json()["type"] == "urn:kvstore:problem:write-outcome-unknown"
    assert proxy.seen["lose_response"] == 1
    wait_until_ready(client)  # the pool replaces the connection the proxy closed
    retry = client.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert retry.status_code == 412
    assert item_of(client, "k") == (1, 2)


@pytest.mark.parametrize("postgres", [{"size": 1, "proxy": True}], indirect=True)
@pytest.mark.parametrize("kind", KINDS)
def test_a_postgres_write_whose_answer_is_lost_is_not_resent_by_the_client(
    postgres: PostgresFaults, kind: str
) -> None:
    """An unconditional PUT has no precondition to refuse a copy: the 503 says its outcome
    is unknown, and neither Python client sends it again, so it is applied once."""
    client, proxy = postgres.client, postgres.proxy
    assert proxy is not None
    assert client.put("/v1/key/k", json={"value": 0}).status_code == 201
    proxy.lose_next_answer()
    waits: list[float] = []
    with (
        serve(client.application, quiet=True) as url,
        open_client(kind, url, retries=3, sleep=waits.append) as api,
        pytest.raises(ServiceUnavailable) as caught,
    ):
        api.put("k", 1)
    assert caught.value.problem["type"] == "urn:kvstore:problem:write-outcome-unknown"
    assert waits == []  # never sent again
    assert proxy.seen["lose_response"] == 1
    wait_until_ready(client)  # the pool replaces the connection the proxy closed
    assert item_of(client, "k") == (1, 2)  # applied once
