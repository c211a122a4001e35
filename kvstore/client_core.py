"""What the synchronous and the asynchronous client share besides their calls: settings, the
HTTP request a call becomes, the 503 retry policy, and reading an answer.

Only sending and waiting differ between `KVStoreClient` and `AsyncKVStoreClient`; each of them
is a loop of a few lines around the methods here.

A 503 (the datastore is down or throttling) is retried a bounded number of times, waiting as
the server's `Retry-After` says, capped so a client is never parked for minutes; except a 503
saying that a write's outcome is unknown: sent again, it could be applied twice. The policy
is written here because httpx, unlike urllib3 (`Retry(respect_retry_after_header=True)`),
has no retry of answers, and this one must read the problem's type.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Generic, TypeVar

import httpx

from kvstore.client_calls import Call
from kvstore.client_errors import error_from_response

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
#: The longest a single wait between retries may be, whatever `Retry-After` says.
MAX_RETRY_WAIT = 10.0
#: Wait when a 503 carries no usable `Retry-After`.
DEFAULT_RETRY_WAIT = 1.0
#: Connections a client opens at most (and keeps alive): calls beyond it wait for a free one,
#: within the timeout. Enough for a thread pool or a few dozen tasks in flight at once.
POOL_SIZE = 32
#: The problem type of a 503 whose write may have been applied: never sent again blindly.
UNKNOWN_OUTCOME_TYPE = "urn:kvstore:problem:write-outcome-unknown"


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


#: The HTTP client under a client: `httpx.Client` or `httpx.AsyncClient`.
H = TypeVar("H", httpx.Client, httpx.AsyncClient)
#: How a client waits between retries: a function, or a coroutine function.
Sleep = TypeVar("Sleep")


class ClientCore(Generic[H, Sleep]):
    """The settings of a client and everything it does that is not I/O.

    Args:
        base_url: the service root, e.g. `http://127.0.0.1:5000` (or an API Gateway stage URL).
        token: sent as `Authorization: Bearer <token>` when the server requires API keys.
        timeout: seconds to connect, to send, to wait for each answer, and to wait for a free
            connection of the pool.
        http_client: an httpx client to use (and not close); by default the client owns one.
        retries: how many times a 503 is retried before ServiceUnavailable is raised.
        max_retry_wait: cap, in seconds, on each wait between retries.
        max_connections: size of the connection pool the client makes (not of one it is given).
        sleep: how to wait between retries (injectable, e.g. to record the waits); by default
            `time.sleep`, or `asyncio.sleep` for the asynchronous client.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: H | None = None,
        retries: int = 3,
        max_retry_wait: float = MAX_RETRY_WAIT,
        max_connections: int = POOL_SIZE,
        sleep: Sleep | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.max_connections = max_connections
        self._headers = {"Accept": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._owns_http_client = http_client is None
        self.http_client: H = self._new_http_client() if http_client is None else http_client
        self._sleep: Sleep = self._default_sleep() if sleep is None else sleep

    def _new_http_client(self) -> H:
        """The client's own HTTP client, made with `_http_options()`."""
        raise NotImplementedError

    def _default_sleep(self) -> Sleep:
        raise NotImplementedError

    def _http_options(self) -> dict[str, Any]:
        """How the client's own `httpx.Client` / `httpx.AsyncClient` is made."""
        limits = httpx.Limits(
            max_connections=self.max_connections, max_keepalive_connections=self.max_connections
        )
        return {"limits": limits, "timeout": self.timeout, "follow_redirects": True}

    def _url(self, call: Call[Any]) -> str:
        return self.base_url + call.path

    def _build(self, call: Call[Any]) -> httpx.Request:
        headers = dict(self._headers)
        if call.headers:
            headers.update(call.headers)
        content = None
        if call.body is not None or call.sends_body:
            text = json.dumps(call.body, ensure_ascii=False, allow_nan=False)
            content = text.encode("utf-8")
            headers["Content-Type"] = call.content_type
        return self.http_client.build_request(
            call.method,
            self._url(call),
            content=content,
            params=call.params,
            headers=headers,
            timeout=self.timeout,
        )

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending again, or None: `response` is the answer."""
        if response.status_code != 503 or attempt >= self.retries or _outcome_unknown(response):
            return None
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return min(DEFAULT_RETRY_WAIT if wait is None else wait, self.max_retry_wait)

    def _result(self, call: Call[T], response: httpx.Response) -> T:
        """The call's result, or its typed error for a 4xx/5xx answer."""
        if response.status_code >= 400:
            raise error_from_response(response)
        return call.read(response)


def _outcome_unknown(response: httpx.Response) -> bool:
    """A 503 saying the write may have been applied (the datastore lost its answer)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") == UNKNOWN_OUTCOME_TYPE
