"""In-process cost of each route: microseconds per request through the WSGI app, no server.

Why in-process: it isolates what the app itself spends (Flask, flask-restx, the datastore,
JSON) from the server and the load generator, so a hot-path change shows up as a clean
before/after number; `--profile` adds a pyinstrument call tree of the slowest part.

    python -m bench.profile                  # table of us/request on memory and SQLite
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


def make_app(backend: str, directory: str) -> Any:
    datastore: Datastore
    if backend == "memory":
        datastore = MemoryDatastore()
    else:
        datastore = SQLiteDatastore(os.path.join(directory, "profile.sqlite3"))
    seed(datastore)
    return create_app(Settings(datastore=backend), datastore=datastore)


def measure(call: Callable[[], int], seconds: float) -> float:
    """CPU microseconds per call, after a short warm-up, over about `seconds` of CPU.

    CPU time of this thread rather than wall time: the machine is shared (other test runs,
    other benchmarks), and waiting for a core is not a cost of the code under test.
    """
    for _ in range(200):
        call()
    count, started = 0, time.thread_time()
    deadline = started + seconds
    while True:
        for _ in range(100):
            call()
        count += 100
        now = time.thread_time()
        if now >= deadline:
            return (now - started) / count * 1e6


def table(backends: Iterable[str], seconds: float, names: set[str] | None) -> list[str]:
    lines = [f"{'backend':8} {'route':14} {'us/req':>8} {'x healthz':>9}"]
    with tempfile.TemporaryDirectory() as directory:
        for backend in backends:
            app = make_app(backend, directory)
            floor: float | None = None
            for route in routes():
                if names and route.name not in names and route.name != "healthz":
                    continue
                call = caller(app, route)
                with quiet():
                    status = call()
                if status >= 400:
                    lines.append(f"{backend:8} {route.name:14} status {status}: skipped")
                    continue
                with quiet():
                    cost = measure(call, seconds)
                floor = cost if route.name == "healthz" else floor
                ratio = "" if floor is None else f"{cost / floor:9.2f}"
                lines.append(f"{backend:8} {route.name:14} {cost:8.1f} {ratio}")
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
    parser.add_argument("--profile", metavar="ROUTE", help="print a pyinstrument tree instead")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.profile:
        print(profile(backends[0], args.profile, args.seconds))
        return 0
    names = {n.strip() for n in args.routes.split(",") if n.strip()} or None
    print("\n".join(table(backends, args.seconds, names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
