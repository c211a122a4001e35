"""A Python client of the kvstore HTTP API, on one `httpx.Client`; `kvstore.aio` is its asyncio
twin.

One HTTP client per `KVStoreClient` keeps connections alive across calls and across threads
(httpx's client may be shared between threads, which the demo relies on to issue calls at
once). Every error answer becomes a typed exception carrying the server's problem details
(`kvstore.client_errors`); a 503 is retried as `kvstore.client_core` says.

Why httpx rather than requests, which this client used first: one HTTP stack for both clients,
and it measured no slower (`python -m bench.clients`; the figures are in docs/performance.md).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kvstore import client_calls as calls
from kvstore.client_calls import Call, Item, Page, key_path
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
    Problem,
    ServiceUnavailable,
    Unauthorized,
)
from kvstore.media import DEFAULT_PATCH_FORMAT

__all__ = [
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidRequest",
    "Item",
    "KVStoreClient",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Problem",
    "ServiceUnavailable",
    "Unauthorized",
    "key_path",
]

T = TypeVar("T")


class KVStoreClient(ClientCore[httpx.Client, Callable[[float], None]]):
    """The API as methods; safe to share between threads.

    Arguments: `KVStoreClient(base_url, *, token=None, timeout=10.0, http_client=None,
    retries=3, max_retry_wait=10.0, max_connections=32, sleep=None)`, as `ClientCore` says;
    `http_client` is an `httpx.Client`, `sleep` a function of seconds (`time.sleep`).
    """

    def _new_http_client(self) -> httpx.Client:
        return httpx.Client(**self._http_options())

    def _default_sleep(self) -> Callable[[float], None]:
        return time.sleep

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http_client:
            self.http_client.close()

    def __enter__(self) -> KVStoreClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _send(self, call: Call[T]) -> T:
        request = self._build(call)
        for attempt in itertools.count():
            try:
                response = self.http_client.send(request)
            except httpx.TransportError as exc:
                raise ConnectionFailed(self._url(call), exc) from exc
            wait = self._retry_wait(response, attempt)
            if wait is None:
                break
            self._sleep(wait)
        return self._result(call, response)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying 503s; returns a 2xx/3xx response or raises ClientError."""
        return self._send(
            calls.request(method, path, json_body=json_body, params=params, headers=headers)
        )

    # -- keys --------------------------------------------------------------------------------

    def get(self, key: str) -> Item:
        """The item at `key`. Raises NotFound."""
        return self._send(calls.get(key))

    def put(
        self,
        key: str,
        value: Any,
        *,
        ttl: int | None = None,
        if_version: int | None = None,
        if_absent: bool = False,
        if_present: bool = False,
    ) -> Item:
        """Create or replace; the conditions become `If-Match` / `If-None-Match`.

        Raises:
            PreconditionFailed: a condition did not hold.
        """
        return self._send(
            calls.put(
                key,
                value,
                ttl=ttl,
                if_version=if_version,
                if_absent=if_absent,
                if_present=if_present,
            )
        )

    def create(self, key: str, value: Any, *, ttl: int | None = None) -> Item:
        """Create a key that must not exist (`POST /v1/key`). Raises Conflict when it does."""
        return self._send(calls.create(key, value, ttl=ttl))

    def delete(self, key: str, *, if_version: int | None = None) -> None:
        """Delete a key. Raises NotFound, or PreconditionFailed when not at `if_version`."""
        self._send(calls.delete(key, if_version=if_version))

    def list_page(
        self, prefix: str = "", *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """One page: `{"items": [...], "next_cursor": str or None}`."""
        return self._send(calls.list_page(prefix, limit=limit, cursor=cursor))

    def items(self, prefix: str = "", *, page_size: int | None = None) -> Iterator[Item]:
        """Every item whose key starts with `prefix`, following the cursor to the end."""
        cursor: str | None = None
        while True:
            page = self.list_page(prefix, limit=page_size, cursor=cursor)
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def patch(
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
        call = calls.patch(key, patch, format=format, if_version=if_version, ttl=ttl)
        return self._send(call)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with `prefix` (not empty); returns how many there were.

        Repeats the request with the server's `next_cursor` until it is null: DynamoDB deletes
        in bounded steps, and a step is not atomic (docs/datastores/dynamodb.md).
        """
        deleted, cursor = 0, None
        while True:
            step = self._send(calls.delete_prefix_step(prefix, cursor))
            deleted += int(step["deleted"])
            cursor = step["next_cursor"]
            if cursor is None:
                return deleted

    def keys_page(
        self,
        prefix: str = "",
        delimiter: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """One page of names: `{"keys": [...], "prefixes": [...], "next_cursor"}`."""
        return self._send(calls.keys_page(prefix, delimiter, limit=limit, cursor=cursor))

    def keys(
        self, prefix: str = "", delimiter: str | None = None, *, page_size: int | None = None
    ) -> Iterator[str]:
        """Every name under `prefix`, following the cursor to the end. With a `delimiter`,
        the next level only: names, and folders ending in the delimiter (`web/sub/`), each
        page in ascending order, as Consul's `?keys&separator=` lists them."""
        cursor: str | None = None
        while True:
            page = self.keys_page(prefix, delimiter, limit=page_size, cursor=cursor)
            yield from calls.names_of(page, delimiter)
            cursor = page["next_cursor"]
            if cursor is None:
                return

    # -- several operations ------------------------------------------------------------------

    def batch(self, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run independent operations concurrently on the server (`POST /v1/batch`).

        Returns one `{"status", "item"?, "error"?}` per operation, in order; a failed operation
        is a result, not an exception. Raises InvalidRequest for an invalid operation.
        """
        return self._send(calls.batch(operations))

    def txn(self, operations: Sequence[Mapping[str, Any]]) -> list[Item | None]:
        """Apply operations all or nothing (`POST /v1/txn`).

        Raises:
            Conflict: a condition failed; `failed_index` names it and nothing was written.
        """
        return self._send(calls.txn(operations))
