"""The production server's entry point (`kvstore serve`): the WSGI app behind an ASGI front
that reads each request's body whole, under a deadline, before a thread is taken.

Why: under a WSGI server the app reads its body on a worker thread, and a client that sends
its headers and then its body a byte at a time (or never) holds that thread until it hangs
up; a handful of such clients stop a server of 4 threads answering anything, `/healthz`
included. granian's ASGI interface reads bodies on its event loop, where a waiting body costs
a timer and a buffer, not a thread; only a request whose body has fully arrived reaches the
app, on one of `threads` threads (with 1 thread, on the loop itself: one thread either way,
and no hand-off). A body that has not arrived `read_timeout_s` after its headers is answered
408 and the connection closed, before the app sees anything, so nothing is written. The
headers themselves are bounded by granian (`header_read_timeout`, the same deadline).

Memory is bounded too: a declared body larger than any route accepts is not read at all,
and an undeclared (chunked) one is read only one byte past that bound; the app then answers
413, as it would under any server.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from functools import partial
from queue import SimpleQueue
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from kvstore.errors import PROBLEM_JSON, Problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[bytes, bytes]]
T = TypeVar("T")

#: Set by `kvstore serve` for its worker processes: how many requests each runs at once.
ENV_THREADS = "KVSTORE_SERVE_THREADS"


class Threads:
    """A fixed set of threads running calls for an event loop.

    What `loop.run_in_executor` does, for about half its cost per call (the figures are in
    docs/operations.md, "Slow clients"): one queue and one wake-up of the loop, where
    concurrent.futures chains a second future onto the first. The threads are daemons,
    started with the pool: a worker process ends with its loop.
    """

    def __init__(self, count: int) -> None:
        self._queue: SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Any]] = (
            SimpleQueue()
        )
        for index in range(count):
            name = f"kvstore-request-{index}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, future, partial(function, *args)))
        return await future

    def _work(self) -> None:
        while True:
            loop, future, call = self._queue.get()
            try:
                result, error = call(), None
            except BaseException as exc:  # handed to the awaiting coroutine, raised there
                result, error = None, exc
            loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Abandoned(Exception):
    """The client went away before its body arrived: there is no one to answer."""


class BufferedWSGI:
    """An ASGI app running a WSGI app once each request's body is in memory.

    Args:
        app: the WSGI app.
        threads: requests run at once; 1 runs them on the event loop's own thread.
        read_timeout_s: how long a body may take to arrive after its headers.
        max_body_bytes: the largest body any route accepts; bigger ones are not buffered.
    """

    def __init__(
        self, app: WSGIApp, *, threads: int, read_timeout_s: float, max_body_bytes: int
    ) -> None:
        self.app = app
        self.read_timeout_s = read_timeout_s
        self.max_body_bytes = max_body_bytes
        self._threads = None if threads <= 1 else Threads(threads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets, and the interface granian runs has no lifespan events
        try:
            body, declared = await self._body(scope, receive)
        except TimeoutError:
            await _send_timeout(send, self.read_timeout_s)
            return
        except _Abandoned:
            return
        environ = wsgi_environ(scope, body, declared)
        if self._threads is None:
            status, headers, content = run_wsgi(self.app, environ)
        else:
            status, headers, content = await self._threads.run(run_wsgi, self.app, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _body(self, scope: Scope, receive: Receive) -> tuple[bytes, int | None]:
        """The body (at most `max_body_bytes` + 1 of it) and its declared length.

        A request declaring no body (no Content-Length, no Transfer-Encoding) is not waited
        on; one declaring more than any route accepts is left unread for the app to refuse.
        """
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value)  # granian refuses a request whose length is not a number
            elif name == b"transfer-encoding":
                chunked = True
        if (declared is None and not chunked) or declared == 0:
            return b"", declared
        if declared is not None and declared > self.max_body_bytes:
            return b"", declared
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.read_timeout_s):
            while size <= self.max_body_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    raise _Abandoned
                chunk: bytes = message.get("body", b"")
                chunks.append(chunk)
                size += len(chunk)
                if not message.get("more_body", False):
                    break
        return b"".join(chunks), declared


async def _send_timeout(send: Send, seconds: float) -> None:
    from kvstore.security_headers import SECURITY_HEADERS

    problem = Problem(
        408,
        f"the request body did not arrive within {seconds:g} s of its headers",
        slug="request-timeout",
    )
    content = problem.to_json().encode()
    headers: Headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),
        *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def wsgi_environ(scope: Scope, body: bytes, declared: int | None) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI request, as granian's own WSGI interface builds it.

    PATH_INFO is the percent-decoded path as latin-1 (the raw bytes, so the app can refuse
    escapes that are not UTF-8). CONTENT_LENGTH is what was buffered, or the declared length
    of a body left unread.
    """
    server = scope.get("server") or ("", 0)
    client = scope.get("client") or ("", 0)
    raw_path: bytes = scope["raw_path"]
    path = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
    length = declared if declared is not None and declared > len(body) else len(body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": path.decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "CONTENT_LENGTH": str(length),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        key = _ENVIRON_KEYS.get(raw_name)
        if key is None:
            key = _environ_key(raw_name)
        if not key:
            continue
        value = raw_value.decode("latin-1")
        if key in environ:
            environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + value
        else:
            environ[key] = value
    return environ


def _environ_key(name: bytes) -> str:
    """A header's environ key; "" for the framing headers the buffered body replaces."""
    if name in (b"content-length", b"transfer-encoding"):
        return ""
    key = name.decode("latin-1").upper().replace("-", "_")
    return key if key == "CONTENT_TYPE" else f"HTTP_{key}"


#: The keys of the headers most requests carry, worked out once rather than per request.
_ENVIRON_KEYS: dict[bytes, str] = {
    name: _environ_key(name)
    for name in (
        b"host",
        b"user-agent",
        b"accept",
        b"accept-encoding",
        b"connection",
        b"content-type",
        b"content-length",
        b"transfer-encoding",
        b"authorization",
        b"if-match",
        b"if-none-match",
        b"x-request-id",
    )
}


def run_wsgi(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
    """Call a WSGI app and collect its answer: status, headers and the whole body."""
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return written.append

    result = app(environ, start_response)
    try:
        written.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return int(status[:3]), encoded, b"".join(written)


def build() -> BufferedWSGI:
    """The app `kvstore serve` runs in each worker, from the same settings as `kvstore.wsgi`."""
    from kvstore.api.v1.limits import largest_body_limit
    from kvstore.resources import settings_of
    from kvstore.wsgi import app

    settings = settings_of(app)
    return BufferedWSGI(
        app,
        threads=int(os.environ.get(ENV_THREADS, "1")),
        read_timeout_s=settings.read_timeout_s,
        max_body_bytes=largest_body_limit(settings.max_value_bytes),
    )
