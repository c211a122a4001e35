"""The asynchronous demo against a real server: compiled output, overlap, chaining, failures.

Every test that takes `mode` runs on threads (`python -m kvstore.demo`) and on asyncio
(`--asyncio`, `kvstore.demo_asyncio`): the same steps, results and proofs of overlap.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import pytest

from kvstore import demo, demo_asyncio
from kvstore.app import create_app
from kvstore.client import ClientError, KVStoreClient
from kvstore.client_core import POOL_SIZE
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings, parse_api_keys
from tests.clients import open_blocking_async
from tests.live_server import serve, socket_without_listener
from tests.readme import block_after
from tests.wrappers import BarrierDatastore, DelegatingDatastore

#: The server runs in this process: keep its access log off the demo's stdout.
QUIET = Settings(datastore="memory", log_level="WARNING")
COMPILED = {"sports": demo.SPORTS, "teams": {sport: demo.TEAMS[sport] for sport in demo.SPORTS}}


@contextmanager
def server_over(datastore: Datastore) -> Iterator[str]:
    with serve(create_app(QUIET, datastore=datastore)) as url:
        yield url


#: The command-line flag of each mode, and the first line it prints.
MODES = {"threads": [], "asyncio": ["--asyncio"]}
HEADERS = {"threads": "kvstore demo against", "asyncio": "kvstore demo (asyncio) against"}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@dataclass(frozen=True)
class Steps:
    """The demo's steps in one mode, each run to completion from the test's thread."""

    client: KVStoreClient  # a blocking client, to set data up and look at it
    seed: Callable[[], demo.Step]
    simultaneous: Callable[[], demo.Step]
    chained: Callable[[], demo.Step]
    patched: Callable[[], demo.Step]


@contextmanager
def demo_steps(mode: str, datastore: Datastore, *, one_at_a_time: bool = False) -> Iterator[Steps]:
    """The steps against a server over `datastore`: on a pool of threads, or as asyncio tasks
    on one client (on a loop of its own thread). `one_at_a_time` leaves one thread, or one
    connection, so the calls cannot overlap."""
    with server_over(datastore) as url:
        if mode == "threads":
            threads = 1 if one_at_a_time else demo.MAX_PARALLEL_CALLS
            with KVStoreClient(url, timeout=10) as client, ThreadPoolExecutor(threads) as pool:
                yield Steps(
                    client,
                    lambda: demo.seed(client),
                    lambda: demo.simultaneous(client, pool),
                    lambda: demo.chained(client, pool),
                    lambda: demo.patched(client),
                )
            return
        connections = 1 if one_at_a_time else POOL_SIZE
        with open_blocking_async(url, timeout=10, max_connections=connections) as blocking:
            aio = blocking.client
            yield Steps(
                cast(KVStoreClient, blocking),
                lambda: blocking.wait(demo_asyncio.seed(aio)),
                lambda: blocking.wait(demo_asyncio.simultaneous(aio)),
                lambda: blocking.wait(demo_asyncio.chained(aio)),
                lambda: blocking.wait(demo_asyncio.patched(aio)),
            )


def printed_sections(out: str) -> tuple[str, dict[str, Any], str]:
    """(header line, {step title: compiled JSON}, timing table) of the demo's stdout."""
    blocks = out.strip().split("\n\n")
    header, *steps, table = blocks
    compiled = {}
    for block in steps:
        title, _, body = block.partition("\n")
        compiled[title] = json.loads(body)
    return header, compiled, table


