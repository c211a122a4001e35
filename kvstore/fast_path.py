"""GET and PUT of one key, and the listing of keys, answered in front of Flask's dispatch:
the same answers for a fraction of the CPU.

Why: reads and writes of one key, and listings, are the service's most frequent requests, and
most of their cost was not the datastore but the framework around it: the request context,
URL routing, the view's dispatch, the hooks (docs/performance.md has the profiles). A bare
Flask route cost more than etcd's whole GET on the same machine, so no work inside Flask
could reach etcd's speed.

What is answered here, on an open API (no `KVSTORE_API_KEYS`):

- for an ASCII path under `/v1/key/` with no query string, `GET` without `If-None-Match`,
  and `PUT` with `Content-Type: application/json` exactly and a `Content-Length` within the
  limit (`If-Match` and `If-None-Match` are read as the view reads them);
- `GET /v1/key` with any query (the query parsed by Flask's own request class).

The answer is the view's, made by the view's own helpers (`put_item`, `condition_of`,
`parse_json`, `list_answer`, `json_headers`): the JSON, `ETag`, `Link`, the security headers,
`X-Request-ID`, one access line with the same fields. Anything else goes to Flask untouched.
Whatever a request raises (a bad key or body, no such key, a failed precondition, a datastore
error) is answered by Flask's own error handling in a request context, exactly as if the
view had raised it, so every problem+json answer and log line is Flask's, and the datastore
is asked once either way. A created key's 201 is made there too (its `Location` is
`url_for`'s).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import ClientDisconnected

from kvstore.api.v1.key import list_answer, put_item, write_response
from kvstore.api.v1.limits import single_body_limit
from kvstore.api.v1.preconditions import condition_of
from kvstore.api.v1.wire import (
    JSON,
    body_text,
    item_json,
    json_body,
    json_headers,
    key_not_found,
    parse_json,
    url_is_utf8,
)
from kvstore.datastores.base import Item
from kvstore.observability import (
    REQUEST_ID_ENVIRON,
    log_request,
    request_id_from,
    start_request,
)
from kvstore.resources import AppResources, resources_of

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

#: Where the key starts in PATH_INFO (the v1 blueprint's prefix and the key namespace's path).
PREFIX = "/v1/key/"
#: The listing of keys, and its endpoint (what its `Link` header is built from).
LIST_PATH = PREFIX.rstrip("/")
LIST_ENDPOINT = "v1.key_list"


@dataclass(slots=True)
class Exchange:
    """One request this module answers: its WSGI pair, its clock and id, its key (empty for a
    listing)."""

    environ: WSGIEnvironment
    start_response: StartResponse
    key: str
    started: float = field(default_factory=time.perf_counter)
    request_id: str = ""


class FastPath:
    """WSGI middleware for `app.wsgi_app` (Flask's documented place for one)."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path: str = environ.get("PATH_INFO", "")
        listing = method == "GET" and path == LIST_PATH
        if listing:
            if not url_is_utf8(path, environ.get("QUERY_STRING", "")):
                return self.wsgi_app(environ, start_response)  # Flask's 400
        elif (
            (method != "GET" and method != "PUT")
            or not path.startswith(PREFIX)
            or len(path) == len(PREFIX)
            or not path.isascii()  # then werkzeug's UTF-8 decoding is the identity
            or environ.get("QUERY_STRING")
        ):
            return self.wsgi_app(environ, start_response)
        resources = resources_of(self.app)
        if resources.settings.api_keys:
            return self.wsgi_app(environ, start_response)
        length = 0
        if method == "GET":
            if not listing and "HTTP_IF_NONE_MATCH" in environ:
                return self.wsgi_app(environ, start_response)
        else:
            found = _body_length(environ, single_body_limit(resources.settings.max_value_bytes))
            if found is None:
                return self.wsgi_app(environ, start_response)
            length = found
        exchange = Exchange(environ, start_response, "" if listing else path[len(PREFIX) :])
        exchange.request_id = request_id_from(environ.get(REQUEST_ID_ENVIRON))
        try:
            if listing:
                return self.list(exchange, resources)
            if method == "GET":
                return self.get(exchange, resources)
            return self.put(exchange, resources, length)
        except Exception as exc:  # answered by the app's own error handling, as the view's
            app: Any = self.app
            return self.in_flask(exchange, partial(app.handle_user_exception, exc))

    def list(self, exchange: Exchange, resources: AppResources) -> Iterable[bytes]:
        """One page of `GET /v1/key`, from the query as Flask's request parses it."""
        app: Any = self.app
        request = app.request_class(exchange.environ)

        def list_url() -> str:
            url: str = app.create_url_adapter(request).build(LIST_ENDPOINT)
            return url

        payload, headers = list_answer(resources.datastore(), request.args, list_url)
        return self.answer(exchange, payload, headers)

    def get(self, exchange: Exchange, resources: AppResources) -> Iterable[bytes]:
        item = resources.datastore().get(exchange.key)
        if item is None:
            raise key_not_found(exchange.key)
        return self.answer(exchange, item_json(item), etag_of=item)

    def put(self, exchange: Exchange, resources: AppResources, length: int) -> Iterable[bytes]:
        environ = exchange.environ
        # In the view's order: the precondition headers, then the body, then the write.
        condition = condition_of(environ.get("HTTP_IF_MATCH"), environ.get("HTTP_IF_NONE_MATCH"))
        body = parse_json(body_text(_read(environ, length)))
        item, created = put_item(resources.datastore(), exchange.key, condition, body)
        if created:
            return self.in_flask(exchange, lambda: write_response(item, True))
        return self.answer(exchange, item_json(item), etag_of=item)

    def answer(
        self,
        exchange: Exchange,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        etag_of: Item | None = None,
    ) -> Iterable[bytes]:
        """`json_response(payload, 200, headers, etag_of=...)` with its request id and access
        line, without Flask."""
        environ = exchange.environ
        body = json_body(self.app.json, payload)
        built = json_headers(body, headers, etag_of, exchange.request_id)
        log_request(
            200,
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            exchange.started,
            exchange.request_id,
            environ.get("REMOTE_ADDR"),
            None,
        )
        exchange.start_response("200 OK", built.to_wsgi_list())
        return [body]

    def in_flask(self, exchange: Exchange, view: Callable[[], Any]) -> Iterable[bytes]:
        """What `view` returns, finished by Flask in a request context for this environ: its
        after_request hooks (the access line among them) and teardown, as for any view."""
        app: Any = self.app
        with app.request_context(exchange.environ):
            start_request(exchange.started, exchange.request_id)
            response = app.finalize_request(view())
        answer: Iterable[bytes] = response(exchange.environ, exchange.start_response)
        return answer


def _body_length(environ: WSGIEnvironment, limit: int) -> int | None:
    """The PUT body's length when this module reads it: JSON by its exact media type, a
    `Content-Length` within `limit`, not chunked, no `Content-Encoding`; otherwise None (Flask
    decides)."""
    if (
        environ.get("CONTENT_TYPE") != JSON
        or "HTTP_TRANSFER_ENCODING" in environ
        or "HTTP_CONTENT_ENCODING" in environ
    ):
        return None
    text: str = environ.get("CONTENT_LENGTH") or ""
    if not (text.isascii() and text.isdigit()):
        return None
    length = int(text)
    return length if length <= limit else None


def _read(environ: WSGIEnvironment, length: int) -> bytes:
    """`length` bytes of the body; a client gone before sending them is werkzeug's 400."""
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    remaining = length
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise ClientDisconnected()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def init_app(app: Flask) -> None:
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
