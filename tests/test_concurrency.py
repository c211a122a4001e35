"""Many clients, several worker processes, one store: no acknowledged update is lost.

Threads do read-modify-write with `If-Match` (retrying on 412) on a few shared counters,
transfers between two keys with `/v1/txn` (retrying on 409), and PATCHes appending to their
own member of one shared object. Afterwards every counter equals its acknowledged increments
exactly (and its version is one more), the transfers kept their sum, and every patch is in
the object. On SQLite the workers are separate processes on one file; on DynamoDB they share
moto's server; on PostgreSQL two separate `kvstore serve` instances of three workers each
share one database, and the threads take turns between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import requests

from tests.backends import selected_backends
from tests.dynamodb_servers import Server, make_client, server_environment, unique_table
from tests.load import Tally, append, increment, run_threads, transfer
from tests.postgres_servers import PostgresCluster, service_environment
from tests.postgres_servers import unique_table as postgres_table
from tests.processes import kvstore_server

pytestmark = pytest.mark.slow

WORKERS = ["--workers", "3", "--threads", "4"]
COUNTERS = ["counter/a", "counter/b"]
THREADS = 8
PER_THREAD = 15


#: (backend, HTTP server, instances): SQLite under both servers `kvstore serve` offers (several
#: worker processes on one file), DynamoDB under the default one, and PostgreSQL as two
#: instances of the default one (any number of machines on one database).
SETUPS = [
    ("sqlite", "granian", 1),
    ("sqlite", "gunicorn", 1),
    ("dynamodb-moto", "granian", 1),
    ("postgres", "granian", 2),
]
SELECTED = [setup for setup in SETUPS if setup[0] in selected_backends()]


@pytest.fixture(
    scope="module",
    params=SELECTED,
    ids=[f"{b}-{s}" + (f"-x{count}" if count > 1 else "") for b, s, count in SELECTED],
)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """`kvstore serve` with three workers, once or more, on the setup under test; yields the
    base URLs. One setup per backend for the module: the tests use disjoint keys."""
    tmp_path = tmp_path_factory.mktemp("concurrency")
    backend, http_server, count = request.param
    if backend == "sqlite":
        env = {"KVSTORE_DATASTORE": "sqlite", "KVSTORE_SQLITE_PATH": str(tmp_path / "kv.db")}
    elif backend == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres_server")
        table = postgres_table()
        env = service_environment(cluster, table)
    else:
        moto: Server = request.getfixturevalue("moto_server")
        table = unique_table()
        env = server_environment(moto.endpoint, table)
        env["KVSTORE_DYNAMODB_CREATE_TABLE"] = "true"
    args = ["--server", http_server, *WORKERS]
    with ExitStack() as stack:
        bases = [
            stack.enter_context(kvstore_server(env, cwd=tmp_path, args=args))[0]
            for _ in range(count)
        ]
        yield bases
    if backend == "postgres":  # the instances did share the one table
        with cluster.admin() as conn:
            (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
            assert rows > 0
    if backend == "dynamodb-moto":
        client = make_client(moto.endpoint)
        client.delete_table(TableName=table)
        client.close()


def test_concurrent_if_match_increments_are_never_lost(servers: list[str]) -> None:
    server = servers[0]
    with requests.Session() as http:
        for key in COUNTERS:
            assert http.put(f"{server}/v1/key/{key}", json={"value": 0}).status_code == 201
    tally = Tally()

    def job(http: requests.Session, n: int) -> None:
        server = servers[n // len(COUNTERS) % len(servers)]  # each counter, on every instance
        increment(http, server, COUNTERS[n % len(COUNTERS)], tally)

    run_threads(THREADS, PER_THREAD, job)

    assert sum(tally.acknowledged.values()) == THREADS * PER_THREAD
    assert tally.conflicts > 0, "no two writers ever raced: the test proved nothing"
    with requests.Session() as http:
        for key in COUNTERS:
            item = http.get(f"{server}/v1/key/{key}").json()
            assert item["value"] == tally.acknowledged[key]
            assert item["version"] == tally.acknowledged[key] + 1


def test_concurrent_transactions_stay_atomic(servers: list[str]) -> None:
    server = servers[0]
    total = 1000
    with requests.Session() as http:
        assert http.put(f"{server}/v1/key/acct/x", json={"value": total}).status_code == 201
        assert http.put(f"{server}/v1/key/acct/y", json={"value": 0}).status_code == 201
    tally = Tally()

    def job(http: requests.Session, n: int) -> None:
        source, target = ("acct/x", "acct/y") if n % 3 else ("acct/y", "acct/x")
        transfer(http, servers[n % len(servers)], source, target, tally)

    run_threads(THREADS, 10, job)

    moved = tally.acknowledged.get("acct/x->acct/y", 0) - tally.acknowledged.get(
        "acct/y->acct/x", 0
    )
    with requests.Session() as http:
        x = http.get(f"{server}/v1/key/acct/x").json()
        y = http.get(f"{server}/v1/key/acct/y").json()
    assert x["value"] + y["value"] == total
    assert y["value"] == moved
    assert x["version"] + y["version"] == 2 + 2 * sum(tally.acknowledged.values())


def test_concurrent_patches_of_one_object_are_never_lost(servers: list[str]) -> None:
    """The threads of three worker processes (of each instance) append to their own member of
    one object: the workers race each other on the version, and every acknowledged patch is
    there."""
    server = servers[0]
    per_thread = 40
    members = [f"t{n}" for n in range(THREADS)]
    with requests.Session() as http:
        created = http.put(f"{server}/v1/key/shared", json={"value": {m: [] for m in members}})
        assert created.status_code == 201
    tally = Tally()

    def job(http: requests.Session, n: int) -> None:
        instance = servers[n % len(servers)]
        append(http, instance, "shared", members[n // per_thread], n % per_thread, tally)

    run_threads(THREADS, per_thread, job)

    with requests.Session() as http:
        item = http.get(f"{server}/v1/key/shared").json()
    assert item["value"] == {m: list(range(per_thread)) for m in members}
    assert item["version"] == 1 + THREADS * per_thread
