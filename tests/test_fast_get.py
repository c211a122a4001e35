"""The GET lane in front of Flask (`kvstore/fast_get.py`) answers exactly as Flask would.

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

from kvstore.app import create_app
from kvstore.datastores.base import Item
from kvstore.datastores.errors import DatastoreUnavailable
from kvstore.datastores.memory import MemoryDatastore
from kvstore.fast_get import FastGet
from kvstore.settings import Settings, parse_api_keys

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


def lane_of(app: Flask) -> FastGet:
    lane = app.wsgi_app
    assert isinstance(lane, FastGet)
    return lane


def run(wsgi: Callable[..., Iterable[bytes]], path: str, **kwargs: Any) -> Answer:
    environ = EnvironBuilder(path=path, **kwargs).get_environ()
    body, status, headers = run_wsgi_app(wsgi, environ, buffered=True)
    return status, list(headers.items()), b"".join(body)


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


def test_a_stored_key_skips_flask(store: CountingStore) -> None:
    app = make_app(store)
    lane = lane_of(app)
    calls: list[str] = []
    inner = lane.wsgi_app

    def counting(environ: Any, start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    lane.wsgi_app = counting
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
        {"headers": {"If-None-Match": '"1"'}},
        {"path": "/v1/key/caf\u00e9"},
        {"path": "/v1/key/"},
    ],
)
def test_anything_else_goes_to_flask(store: CountingStore, kwargs: dict[str, Any]) -> None:
    store.put("caf\u00e9", 1)
    app = make_app(store)
    lane = lane_of(app)
    calls: list[str] = []
    inner = lane.wsgi_app

    def counting(environ: Any, start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    lane.wsgi_app = counting
    path = kwargs.pop("path", "/v1/key/sports")
    run(app, path, **kwargs)

    assert len(calls) == 1


def test_with_api_keys_flask_checks_the_token(store: CountingStore) -> None:
    app = make_app(store, api_keys=parse_api_keys("tok"))

    assert run(app, "/v1/key/sports")[0] == "401 UNAUTHORIZED"
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
