"""Slow clients never stall the service: `kvstore serve` on every datastore keeps answering
while 100 connections stall in their body, 100 in their headers and a few drip a body a byte
at a time; each stalled request is dropped after the read deadline, and none wrote anything.

The deadline is short here (KVSTORE_READ_TIMEOUT_S=2) so the test takes seconds. What is
asserted is deterministic: every probe answered 200, every stalled connection was closed
(a body with a 408 problem), nothing was stored. Latency is asserted only with a bound far
above the 100 ms target (README, "Slow clients"), so that a busy machine cannot fail it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from bench.slow_clients import latencies_ms, p99, seed, stalled
from kvstore.datastores.dynamodb.table import create_table
from tests.backends import selected_backends
from tests.dynamodb_servers import Server, make_client, server_environment, unique_table
from tests.postgres_servers import PostgresCluster, service_environment
from tests.postgres_servers import unique_table as unique_postgres_table
from tests.processes import kvstore_server

pytestmark = pytest.mark.slow

READ_TIMEOUT_S = 2
#: How long after the deadline a stalled connection may still be open: generous, not timing.
DROP_SLACK_S = 20
#: A bound on p99 that only a server that stopped answering exceeds.
GENEROUS_P99_MS = 2000
DATASTORES = ("memory", "sqlite", "dynamodb-moto", "postgres")


@pytest.fixture(params=[name for name in DATASTORES if name in selected_backends()] or ["none"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`kvstore serve` on the datastore, as shipped but for the short read deadline."""
    name: str = request.param
    if name == "none":
        pytest.skip(f"none of {', '.join(DATASTORES)} is in KVSTORE_TEST_BACKENDS")
    env = {"KVSTORE_READ_TIMEOUT_S": str(READ_TIMEOUT_S), "KVSTORE_LOG_LEVEL": "WARNING"}
    with ExitStack() as stack:
        if name == "dynamodb-moto":
            moto: Server = request.getfixturevalue("moto_server")
            env.update(server_environment(moto.endpoint, stack.enter_context(table(moto))))
        elif name == "postgres":
            cluster: PostgresCluster = request.getfixturevalue("postgres_server")
            env.update(service_environment(cluster, unique_postgres_table()))
        else:
            env["KVSTORE_DATASTORE"] = name
            env["KVSTORE_SQLITE_PATH"] = str(tmp_path / "kv.sqlite3")
        base, _ = stack.enter_context(kvstore_server(env, cwd=tmp_path))
        port = int(base.rsplit(":", 1)[1])
        seed(port)
        yield base, port


@contextmanager
def table(moto: Server) -> Iterator[str]:
    """A fresh table on moto's server, deleted afterwards."""
    admin = make_client(moto.endpoint)
    name = unique_table()
    create_table(admin, name)
    try:
        yield name
    finally:
        admin.delete_table(TableName=name)
        admin.close()


def test_stalled_clients_are_dropped_while_others_are_served(server: tuple[str, int]) -> None:
    base, port = server
    with stalled(port, bodies=100, headers=100, drips=5) as stalls:
        times = latencies_ms(port, ("/healthz", "/v1/key/sports"), 200)
        answers = stalls.dropped(READ_TIMEOUT_S + DROP_SLACK_S)

    assert p99(times) < GENEROUS_P99_MS, f"p99 {p99(times):.0f} ms with 200 stalled clients"
    still_open = [index for index, answer in enumerate(answers) if answer is None]
    assert still_open == [], f"{len(still_open)} stalled connections were never dropped"
    for answer in answers[: len(stalls.bodies)] + answers[-len(stalls.drips) :]:
        assert answer is not None
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"content-type: application/problem+json" in head.lower()
        assert json.loads(body)["status"] == 408

    listed = requests.get(f"{base}/v1/key?limit=1000", timeout=10).json()
    assert [item["key"] for item in listed["items"]] == ["sports"]  # nothing was written
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
