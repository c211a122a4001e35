"""What only the asyncio client has, against a real server: `async with`, many tasks sharing
one client, and cancellation that leaves neither half a write nor a connection behind.

Everything both clients do (every method, every typed error, the 503 retry, timeouts) is in
tests/test_client.py, which runs on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest

from kvstore.aio import AsyncKVStoreClient
from kvstore.app import create_app
from kvstore.datastores.base import Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings
from tests.live_server import AnswerLog, serve
from tests.wrappers import GatedDatastore

pytestmark = pytest.mark.anyio

OLD = ["baseball", "hockey", "football"]
NEW = ["curling", *(f"sport {n}" for n in range(10_000))]  # about 130 KB of body


@contextmanager
def live(datastore: Datastore) -> Iterator[tuple[str, AnswerLog]]:
    app = AnswerLog(create_app(Settings(datastore="memory"), datastore=datastore))
    with serve(app) as url:
        yield url, app


async def test_async_with_closes_the_client_it_made() -> None:
    with live(MemoryDatastore()) as (url, _):
        async with AsyncKVStoreClient(url) as kv:
            assert (await kv.put("sports", OLD))["version"] == 1
            assert [item["key"] async for item in kv.items()] == ["sports"]
        assert kv.http_client.is_closed


async def test_given_http_client_is_used_and_left_open() -> None:
    with live(MemoryDatastore()) as (url, _):
        async with httpx.AsyncClient() as http:
            async with AsyncKVStoreClient(url, http_client=http) as kv:
                await kv.put("k", 1)
            assert kv.http_client is http
            assert (await http.get(url + "/healthz")).status_code == 200


async def test_a_thousand_concurrent_gets_through_one_client() -> None:
    """1,000 tasks share one client; a semaphore bounds how many calls are in flight at once."""
    count, bound = 1000, 16
    store = MemoryDatastore()
    for n in range(count):
        store.put(f"n/{n}", n)
    limit = asyncio.BoundedSemaphore(bound)
    in_flight = peak = 0

    async def get(kv: AsyncKVStoreClient, n: int) -> int:
        nonlocal in_flight, peak
        async with limit:
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                value: int = (await kv.get(f"n/{n}"))["value"]
                return value
            finally:
                in_flight -= 1

    with live(store) as (url, answers):
        async with AsyncKVStoreClient(url) as kv:
            values = await asyncio.gather(*(get(kv, n) for n in range(count)))
    assert values == list(range(count))
    # The first `bound` tasks all start their call before any answer can arrive.
    assert peak == bound
    assert len(answers.answers) == count
    assert {status for _, _, status in answers.answers} == {200}


class StallHalfway(httpx.AsyncByteStream):
    """A request body that sends its first half, then waits until its task is cancelled."""

    def __init__(self, body: bytes, stalled: asyncio.Event) -> None:
        self.body = body
        self.stalled = stalled

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body[: len(self.body) // 2]
        self.stalled.set()
        await asyncio.Event().wait()  # never set: only cancellation ends this


class StallingTransport(httpx.AsyncBaseTransport):
    """Sends requests with a body through `inner`, stalling each body halfway."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.stalled = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            request.stream = StallHalfway(request.content, self.stalled)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_cancelled_upload_writes_nothing_and_frees_its_connection() -> None:
    """Cancelled with half its body sent, a put changes nothing; the pool's one connection
    is free again for the next call."""
    store = MemoryDatastore()
    store.put("sports", OLD)
    one_connection = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1))
    transport = StallingTransport(one_connection)
    with live(store) as (url, answers):
        async with (
            httpx.AsyncClient(transport=transport, timeout=5) as http,
            AsyncKVStoreClient(url, http_client=http) as kv,
        ):
            task = asyncio.create_task(kv.put("sports", NEW))
            await transport.stalled.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The server saw the connection close before the body's end: no write, a 400.
            assert await asyncio.to_thread(answers.wait_for, 1) == [("PUT", "/v1/key/sports", 400)]
            item = store.get("sports")
            assert item is not None
            assert (item.value, item.version) == (OLD, 1)
            # A leaked connection would hold the pool's only slot: this would time out.
            assert (await kv.get("sports"))["value"] == OLD


async def test_cancelled_while_the_server_writes_leaves_the_write_whole() -> None:
    """Cancelled once the server has the whole put, the write happens whole (version 2, the
    full value) or not at all, never in part; the client's connection is closed, not reused
    half read, and its pool of one serves the next call."""
    gated = GatedDatastore(MemoryDatastore(), {"put"})
    gated.inner.put("sports", OLD)
    with live(gated) as (url, answers):
        async with AsyncKVStoreClient(url, max_connections=1, timeout=5) as kv:
            task = asyncio.create_task(kv.put("sports", NEW))
            await asyncio.to_thread(gated.entered.wait, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            gated.opened.set()
            assert await asyncio.to_thread(answers.wait_for, 1) == [("PUT", "/v1/key/sports", 200)]
            item = await kv.get("sports")
    assert (item["value"], item["version"]) == (NEW, 2)
