"""Pathological input: every case is a 4xx problem+json and leaves the store as it was.

The HTTP layer does not know the backend, so these run on the memory datastore; what they
prove is that nothing reaches any backend.
"""

from __future__ import annotations

import base64
import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app

from kvstore.api.v1.limits import batch_body_limit, single_body_limit
from kvstore.app import create_app
from kvstore.datastores.base import MAX_VALUE_DEPTH, Datastore
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings

MAX_VALUE_BYTES = 1000
JSON = "application/json"

Snapshot = list[tuple[str, Any, int]]


@pytest.fixture
def store() -> MemoryDatastore:
    store = MemoryDatastore(max_value_bytes=MAX_VALUE_BYTES)
    store.put("existing", {"n": 1})
    store.put("k", "before")
    return store


@pytest.fixture
def app(store: MemoryDatastore) -> Flask:
    app = create_app(Settings(datastore="memory", max_value_bytes=MAX_VALUE_BYTES), datastore=store)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def snapshot(store: Datastore) -> Snapshot:
    return [(i.key, i.value, i.version) for i in store.list(limit=1000).items]


@pytest.fixture
def unchanged(store: MemoryDatastore) -> Iterator[None]:
    """Fail the test if the store differs after it from before it."""
    before = snapshot(store)
    yield
    assert snapshot(store) == before


def assert_problem(response: TestResponse, *statuses: int) -> dict[str, Any]:
    text = response.get_data(as_text=True)
    assert response.status_code in statuses, text
    assert response.mimetype == "application/problem+json", text
    body: dict[str, Any] = response.get_json()
    assert body["status"] == response.status_code
    assert isinstance(body["detail"], str)
    assert "Traceback" not in text
    return body


# Every way to send a body, with a function wrapping a value into that endpoint's body.
WRITES: dict[str, tuple[str, str, Callable[[bytes], bytes]]] = {
    "put": ("PUT", "/v1/key/k", lambda raw: b'{"value": ' + raw + b"}"),
    "post": ("POST", "/v1/key", lambda raw: b'{"key": "new", "value": ' + raw + b"}"),
    "batch": (
        "POST",
        "/v1/batch",
        lambda raw: b'{"operations": [{"op": "put", "key": "new", "value": ' + raw + b"}]}",
    ),
    "txn": (
        "POST",
        "/v1/txn",
        lambda raw: b'{"operations": [{"op": "put", "key": "new", "value": ' + raw + b"}]}",
    ),
}

BAD_BODIES = {
    "empty": b"",
    "blank": b"  \n ",
    "truncated-object": b'{"value": [1, 2',
    "truncated-string": b'{"value": "abc',
    "trailing-comma": b'{"value": 1,}',
    "single-quotes": b"{'value': 1}",
    "two-documents": b'{"value": 1}{"value": 2}',
    "bom": b'\xef\xbb\xbf{"value": 1}',
    "invalid-utf8": b'{"value": "\xff\xfe"}',
    "utf8-surrogate-bytes": b'{"value": "\xed\xa0\x80"}',
    "overlong-utf8": b'{"value": "\xc0\xaf"}',
    # Within the body limit, so that the parser, not the size check, meets them.
    "nested-30000": b"[" * 30_000,
    "nested-closed-30000": b"[" * 30_000 + b"]" * 30_000,
    "nested-objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "duplicate-keys": b'{"value": 1, "value": 2}',
    "not-an-object": b"[1, 2, 3]",
    "scalar": b"42",
    "null": b"null",
}