def test_demo_prints_compiled_results_and_timings(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = MemoryDatastore()
    with server_over(store) as url:
        assert demo.main(["--url", url, *MODES[mode]]) == 0
    header, compiled, table = printed_sections(capsys.readouterr().out)
    assert header == f"{HEADERS[mode]} {url}"
    seeded, simultaneous, chained, patched = compiled.values()
    assert seeded["sports"] == demo.SPORTS
    assert seeded["sports/hockey"] == demo.TEAMS["hockey"]
    assert simultaneous == COMPILED
    assert chained == COMPILED
    assert patched == {"sports": [*demo.SPORTS, demo.NEW_SPORT], "version": 2}
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:5]}
    assert list(rows) == ["seed", "simultaneous", "chained", "patch"]
    assert rows["simultaneous"][1] == "4"
    assert rows["chained"][1] == "1+3"
    assert rows["patch"][1] == "1"
    for row in rows.values():
        wall, total, overlap = float(row[2]), float(row[3]), row[4]
        assert wall > 0
        assert total > 0
        assert re.fullmatch(r"\d+\.\d\dx", overlap)
    assert store.get("sports") is not None
    assert store.get("sports/football") is not None


@pytest.mark.timeout(30)
def test_simultaneous_step_has_its_calls_in_flight_together(mode: str) -> None:
    """Four reads meet at a barrier of four: issued one after another, they would break it."""
    barrier_store = BarrierDatastore(MemoryDatastore(), 4, methods={"get"})
    with demo_steps(mode, barrier_store) as steps:
        steps.seed()  # puts: not held by the barrier
        step = steps.simultaneous()
    assert step.result == COMPILED
    assert not barrier_store.barrier.broken
    assert [call.label for call in step.calls] == [
        "GET sports",
        "GET sports/baseball",
        "GET sports/hockey",
        "GET sports/football",
    ]
    assert step.sum_seconds >= max(call.seconds for call in step.calls)


@pytest.mark.timeout(30)
def test_chained_step_reads_the_sports_at_once(mode: str) -> None:
    """After the first read, the three sport reads meet at a barrier of three."""
    barrier_store = BarrierDatastore(MemoryDatastore(), 3, methods={"get"}, key_prefix="sports/")
    with demo_steps(mode, barrier_store) as steps:
        steps.seed()
        step = steps.chained()
    assert step.result == COMPILED
    assert not barrier_store.barrier.broken
    assert step.shape == "1+3"


def test_barrier_catches_calls_made_one_at_a_time(mode: str) -> None:
    """The control: the same step with one thread (or one connection) breaks the barrier, so
    the tests above can fail."""
    barrier_store = BarrierDatastore(MemoryDatastore(), 4, methods={"get"}, timeout=0.3)
    with demo_steps(mode, barrier_store, one_at_a_time=True) as steps:
        steps.seed()
        with pytest.raises(ClientError) as caught:
            steps.simultaneous()
    assert caught.value.status == 500
    assert barrier_store.barrier.broken


def test_chained_step_follows_the_first_result(mode: str) -> None:
    with demo_steps(mode, MemoryDatastore()) as steps:
        steps.seed()
        steps.client.put("sports", ["hockey", "curling", "polo"])
        steps.client.put("sports/curling", ["Team Homan", "Team Edin"])
        chained = steps.chained()
        simultaneous = steps.simultaneous()
    assert chained.result == {
        "sports": ["hockey", "curling", "polo"],
        "teams": {
            "hockey": demo.TEAMS["hockey"],
            "curling": ["Team Homan", "Team Edin"],
            "polo": None,  # no such key: shown as null, not a crash
        },
    }
    assert [call.label for call in chained.calls] == [
        "GET sports",
        "GET sports/hockey",
        "GET sports/curling",
        "GET sports/polo",
    ]
    assert chained.shape == "1+3"
    # The simultaneous step knew its keys up front: it still reads the seeded three.
    assert list(simultaneous.result["teams"]) == demo.SPORTS


def test_patch_step_appends_to_the_current_list_in_one_call(mode: str) -> None:
    """The server applies the patch to whatever `sports` is now; the client never reads it."""
    recorder = DelegatingDatastore(MemoryDatastore())
    with demo_steps(mode, recorder) as steps:
        steps.client.put("sports", ["hockey", "curling"])
        recorder.calls.clear()
        step = steps.patched()
    assert step.result == {"sports": ["hockey", "curling", demo.NEW_SPORT], "version": 2}
    assert recorder.calls == ["update"]
    assert [call.label for call in step.calls] == ["PATCH sports"]


