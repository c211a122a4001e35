"""The server configurations a run compares, as command lines serving the same WSGI app.

`production` is whatever `kvstore serve` runs (so the table measures what `make run` ships);
the others are the candidates the choice of server was made from. All serve
`kvstore.wsgi:app`, configured by the same `KVSTORE_*` environment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

APP = "kvstore.wsgi:app"


@dataclass(frozen=True)
class ServerConfig:
    name: str
    description: str
    argv: tuple[str, ...]  # without host and port
    kind: str  # "kvstore" | "gunicorn" | "granian"
    processes: int = 1  # worker processes: the memory datastore needs exactly one
    app: str = APP  # the WSGI app gunicorn or granian imports

    def command(self, port: int) -> list[str]:
        if self.kind == "kvstore":
            return [sys.executable, "-m", "kvstore", "serve", "--host", "127.0.0.1",
                    "--port", str(port), *self.argv]  # fmt: skip
        if self.kind == "gunicorn":
            return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                    *self.argv, self.app]  # fmt: skip
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
                "--port", str(port), "--no-ws", *self.argv, self.app]  # fmt: skip


PRODUCTION = ServerConfig("production", "kvstore serve (make run)", (), "kvstore")


def gunicorn(workers: int, threads: int | None = None) -> ServerConfig:
    if threads is None:
        argv: tuple[str, ...] = (
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--no-control-socket",
        )
        return ServerConfig(f"gunicorn-sync-{workers}w", f"gunicorn sync, {workers} workers",
                            argv, "gunicorn", workers)  # fmt: skip
    argv = (
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--no-control-socket",
    )
    return ServerConfig(f"gunicorn-gthread-{workers}w{threads}t",
                        f"gunicorn gthread, {workers} workers x {threads} threads",
                        argv, "gunicorn", workers)  # fmt: skip


def granian(workers: int, threads: int) -> ServerConfig:
    argv = ("--workers", str(workers), "--blocking-threads", str(threads))
    return ServerConfig(f"granian-{workers}w{threads}t",
                        f"granian WSGI, {workers} workers x {threads} blocking threads",
                        argv, "granian", workers)  # fmt: skip


#: The framework's floor (`bench/bare_flask.py`) on the configuration `kvstore serve` gives the
#: memory datastore: one process, one thread. Served by granian itself, so the row does not
#: depend on how `kvstore serve` fronts kvstore's own app.
BARE_FLASK = ServerConfig(
    "bare-flask",
    "bare Flask route, granian WSGI 1 x 1",
    ("--workers", "1", "--blocking-threads", "1"),
    "granian",
    app="bench.bare_flask:app",
)

#: The comparison: the baseline the target is stated against comes first.
CANDIDATES = (
    gunicorn(2),
    gunicorn(2, 4),
    granian(2, 1),
    granian(2, 2),
    granian(2, 4),
)
BASELINE = CANDIDATES[0]
#: The memory datastore runs one process: what differs is the server and its threads.
MEMORY_CANDIDATES = (
    gunicorn(1, 4),
    granian(1, 1),
    granian(1, 4),
)
