"""etcd, the reference for a key/value server's speed: its v3 JSON gateway on this machine.

Debian's `etcd-server` (`make bench` installs it when missing), one member on free loopback
ports with its data in the run's temporary folder, stopped with its process group at the end.
etcd fsyncs its write-ahead log before it acknowledges a put, as the SQLite datastore commits
every write: the PUT rows compare durable writes with durable writes.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import procs
from bench.seed import KEYS, VALUE, send


def binary() -> str | None:
    return shutil.which("etcd")


def available() -> str | None:
    """Why the etcd rows cannot run here, or None when they can."""
    if binary() is None:
        return "etcd is not installed: `make bench` installs it (apt-get install etcd-server)"
    return None


def command(etcd: str, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        etcd,
        "--name=bench",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=bench={peer}",
        "--logger=zap",
        "--log-level=warn",
    ]


@contextmanager
def server(workdir: Path) -> Iterator[int]:
    """A one-member etcd answering on a free loopback port; yields the client port."""
    etcd = binary()
    if etcd is None:
        raise procs.StartError(available() or "no etcd")
    client_port, peer_port = procs.free_port(), procs.free_port()
    data_dir = workdir / f"etcd-{client_port}"
    argv = command(etcd, data_dir, client_port, peer_port)
    log = workdir / f"etcd-{client_port}.log"
    url = f"http://127.0.0.1:{client_port}/health"
    with procs.running(argv, env={"PATH": "/usr/bin:/bin"}, ready_url=url, log=log):
        yield client_port


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def seed(port: int, count: int = KEYS) -> None:
    """Put the keys the scenarios read (`bench/0` .. `bench/N-1`) through the gateway."""
    value = _b64(json.dumps(VALUE, separators=(",", ":")))
    puts = (
        ("POST", "/v3/kv/put", json.dumps({"key": _b64(f"bench/{i}"), "value": value}).encode())
        for i in range(count)
    )
    send(port, puts)


def describe() -> str:
    """The row's name: etcd's version, as `etcd --version` prints it."""
    etcd = binary()
    version = "?"
    if etcd is not None:
        done = subprocess.run([etcd, "--version"], capture_output=True, text=True, check=False)
        first = done.stdout.splitlines()[0] if done.stdout else ""
        version = first.rpartition(" ")[2] or "?"
    return f"etcd {version} v3 JSON gateway"
