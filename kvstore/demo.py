"""Asynchronous handling, shown: simultaneous calls and chained calls against a live server,
then one atomic partial update.

    python -m kvstore.demo                 # starts its own server (memory datastore) and stops it
    python -m kvstore.demo --url URL       # runs against a server you started (any datastore)
    python -m kvstore.demo --asyncio       # the same steps from asyncio tasks, not threads

Steps:

1. **seed**: writes `sports` = ["baseball", "hockey", "football"] and one key per sport
   (`sports/hockey`, ...) with a few teams each, in one `POST /v1/batch` (the server runs
   those writes concurrently).
2. **simultaneous**: reads the four keys at once and compiles the answers into one object.
3. **chained**: reads `sports`, and from *its value* decides which keys to read next: each
   sport's key, those reads at once; then compiles. Change `sports` and this step reads other
   keys; the simultaneous step, which knew its keys up front, does not.
4. **patch**: appends a sport to `sports` with one `PATCH` (a JSON Patch `add` at `/-`): the
   server applies it to whatever list is current, atomically, so no client reads the list,
   changes it and writes it back, and no concurrent writer's change is lost.

"At once" is a thread pool here (`KVStoreClient`, `concurrent.futures`) and `asyncio.gather`
in `kvstore.demo_asyncio` (`AsyncKVStoreClient`); what the steps send, compile and print is
this module's, for both. Each compiled result is printed as JSON, then one line per step with
its wall time and the sum of its calls' own times: when calls overlap, the wall time is below
the sum.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from kvstore.client import ClientError, ConnectionFailed, KVStoreClient, NotFound

T = TypeVar("T")

SPORTS = ["baseball", "hockey", "football"]
#: The sport the patch step appends.
NEW_SPORT = "soccer"
TEAMS: dict[str, list[str]] = {
    "baseball": ["Yankees", "Red Sox", "Dodgers", "Cubs"],
    "hockey": ["Maple Leafs", "Canadiens", "Bruins", "Red Wings"],
    "football": ["Packers", "Steelers", "Chiefs", "49ers"],
}
#: Calls one step may have in flight at once (the chained step reads one key per sport).
MAX_PARALLEL_CALLS = 8


def sport_key(sport: str) -> str:
    return f"sports/{sport}"


#: What the seed writes, and what the simultaneous step reads back.
SEED: dict[str, Any] = {"sports": SPORTS, **{sport_key(sport): TEAMS[sport] for sport in SPORTS}}
SEED_OPERATIONS = [{"op": "put", "key": key, "value": value} for key, value in SEED.items()]
SIMULTANEOUS_KEYS = list(SEED)


@dataclass(frozen=True, slots=True)
class Call:
    label: str
    seconds: float


@dataclass
class Step:
    """One step's compiled result and the timing that shows whether its calls overlapped."""

    name: str
    title: str
    result: Any = None
    calls: list[Call] = field(default_factory=list)
    wall_seconds: float = 0.0
    shape: str = ""  # how the calls were issued, e.g. "1+3" for chained

    @property
    def sum_seconds(self) -> float:
        return sum(call.seconds for call in self.calls)

    @property
    def overlap(self) -> float:
        """Sum of call times over wall time: 1.0 is sequential, N is N calls fully overlapped."""
        return self.sum_seconds / self.wall_seconds if self.wall_seconds > 0 else 1.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Measure the step's wall time around the calls it makes."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.wall_seconds = time.perf_counter() - start

    def done(self, result: Any, calls: list[Call], shape: str) -> Step:
        self.result, self.calls, self.shape = result, calls, shape
        return self


def seed_step() -> Step:
    return Step("seed", "seed: sports and one key per sport, in one POST /v1/batch")


def simultaneous_step() -> Step:
    return Step("simultaneous", f"simultaneous: {len(SIMULTANEOUS_KEYS)} reads at once, compiled")


def chained_step() -> Step:
    return Step("chained", 'chained: read "sports", then each sport\'s key at once, compiled')


def patch_step() -> Step:
    return Step("patch", f'patch: append "{NEW_SPORT}" to "sports" in one atomic PATCH')