BAD_VALUES = {
    "nan": b"NaN",
    "infinity": b"Infinity",
    "minus-infinity": b"-Infinity",
    "huge-int": b"1" + b"0" * 5000,
    "huge-negative-int": b"-" + b"9" * 5000,
    "float-overflow": b"1e400",
    "float-overflow-just": b"1e309",
    "float-underflow": b"1e-400",
    "float-underflow-negative": b"-1e-400",
    "float-below-the-smallest-double": b"2e-324",
    "float-too-many-digits": b"0.1000000000000000000001",
    "float-nested": b'{"a": [1, 2.5, 1e-400]}',
    "nested-duplicate-keys": b'{"a": 1, "a": 2}',
    "too-deep": b"[" * (MAX_VALUE_DEPTH + 1) + b"]" * (MAX_VALUE_DEPTH + 1),
    "too-deep-objects": b'{"a":' * (MAX_VALUE_DEPTH + 1) + b"1" + b"}" * (MAX_VALUE_DEPTH + 1),
    "lone-surrogate": b'"\\ud800"',
    "too-large": b'"' + b"x" * MAX_VALUE_BYTES + b'"',
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_body_is_a_problem(client: FlaskClient, endpoint: str, body: str) -> None:
    method, path, _ = WRITES[endpoint]
    assert_problem(
        client.open(path, method=method, data=BAD_BODIES[body], content_type=JSON), 400, 422
    )


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_value_is_a_problem(client: FlaskClient, endpoint: str, value: str) -> None:
    """In a batch, a bad operation may be refused whole (4xx) or answered per operation."""
    method, path, wrap = WRITES[endpoint]
    response = client.open(path, method=method, data=wrap(BAD_VALUES[value]), content_type=JSON)
    if endpoint == "batch" and response.status_code == 200:
        (result,) = response.get_json()["results"]
        assert 400 <= result["status"] < 500
        assert result["error"]["status"] == result["status"]
    else:
        assert_problem(response, 400, 413, 422)


@pytest.mark.parametrize("endpoint", WRITES)
def test_nesting_100000_deep_is_400_at_the_default_limit(endpoint: str) -> None:
    """At the default value limit the body limit lets 100000 '[' reach the parser."""
    store = MemoryDatastore()
    client = create_app(Settings(datastore="memory"), datastore=store).test_client()
    method, path, wrap = WRITES[endpoint]
    for raw in (b"[" * 100_000, wrap(b"[" * 100_000 + b"]" * 100_000)):
        response = client.open(path, method=method, data=raw, content_type=JSON)
        if endpoint == "batch" and response.status_code == 200:
            assert response.get_json()["results"][0]["status"] in (400, 422)
        else:
            assert_problem(response, 400, 422)
    assert snapshot(store) == []


def test_deepest_allowed_value_round_trips(client: FlaskClient) -> None:
    """The depth bound is a limit, not a failure mode: exactly MAX_VALUE_DEPTH is fine."""
    raw = b"[" * MAX_VALUE_DEPTH + b"]" * MAX_VALUE_DEPTH
    assert (
        client.put("/v1/key/deep", data=b'{"value": ' + raw + b"}", content_type=JSON).status_code
        == 201
    )
    value = client.get("/v1/key/deep").get_json()["value"]
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    assert depth == MAX_VALUE_DEPTH


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/json-patch",
    ],
)
def test_wrong_or_missing_content_type_is_415(
    app: Flask, endpoint: str, content_type: str | None
) -> None:
    method, path, wrap = WRITES[endpoint]
    headers = {} if content_type is None else {"Content-Type": content_type}
    builder = EnvironBuilder(
        path=path, method=method, data=wrap(b"1"), headers=list(headers.items())
    )
    environ = builder.get_environ()
    if content_type is None:
        environ.pop("CONTENT_TYPE", None)
    response = TestResponse(
        *run_wsgi_app(app, environ, buffered=True), request=builder.get_request()
    )
    assert_problem(response, 415)


#: The body limit each endpoint enforces at MAX_VALUE_BYTES.
BODY_LIMITS = {
    "put": single_body_limit(MAX_VALUE_BYTES),
    "post": single_body_limit(MAX_VALUE_BYTES),
    "batch": batch_body_limit(MAX_VALUE_BYTES),
    "txn": batch_body_limit(MAX_VALUE_BYTES),
}


