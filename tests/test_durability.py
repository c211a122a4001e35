"""SQLite durability: SIGKILL the server in the middle of a write load, restart, check.

Writer threads PUT distinct keys and record each write the server acknowledged (a 201). The
whole gunicorn process group is killed with SIGKILL while they are writing; in-flight
requests fail, which is fine. After a restart on the same file, every acknowledged write is
there with its value, and the file passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests

from tests.processes import kvstore_server

pytestmark = pytest.mark.slow

WRITERS = 6
#: Kill once this many writes are acknowledged, so the kill lands in the middle of the load.
KILL_AFTER_ACKS = 150
DEADLINE_S = 30


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        return str(verdict)


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_acknowledged_writes_survive_sigkill(tmp_path: Path, server: str) -> None:
    env = {"KVSTORE_DATASTORE": "sqlite", "KVSTORE_SQLITE_PATH": str(tmp_path / "kv.db")}
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def writer(base: str, index: int) -> None:
        with requests.Session() as http:
            for n in range(10_000):
                key = f"w{index}/{n}"
                try:
                    response = http.put(f"{base}/v1/key/{key}", json={"value": n}, timeout=5)
                except requests.RequestException:
                    return  # the server is gone: this write was never acknowledged
                if response.status_code != 201:
                    return
                with lock:
                    acknowledged[key] = n
                    if len(acknowledged) >= KILL_AFTER_ACKS:
                        enough.set()

    with kvstore_server(
        env, cwd=tmp_path, args=["--server", server, "--workers", "2", "--threads", "4"]
    ) as (
        base,
        process,
    ):
        threads = [
            threading.Thread(target=writer, args=(base, index), daemon=True)
            for index in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        assert enough.wait(DEADLINE_S), "the load never got going"
        os.killpg(process.pid, signal.SIGKILL)  # master and workers, no chance to clean up
        process.wait(timeout=DEADLINE_S)
        with pytest.raises(requests.ConnectionError):  # no worker outlived the kill
            requests.get(f"{base}/healthz", timeout=5)
        deadline = time.monotonic() + DEADLINE_S
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive()

    with lock:
        survivors = dict(acknowledged)
    assert len(survivors) >= KILL_AFTER_ACKS

    # The file as SQLite sees it, before any server touches it again.
    assert integrity(tmp_path / "kv.db") == "ok"

    with (
        kvstore_server(env, cwd=tmp_path, args=["--server", server]) as (base, _),
        requests.Session() as http,
    ):
        missing = []
        for key, value in survivors.items():
            response = http.get(f"{base}/v1/key/{key}", timeout=5)
            if response.status_code != 200 or response.json()["value"] != value:
                missing.append(key)
        assert missing == [], f"{len(missing)} acknowledged writes lost: {missing[:10]}"

    assert integrity(tmp_path / "kv.db") == "ok"
