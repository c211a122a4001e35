"""Both Python clients behind one blocking interface, so one test suite runs on each of them.

`open_client("sync", ...)` is a `KVStoreClient`; `open_client("async", ...)` is an
`AsyncKVStoreClient` living on an event loop of its own thread, driven through
`BlockingAsyncClient`: every method call becomes a task on that loop and the test waits for
its result. The async client does real asyncio I/O there; only the waiting is blocking, and
calls from several test threads at once are several tasks sharing the one client.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from kvstore.aio import AsyncKVStoreClient
from kvstore.client import KVStoreClient

T = TypeVar("T")

KINDS = ("sync", "async")


@contextmanager
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A running event loop on its own daemon thread, stopped and closed on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-event-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


async def _collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


class BlockingAsyncClient:
    """An `AsyncKVStoreClient`'s methods, each run to completion on `loop` and returned."""

    def __init__(self, client: AsyncKVStoreClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop

    def wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def blocking(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if inspect.isasyncgen(result):  # items(): an iterator, as the sync client's
                return iter(self.wait(_collect(result)))
            return self.wait(result)

        return blocking


def _awaitable(sleep: Callable[[float], None]) -> Callable[[float], Coroutine[Any, Any, None]]:
    async def wait(seconds: float) -> None:
        sleep(seconds)

    return wait


@contextmanager
def open_blocking_async(base_url: str, **options: Any) -> Iterator[BlockingAsyncClient]:
    """An `AsyncKVStoreClient(base_url, **options)` on a loop of its own thread, closed on exit."""

    async def make() -> AsyncKVStoreClient:
        return AsyncKVStoreClient(base_url, **options)

    with loop_in_thread() as loop:
        blocking = BlockingAsyncClient(
            asyncio.run_coroutine_threadsafe(make(), loop).result(), loop
        )
        try:
            yield blocking
        finally:
            blocking.wait(blocking.client.aclose())


@contextmanager
def open_client(
    kind: str,
    base_url: str,
    *,
    sleep: Callable[[float], None] | None = None,
    **options: Any,
) -> Iterator[KVStoreClient]:
    """A client of `kind` with `options` (as `KVStoreClient` takes them), closed on exit.

    `sleep`, a blocking callable, is made a coroutine function for the async client.
    """
    if kind == "sync":
        with KVStoreClient(base_url, sleep=sleep, **options) as client:
            yield client
        return
    with open_blocking_async(
        base_url, sleep=None if sleep is None else _awaitable(sleep), **options
    ) as blocking:
        # It answers every method KVStoreClient has, with the same results and errors.
        yield cast(KVStoreClient, blocking)
