"""Each operation of the Python clients as data: the request it sends and how its answer is read.

`KVStoreClient` and `AsyncKVStoreClient` differ only in how they wait for the network; what a
method's arguments mean (the checks, the URL, the conditional headers, the body) and what its
answer becomes is written once here, as a `Call` that either client sends.

Keys are percent-encoded for the URL except `/`, which the server's route takes as part of the
key; so `a b/c?d#e%f` and non-ASCII keys reach the server exactly as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from kvstore.media import PATCH_FORMATS

T = TypeVar("T")
Item = dict[str, Any]
Page = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request of the API, and `read`, which turns its success answer into the result."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    body: Any = None  # a JSON document; None sends no body, unless `sends_body`
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] | None = None
    content_type: str = "application/json"
    #: Send `body` even when it is None: a merge patch of `null` is a document too.
    sends_body: bool = False


def key_path(key: str) -> str:
    """`/v1/key/<key>` with the key percent-encoded as UTF-8, `/` kept."""
    return "/v1/key/" + quote(key, safe="/")


def _document(response: httpx.Response) -> Any:
    return response.json()


def _results(response: httpx.Response) -> Any:
    return response.json()["results"]


def _nothing(response: httpx.Response) -> None:
    return None


def _response(response: httpx.Response) -> httpx.Response:
    return response


def _with_ttl(body: dict[str, Any], ttl: int | None) -> dict[str, Any]:
    if ttl is not None:
        body["ttl"] = ttl
    return body


def _operations(operations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"operations": [dict(op) for op in operations]}


def request(
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call[httpx.Response]:
    """Any request; its answer is the response itself (2xx or 3xx; errors still raise)."""
    return Call(method, path, _response, json_body, params, headers)


def get(key: str) -> Call[Item]:
    return Call("GET", key_path(key), _document)


def put(
    key: str,
    value: Any,
    *,
    ttl: int | None,
    if_version: int | None,
    if_absent: bool,
    if_present: bool,
) -> Call[Item]:
    """At most one condition, as `If-Match: "<v>"`, `If-None-Match: *` or `If-Match: *`."""
    if sum((if_version is not None, if_absent, if_present)) > 1:
        raise ValueError("use at most one of if_version, if_absent and if_present")
    headers: dict[str, str] = {}
    if if_version is not None:
        headers["If-Match"] = f'"{if_version}"'
    elif if_absent:
        headers["If-None-Match"] = "*"
    elif if_present:
        headers["If-Match"] = "*"
    body = _with_ttl({"value": value}, ttl)
    return Call("PUT", key_path(key), _document, body, headers=headers)


def create(key: str, value: Any, *, ttl: int | None) -> Call[Item]:
    return Call("POST", "/v1/key", _document, _with_ttl({"key": key, "value": value}, ttl))


def delete(key: str, *, if_version: int | None) -> Call[None]:
    headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None
    return Call("DELETE", key_path(key), _nothing, headers=headers)


def _if_match(if_version: int | None) -> dict[str, str] | None:
    return {"If-Match": f'"{if_version}"'} if if_version is not None else None


def patch(
    key: str, document: Any, *, format: str, if_version: int | None, ttl: int | None
) -> Call[Item]:
    """`format` "merge" (RFC 7396) or "json-patch" (RFC 6902); `ttl` sets a new expiry."""
    if format not in PATCH_FORMATS:
        raise ValueError(f"format must be one of {', '.join(PATCH_FORMATS)}")
    return Call(
        "PATCH",
        key_path(key),
        _document,
        document,
        params=None if ttl is None else {"ttl": ttl},
        headers=_if_match(if_version),
        content_type=PATCH_FORMATS[format],
        sends_body=True,
    )


def delete_prefix_step(prefix: str, cursor: str | None) -> Call[Page]:
    """One step of deleting a prefix: `{"deleted": n, "next_cursor": str or None}`."""
    if not prefix:
        raise ValueError("prefix must not be empty")
    params: dict[str, str | int] = {"prefix": prefix}
    if cursor is not None:
        params["cursor"] = cursor
    return Call("DELETE", "/v1/key", _document, params=params)


def keys_page(
    prefix: str, delimiter: str | None, *, limit: int | None, cursor: str | None
) -> Call[Page]:
    """One page of names: `{"keys": [...], "prefixes": [...], "next_cursor"}`."""
    params: dict[str, str | int] = {"keys": "true"}
    for name, value in (
        ("prefix", prefix or None),
        ("delimiter", delimiter),
        ("limit", limit),
        ("cursor", cursor),
    ):
        if value is not None:
            params[name] = value
    return Call("GET", "/v1/key", _document, params=params)


def names_of(page: Page, delimiter: str | None) -> list[str]:
    """A names page's names, with its folders among them when listed by a delimiter."""
    names: list[str] = page["keys"]
    return names if delimiter is None else sorted(names + page["prefixes"])


def list_page(prefix: str, *, limit: int | None, cursor: str | None) -> Call[Page]:
    params: dict[str, str | int] = {}
    if prefix:
        params["prefix"] = prefix
    if limit is not None:
        params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", "/v1/key", _document, params=params)


def batch(operations: Sequence[Mapping[str, Any]]) -> Call[list[dict[str, Any]]]:
    return Call("POST", "/v1/batch", _results, _operations(operations))


def txn(operations: Sequence[Mapping[str, Any]]) -> Call[list[Item | None]]:
    return Call("POST", "/v1/txn", _results, _operations(operations))