#: The JSON Patch of the patch step: the server appends to whatever `sports` holds now.
PATCH_OPERATIONS = [{"op": "add", "path": "/-", "value": NEW_SPORT}]


def patched_result(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"sports": item["value"], "version": item["version"]}


def seeded(step: Step, results: Sequence[Mapping[str, Any]], call: Call) -> Step:
    """The seed step, once its batch answered: a failed write is an error, not a result."""
    failed = [result for result in results if result["status"] >= 400]
    if failed:
        raise ClientError(failed[0]["status"], failed[0].get("error", {}))
    return step.done(SEED, [call], "1")


def sports_named(value: Any) -> list[str]:
    """The value of `sports` as the names the chained step reads next; anything else is refused."""
    if not isinstance(value, list) or not all(isinstance(sport, str) for sport in value):
        raise ClientError(422, {"detail": f"'sports' must be a list of names, got {value!r}"})
    return value


def compiled(sports: Any, teams_of: Sequence[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """One object from a step's reads: `sports`, and the teams of each sport in `teams_of`."""
    return {"sports": sports, "teams": {sport: values[sport_key(sport)] for sport in teams_of}}


def answers_by_key(
    keys: Sequence[str], answers: Sequence[tuple[Any, Call]]
) -> tuple[dict[str, Any], list[Call]]:
    """Reads' (value, timing) pairs, in request order, as {key: value} and the timings."""
    values = {key: value for key, (value, _) in zip(keys, answers, strict=True)}
    return values, [call for _, call in answers]


# -- the steps, on threads ---------------------------------------------------------------------


def timed(label: str, call: Callable[[], T]) -> tuple[T, Call]:
    """Run `call`, measuring it on the thread that runs it."""
    start = time.perf_counter()
    value = call()
    return value, Call(label, time.perf_counter() - start)


def value_or_none(client: KVStoreClient, key: str) -> Any:
    """The key's value, or None when it does not exist (a missing sport is data, not a crash)."""
    try:
        return client.get(key)["value"]
    except NotFound:
        return None


def read_all(
    client: KVStoreClient, keys: Sequence[str], pool: ThreadPoolExecutor
) -> tuple[dict[str, Any], list[Call]]:
    """Read `keys` simultaneously: every GET is submitted before any answer is awaited."""
    futures = [
        pool.submit(timed, f"GET {key}", lambda key=key: value_or_none(client, key)) for key in keys
    ]
    return answers_by_key(keys, [future.result() for future in futures])


def seed(client: KVStoreClient) -> Step:
    step = seed_step()
    with step.timing():
        results, call = timed("POST /v1/batch", lambda: client.batch(SEED_OPERATIONS))
    return seeded(step, results, call)


def simultaneous(client: KVStoreClient, pool: ThreadPoolExecutor) -> Step:
    """Four independent reads at once, compiled into one object."""
    step = simultaneous_step()
    with step.timing():
        values, calls = read_all(client, SIMULTANEOUS_KEYS, pool)
    return step.done(compiled(values["sports"], SPORTS, values), calls, str(len(calls)))


def chained(client: KVStoreClient, pool: ThreadPoolExecutor) -> Step:
    """Read `sports`; its value decides the next reads (each sport's key, at once)."""
    step = chained_step()
    with step.timing():
        value, first = timed("GET sports", lambda: value_or_none(client, "sports"))
        sports = sports_named(value)
        values, rest = read_all(client, [sport_key(sport) for sport in sports], pool)
    return step.done(compiled(sports, sports, values), [first, *rest], f"1+{len(rest)}")


def patched(client: KVStoreClient) -> Step:
    """Append a sport to `sports` with one atomic PATCH: no read-modify-write in the client."""
    step = patch_step()
    with step.timing():
        item, call = timed(
            "PATCH sports",
            lambda: client.patch("sports", PATCH_OPERATIONS, format="json-patch"),
        )
    return step.done(patched_result(item), [call], "1")


def run(client: KVStoreClient, out: TextIO) -> list[Step]:
    """Run the four steps, printing each compiled result, then the timing table."""
    steps: list[Step] = []
    with ThreadPoolExecutor(MAX_PARALLEL_CALLS, thread_name_prefix="demo") as pool:
        steps.append(show(seed(client), out))
        steps.append(show(simultaneous(client, pool), out))
        steps.append(show(chained(client, pool), out))
        steps.append(show(patched(client), out))
    print(timing_table(steps), file=out)
    return steps


def show(step: Step, out: TextIO) -> Step:
    print(step.title, file=out)
    print(pretty(step.result), file=out)
    print(file=out)
    return step


def pretty(value: Any, indent: int = 0) -> str:
    """JSON with one member per line, but short arrays (lists of teams) kept on one line."""
    if not isinstance(value, dict) or not value:
        return json.dumps(value, ensure_ascii=False)
    inner = " " * (indent + 2)
    members = [
        f"{inner}{json.dumps(key, ensure_ascii=False)}: {pretty(member, indent + 2)}"
        for key, member in value.items()
    ]
    return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"


def timing_table(steps: Sequence[Step]) -> str:
    lines = ["step          calls   wall ms   sum of calls ms   overlap"]
    for step in steps:
        lines.append(
            f"{step.name:<12}  {step.shape:>5}  {step.wall_seconds * 1000:8.1f}"
            f"  {step.sum_seconds * 1000:16.1f}  {step.overlap:7.2f}x"
        )
    lines.append("(overlap = sum of call times / wall time; above 1 means calls ran at once)")
    return "\n".join(lines)


@contextmanager
def local_server() -> Iterator[str]:
    """The service on a free 127.0.0.1 port, memory datastore, for the duration of the demo."""
    from kvstore.app import create_app
    from kvstore.settings import Settings
    from kvstore.threaded_server import serve_in_thread

    app = create_app(Settings(datastore="memory", log_level="WARNING"))
    with serve_in_thread(app, quiet=True) as url:
        yield url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kvstore.demo",
        description=(
            "Demonstrate simultaneous and chained calls against the kvstore API. Without --url "
            "it starts the service in-process (memory datastore) and stops it afterwards."
        ),
        epilog="Example: python -m kvstore.demo --asyncio --url http://127.0.0.1:5000",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options; `--url` and `--token` read the same variables as every client
    command of `kvstore` (KVSTORE_URL, KVSTORE_TOKEN), but without a URL the demo starts
    its own server rather than assume one on the default port."""
    from kvstore.cli.remote import ENV_TOKEN, ENV_URL

    parser.add_argument(
        "--url",
        default=os.environ.get(ENV_URL) or None,
        help=f"base URL of a running server (default: ${ENV_URL}, else start one)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(ENV_TOKEN) or None,
        help=f"API key, when the server requires one (default: ${ENV_TOKEN})",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call")
    parser.add_argument(
        "--asyncio",
        action="store_true",
        help="make the calls from asyncio tasks (AsyncKVStoreClient, asyncio.gather), not threads",
    )


def run_with_args(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the demo; 0 on success, 1 with one clear line on stderr otherwise."""
    out = out or sys.stdout  # looked up now: a caller (or pytest) may have replaced it
    try:
        if args.url:
            return _run_against(args.url, args, "", out)
        with local_server() as url:
            return _run_against(url, args, " (in-process server, memory datastore)", out)
    except ConnectionFailed as exc:
        print(f"kvstore demo: {exc.detail}", file=sys.stderr)
    except ClientError as exc:
        print(f"kvstore demo: the server answered {exc}", file=sys.stderr)
    return 1


def _run_against(url: str, args: argparse.Namespace, note: str, out: TextIO) -> int:
    # One retry: a failing server ends the demo quickly, in either mode.
    options: dict[str, Any] = {"token": args.token, "timeout": args.timeout, "retries": 1}
    if args.asyncio:
        from kvstore import demo_asyncio

        header = f"kvstore demo (asyncio) against {url}{note}\n"
        asyncio.run(demo_asyncio.run_against(url, options, header, out))
        return 0
    with KVStoreClient(url, **options) as client:
        client.request("GET", "/healthz")  # unreachable: one line on stderr, nothing on stdout
        print(f"kvstore demo against {url}{note}\n", file=out)
        run(client, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_with_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
