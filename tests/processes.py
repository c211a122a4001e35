"""Real server processes for end-to-end tests: a free port, a readiness poll, a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, process: subprocess.Popen[bytes], deadline_s: float = 30) -> None:
    """Poll `url` until it answers 200, failing fast if the process dies."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # booting, or a busy machine
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {deadline_s}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the whole process group (gunicorn's workers too) and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def kvstore_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test environment without any KVSTORE_* the developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVSTORE_")}
    env.update(extra)
    return env


@contextmanager
def kvstore_server(
    env: Mapping[str, str],
    cwd: Path,
    args: Sequence[str] = (),
    command: tuple[Sequence[str], int] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`kvstore serve ARGS` on a free port; yields its base URL and process.

    `command` is another way to start it: the whole command line, and the port it serves.
    """
    if command is None:
        port = free_port()
        argv = [sys.executable, "-m", "kvstore", "serve", "--port", str(port), *args]
    else:
        argv, port = list(command[0]), command[1]
    process = subprocess.Popen(
        argv,
        env=kvstore_env(env),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/healthz", process)
        yield base, process
    finally:
        stop(process)