def test_chained_step_refuses_a_sports_value_that_is_not_a_list(mode: str) -> None:
    with demo_steps(mode, MemoryDatastore()) as steps:
        steps.client.put("sports", {"not": "a list"})
        with pytest.raises(ClientError, match="must be a list"):
            steps.chained()


def test_unreachable_server_is_one_line_and_exit_1(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket_without_listener() as port:
        assert demo.main(["--url", f"http://127.0.0.1:{port}", *MODES[mode]]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"kvstore demo: cannot reach http://127.0.0.1:{port}/healthz: Connection refused\n"
    )


def test_server_error_is_one_line_and_exit_1(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    # The seed's four puts wait for a fifth that never comes: each fails with a 500.
    failing = BarrierDatastore(MemoryDatastore(), 5, methods={"put"}, timeout=0.2)
    with server_over(failing) as url:
        assert demo.main(["--url", url, *MODES[mode]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kvstore demo: the server answered 500: ")
    assert err.count("\n") == 1


def test_url_and_token_come_from_the_environment_like_every_client_command(
    mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kvstore demo` reads KVSTORE_URL and KVSTORE_TOKEN as `kvstore get` does."""
    settings = Settings(datastore="memory", log_level="WARNING", api_keys=parse_api_keys("s3cret"))
    with serve(create_app(settings, datastore=MemoryDatastore())) as url:
        monkeypatch.setenv("KVSTORE_URL", url)
        monkeypatch.setenv("KVSTORE_TOKEN", "s3cret")
        assert demo.main(MODES[mode]) == 0
        monkeypatch.setenv("KVSTORE_TOKEN", "wrong")
        assert demo.main(MODES[mode]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{HEADERS[mode]} {url}\n")  # not an in-process server
    assert captured.err.startswith("kvstore demo: the server answered 401: ")


@pytest.mark.slow
def test_module_runs_its_own_server(mode: str) -> None:
    """`python -m kvstore.demo` with no arguments: one command, nothing else to start."""
    finished = subprocess.run(
        [sys.executable, "-m", "kvstore.demo", *MODES[mode]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    header, compiled, table = printed_sections(finished.stdout)
    assert re.fullmatch(
        re.escape(HEADERS[mode])
        + r" http://127\.0\.0\.1:\d+ \(in-process server, memory datastore\)",
        header,
    )
    assert list(compiled.values())[1:3] == [COMPILED, COMPILED]
    assert "simultaneous" in table
    assert finished.stderr == ""


def normalised(output: str) -> str:
    """Demo output with what changes between runs (port, timings, column padding) masked."""
    output = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", output)
    return re.sub(r" +", " ", re.sub(r"\d+\.\d+", "<n>", output))


def in_process_run(mode: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What `python -m kvstore.demo` prints in `mode` (run here against a server over memory)."""
    with server_over(MemoryDatastore()) as url:
        assert demo.main(["--url", url, *MODES[mode]]) == 0
    printed = capsys.readouterr().out
    return printed.replace(f"{url}\n", f"{url} (in-process server, memory datastore)\n", 1)


def test_readme_shows_what_the_demo_prints(capsys: pytest.CaptureFixture[str]) -> None:
    shown = block_after("A real run on the 2-core", "docs/async.md")
    assert normalised(shown) == normalised(in_process_run("threads", capsys))


def test_readme_shows_the_asyncio_header_and_timings(capsys: pytest.CaptureFixture[str]) -> None:
    """The README shows the asyncio run's first line and table (its compiled results are the
    threaded run's, shown once)."""
    header, compiled, table = printed_sections(in_process_run("asyncio", capsys))
    assert list(compiled.values())[1:3] == [COMPILED, COMPILED]
    shown = block_after("`--asyncio` prints the same four compiled objects", "docs/async.md")
    assert normalised(shown) == normalised(f"{header}\n\n{table}\n")
