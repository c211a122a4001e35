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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
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
from tests.postgres_proxy import PostgresProxy
from tests.postgres_servers import FAST, PostgresCluster, own_server

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
    proxy.set_mode("lose_response")
    assert_unavailable(client.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'}))
    assert proxy.seen["lose_response"] == 1
    proxy.set_mode("pass")
    retry = client.put("/v1/key/k", json={"value": 1}, headers={"If-Match": '"1"'})
    assert retry.status_code == 412
    assert item_of(client, "k") == (1, 2)
