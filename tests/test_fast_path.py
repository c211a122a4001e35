"""The GET and PUT lane in front of Flask (`kvstore/fast_path.py`) answers as Flask would.

Each request runs twice from one environ: through the app (where the lane takes it) and
straight through Flask's own `wsgi_app`, behind the lane; status, headers, body and the
access line must agree (but for its time and duration).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder, run_wsgi_app

from kvstore.api.v1.limits import single_body_limit
from kvstore.app import create_app
from kvstore.datastores.base import Item
from kvstore.datastores.errors import DatastoreUnavailable
from kvstore.datastores.memory import MemoryDatastore
from kvstore.fast_path import FastPath
from kvstore.settings import Settings, parse_api_keys

#: A single-key body one byte over what a PUT may send (the default value limit).
OVER_THE_LIMIT = single_body_limit(Settings().max_value_bytes) + 1

Answer = tuple[str, list[tuple[str, str]], bytes]


class CountingStore(MemoryDatastore):
    """Counts reads; fails each one with `failure` when it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.failure: Exception | None = None

    def get(self, key: str) -> Item | None:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return super().get(key)


@pytest.fixture
def store() -> CountingStore:
    store = CountingStore()
    store.put("sports", ["baseball", "hockey", "football"])
    store.put("a/b c", {"caf\u00e9": 1})
    return store


def make_app(store: CountingStore, **settings: Any) -> Flask:
    return create_app(Settings(datastore="memory", **settings), datastore=store)


def lane_of(app: Flask) -> FastPath:
    lane = app.wsgi_app
    assert isinstance(lane, FastPath)
    return lane


def run(wsgi: Callable[..., Iterable[bytes]], path: str, **kwargs: Any) -> Answer:
    environ = EnvironBuilder(path=path, **kwargs).get_environ()
    body, status, headers = run_wsgi_app(wsgi, environ, buffered=True)
    return status, list(headers.items()), b"".join(body)


