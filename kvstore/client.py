"""A Python client of the kvstore HTTP API, on one `requests.Session`.

One session per client keeps connections alive across calls (and across threads: requests'
connection pool is thread-safe, which is what the demo relies on to issue calls at once).
Every error answer becomes a typed exception carrying the server's problem details; a 503
(the datastore is down or throttling) is retried a bounded number of times, waiting as the
server's `Retry-After` says, capped so a client is never parked for minutes.

Keys are percent-encoded for the URL except `/`, which the server's route takes as part of the
key; so `a b/c?d#e%f` and non-ASCII keys reach the server exactly as written.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from kvstore.media import DEFAULT_PATCH_FORMAT, PATCH_FORMATS

Item = dict[str, Any]
Problem = dict[str, Any]

#: `request`'s "no body" (None is a body: the JSON null, a merge patch that clears a value).
NO_BODY: Any = object()

DEFAULT_TIMEOUT = 10.0
#: The longest a single wait between retries may be, whatever `Retry-After` says.
MAX_RETRY_WAIT = 10.0
#: Wait when a 503 carries no usable `Retry-After`.
DEFAULT_RETRY_WAIT = 1.0
#: Connections kept per host: enough for a thread pool of calls in flight at once.
POOL_SIZE = 32


class ClientError(Exception):
    """An error answer of the API (or no answer at all); `problem` is its problem+json body."""

    def __init__(self, status: int, problem: Problem) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or "request failed"
        super().__init__(f"{status}: {detail}")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail", ""))


class InvalidRequest(ClientError):
    """400 or 422: the request can never succeed as sent (bad key, body or operation)."""


class Unauthorized(ClientError):
    """401: no token, or an unknown one."""


class Forbidden(ClientError):
    """403: a read-only token tried to write."""


class NotFound(ClientError):
    """404: no such key."""


class Conflict(ClientError):
    """409: the key exists (create), a transaction's condition failed (`failed_index`), a
    patch cannot apply to the value (`patch_index`), or other writers kept changing the key
    while it was patched (nothing was written: try again)."""

    @property
    def failed_index(self) -> int | None:
        index = self.problem.get("failed_index")
        return index if isinstance(index, int) else None

    @property
    def patch_index(self) -> int | None:
        index = self.problem.get("patch_index")
        return index if isinstance(index, int) else None


class PreconditionFailed(ClientError):
    """412: `if_version` / `if_absent` / `if_present` did not hold; nothing was written."""


class PayloadTooLarge(ClientError):
    """413: the value or the request body is over the server's limit."""


class ServiceUnavailable(ClientError):
    """503 after every retry: the datastore is down or throttling."""


class ConnectionFailed(ClientError):
    """No HTTP answer at all: the server cannot be reached, or did not answer in time."""

    def __init__(self, url: str, reason: BaseException) -> None:
        detail = f"cannot reach {url}: {describe_connection_error(reason)}"
        super().__init__(0, {"title": "Connection failed", "detail": detail})
        self.url = url
        self.reason = reason


