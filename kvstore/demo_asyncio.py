"""The demo's steps from asyncio tasks (`python -m kvstore.demo --asyncio`).

The same steps, compiled results and timing table as the threaded demo (`kvstore.demo`, whose
data, checks and printing these reuse); only the way calls are issued differs. Simultaneous
reads are one `asyncio.gather` of `AsyncKVStoreClient.get` calls on one client, which hands
each its own pooled connection; the chained step awaits `sports`, then gathers the reads its
value names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TextIO, TypeVar

from kvstore import demo
from kvstore.aio import AsyncKVStoreClient, NotFound
from kvstore.demo import Call, Step

T = TypeVar("T")


async def timed(label: str, call: Awaitable[T]) -> tuple[T, Call]:
    """Await `call`, measuring it from when its task starts."""
    start = time.perf_counter()
    value = await call
    return value, Call(label, time.perf_counter() - start)


async def value_or_none(client: AsyncKVStoreClient, key: str) -> Any:
    """The key's value, or None when it does not exist (a missing sport is data, not a crash)."""
    try:
        return (await client.get(key))["value"]
    except NotFound:
        return None


async def read_all(
    client: AsyncKVStoreClient, keys: Sequence[str]
) -> tuple[dict[str, Any], list[Call]]:
    """Read `keys` simultaneously: one task per GET, all started before any answer is awaited.

    When one read fails, the others are cancelled and awaited before the error goes on, as the
    thread pool's `with` waits for its threads: no read outlives the step.
    """
    tasks = [asyncio.ensure_future(timed(f"GET {key}", value_or_none(client, key))) for key in keys]
    try:
        answers = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return demo.answers_by_key(keys, answers)


async def seed(client: AsyncKVStoreClient) -> Step:
    step = demo.seed_step()
    with step.timing():
        results, call = await timed("POST /v1/batch", client.batch(demo.SEED_OPERATIONS))
    return demo.seeded(step, results, call)


async def simultaneous(client: AsyncKVStoreClient) -> Step:
    """Four independent reads at once, compiled into one object."""
    step = demo.simultaneous_step()
    with step.timing():
        values, calls = await read_all(client, demo.SIMULTANEOUS_KEYS)
    return step.done(demo.compiled(values["sports"], demo.SPORTS, values), calls, str(len(calls)))


async def chained(client: AsyncKVStoreClient) -> Step:
    """Await `sports`; its value decides the next reads (each sport's key, gathered)."""
    step = demo.chained_step()
    with step.timing():
        value, first = await timed("GET sports", value_or_none(client, "sports"))
        sports = demo.sports_named(value)
        values, rest = await read_all(client, [demo.sport_key(sport) for sport in sports])
    return step.done(demo.compiled(sports, sports, values), [first, *rest], f"1+{len(rest)}")


async def patched(client: AsyncKVStoreClient) -> Step:
    """Append a sport to `sports` with one atomic PATCH: no read-modify-write in the client."""
    step = demo.patch_step()
    with step.timing():
        item, call = await timed(
            "PATCH sports", client.patch("sports", demo.PATCH_OPERATIONS, format="json-patch")
        )
    return step.done(demo.patched_result(item), [call], "1")


async def run(client: AsyncKVStoreClient, out: TextIO) -> list[Step]:
    """Run the four steps, printing each compiled result, then the timing table."""
    steps = [demo.show(await seed(client), out)]
    steps.append(demo.show(await simultaneous(client), out))
    steps.append(demo.show(await chained(client), out))
    steps.append(demo.show(await patched(client), out))
    print(demo.timing_table(steps), file=out)
    return steps


async def run_against(url: str, options: dict[str, Any], header: str, out: TextIO) -> None:
    """The demo against `url`: the health check first, so an unreachable server prints nothing."""
    async with AsyncKVStoreClient(url, **options) as client:
        await client.request("GET", "/healthz")
        print(header, file=out)
        await run(client, out)
