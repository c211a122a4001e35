"""`python -m bench.request_memory`: the resident memory one largest request costs the server.

Starts `kvstore serve` on memory (one process), sends `POST /v1/batch` with 100 operations
each at the value limit, in compact and in fully escaped spellings, and reports the worker's
peak resident memory (VmHWM) above what it held before, against the size of the body.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
from pathlib import Path

from bench import procs, report
from bench.servers import PRODUCTION

VALUE_BYTES = 262_144


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _worker(leader: int) -> int:
    """The granian worker of `leader`'s group (the process that runs the app)."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == leader and pid != leader:
            return pid
    raise LookupError("no worker process")


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/v1/batch", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def main() -> int:
    print(report.header("kvstore request memory"), flush=True)
    print("| body | bytes | status | peak RSS above idle | x body |")
    print("|---|---:|---:|---:|---:|")
    value = "x" * (VALUE_BYTES - 2)
    spellings = {
        "100 x 256 KiB, compact": json.dumps(
            {"operations": [{"op": "put", "key": f"k{n}", "value": value} for n in range(100)]}
        ).encode(),
        "1 x 256 KiB, every character \\u-escaped": (
            b'{"operations": [{"op": "put", "key": "e", "value": "'
            + b"\\u0078" * (VALUE_BYTES - 2)
            + b'"}]}'
        ),
    }
    with tempfile.TemporaryDirectory(prefix="kvstore-memory-") as tmp:
        for label, body in spellings.items():
            port = procs.free_port()
            with procs.running(
                PRODUCTION.command(port),
                env={
                    **os.environ,
                    "KVSTORE_DATASTORE": "memory",
                    "KVSTORE_LOG_LEVEL": "WARNING",
                },
                ready_url=f"http://127.0.0.1:{port}/healthz",
                log=Path(tmp) / "server.log",
            ) as process:
                _post(port, b'{"operations": [{"op": "get", "key": "warm"}]}')
                worker = _worker(process.pid)
                idle = _status_kib(worker, "VmRSS")
                status = _post(port, body)
                peak = _status_kib(worker, "VmHWM") - idle
            print(
                f"| {label} | {len(body):,} | {status} | {peak / 1024:.0f} MiB |"
                f" {peak * 1024 / len(body):.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
