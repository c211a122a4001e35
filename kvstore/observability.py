"""One structured JSON log line per request, on stdout, and a request id on every answer.

Why stdout and JSON: gunicorn, Docker and Lambda (CloudWatch) all collect stdout, and a JSON
line per request can be queried (CloudWatch Logs Insights, jq) without parsing free text.

What a line holds: method, path, status, duration_ms, request_id, remote_addr, and grant: the
name of the API key grants the request's token matched (null when no keys are configured or no
valid token came). Never a value, a body, a header (so never a token) nor the query string
(which carries cursors and prefixes).

The `kvstore` logger gets exactly one handler however many apps are created (tests create
hundreds), and does not propagate: on Lambda the root logger has the runtime's own handler,
which would print every line twice.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

from kvstore.settings import Settings

LOGGER_NAME = "kvstore"  # also Flask's app.logger: the app is named "kvstore"
ACCESS_LOGGER_NAME = "kvstore.access"
REQUEST_ID_HEADER = "X-Request-ID"
#: A client's request id is kept only when it is printable ASCII of at most 128 characters,
#: so it cannot forge log lines or bloat them.
_VALID_REQUEST_ID = re.compile(r"[\x20-\x7e]{1,128}")

access_log = logging.getLogger(ACCESS_LOGGER_NAME)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at emit time (pytest's capture swaps it per test)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current stdout."""


class JSONFormatter(logging.Formatter):
    """A record as one JSON object; an access record's fields come from `record.fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
        }
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields is not None:
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
            if has_request_context() and "request_id" in g:
                entry["request_id"] = g.request_id
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


def configure_logging(level: str) -> logging.Logger:
    """Give the `kvstore` logger its one stdout JSON handler and set its level; idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    # The app is named "kvstore", so this is also Flask's `app.logger`, which adds its own
    # stderr handler when first used without one: ours replaces it.
    logger.removeHandler(default_handler)
    if not any(isinstance(handler, StdoutHandler) for handler in logger.handlers):
        handler = StdoutHandler()
        handler.setFormatter(JSONFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def request_id_from(header: str | None) -> str:
    """The client's id when it is safe to log and echo, else a fresh uuid4 hex."""
    if header and _VALID_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def log_caller(name: str) -> None:
    """Name who sent the current request in its access log line: a grant's name, never a token."""
    g.kvstore_grant = name


def _start_request() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish_request(response: Response) -> Response:
    # A before_request registered earlier may have answered first: this one then did not run.
    request_id = g.get("request_id") or request_id_from(request.headers.get(REQUEST_ID_HEADER))
    response.headers[REQUEST_ID_HEADER] = request_id
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    if access_log.isEnabledFor(level):
        started = g.get("request_started")
        duration = None if started is None else (time.perf_counter() - started) * 1000
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": None if duration is None else round(duration, 3),
            "request_id": request_id,
            "remote_addr": request.remote_addr,
            "grant": g.get("kvstore_grant"),
        }
        access_log.log(level, "request", extra={"fields": fields})
    return response


def init_app(app: Flask, settings: Settings) -> None:
    """Log every request of `app` at the level `settings.log_level` names."""
    configure_logging(settings.log_level)
    # First of the app's before_request functions, so the clock starts before auth and such.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
