"""HTTP stacks for the Python client, measured: N sequential GETs through each, same server.

    python -m bench.clients                # 1,000 GETs a round, 5 interleaved rounds
    python -m bench.clients --requests 500

Each round sends the same GET of one small item through `requests.Session` (as is, and without
its per-request reading of the environment), `httpx.Client` and `httpx.AsyncClient` (awaited
one after another), in turn, so load on the machine falls on all of them alike; each one's
median and best round are printed, and its ratio to requests' (medians). Two servers: the
in-process one the demo and the tests use (HTTP/1.0, a connection per request; its thread
shares this process's GIL, so a client's CPU shows up in the rate), and `kvstore serve`
(granian, memory) in its own process, where this process's CPU time per request is the
client's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import requests

from bench import procs, report
from kvstore.demo import local_server

PATH = "/v1/key/sports"


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    cpu_us: float  # this process's CPU time per request


def measure(run: Callable[[], None], count: int) -> Result:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Result(count / wall, cpu / count * 1e6)


def with_requests(url: str, count: int, *, trust_env: bool = True) -> Result:
    with requests.Session() as session:
        session.trust_env = trust_env
        session.get(url, timeout=10).raise_for_status()

        def run() -> None:
            for _ in range(count):
                session.get(url, timeout=10).json()

        return measure(run, count)


def with_httpx(url: str, count: int) -> Result:
    with httpx.Client(timeout=10) as client:
        client.get(url).raise_for_status()

        def run() -> None:
            for _ in range(count):
                client.get(url).json()

        return measure(run, count)


def with_httpx_async(url: str, count: int) -> Result:
    async def main() -> Result:
        async with httpx.AsyncClient(timeout=10) as client:
            (await client.get(url)).raise_for_status()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                (await client.get(url)).json()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            return Result(count / wall, cpu / count * 1e6)

    return asyncio.run(main())


STACKS: dict[str, Callable[[str, int], Result]] = {
    "requests (Session)": with_requests,
    # requests reads the proxy variables of the environment on every request; httpx once.
    "requests, trust_env off": lambda url, count: with_requests(url, count, trust_env=False),
    "httpx (Client)": with_httpx,
    "httpx (AsyncClient)": with_httpx_async,
}


@contextmanager
def granian_process() -> Iterator[str]:
    port = procs.free_port()
    env = {**os.environ, "KVSTORE_DATASTORE": "memory", "KVSTORE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "kvstore", "serve", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        procs.running(command, env=env, ready_url=url + "/healthz", log=Path(tmp) / "server.log"),
    ):
        yield url


def table(server: str, url: str, count: int, rounds: int) -> list[str]:
    requests.put(url + PATH, json={"value": ["baseball", "hockey", "football"]}, timeout=10)
    runs: dict[str, list[Result]] = {name: [] for name in STACKS}
    for _ in range(rounds):
        for name, stack in STACKS.items():
            runs[name].append(stack(url + PATH, count))
    rates = {name: [r.requests_per_second for r in results] for name, results in runs.items()}
    baseline = statistics.median(rates[next(iter(STACKS))])
    lines = [
        f"{server}: {count} sequential GETs a round, {rounds} interleaved rounds",
        f"| {'client':24} | median req/s | best req/s | median CPU us/req | x requests |",
        f"|{'-' * 26}|{'-' * 14}|{'-' * 12}|{'-' * 19}|{'-' * 12}|",
    ]
    for name, results in runs.items():
        median = statistics.median(rates[name])
        cpu = statistics.median(r.cpu_us for r in results)
        lines.append(
            f"| {name:24} | {median:12.0f} | {max(rates[name]):10.0f} | {cpu:17.0f} "
            f"| {median / baseline:10.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="GETs per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(report.header("kvstore client HTTP stacks"))
    servers = {
        "in-process server (werkzeug thread, memory)": local_server,
        "kvstore serve (granian, memory, own process; CPU column = client only)": granian_process,
    }
    for server, start in servers.items():
        with start() as url:
            print("\n".join(["", *table(server, url, args.requests, args.rounds)]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
