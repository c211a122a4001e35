"""In-process cost of each route: microseconds per request through the WSGI app, no server.

Why in-process: it isolates what the app itself spends (Flask, flask-restx, the datastore,
JSON) from the server and the load generator, so a hot-path change shows up as a clean
before/after number; `--profile` adds a pyinstrument call tree of the slowest part.

Each route is also measured on the bare Flask app of `bench/bare_flask.py` where it has one
(`/healthz`, GET, PUT), in the same run: `x flask` is kvstore's cost over the framework's own.
`--rounds` repeats the table, interleaved, and keeps each cell's lowest cost (the one least
disturbed by other work on the machine).

    python -m bench.profile                  # table of us/request on memory and SQLite
    python -m bench.profile --rounds 3       # the same, best of 3 interleaved rounds
    python -m bench.profile --profile get    # pyinstrument tree of GET on memory
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from werkzeug.test import EnvironBuilder

from bench import bare_flask
from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.settings import Settings

VALUE = {"name": "bench", "tags": ["a", "b", "c"], "count": 12345, "nested": {"ok": True}}
SEEDED = 200
SHOW_ALL = bool(os.environ.get("BENCH_SHOW_ALL"))


@dataclass(frozen=True)
class Route:
    """One request shape: what `wrk` drives over HTTP, replayed straight into the app."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


def value_body() -> bytes:
    import json

    return json.dumps({"value": VALUE}).encode()


def routes() -> list[Route]:
    body = value_body()
    gets = {"operations": [{"op": "get", "key": f"bench/{i}"} for i in range(100)]}
    import json

    return [
        Route("healthz", "GET", "/healthz"),
        Route("get", "GET", "/v1/key/bench/7"),
        Route("put-replace", "PUT", "/v1/key/bench/8", body),
        Route("put-if-match", "PUT", "/v1/key/bench/9", body, (("If-Match", "*"),)),
        Route("list", "GET", "/v1/key?limit=100"),
        Route("batch-get-100", "POST", "/v1/batch", json.dumps(gets).encode()),
    ]


def _discard(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def caller(app: Any, route: Route) -> Callable[[], int]:
    """A function that sends `route` through `app` once and returns the status code."""
    environ = EnvironBuilder(
        path=route.path.split("?")[0],
        query_string=route.path.partition("?")[2],
        method=route.method,
        data=route.body,
        headers=list(route.headers),
        content_type="application/json" if route.body is not None else None,
    ).get_environ()
    seen: list[str] = []

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.append(status)

    def call() -> int:
        env = dict(environ)
        if route.body is not None:
            env["wsgi.input"] = io.BytesIO(route.body)
        seen.clear()
        result = app(env, start)
        for _ in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return int(seen[0].split()[0])

    return call


def seed(datastore: Datastore) -> None:
    for i in range(SEEDED):
        datastore.put(f"bench/{i}", VALUE)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Access log lines go to stdout (production config); send them nowhere while measuring."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


#: The routes the bare Flask app serves, by route name.
FLASK = "flask"
FLASK_ROUTES = ("healthz", "get", "put-replace")


def make_app(backend: str, directory: str) -> Any:
    datastore: Datastore
    if backend == FLASK:
        return bare_flask.create_app({f"bench/{i}": VALUE for i in range(SEEDED)})
    if backend == "memory":
        datastore = MemoryDatastore()
    else:
        datastore = SQLiteDatastore(os.path.join(directory, "profile.sqlite3"))
    seed(datastore)
    return create_app(Settings(datastore=backend), datastore=datastore)


def measure(call: Callable[[], int], seconds: float) -> float:
    """CPU microseconds per call, after a short warm-up, over about `seconds` of CPU.

    CPU time rather than wall time: the machine is shared (other test runs, other
    benchmarks), and waiting for a core is not a cost of the code under test. The process's,
    not only this thread's: a batch runs its writes on the app's thread pool.
    """
    for _ in range(200):
        call()
    count, started = 0, time.process_time()
    deadline = started + seconds
    while True:
        for _ in range(100):
            call()
        count += 100
        now = time.process_time()
        if now >= deadline:
            return (now - started) / count * 1e6


def costs(
    backends: Iterable[str], seconds: float, names: set[str] | None, rounds: int = 1
) -> dict[tuple[str, str], float | int]:
    """CPU us per request by (backend, route), the lowest of `rounds`; an int is an error status.

    The bare Flask app is measured first in each round, then every backend, so that a change
    of load on the machine spreads over all of them rather than landing on one.
    """
    wanted = [r for r in routes() if not names or r.name in names or r.name == "healthz"]
    found: dict[tuple[str, str], float | int] = {}
    with tempfile.TemporaryDirectory() as directory:
        apps = {backend: make_app(backend, directory) for backend in (FLASK, *backends)}
        for _ in range(rounds):
            for backend, app in apps.items():
                for route in wanted:
                    if backend == FLASK and route.name not in FLASK_ROUTES:
                        continue
                    call = caller(app, route)
                    with quiet():
                        status = call()
                        if status >= 400:
                            found[(backend, route.name)] = status
                            continue
                        cost = measure(call, seconds)
                    best = found.get((backend, route.name))
                    if best is None or cost < best:
                        found[(backend, route.name)] = cost
    return found


def table(
    backends: Iterable[str], seconds: float, names: set[str] | None, rounds: int = 1
) -> list[str]:
    backends = list(backends)
    found = costs(backends, seconds, names, rounds)
    lines = [f"{'backend':8} {'route':14} {'us/req':>8} {'x healthz':>9} {'x flask':>8}"]
    for backend in (FLASK, *backends):
        floor = found.get((backend, "healthz"))
        for route in routes():
            cost = found.get((backend, route.name))
            if cost is None:
                continue
            if isinstance(cost, int):
                lines.append(f"{backend:8} {route.name:14} status {cost}: skipped")
                continue
            ratio = f"{cost / floor:9.2f}" if isinstance(floor, float) else f"{'':9}"
            base = found.get((FLASK, route.name))
            against = f"{cost / base:8.2f}" if isinstance(base, float) else ""
            lines.append(f"{backend:8} {route.name:14} {cost:8.1f} {ratio} {against}".rstrip())
    return lines


def profile(backend: str, name: str, seconds: float) -> str:
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory() as directory:
        app = make_app(backend, directory)
        route = next(r for r in routes() if r.name == name)
        call = caller(app, route)
        profiler = Profiler(interval=0.0001)
        with quiet():
            measure(call, 0.2)
            profiler.start()
            measure(call, seconds)
            profiler.stop()
    text: str = profiler.output_text(unicode=True, color=False, show_all=SHOW_ALL)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--backends", default="memory,sqlite")
    parser.add_argument("--routes", default="", help="comma-separated route names (default all)")
    parser.add_argument("--seconds", type=float, default=1.0, help="per route")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds, best kept")
    parser.add_argument("--profile", metavar="ROUTE", help="print a pyinstrument tree instead")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.profile:
        print(profile(backends[0], args.profile, args.seconds))
        return 0
    names = {n.strip() for n in args.routes.split(",") if n.strip()} or None
    print("\n".join(table(backends, args.seconds, names, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
