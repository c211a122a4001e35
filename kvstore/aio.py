"""The Python client for asyncio: `AsyncKVStoreClient`, on one `httpx.AsyncClient`.

The same operations, arguments, typed errors and 503 retry as `kvstore.client.KVStoreClient`
(both are built from `kvstore.client_calls` and `kvstore.client_core`), awaited. The methods
repeat the sync client's signatures on purpose: one body for both would cost each its types.

    async with AsyncKVStoreClient("http://127.0.0.1:5000") as kv:
        sports, hockey = await asyncio.gather(kv.get("sports"), kv.get("sports/hockey"))

One client is safe to share between the tasks of its event loop: it keeps no state between
calls but the connection pool, which hands each request in flight its own connection (at most
`max_connections`; more wait for a free one, within the timeout). Cancelling a task that is
awaiting a call closes that call's connection rather than returning it to the pool half read;
what the server does with a request it already received is the server's (each write is
atomic there, so it happened whole or not at all).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kvstore import client_calls as calls
from kvstore.client_calls import Call, Item, Page
from kvstore.client_core import ClientCore
from kvstore.client_errors import (
    ClientError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
)
from kvstore.media import DEFAULT_PATCH_FORMAT

__all__ = [
    "AsyncKVStoreClient",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ServiceUnavailable",
    "Unauthorized",
]

T = TypeVar("T")


class AsyncKVStoreClient(ClientCore[httpx.AsyncClient, Callable[[float], Awaitable[None]]]):
    """The API as coroutines; safe to share between the tasks of one event loop.

    Arguments: those of `KVStoreClient`, but `http_client` is an `httpx.AsyncClient` and
    `sleep` a coroutine function of seconds (`asyncio.sleep`).
    """

    def _new_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._http_options())

    def _default_sleep(self) -> Callable[[float], Awaitable[None]]:
        return asyncio.sleep

    # -- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self.http_client.aclose()

    async def __aenter__(self) -> AsyncKVStoreClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- transport ---------------------------------------------------------------------------

    async def _send(self, call: Call[T]) -> T:
        request = self._build(call)
        for attempt in itertools.count():
            try:
                response = await self.http_client.send(request)
            except httpx.TransportError as exc:
                raise ConnectionFailed(self._url(call), exc) from exc
            wait = self._retry_wait(response, attempt)
            if wait is None:
                break
            await self._sleep(wait)
        return self._result(call, response)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """As `KVStoreClient.request`."""
        return await self._send(
            calls.request(method, path, json_body=json_body, params=params, headers=headers)
        )

    # -- keys --------------------------------------------------------------------------------

    async def get(self, key: str) -> Item:
        """The item at `key`. Raises NotFound."""
        return await self._send(calls.get(key))

    async def put(
        self,
        key: str,
        value: Any,
        *,
        ttl: int | None = None,
        if_version: int | None = None,
        if_absent: bool = False,
        if_present: bool = False,
    ) -> Item:
        """Create or replace, at most one condition holding; as `KVStoreClient.put`."""
        return await self._send(
            calls.put(
                key,
                value,
                ttl=ttl,
                if_version=if_version,
                if_absent=if_absent,
                if_present=if_present,
            )
        )

    async def create(self, key: str, value: Any, *, ttl: int | None = None) -> Item:
        """Create a key that must not exist. Raises Conflict when it does."""
        return await self._send(calls.create(key, value, ttl=ttl))

    async def delete(self, key: str, *, if_version: int | None = None) -> None:
        """Delete a key. Raises NotFound, or PreconditionFailed when not at `if_version`."""
        await self._send(calls.delete(key, if_version=if_version))

    async def list_page(
        self, prefix: str = "", *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """One page: `{"items": [...], "next_cursor": str or None}`."""
        return await self._send(calls.list_page(prefix, limit=limit, cursor=cursor))

    async def items(self, prefix: str = "", *, page_size: int | None = None) -> AsyncIterator[Item]:
        """Every item whose key starts with `prefix`, following the cursor to the end."""
        cursor: str | None = None
        while True:
            page = await self.list_page(prefix, limit=page_size, cursor=cursor)
            for item in page["items"]:
                yield item
            cursor = page["next_cursor"]
            if cursor is None:
                return

    async def patch(
        self,
        key: str,
        patch: Any,
        *,
        format: str = DEFAULT_PATCH_FORMAT,
        if_version: int | None = None,
        ttl: int | None = None,
    ) -> Item:
        """Change part of a value atomically (`PATCH`): `format` "merge" (RFC 7396: an object
        merged in, `None` removing a member) or "json-patch" (RFC 6902: a list of operations).
        The item keeps its expiry unless `ttl` sets a new one.

        Raises:
            NotFound: no such key.
            Conflict: the patch cannot apply to the value (`patch_index`), or the key kept
                changing meanwhile.
            PreconditionFailed: not at `if_version`.
            InvalidRequest: a malformed patch, or a result that breaks a value rule.
        """
        return await self._send(
            calls.patch(key, patch, format=format, if_version=if_version, ttl=ttl)
        )

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with `prefix` (not empty); returns how many there were.

        Repeats the request with the server's `next_cursor` until it is null: DynamoDB deletes
        in bounded steps, and a step is not atomic (docs/datastores/dynamodb.md).
        """
        deleted, cursor = 0, None
        while True:
            step = await self._send(calls.delete_prefix_step(prefix, cursor))
            deleted += int(step["deleted"])
            cursor = step["next_cursor"]
            if cursor is None:
                return deleted

    async def keys_page(
        self,
        prefix: str = "",
        delimiter: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """One page of names: `{"keys": [...], "prefixes": [...], "next_cursor"}`."""
        return await self._send(calls.keys_page(prefix, delimiter, limit=limit, cursor=cursor))

    async def keys(
        self, prefix: str = "", delimiter: str | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[str]:
        """Every name under `prefix`, following the cursor to the end. With a `delimiter`,
        the next level only: names, and folders ending in the delimiter (`web/sub/`), each
        page in ascending order, as Consul's `?keys&separator=` lists them."""
        cursor: str | None = None
        while True:
            page = await self.keys_page(prefix, delimiter, limit=page_size, cursor=cursor)
            for name in calls.names_of(page, delimiter):
                yield name
            cursor = page["next_cursor"]
            if cursor is None:
                return

    # -- several operations ------------------------------------------------------------------

    async def batch(self, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`POST /v1/batch`: one result per operation, in order; as `KVStoreClient.batch`."""
        return await self._send(calls.batch(operations))

    async def txn(self, operations: Sequence[Mapping[str, Any]]) -> list[Item | None]:
        """`POST /v1/txn`, all or nothing. Raises Conflict with `failed_index`."""
        return await self._send(calls.txn(operations))
