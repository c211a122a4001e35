"""GET of one key, answered in front of Flask's dispatch: the same answer for a fraction of
the CPU.

Why: a GET is the service's most frequent request, and most of its cost was not the read but
the framework around it: the request context, URL routing, flask-restx's resource dispatch,
the hooks (docs/performance.md has the profile). A bare Flask route cost more than etcd's
whole GET on the same machine, so no work inside Flask could reach etcd's speed.

What is answered here: `GET /v1/key/<key>` with an ASCII path, no query string, no
`If-None-Match`, on an open API (no `KVSTORE_API_KEYS`), when the key is there. The answer is
the view's, built by the same helpers: the item's JSON, `ETag`, the security headers,
`X-Request-ID`, one access log line with the same fields. Everything else goes to Flask
untouched. A read that fails (a bad key, no such key, a datastore error) is answered by
Flask's own error handling in a request context, exactly as if the view had raised it, so
every problem+json answer and log line is the one Flask gives, and the datastore is asked
once either way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kvstore.api.v1.http import json_body, json_headers, key_not_found
from kvstore.observability import (
    REQUEST_ID_ENVIRON,
    REQUEST_ID_HEADER,
    log_request,
    request_id_from,
    start_request,
)
from kvstore.resources import resources_of

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

#: Where the key starts in PATH_INFO (the v1 blueprint's prefix and the key namespace's path).
PREFIX = "/v1/key/"


class FastGet:
    """WSGI middleware for `app.wsgi_app` (Flask's documented place for one)."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(PREFIX)
            or len(path) == len(PREFIX)
            or not path.isascii()  # then werkzeug's UTF-8 decoding is the identity
            or environ.get("QUERY_STRING")
            or "HTTP_IF_NONE_MATCH" in environ
        ):
            return self.wsgi_app(environ, start_response)
        resources = resources_of(self.app)
        if resources.settings.api_keys:
            return self.wsgi_app(environ, start_response)

        started = time.perf_counter()
        request_id = request_id_from(environ.get(REQUEST_ID_ENVIRON))
        key = path[len(PREFIX) :]
        try:
            item = resources.datastore().get(key)
            if item is None:
                raise key_not_found(key)
        except Exception as exc:  # answered by the app's own error handling
            return self.failed(environ, start_response, exc, started, request_id)

        body = json_body(self.app.json, item.to_dict())
        headers = json_headers(body, etag_of=item)
        headers.add(REQUEST_ID_HEADER, request_id)
        log_request(200, "GET", path, started, request_id, environ.get("REMOTE_ADDR"), None)
        start_response("200 OK", headers.to_wsgi_list())
        return [body]

    def failed(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        exc: Exception,
        started: float,
        request_id: str,
    ) -> Iterable[bytes]:
        """Flask's answer to the view raising `exc`: its error handler and after_request
        hooks (the access line among them), in a request context for this environ."""
        app: Any = self.app
        with app.request_context(environ):
            start_request(started, request_id)
            response = app.finalize_request(app.handle_user_exception(exc))
        answer: Iterable[bytes] = response(environ, start_response)
        return answer


def init_app(app: Flask) -> None:
    app.wsgi_app = FastGet(app, app.wsgi_app)  # type: ignore[method-assign]