def count_flask_calls(app: Flask) -> list[str]:
    """The paths of the requests the lane hands to Flask, from now on."""
    lane = lane_of(app)
    calls: list[str] = []
    inner = lane.wsgi_app

    def counting(environ: Any, start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    lane.wsgi_app = counting
    return calls


def both(app: Flask, path: str, **kwargs: Any) -> tuple[Answer, Answer]:
    kwargs.setdefault("headers", {"X-Request-ID": "same-id"})
    return run(app, path, **kwargs), run(lane_of(app).wsgi_app, path, **kwargs)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/key/sports", "200 OK"),
        ("/v1/key/a/b%20c", "200 OK"),
        ("/v1/key/missing", "404 NOT FOUND"),
        ("/v1/key/a//b", "400 BAD REQUEST"),
        ("/v1/key/%01", "400 BAD REQUEST"),
    ],
)
def test_the_lane_answers_as_flask_does(
    store: CountingStore, path: str, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(store)
    capsys.readouterr()
    fast, flask = both(app, path, environ_base={"REMOTE_ADDR": "127.0.0.7"})

    assert fast[0] == status
    assert fast == flask
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        del line["time"], line["duration_ms"]
    assert lines[0] == lines[1]
    assert lines[0]["remote_addr"] == "127.0.0.7"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", "200 OK"),
        ("limit=1", "200 OK"),
        ("limit=1&prefix=a/", "200 OK"),
        ("limit=1&limit=2&prefix=s", "200 OK"),
        ("keys=true&delimiter=/&limit=1", "200 OK"),
        ("prefix=caf%C3%A9&limit=1", "200 OK"),
        ("prefix=%FF", "400 BAD REQUEST"),
        ("limit=0", "400 BAD REQUEST"),
        ("limit=%EF%BC%91", "400 BAD REQUEST"),
        ("keys=yes", "400 BAD REQUEST"),
        ("delimiter=/", "400 BAD REQUEST"),
        ("cursor=forged", "400 BAD REQUEST"),
    ],
)
@pytest.mark.parametrize("script_root", ["", "/dev"])
def test_a_listing_answers_as_flask_does(
    store: CountingStore,
    query: str,
    status: str,
    script_root: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.put("caf\u00e9/x", 1)
    store.put("caf\u00e9/y", 2)
    app = make_app(store)
    calls = count_flask_calls(app)
    capsys.readouterr()
    fast, flask = both(
        app, "/v1/key", query_string=query, base_url=f"http://localhost{script_root}"
    )

    assert fast[0] == status
    assert fast == flask
    # Flask sees only the second request (sent to it directly), or a URL that is not UTF-8.
    assert calls == ["/v1/key"] * (2 if "%FF" in query else 1)
    if fast[0] == "200 OK" and json.loads(fast[2])["next_cursor"] is not None:
        assert dict(fast[1])["Link"].startswith(f"<{script_root}/v1/key?")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        del line["time"], line["duration_ms"]
    assert lines[0] == lines[1]


PUT_BODY = b'{"value": [1, "two", {"3": null}]}'


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/v1/key/sports", PUT_BODY, {}, "200 OK"),
        ("/v1/key/fresh", PUT_BODY, {}, "201 CREATED"),
        ("/v1/key/sports", PUT_BODY, {"If-Match": '"1"'}, "200 OK"),
        ("/v1/key/sports", PUT_BODY, {"If-Match": '"7"'}, "412 PRECONDITION FAILED"),
        ("/v1/key/sports", PUT_BODY, {"If-None-Match": "*"}, "412 PRECONDITION FAILED"),
        ("/v1/key/sports", PUT_BODY, {"If-Match": "1"}, "400 BAD REQUEST"),
        ("/v1/key/sports", b'{"value": 1, "value": 2}', {}, "400 BAD REQUEST"),
        ("/v1/key/sports", b"", {}, "400 BAD REQUEST"),
        ("/v1/key/sports", b'{"value": 1, "extra": 2}', {}, "422 UNPROCESSABLE ENTITY"),
        ("/v1/key/sports", b'{"value": 1, "ttl": 0}', {}, "422 UNPROCESSABLE ENTITY"),
        ("/v1/key/a//b", PUT_BODY, {}, "400 BAD REQUEST"),
    ],
)
def test_a_put_answers_as_flask_does(
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answers, lines = [], []
    for through_lane in (True, False):
        store = CountingStore()
        store.put("sports", ["baseball", "hockey", "football"])
        app = make_app(store)
        capsys.readouterr()
        wsgi = app if through_lane else lane_of(app).wsgi_app
        answer = run(
            wsgi,
            path,
            method="PUT",
            data=body,
            content_type="application/json",
            headers={"X-Request-ID": "same-id", **headers},
        )
        answers.append((answer, [(i.key, i.value, i.version) for i in store.list().items]))
        (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
        del line["time"], line["duration_ms"]
        lines.append(line)

    (fast, fast_store), (flask, flask_store) = answers
    assert fast[0] == status
    # The answers differ only in updated_at, which is the write's own time.
    assert fast[0] == flask[0]
    assert [name for name, _ in fast[1]] == [name for name, _ in flask[1]]
    if fast[0].startswith("20"):
        fast_item, flask_item = json.loads(fast[2]), json.loads(flask[2])
        del fast_item["updated_at"], flask_item["updated_at"]
        assert fast_item == flask_item
    else:
        assert fast == flask
    assert fast_store == flask_store
    assert lines[0] == lines[1]


def test_a_stored_key_skips_flask(store: CountingStore) -> None:
    app = make_app(store)
    calls = count_flask_calls(app)
    status, headers, body = run(app, "/v1/key/sports")

    assert status == "200 OK"
    assert json.loads(body)["value"] == ["baseball", "hockey", "football"]
    assert dict(headers)["ETag"] == '"1"'
    assert calls == []
    run(app, "/v1/key/missing")
    assert calls == []  # its 404 comes from Flask's error handling, not a second dispatch
    assert store.reads == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "HEAD"},
        {"query_string": "x=1"},
        {"path": "/v1/key", "method": "HEAD"},
        {"path": "/v1/key", "method": "PUT", "data": PUT_BODY, "content_type": "application/json"},
        {"headers": {"If-None-Match": '"1"'}},
        {"path": "/v1/key/caf\u00e9"},
        {"path": "/v1/key/"},
        {"method": "DELETE"},
        {"method": "PUT", "data": PUT_BODY, "content_type": "application/json; charset=utf-8"},
        {"method": "PUT", "data": PUT_BODY, "content_type": "text/plain"},
        {"method": "PUT", "data": b"x" * OVER_THE_LIMIT, "content_type": "application/json"},
        {
            "method": "PUT",
            "data": PUT_BODY,
            "content_type": "application/json",
            "headers": {"Content-Encoding": "gzip"},
        },
    ],
)
def test_anything_else_goes_to_flask(store: CountingStore, kwargs: dict[str, Any]) -> None:
    store.put("caf\u00e9", 1)
    app = make_app(store)
    calls = count_flask_calls(app)
    path = kwargs.pop("path", "/v1/key/sports")
    run(app, path, **kwargs)

    assert len(calls) == 1


def test_with_api_keys_flask_checks_the_token(store: CountingStore) -> None:
    app = make_app(store, api_keys=parse_api_keys("tok"))

    assert run(app, "/v1/key/sports")[0] == "401 UNAUTHORIZED"
    assert run(app, "/v1/key")[0] == "401 UNAUTHORIZED"
    status, _, body = run(app, "/v1/key/sports", headers={"Authorization": "Bearer tok"})
    assert status == "200 OK"
    assert json.loads(body)["key"] == "sports"


def test_a_failing_read_is_flasks_503_and_is_not_retried(store: CountingStore) -> None:
    app = make_app(store)
    store.failure = DatastoreUnavailable("the datastore is unavailable", reason="unreachable")

    fast, flask = both(app, "/v1/key/sports")

    assert fast[0].startswith("503")
    assert fast == flask
    assert dict(fast[1])["Content-Type"] == "application/problem+json"
    assert store.reads == 2  # once per run: the lane does not read again on failure
