"""The typed errors of both Python clients (`kvstore.client`, `kvstore.aio`), and how an answer
or a failed connection becomes one.

Every error answer of the API is its own exception carrying the server's problem+json body,
so a caller catches `NotFound` or `PreconditionFailed` rather than comparing status codes; no
answer at all is `ConnectionFailed`, with the root cause in a few words.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

Problem = dict[str, Any]


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
    """403: the token's grants do not cover the key, prefix or operation (`index`)."""


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
    """The root cause in a few words ("Connection refused", "timed out"), not the HTTP stack's
    prose: the chain of causes is followed to the operating system's error."""
    if isinstance(exc, httpx.TimeoutException):
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
    if isinstance(root, OSError):
        # The errno's own words: asyncio words a refused connection "Connect call failed
        # ('127.0.0.1', 5000)", the blocking socket "Connection refused"; both are errno 111.
        # (Resolver errors have negative numbers of their own and keep their text.)
        if isinstance(root.errno, int) and root.errno > 0:
            return os.strerror(root.errno)
        if root.strerror:
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


def error_from_response(response: httpx.Response) -> ClientError:
    """The typed error of an error answer; a body that is not problem+json still says something."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: Problem = (
        body
        if isinstance(body, dict)
        else {
            "status": response.status_code,
            "detail": response.text[:200] or response.reason_phrase,
        }
    )
    return _ERRORS.get(response.status_code, ClientError)(response.status_code, problem)
