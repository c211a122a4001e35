"""The buffering front `kvstore serve` runs (kvstore/asgi.py), in-process: what reaches the
app, and what never does. tests/test_slow_clients.py drives the same code through granian."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest

from kvstore.api.v1.limits import largest_body_limit
from kvstore.app import create_app
from kvstore.asgi import BufferedWSGI, Message
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings

MAX_VALUE_BYTES = 1000


class Recorder:
    """A WSGI app that records the environ it was called with and answers 204."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["body"] = environ["wsgi.input"].read()
        self.environs.append(environ)
        start_response("204 No Content", [("X-Seen", "yes")])
        return [b""]


def scope(
    method: str = "GET",
    raw_path: bytes = b"/healthz",
    headers: list[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "raw_path": raw_path,
        "path": raw_path.decode("latin-1"),
        "query_string": query,
        "server": ("127.0.0.1", 5000),
        "client": ("127.0.0.2", 40000),
        "headers": headers or [(b"host", b"127.0.0.1:5000")],
    }


def call(
    front: BufferedWSGI, request: dict[str, Any], chunks: list[bytes] | None
) -> tuple[list[Message], int]:
    """Run one request; `chunks` is the body as it arrives (None: it never does).
    Returns what was sent and how many times the body was asked for."""
    sent: list[Message] = []
    asked = 0

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        if chunks is None:
            await asyncio.Event().wait()  # a client that never sends its body
        index = asked - 1
        more = chunks is not None and index < len(chunks) - 1
        body = chunks[index] if chunks else b""
        return {"type": "http.request", "body": body, "more_body": more}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(front(request, receive, send))
    return sent, asked


def status_of(sent: list[Message]) -> int:
    status: int = sent[0]["status"]
    return status


@pytest.mark.parametrize("threads", [1, 3])
def test_a_body_is_read_whole_before_the_app_runs(threads: int) -> None:
    app = Recorder()
    front = BufferedWSGI(app, threads=threads, read_timeout_s=5, max_body_bytes=100)
    headers = [(b"host", b"h"), (b"transfer-encoding", b"chunked"), (b"content-type", b"a/b")]
    sent, _ = call(front, scope("PUT", b"/v1/key/a", headers), [b'{"va', b'lue": ', b"1}"])
    assert status_of(sent) == 204
    assert (b"x-seen", b"yes") in sent[0]["headers"]
    (environ,) = app.environs
    assert environ["body"] == b'{"value": 1}'
    assert environ["CONTENT_LENGTH"] == "12"
    assert environ["CONTENT_TYPE"] == "a/b"
    assert "HTTP_TRANSFER_ENCODING" not in environ


def test_the_environ_is_what_a_wsgi_server_builds() -> None:
    app = Recorder()
    front = BufferedWSGI(app, threads=1, read_timeout_s=5, max_body_bytes=100)
    headers = [(b"host", b"h"), (b"x-a", b"1"), (b"x-a", b"2"), (b"cookie", b"a=1")]
    headers.append((b"cookie", b"b=2"))
    call(front, scope("GET", b"/v1/key/caf%C3%A9%2Fx%FF", headers, b"limit=5&p=%C3%A9"), [b""])
    (environ,) = app.environs
    # PATH_INFO: decoded escapes, as latin-1 bytes (invalid UTF-8 left for the app to refuse)
    assert environ["PATH_INFO"] == "/v1/key/caf\xc3\xa9/x\xff"
    assert environ["QUERY_STRING"] == "limit=5&p=%C3%A9"
    assert environ["HTTP_X_A"] == "1,2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert (environ["REMOTE_ADDR"], environ["SERVER_PORT"]) == ("127.0.0.2", "5000")
    assert environ["CONTENT_LENGTH"] == "0"


def test_a_request_without_a_body_is_not_waited_on() -> None:
    app = Recorder()
    front = BufferedWSGI(app, threads=1, read_timeout_s=5, max_body_bytes=100)
    sent, asked = call(front, scope(), None)
    assert status_of(sent) == 204
    assert asked == 0


@pytest.mark.parametrize(
    "headers",
    [[(b"content-length", b"100")], [(b"transfer-encoding", b"chunked")]],
    ids=["declared", "chunked"],
)
def test_a_body_that_never_arrives_is_408_and_never_reaches_the_app(
    headers: list[tuple[bytes, bytes]],
) -> None:
    app = Recorder()
    front = BufferedWSGI(app, threads=1, read_timeout_s=0.05, max_body_bytes=1000)
    sent, _ = call(front, scope("PUT", b"/v1/key/a", headers), None)
    assert status_of(sent) == 408
    response_headers = dict(sent[0]["headers"])
    assert response_headers[b"content-type"] == b"application/problem+json"
    assert response_headers[b"connection"] == b"close"
    assert response_headers[b"x-content-type-options"] == b"nosniff"
    problem = json.loads(sent[1]["body"])
    assert (problem["status"], problem["type"]) == (408, "urn:kvstore:problem:request-timeout")
    assert app.environs == []


def test_a_client_gone_before_its_body_never_reaches_the_app() -> None:
    app = Recorder()
    front = BufferedWSGI(app, threads=1, read_timeout_s=5, max_body_bytes=100)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise AssertionError("nobody to answer")

    request = scope("PUT", b"/v1/key/a", [(b"content-length", b"5")])
    asyncio.run(front(request, receive, send))
    assert app.environs == []


def kvstore_front() -> tuple[BufferedWSGI, MemoryDatastore]:
    store = MemoryDatastore(max_value_bytes=MAX_VALUE_BYTES)
    app = create_app(
        Settings(datastore="memory", max_value_bytes=MAX_VALUE_BYTES, log_level="WARNING"),
        datastore=store,
    )
    limit = largest_body_limit(MAX_VALUE_BYTES)
    return BufferedWSGI(app, threads=1, read_timeout_s=5, max_body_bytes=limit), store


def test_a_declared_oversize_body_is_refused_unread() -> None:
    front, store = kvstore_front()
    declared = str(largest_body_limit(MAX_VALUE_BYTES) + 1).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", declared)]
    sent, asked = call(front, scope("POST", b"/v1/batch", headers), None)
    assert status_of(sent) == 413
    assert asked == 0
    assert store.list().items == []


def test_an_endless_chunked_body_is_read_only_past_the_largest_limit() -> None:
    front, store = kvstore_front()
    limit = largest_body_limit(MAX_VALUE_BYTES)
    chunk = b" " * 1000
    chunks = [chunk] * (limit // len(chunk) + 50)  # "more_body" all along: it never ends
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    sent, asked = call(front, scope("POST", b"/v1/batch", headers), chunks)
    assert status_of(sent) == 413
    assert asked == limit // len(chunk) + 1  # stopped one chunk past the limit
    assert store.list().items == []