class BoundedInput(io.RawIOBase):
    """A request body that never ends, and fails the test if read past `bound` bytes."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self.consumed + size > self.bound:
            raise AssertionError(f"read past {self.bound} bytes of the body")
        buffer[:size] = b" " * size
        self.consumed += size
        return size


def call_with_input(
    app: Flask, method: str, path: str, stream: BoundedInput, content_length: int | None
) -> TestResponse:
    builder = EnvironBuilder(path=path, method=method, content_type=JSON)
    environ = builder.get_environ()
    environ["wsgi.input"] = stream
    if content_length is None:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True  # what gunicorn says of a chunked body
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    response = TestResponse(
        *run_wsgi_app(app, environ, buffered=True), request=builder.get_request()
    )
    return response


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
def test_declared_oversize_body_is_refused_unread(app: Flask, endpoint: str) -> None:
    method, path, _ = WRITES[endpoint]
    stream = BoundedInput(bound=0)
    assert_problem(call_with_input(app, method, path, stream, content_length=10**9), 413)
    assert stream.consumed == 0


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
def test_endless_chunked_body_is_read_only_up_to_the_limit(app: Flask, endpoint: str) -> None:
    """No Content-Length (chunked): read one byte past the limit, then refuse."""
    method, path, _ = WRITES[endpoint]
    limit = BODY_LIMITS[endpoint]
    stream = BoundedInput(bound=limit + 1)
    assert_problem(call_with_input(app, method, path, stream, content_length=None), 413)
    assert stream.consumed == limit + 1


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=",
        "limit=0",
        "limit=-1",
        "limit=1001",
        "limit=1.5",
        "limit=1e3",
        "limit=0x10",
        "limit=%EF%BC%91",  # a full-width digit one: int() reads it, the API does not
        "limit=%D9%A1",  # an Arabic-Indic digit one
        "limit=%C2%B2",  # a superscript two
        "limit=1_0",  # int() reads it as 10
        "limit=+5",
        "limit=%205",
        "limit=5%20",
        "limit=99999999999999999999999999999999999999999999",
        "limit=" + "9" * 5000,
        "cursor=not-a-cursor",
        "cursor=%FF",
        "prefix=%FF",
        "prefix=" + "x" * 1025,  # longer than any key
        "prefix=" + "%C3%A9" * 513,
        "cursor=" + "A" * 5000,
        "cursor=" + "A" * 50_000,
        # base64 of JSON nested past the recursion limit, and of JSON of the wrong shape
        "cursor=" + base64.urlsafe_b64encode(b"[" * 5000).decode(),
        "cursor=" + base64.urlsafe_b64encode(b'{"v": 1, "after": ' * 3000).decode(),
        "cursor=" + base64.urlsafe_b64encode(b'{"v": 1, "after": {"a": 1}}').decode(),
        "cursor=" + base64.urlsafe_b64encode(b'{"v": 1, "after": "a\\u0085b"}').decode(),
        "cursor=" + base64.urlsafe_b64encode(b'{"v": 1, "after": "\\udc80"}').decode(),
        "cursor=" + base64.urlsafe_b64encode(b'{"v": 1e400, "after": "a"}').decode(),
    ],
)
def test_bad_query_parameter_is_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/v1/key?{query}")
    if query == "limit=":
        # An empty limit may mean "the default"; it must never be a 5xx.
        assert response.status_code in (200, 400)
        return
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%FF",
        "A" * 50_000,
        base64.urlsafe_b64encode(b"[" * 5000).decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "after": "a", "folder": "yes"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "after": {"a": 1}}').decode(),
    ],
)
@pytest.mark.parametrize(
    "route",
    ["GET /v1/key?keys=true&", "GET /v1/key?keys=true&delimiter=/&", "DELETE /v1/key?prefix=p&"],
)
def test_a_bad_cursor_is_400_on_every_route_that_takes_one(
    client: FlaskClient, route: str, cursor: str
) -> None:
    method, path = route.split(" ")
    assert_problem(client.open(f"{path}cursor={cursor}", method=method), 400)


@pytest.mark.parametrize("limit", ["1", "0005", "1000"])
def test_a_limit_of_ascii_digits_is_read(client: FlaskClient, limit: str) -> None:
    page = client.get(f"/v1/key?limit={limit}").get_json()
    assert len(page["items"]) == min(int(limit), 2)


# (path segment as sent, the rule's wording in the problem's detail)
BAD_KEY_PATHS = {
    "control-nul": ("a%00b", "control"),
    "control-unit-separator": ("a%1Fb", "control"),
    "control-del": ("a%7Fb", "control"),
    "control-tab": ("a%09b", "control"),
    "control-newline": ("a%0Ab", "control"),
    "control-next-line": ("a%C2%85b", "control"),  # U+0085, of Unicode's Cc category
    "control-c1-first": ("a%C2%80b", "control"),
    "control-c1-last": ("a%C2%9Fb", "control"),
    "leading-slash": ("/a", "start or end"),
    "encoded-leading-slash": ("%2Fa", "start or end"),
    "trailing-slash": ("a/", "start or end"),
    "empty-segment": ("a//b", "empty segment"),
    "dot-segment": ("a/./b", "'.'"),
    "dotdot-segment": ("a/../b", "'..'"),
    "encoded-dotdot": ("a/%2E%2E/b", "'..'"),
    "dot-only": (".", "'.'"),
    "too-long": ("x" * 1025, "1024"),
    "too-long-multibyte": ("%C3%A9" * 513, "1024"),
    "invalid-utf8": ("%FF", "UTF-8"),
    "truncated-utf8": ("a%C3", "UTF-8"),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("case", BAD_KEY_PATHS)
def test_key_breaking_a_rule_is_400_naming_it(client: FlaskClient, method: str, case: str) -> None:
    segment, rule = BAD_KEY_PATHS[case]
    path = f"/v1/key/{segment}"
    # PATH_INFO as a server builds it: the raw bytes, latin-1 (werkzeug's test client would
    # decode invalid UTF-8 with replacement characters before the app sees it).
    raw_path = unquote_to_bytes(path).decode("latin-1")
    response = client.open(
        path, method=method, json={"value": 1}, environ_overrides={"PATH_INFO": raw_path}
    )
    body = assert_problem(response, 400)
    assert rule in body["detail"]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("", 400),
        ("/a", 400),
        ("a//b", 400),
        ("..", 400),
        ("a\x00b", 400),
        ("x" * 1025, 400),
        (1, 400),
        (None, 400),
        (["a"], 400),
        ({"a": 1}, 400),
        (True, 400),
    ],
)
def test_bad_key_in_a_body_is_refused(client: FlaskClient, key: object, status: int) -> None:
    assert_problem(client.post("/v1/key", json={"key": key, "value": 1}), status, 422)


@pytest.mark.usefixtures("unchanged")
def test_lone_surrogate_key_in_a_body_is_refused(client: FlaskClient) -> None:
    body = b'{"key": "a\\udc80", "value": 1}'
    assert_problem(client.post("/v1/key", data=body, content_type=JSON), 400)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "body",
    [
        {"value": 1, "ttl": "10"},
        {"value": 1, "ttl": 0},
        {"value": 1, "ttl": -5},
        {"value": 1, "ttl": 1.5},
        {"value": 1, "ttl": True},
        {"value": 1, "ttl": 31_536_001},
        {"value": 1, "ttl": 10**30},
        {"value": 1, "extra": 2},
        {"ttl": 10},
        {},
    ],
)
def test_bad_body_member_is_refused(client: FlaskClient, body: dict[str, Any]) -> None:
    assert_problem(client.put("/v1/key/k", json=body), 400, 422)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": "1"},
        {"If-Match": '"0"'},
        {"If-Match": '"-1"'},
        {"If-Match": '"1.0"'},
        {"If-Match": 'W/"1"'},
        {"If-Match": '"1", "2"'},
        {"If-Match": '"' + "9" * 5000 + '"'},
        {"If-None-Match": '"1"'},
        {"If-Match": '"1"', "If-None-Match": "*"},
    ],
)
def test_bad_precondition_header_is_a_problem(client: FlaskClient, headers: dict[str, str]) -> None:
    """Malformed is 400; a well-formed tag that cannot match is 412. Never a write."""
    assert_problem(client.put("/v1/key/k", json={"value": "after"}, headers=headers), 400, 412)


# -- numbers -----------------------------------------------------------------------------------

#: Where each endpoint puts the value, as a JSON Pointer.
VALUE_POINTERS = {
    "put": "/value",
    "post": "/value",
    "batch": "/operations/0/value",
    "txn": "/operations/0/value",
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize(
    ("number", "inside"),
    [("1e-400", ""), ("1e309", ""), ("0.1000000000000000000001", ""), ("2e-324", "/a/1")],
)
def test_a_number_a_double_cannot_hold_is_422_naming_where(
    client: FlaskClient, endpoint: str, number: str, inside: str
) -> None:
    """Refused, not rounded: 1e-400 would come back as 0.0, 1e309 as nothing at all."""
    method, path, wrap = WRITES[endpoint]
    raw = number.encode() if not inside else b'{"a": [0.5, ' + number.encode() + b"]}"
    response = client.open(path, method=method, data=wrap(raw), content_type=JSON)
    body = assert_problem(response, 422)
    assert body["type"] == "urn:kvstore:problem:inexact-number"
    assert f"{number} at {VALUE_POINTERS[endpoint]}{inside}" in body["detail"]


@pytest.mark.parametrize(
    "number", ["0.1", "1e2", "1E-7", "-0.0", "5e-324", "1.7976931348623157e308", "123456789.25"]
)
def test_a_number_a_double_holds_comes_back_as_the_same_number(
    client: FlaskClient, number: str
) -> None:
    raw = b'{"value": [' + number.encode() + b"]}"
    assert client.put("/v1/key/n", data=raw, content_type=JSON).status_code == 201
    (stored,) = client.get("/v1/key/n").get_json()["value"]
    assert stored == float(number)
    assert str(stored) == repr(float(number))


# -- encodings and spellings -------------------------------------------------------------------


def write_encoded(client: FlaskClient, endpoint: str, encoding: str) -> TestResponse:
    """The write `endpoint` of the value 1, its body labelled with `Content-Encoding`."""
    method, path, wrap = WRITES[endpoint]
    return client.open(
        path,
        method=method,
        data=wrap(b"1"),
        content_type=JSON,
        headers={"Content-Encoding": encoding},
    )


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "identity, gzip", "x-whatever"])
def test_a_content_encoding_other_than_identity_is_415(
    client: FlaskClient, endpoint: str, encoding: str
) -> None:
    response = write_encoded(client, endpoint, encoding)
    assert assert_problem(response, 415)["type"] == "urn:kvstore:problem:unsupported-media-type"


@pytest.mark.parametrize("endpoint", WRITES)
def test_identity_content_encoding_is_the_body_as_sent(client: FlaskClient, endpoint: str) -> None:
    assert write_encoded(client, endpoint, "identity").status_code in (200, 201)


@pytest.mark.parametrize("endpoint", WRITES)
@pytest.mark.parametrize("spelling", ["every-character-escaped", "json.dumps-non-bmp"])
def test_a_value_at_the_limit_is_admitted_in_its_longest_spelling(
    client: FlaskClient, endpoint: str, spelling: str
) -> None:
    """The value limit counts compact UTF-8; the body limit admits the value however it is
    written: every character \\u-escaped (6 bytes for 1), or as Python's json.dumps sends
    characters outside the BMP (12 bytes for 4)."""
    if spelling == "every-character-escaped":
        value = "a" * (MAX_VALUE_BYTES - 2)
        raw = b'"' + b"\\u0061" * len(value) + b'"'
    else:
        value = "\U0001f600" * ((MAX_VALUE_BYTES - 2) // 4)
        raw = json.dumps(value).encode()
    assert len(json.dumps(value, ensure_ascii=False).encode()) <= MAX_VALUE_BYTES
    method, path, wrap = WRITES[endpoint]
    response = client.open(path, method=method, data=wrap(raw), content_type=JSON)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    if endpoint == "batch":
        assert response.get_json()["results"][0]["status"] == 201
    key = "k" if endpoint == "put" else "new"
    assert client.get(f"/v1/key/{key}").get_json()["value"] == value


def test_a_batch_at_the_limit_holds_memory_to_a_few_times_its_size() -> None:
    """100 operations each at the value limit: the request's peak Python allocations stay
    within a small multiple of its body (README, "Design decisions", measured in a server)."""
    limit = 20_000
    store = MemoryDatastore(max_value_bytes=limit)
    client = create_app(
        Settings(datastore="memory", max_value_bytes=limit, log_level="WARNING"), datastore=store
    ).test_client()
    value = "x" * (limit - 2)
    operations = [{"op": "put", "key": f"k{n}", "value": value} for n in range(100)]
    body = json.dumps({"operations": operations}).encode()
    assert len(body) <= batch_body_limit(limit)
    client.post("/v1/batch", data=b'{"operations": []}', content_type=JSON)  # warm up
    tracemalloc.start()
    try:
        response = client.post("/v1/batch", data=body, content_type=JSON)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["results"]] == [201] * 100
    assert peak < 12 * len(body), f"peak {peak / len(body):.1f} x the body"
