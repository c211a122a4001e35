"""The framework's floor: a bare Flask app with the two routes the reference rows drive.

`make bench` serves it on the same granian configuration as `kvstore serve` on memory (one
process, one thread, WSGI) and `python -m bench.profile` calls it in-process, so that kvstore's
GET and PUT are compared with what Flask itself costs on this machine, in the same run. No
hooks, no validation, no log line, no headers of its own: what any Flask route pays, no more.
The paths are kvstore's, so the same wrk scripts and the same seeding drive it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue


def create_app(store: dict[str, Any] | None = None) -> Flask:
    """The app over `store` (a fresh dict by default), which its PUT route fills."""
    app = Flask("bare_flask")
    store = {} if store is None else store

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.get("/v1/key/<path:key>")
    def get(key: str) -> ResponseReturnValue:
        if key not in store:
            abort(404)
        return jsonify(key=key, value=store[key])

    @app.put("/v1/key/<path:key>")
    def put(key: str) -> ResponseReturnValue:
        body = request.get_json()
        store[key] = body["value"]
        return jsonify(key=key, value=store[key])

    return app


#: What granian imports (`bench.bare_flask:app`).
app = create_app()
