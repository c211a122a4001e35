"""What the server answers itself, before the app runs (docs/design.md, "Answers of the server
itself").

granian's HTTP layer (hyper) refuses some requests while reading them, and offers no hook to
shape those answers: they are an empty body with `connection: close`, not problem+json. This
pins down which ones they are, so the documented list stays true; everything that reaches the
app is problem+json (tests/api/v1/test_pathological.py).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.processes import kvstore_server

pytestmark = pytest.mark.slow

#: (the raw request, the status the server answers)
SERVER_ANSWERS = {
    "more than 100 header fields": (
        b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X-%d: a\r\n" % i for i in range(101))
        + b"\r\n",
        431,
    ),
    "about 500 KB of headers": (
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 600_000 + b"\r\n\r\n",
        431,
    ),
    "a request target over 65534 bytes": (
        b"GET /v1/key/" + b"a" * 65_535 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        414,
    ),
    "not an HTTP request line": (b"GARBAGE\r\n\r\n", 400),
    "an unknown HTTP version": (b"GET /healthz HTTP/9.9\r\nHost: a\r\n\r\n", 400),
    "a Content-Length that is not a number": (
        b"PUT /v1/key/a HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\n",
        400,
    ),
    "two different Content-Lengths": (
        b"PUT /v1/key/a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        400,
    ),
    "a header name with a space": (b"GET /healthz HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400),
    "a control character in a header": (
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
        400,
    ),
}


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    cwd: Path = tmp_path_factory.mktemp("serve")
    with kvstore_server({"KVSTORE_DATASTORE": "memory"}, cwd=cwd) as (base, _):
        yield int(base.rsplit(":", 1)[1])


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with suppress(OSError):  # the server may answer and close before reading it all
            sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("case", SERVER_ANSWERS)
def test_the_servers_own_answers_are_the_documented_ones(port: int, case: str) -> None:
    request, status = SERVER_ANSWERS[case]
    head, _, body = exchange(port, request).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert b"connection: close" in head.lower()
    assert body == b""


def test_a_request_the_server_accepts_is_the_apps_to_answer(port: int) -> None:
    head, _, body = exchange(
        port, b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ")
    assert b'"status": 404' in body
    assert b"content-type: application/problem+json" in head.lower()
    assert b"x-content-type-options: nosniff" in head.lower()
