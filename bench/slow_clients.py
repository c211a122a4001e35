"""`python -m bench.slow_clients`: the service's latency while clients stall mid-request.

Opens connections that send their headers and then never finish their body, connections that
never finish their headers, and a few that drip their body a byte at a time, then times
`/healthz` and a GET one request at a time, against `kvstore serve` on each datastore. The
same stalls drive `tests/test_slow_clients.py`, which checks that they are dropped with
nothing written.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: A PUT whose body is announced as 100 bytes and then only begun: `{`.
STALLED_BODY = (
    b"PUT /v1/key/stalled/%d HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{"
)
#: A request whose headers never end.
STALLED_HEADERS = b"PUT /v1/key/stalled-headers/%d HTTP/1.1\r\nHost: bench\r\nX-Slow: "
#: A chunked PUT whose body comes a byte at a time, never finishing: the deadline is overall.
DRIP_HEAD = (
    b"PUT /v1/key/dripped/%d HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


@dataclass
class Stalls:
    """Open stalled connections, by kind; `dropped` reads each until the server closes it."""

    bodies: list[socket.socket] = field(default_factory=list)
    headers: list[socket.socket] = field(default_factory=list)
    drips: list[socket.socket] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def all(self) -> list[socket.socket]:
        return [*self.bodies, *self.headers, *self.drips]

    def dropped(self, timeout_s: float) -> list[bytes | None]:
        """What each connection received before the server closed it (None: still open
        `timeout_s` after this call began). Ends the drips first: a closed drip is done."""
        deadline = time.monotonic() + timeout_s
        answers: list[bytes | None] = []
        for sock in self.all():
            answers.append(_read_until_closed(sock, deadline))
        self._stop.set()
        return answers


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes | None:
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except OSError:  # reset by the server: closed too
            return received
        if not chunk:
            return received
        received += chunk


def _drip(sock: socket.socket, stop: threading.Event, interval_s: float) -> None:
    while not stop.wait(interval_s):
        try:
            sock.sendall(b"1\r\n \r\n")  # one chunk of one space: valid, and endless
        except OSError:
            return


@contextmanager
def stalled(
    port: int, *, bodies: int = 100, headers: int = 100, drips: int = 0, drip_s: float = 0.2
) -> Iterator[Stalls]:
    """Connections to 127.0.0.1:`port` stalled in their body, their headers, or dripping."""
    stalls = Stalls()
    with ExitStack() as stack:
        for kind, count, start in (
            (stalls.bodies, bodies, STALLED_BODY),
            (stalls.headers, headers, STALLED_HEADERS),
            (stalls.drips, drips, DRIP_HEAD),
        ):
            for index in range(count):
                sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
                sock.sendall(start % index)
                kind.append(sock)
        for sock in stalls.drips:
            threading.Thread(target=_drip, args=(sock, stalls._stop, drip_s), daemon=True).start()
        try:
            yield stalls
        finally:
            stalls._stop.set()


def latencies_ms(port: int, paths: Sequence[str], count: int, timeout_s: float = 10) -> list[float]:
    """Milliseconds of `count` GETs, cycling through `paths`, one at a time on one connection.

    Each must answer 200; a timeout raises (the server stopped answering).
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    times: list[float] = []
    try:
        for index in range(count):
            path = paths[index % len(paths)]
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
    finally:
        connection.close()
    return times


def p99(times: Sequence[float]) -> float:
    return statistics.quantiles(times, n=100)[98]


def seed(port: int, key: str = "sports") -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "PUT",
            f"/v1/key/{key}",
            body=b'{"value": ["baseball", "hockey", "football"]}',
            headers={"Content-Type": "application/json"},
        )
        connection.getresponse().read()
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    from bench import dynamo, procs, report
    from bench.servers import PRODUCTION

    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="timed GETs per row")
    parser.add_argument("--datastores", default="memory,sqlite,dynamodb")
    args = parser.parse_args(argv)
    print(report.header("kvstore slow clients"), flush=True)
    print("| datastore | stalled connections | p50 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|")
    paths = ("/healthz", "/v1/key/sports")
    with tempfile.TemporaryDirectory(prefix="kvstore-slow-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        for name in (d.strip() for d in args.datastores.split(",") if d.strip()):
            env = {"KVSTORE_DATASTORE": name, "KVSTORE_LOG_LEVEL": "WARNING"}
            if name == "sqlite":
                env["KVSTORE_SQLITE_PATH"] = str(workdir / "kv.sqlite3")
            if name == "dynamodb":
                endpoint = stack.enter_context(dynamo.moto_server(workdir))
                env.update(dynamo.service_env(endpoint))
            port = procs.free_port()
            with procs.running(
                PRODUCTION.command(port),
                env={**dynamo._base_env(), **env},
                ready_url=f"http://127.0.0.1:{port}/healthz",
                log=workdir / f"{name}.log",
            ):
                seed(port)
                latencies_ms(port, paths, 100)  # warm up
                for label, count in (("none", 0), ("100 in body + 100 in headers", 100)):
                    with stalled(port, bodies=count, headers=count):
                        times = latencies_ms(port, paths, args.requests)
                    print(
                        f"| {name} | {label} | {statistics.median(times):.2f} |"
                        f" {p99(times):.2f} | {max(times):.2f} |",
                        flush=True,
                    )
    print(f"\nend: {report.machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