def describe_connection_error(exc: BaseException) -> str:
    """The root cause in a few words ("Connection refused", "timed out"), not urllib3's prose."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    seen: set[int] = set()
    current: BaseException | None = exc
    root = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        root = current
        reason = getattr(current, "reason", None)
        first = current.args[0] if current.args else None
        if isinstance(reason, BaseException):
            current = reason
        elif current.__cause__ is not None or current.__context__ is not None:
            current = current.__cause__ or current.__context__
        elif isinstance(first, BaseException):
            current = first
        else:
            current = None
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return str(root) or type(root).__name__


_ERRORS: Mapping[int, type[ClientError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    422: InvalidRequest,
    503: ServiceUnavailable,
}


def key_path(key: str) -> str:
    """`/v1/key/<key>` with the key percent-encoded as UTF-8, `/` kept."""
    return "/v1/key/" + quote(key, safe="/")


def retry_after_seconds(header: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or garbled."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def error_from_response(response: requests.Response) -> ClientError:
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: Problem = (
        body
        if isinstance(body, dict)
        else {"status": response.status_code, "detail": response.text[:200] or response.reason}
    )
    return _ERRORS.get(response.status_code, ClientError)(response.status_code, problem)


class KVStoreClient:
    """The API as methods; safe to share between threads.

    Args:
        base_url: the service root, e.g. `http://127.0.0.1:5000` (or an API Gateway stage URL).
        token: sent as `Authorization: Bearer <token>` when the server requires API keys.
        timeout: seconds to connect and to wait for each answer.
        session: a session to use (and not close); by default the client owns one.
        retries: how many times a 503 is retried before ServiceUnavailable is raised.
        max_retry_wait: cap, in seconds, on each wait between retries.
        sleep: how to wait between retries (injectable, e.g. to record the waits).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        retries: int = 3,
        max_retry_wait: float = MAX_RETRY_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self._headers = {"Accept": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

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

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = NO_BODY,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> requests.Response:
        """Send one request, retrying 503s; returns a 2xx/3xx response or raises ClientError."""
        url = self.base_url + path
        sent = dict(self._headers)
        if headers:
            sent.update(headers)
        data = None
        if json_body is not NO_BODY:
            data = json.dumps(json_body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            sent["Content-Type"] = content_type
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, url, data=data, params=params, headers=sent, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise ConnectionFailed(url, exc) from exc
            if response.status_code < 400:
                return response
            if response.status_code != 503 or attempt >= self.retries:
                raise error_from_response(response)
            attempt += 1
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self._sleep(min(DEFAULT_RETRY_WAIT if wait is None else wait, self.max_retry_wait))

    # -- keys --------------------------------------------------------------------------------

    def get(self, key: str) -> Item:
        """The item at `key`. Raises NotFound."""
        item: Item = self.request("GET", key_path(key)).json()
        return item

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
        if sum((if_version is not None, if_absent, if_present)) > 1:
            raise ValueError("use at most one of if_version, if_absent and if_present")
        headers: dict[str, str] = {}
        if if_version is not None:
            headers["If-Match"] = f'"{if_version}"'
        elif if_absent:
            headers["If-None-Match"] = "*"
        elif if_present:
            headers["If-Match"] = "*"
        body: dict[str, Any] = {"value": value}
        if ttl is not None:
            body["ttl"] = ttl
        item: Item = self.request("PUT", key_path(key), json_body=body, headers=headers).json()
        return item

    def create(self, key: str, value: Any, *, ttl: int | None = None) -> Item:
        """Create a key that must not exist (`POST /v1/key`). Raises Conflict when it does."""
        body: dict[str, Any] = {"key": key, "value": value}
        if ttl is not None:
            body["ttl"] = ttl
        item: Item = self.request("POST", "/v1/key", json_body=body).json()
        return item

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
        if format not in PATCH_FORMATS:
            raise ValueError(f"format must be one of {', '.join(PATCH_FORMATS)}")
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None
        item: Item = self.request(
            "PATCH",
            key_path(key),
            json_body=patch,
            params=None if ttl is None else {"ttl": ttl},
            headers=headers,
            content_type=PATCH_FORMATS[format],
        ).json()
        return item

    def delete(self, key: str, *, if_version: int | None = None) -> None:
        """Delete a key. Raises NotFound, or PreconditionFailed when not at `if_version`."""
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None
        self.request("DELETE", key_path(key), headers=headers)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with `prefix` (not empty); returns how many there were.

        Repeats the request with the server's `next_cursor` until it is null: DynamoDB deletes
        in bounded steps, and a step is not atomic (see the README).
        """
        if not prefix:
            raise ValueError("prefix must not be empty")
        deleted, cursor = 0, None
        while True:
            params = {"prefix": prefix} if cursor is None else {"prefix": prefix, "cursor": cursor}
            answer = self.request("DELETE", "/v1/key", params=params).json()
            deleted += int(answer["deleted"])
            cursor = answer["next_cursor"]
            if cursor is None:
                return deleted

    def list_page(
        self, prefix: str = "", *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page: `{"items": [...], "next_cursor": str or None}`."""
        return self._listing(prefix=prefix or None, limit=limit, cursor=cursor)

    def _listing(self, **query: Any) -> dict[str, Any]:
        """One page of `GET /v1/key`, with the query members that are not None."""
        params = {name: value for name, value in query.items() if value is not None}
        page: dict[str, Any] = self.request("GET", "/v1/key", params=params).json()
        return page

    def items(self, prefix: str = "", *, page_size: int | None = None) -> Iterator[Item]:
        """Every item whose key starts with `prefix`, following the cursor to the end."""
        cursor: str | None = None
        while True:
            page = self.list_page(prefix, limit=page_size, cursor=cursor)
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def keys_page(
        self,
        prefix: str = "",
        delimiter: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of names: `{"keys": [...], "prefixes": [...], "next_cursor"}`."""
        return self._listing(
            keys="true", prefix=prefix or None, delimiter=delimiter, limit=limit, cursor=cursor
        )

    def keys(
        self, prefix: str = "", delimiter: str | None = None, *, page_size: int | None = None
    ) -> Iterator[str]:
        """Every name under `prefix`, following the cursor to the end. With a `delimiter`,
        the next level only: names, and folders ending in the delimiter (`web/sub/`), each
        page in ascending order, as Consul's `?keys&separator=` lists them."""
        cursor: str | None = None
        while True:
            page = self.keys_page(prefix, delimiter, limit=page_size, cursor=cursor)
            names = page["keys"]
            yield from names if delimiter is None else sorted(names + page["prefixes"])
            cursor = page["next_cursor"]
            if cursor is None:
                return

    # -- several operations ------------------------------------------------------------------

    def batch(self, operations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run independent operations concurrently on the server (`POST /v1/batch`).

        Returns one `{"status", "item"?, "error"?}` per operation, in order; a failed operation
        is a result, not an exception. Raises InvalidRequest for an invalid operation.
        """
        body = {"operations": [dict(op) for op in operations]}
        results: list[dict[str, Any]] = self.request("POST", "/v1/batch", json_body=body).json()[
            "results"
        ]
        return results

    def txn(self, operations: Sequence[Mapping[str, Any]]) -> list[Item | None]:
        """Apply operations all or nothing (`POST /v1/txn`).

        Raises:
            Conflict: a condition failed; `failed_index` names it and nothing was written.
        """
        body = {"operations": [dict(op) for op in operations]}
        results: list[Item | None] = self.request("POST", "/v1/txn", json_body=body).json()[
            "results"
        ]
        return results
