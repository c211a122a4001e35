"""Durability: kill the service, or PostgreSQL itself, in the middle of a write load; check.

Writer threads PUT distinct keys and record each write the server acknowledged (a 201). The
whole server process group is killed with SIGKILL while they are writing; in-flight requests
fail, which is fine. After a restart on the same store, every acknowledged write is there
with its value. On SQLite the file also passes `PRAGMA integrity_check`; on PostgreSQL (a
server of the module's own, with PostgreSQL's default durability settings) the server is
also stopped with `pg_ctl stop -m immediate`, as a crash would stop it, under a running
service, which finds every acknowledged write again once the server has recovered.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests

from tests.backends import selected_backends
from tests.postgres_servers import (
    DURABLE,
    PostgresCluster,
    own_server,
    service_environment,
    unique_table,
)
from tests.processes import kvstore_server

pytestmark = pytest.mark.slow

WRITERS = 6
#: Stop once this many writes are acknowledged, so the stop lands in the middle of the load.
KILL_AFTER_ACKS = 150
DEADLINE_S = 30
SERVE = ["--workers", "2", "--threads", "4"]


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        return str(verdict)


class Writers:
    """Threads that PUT distinct keys, each until its first write that is not acknowledged
    (or until told to stop)."""

    def __init__(self, base: str) -> None:
        self.acknowledged: dict[str, int] = {}
        self._lock = threading.Lock()
        self.enough = threading.Event()
        self.stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(base, index), daemon=True)
            for index in range(WRITERS)
        ]
        for thread in self._threads:
            thread.start()

    def _write(self, base: str, index: int) -> None:
        with requests.Session() as http:
            for n in range(10_000):
                if self.stopping.is_set():
                    return
                key = f"w{index}/{n}"
                try:
                    response = http.put(f"{base}/v1/key/{key}", json={"value": n}, timeout=10)
                except requests.RequestException:
                    return  # the server is gone: this write was never acknowledged
                if response.status_code != 201:
                    return
                with self._lock:
                    self.acknowledged[key] = n
                    if len(self.acknowledged) >= KILL_AFTER_ACKS:
                        self.enough.set()

    def wait_for_load(self) -> None:
        assert self.enough.wait(DEADLINE_S), "the load never got going"

    def join(self) -> dict[str, int]:
        self.stopping.set()
        deadline = time.monotonic() + DEADLINE_S
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive()
        with self._lock:
            survivors = dict(self.acknowledged)
        assert len(survivors) >= KILL_AFTER_ACKS
        return survivors


def missing_writes(base: str, survivors: dict[str, int]) -> list[str]:
    with requests.Session() as http:
        return [
            key
            for key, value in survivors.items()
            if (response := http.get(f"{base}/v1/key/{key}", timeout=10)).status_code != 200
            or response.json()["value"] != value
        ]


@pytest.fixture(scope="module")
def durable_postgres() -> Iterator[PostgresCluster]:
    """A server of this module's own, with PostgreSQL's defaults (fsync, synchronous commit)."""
    yield from own_server(DURABLE)


SIGKILL_SETUPS = [("sqlite", "granian"), ("sqlite", "gunicorn"), ("postgres", "granian")]


@pytest.mark.parametrize(
    ("backend", "server"), SIGKILL_SETUPS, ids=["-".join(setup) for setup in SIGKILL_SETUPS]
)
def test_acknowledged_writes_survive_sigkill(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, server: str
) -> None:
    if backend == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("durable_postgres")
        env = service_environment(cluster, unique_table())
    elif backend in selected_backends():
        env = {"KVSTORE_DATASTORE": "sqlite", "KVSTORE_SQLITE_PATH": str(tmp_path / "kv.db")}
    else:
        pytest.skip(f"backend {backend} is not in KVSTORE_TEST_BACKENDS")
    with kvstore_server(env, cwd=tmp_path, args=["--server", server, *SERVE]) as (base, process):
        writers = Writers(base)
        writers.wait_for_load()
        os.killpg(process.pid, signal.SIGKILL)  # master and workers, no chance to clean up
        process.wait(timeout=DEADLINE_S)
        with pytest.raises(requests.ConnectionError):  # no worker outlived the kill
            requests.get(f"{base}/healthz", timeout=5)
        survivors = writers.join()

    if backend == "sqlite":  # the file as SQLite sees it, before any server touches it again
        assert integrity(tmp_path / "kv.db") == "ok"

    with kvstore_server(env, cwd=tmp_path, args=["--server", server]) as (base, _):
        missing = missing_writes(base, survivors)
    assert missing == [], f"{len(missing)} acknowledged writes lost: {missing[:10]}"

    if backend == "sqlite":
        assert integrity(tmp_path / "kv.db") == "ok"


def test_acknowledged_writes_survive_an_immediate_postgres_stop(
    tmp_path: Path, durable_postgres: PostgresCluster
) -> None:
    env = service_environment(durable_postgres, unique_table())
    with kvstore_server(env, cwd=tmp_path, args=SERVE) as (base, _):
        writers = Writers(base)
        writers.wait_for_load()
        try:
            durable_postgres.stop("immediate")  # every PostgreSQL process killed at once
        finally:
            durable_postgres.start()  # crash recovery from the WAL, under the running load
        survivors = writers.join()
        deadline = time.monotonic() + DEADLINE_S
        while requests.get(f"{base}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the service never recovered"
        missing = missing_writes(base, survivors)
    assert missing == [], f"{len(missing)} acknowledged writes lost: {missing[:10]}"
