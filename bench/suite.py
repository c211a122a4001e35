"""The benchmark runs: per-datastore table, server comparison, memory soak, DynamoDB latency.

Each run starts its own servers on free loopback ports, in its own temporary directory, and
stops them (whole process groups) before returning, whatever happens in between.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import etcd, procs, wrk
from bench.seed import KEYS, has_route, seed
from bench.servers import BARE_FLASK, PRODUCTION, ServerConfig


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    args: tuple[str, ...] = ()
    path: str = "/"


def scenarios(run_id: str) -> list[Scenario]:
    n = str(KEYS)
    return [
        Scenario("GET", "get.lua", (n,)),
        Scenario("PUT new", "put.lua", ("new", n, run_id)),
        Scenario("PUT replace", "put.lua", ("replace", n, run_id)),
        Scenario("PUT If-Match: *", "put.lua", ("if-match", n, run_id)),
        Scenario("list page (100)", "static.lua", ("GET",), "/v1/key?limit=100"),
        Scenario("batch 100 gets", "batch.lua", (n,), "/v1/batch"),
    ]


#: GET with one request in flight: latency without queueing (the DynamoDB target uses it).
SINGLE = "GET, 1 connection"
HEALTHZ = Scenario("/healthz", "static.lua", ("GET",), "/healthz")


@dataclass
class Row:
    datastore: str
    scenario: str
    result: wrk.WrkResult | None
    floor_rps: float
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.result is None or not self.floor_rps:
            return None
        return self.result.rps / self.floor_rps


@dataclass
class Options:
    seconds: float = 5.0
    connections: int = 16
    workdir: Path = field(default_factory=lambda: Path("."))


def service_env(
    datastore: str, workdir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The server's environment: this one minus any KVSTORE_* the caller had, plus the run's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVSTORE_")}
    env.update(
        KVSTORE_DATASTORE=datastore,
        KVSTORE_SQLITE_PATH=str(workdir / f"{datastore}-{time.monotonic_ns()}.sqlite3"),
        KVSTORE_LOG_LEVEL="INFO",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra or {})
    return env


@contextmanager
def serving(config: ServerConfig, env: dict[str, str], workdir: Path) -> Iterator[tuple[int, int]]:
    """(port, process group id) of `config` serving on a free port, stopped on exit."""
    port = procs.free_port()
    log = workdir / f"{config.name}-{port}.log"
    url = f"http://127.0.0.1:{port}/healthz"
    with procs.running(config.command(port), env=env, ready_url=url, log=log) as process:
        yield port, process.pid


def drive(
    port: int, scenario: Scenario, options: Options, connections: int | None = None
) -> wrk.WrkResult:
    return wrk.run(
        f"http://127.0.0.1:{port}{scenario.path}",
        scenario.script,
        scenario.args,
        seconds=options.seconds,
        connections=connections or options.connections,
    )


def datastore_table(
    datastore: str, options: Options, extra_env: dict[str, str] | None = None
) -> list[Row]:
    """Every scenario against the production server on `datastore`, with its /healthz floor.

    The floor is measured before and after the scenarios and averaged, so drift from other
    load on the machine during the run shows (and is reported) instead of skewing one side.
    """
    env = service_env(datastore, options.workdir, extra_env)
    run_id = str(time.time_ns())
    rows: list[Row] = []
    with serving(PRODUCTION, env, options.workdir) as (port, _):
        seed(port)
        batch_ok = has_route(port, "POST", "/v1/batch", b'{"operations":[]}')
        first = drive(port, HEALTHZ, options)
        results: list[tuple[Scenario, wrk.WrkResult | None, str]] = []
        for scenario in scenarios(run_id):
            if scenario.name.startswith("batch") and not batch_ok:
                results.append((scenario, None, "no /v1/batch yet"))
                continue
            results.append((scenario, drive(port, scenario, options), ""))
        single = Scenario(SINGLE, "get.lua", (str(KEYS),))
        results.append((single, drive(port, single, options, connections=1), ""))
        last = drive(port, HEALTHZ, options)
    floor = (first.rps + last.rps) / 2
    drift = abs(first.rps - last.rps) / floor if floor else 0.0
    note = f"floor drift {drift:.0%}" if drift > 0.10 else ""
    rows.append(Row(datastore, "/healthz (floor)", _merge(first, last), floor, note))
    for scenario, result, why in results:
        rows.append(Row(datastore, scenario.name, result, floor, why))
    return rows


def _merge(a: wrk.WrkResult, b: wrk.WrkResult) -> wrk.WrkResult:
    return wrk.WrkResult(
        requests=a.requests + b.requests,
        duration_us=a.duration_us + b.duration_us,
        p50_us=(a.p50_us + b.p50_us) // 2,
        p99_us=max(a.p99_us, b.p99_us),
        errors=a.errors + b.errors,
    )


def interleaved_latency(
    datastore: str,
    options: Options,
    extra_env: dict[str, str],
    direct: Callable[[], float],
    rounds: int = 3,
) -> tuple[float, float]:
    """Median p50 (us) of GET through the service, one request in flight, and of `direct`.

    Alternating the two, round after round, keeps a change of load on the machine from
    landing on one side only.
    """
    env = service_env(datastore, options.workdir, extra_env)
    single = Scenario(SINGLE, "get.lua", (str(KEYS),))
    short = Options(2.0, options.connections, options.workdir)
    service: list[float] = []
    own: list[float] = []
    with serving(PRODUCTION, env, options.workdir) as (port, _):
        for _ in range(rounds):
            service.append(drive(port, single, short, connections=1).p50_us)
            own.append(direct())
    return statistics.median(service), statistics.median(own)


@dataclass
class ServerRow:
    config: ServerConfig
    healthz: wrk.WrkResult
    get: wrk.WrkResult


def compare_servers(
    configs: tuple[ServerConfig, ...],
    options: Options,
    rounds: int = 3,
    datastore: str = "sqlite",
) -> list[ServerRow]:
    """/healthz and GET on `datastore` under each server configuration.

    All servers run at once (idle ones cost next to nothing) and are driven in turn, round
    after round; each figure is the median of its rounds. Interleaving spreads the other load
    on the machine over every configuration alike instead of penalising whichever ran last.
    """
    seconds = max(1.0, options.seconds / rounds)
    short = Options(seconds, options.connections, options.workdir)
    get = Scenario("GET", "get.lua", ("200",))
    samples: dict[str, tuple[list[wrk.WrkResult], list[wrk.WrkResult]]] = {
        c.name: ([], []) for c in configs
    }
    with ExitStack() as stack:
        ports: dict[str, int] = {}
        for config in configs:
            env = service_env(datastore, options.workdir)
            port, _ = stack.enter_context(serving(config, env, options.workdir))
            seed(port, 200)
            ports[config.name] = port
        for _ in range(rounds):
            for config in configs:
                healthz, got = samples[config.name]
                healthz.append(drive(ports[config.name], HEALTHZ, short))
                got.append(drive(ports[config.name], get, short))
    return [ServerRow(c, _median(samples[c.name][0]), _median(samples[c.name][1])) for c in configs]


def _median(results: list[wrk.WrkResult]) -> wrk.WrkResult:
    """The run with the median requests/s, its error count replaced by the total."""
    ordered = sorted(results, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return wrk.WrkResult(
        requests=middle.requests,
        duration_us=middle.duration_us,
        p50_us=middle.p50_us,
        p99_us=middle.p99_us,
        errors=sum(r.errors for r in results),
    )


#: The folder holding the `bench` package, for servers that import `bench.bare_flask`.
ROOT = Path(__file__).resolve().parent.parent
#: What the reference comparison drives on each server: a read and a replacing write of a key.
GET = Scenario("GET", "get.lua", (str(KEYS),))
ETCD_GET = Scenario("GET", "etcd.lua", ("get", str(KEYS)))
ETCD_PUT = Scenario("PUT", "etcd.lua", ("put", str(KEYS)))
#: The reference rows' names, which the ratio columns are against.
ETCD, FLASK = "etcd", "bare-flask"


@dataclass
class ReferenceRow:
    name: str
    description: str
    get: wrk.WrkResult
    put: wrk.WrkResult


def compare_references(
    options: Options, datastores: tuple[str, ...] = ("memory", "sqlite"), rounds: int = 3
) -> tuple[list[ReferenceRow], str]:
    """GET and PUT (replace) on etcd's v3 JSON gateway, a bare Flask route and `kvstore serve`.

    As `compare_servers`: every server runs at once and each is driven in turn, round after
    round, each figure the median of its rounds, so the ratios between rows are of one run.
    Returns the rows (etcd's first when it can run here) and why etcd is missing, if it is.
    """
    seconds = max(1.0, options.seconds * 0.8)
    short = Options(seconds, options.connections, options.workdir)
    put = Scenario("PUT", "put.lua", ("replace", str(KEYS), str(time.time_ns())))
    targets: list[tuple[str, str, int, Scenario, Scenario]] = []
    missing = etcd.available()
    with ExitStack() as stack:
        if missing is None:
            port = stack.enter_context(etcd.server(options.workdir))
            etcd.seed(port)
            targets.append((ETCD, etcd.describe(), port, ETCD_GET, ETCD_PUT))
        env = service_env("memory", options.workdir, {"PYTHONPATH": str(ROOT)})
        port, _ = stack.enter_context(serving(BARE_FLASK, env, options.workdir))
        seed(port)
        targets.append((FLASK, BARE_FLASK.description, port, GET, put))
        for datastore in datastores:
            env = service_env(datastore, options.workdir)
            port, _ = stack.enter_context(serving(PRODUCTION, env, options.workdir))
            seed(port)
            targets.append((datastore, f"kvstore serve, {datastore}", port, GET, put))
        samples: dict[str, tuple[list[wrk.WrkResult], list[wrk.WrkResult]]] = {
            name: ([], []) for name, *_ in targets
        }
        for _ in range(rounds):
            for name, _, port, read, write in targets:
                gets, puts = samples[name]
                gets.append(drive(port, read, short))
                puts.append(drive(port, write, short))
    rows = [
        ReferenceRow(name, description, _median(samples[name][0]), _median(samples[name][1]))
        for name, description, *_ in targets
    ]
    return rows, missing or ""


@dataclass
class SoakResult:
    requests: int
    rss_after_warmup: int
    rss_after: int
    errors: int

    @property
    def growth(self) -> float:
        return (self.rss_after - self.rss_after_warmup) / self.rss_after_warmup


def soak(
    datastore: str, options: Options, total: int = 100_000, warmup: int = 10_000
) -> SoakResult:
    """Resident memory of the production server before and after `total` GET/PUT requests."""
    env = service_env(datastore, options.workdir)
    with serving(PRODUCTION, env, options.workdir) as (port, pgid):
        seed(port)
        url = f"http://127.0.0.1:{port}/v1/key"
        _requests(url, warmup, options)
        before = procs.group_rss_bytes(pgid)
        done, errors = _requests(url, total, options)
        after = procs.group_rss_bytes(pgid)
    return SoakResult(done, before, after, errors)


def _requests(url: str, total: int, options: Options, budget_s: float = 600) -> tuple[int, int]:
    """Run soak.lua in 5 s slices until `total` requests are answered (or the budget is spent).

    wrk only stops at the end of its duration, so a count is reached by repeating short runs.
    """
    done = errors = 0
    deadline = time.monotonic() + budget_s
    while done < total and time.monotonic() < deadline:
        result = wrk.run(url, "soak.lua", (str(KEYS),), seconds=5,
                         connections=options.connections)  # fmt: skip
        done += result.requests
        errors += result.errors
    return done, errors
