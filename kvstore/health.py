"""Liveness and readiness probes, outside the versioned API and its auth."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from kvstore.resources import current_datastore

bp = Blueprint("health", __name__)


def _ok(payload: dict[str, str]) -> Response:
    return current_app.response_class(
        current_app.json.dumps(payload), status=200, mimetype="application/json"
    )


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers; says nothing about the datastore."""
    return _ok({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """The datastore answers; DatastoreUnavailable becomes a 503 problem."""
    datastore = current_datastore()
    datastore.check()
    return _ok({"status": "ready", "datastore": datastore.name})
