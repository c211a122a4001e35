"""Servers started by the benchmark are found when ready and leave no process behind."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bench import procs

#: A server whose worker (a child in the same process group) outlives a SIGTERM to the leader.
SERVER = """
import http.server, os, signal, sys, subprocess
child = subprocess.Popen([sys.executable, "-c", "import signal, time\\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\ntime.sleep(60)"])
print(child.pid, flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler
    ).serve_forever()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    # A zombie (reaped by no one yet) counts as gone.
    return stat.rsplit(") ", 1)[1][0] != "Z"


def test_running_waits_for_http_then_kills_the_whole_group(tmp_path: Path) -> None:
    port = procs.free_port()
    log = tmp_path / "server.log"
    with procs.running(
        [sys.executable, "-c", SERVER, str(port)],
        env=dict(os.environ),
        ready_url=f"http://127.0.0.1:{port}/",
        log=log,
        timeout=30,
    ) as process:
        child = int(log.read_text().split()[0])
        assert procs.group_rss_bytes(process.pid) > 0
    assert process.poll() is not None
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child)


def test_a_server_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with (
        pytest.raises(procs.StartError, match="boom"),
        procs.running(
            command,
            env=dict(os.environ),
            ready_url=f"http://127.0.0.1:{procs.free_port()}/",
            log=tmp_path / "log",
        ),
    ):
        pass  # pragma: no cover
