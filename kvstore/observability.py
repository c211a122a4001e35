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

Why an access line usually skips the logging module: a `LogRecord`, a formatter and a
handler per request were a large share of a GET's CPU (docs/performance.md). When the record could
only reach our one handler (no other handler or filter anywhere on its way, which is how the
service runs), the line is encoded once, with the same fields in the same order and the same
text the formatter would write, and written to the same stream under the handler's lock, then
flushed as the handler flushes. Anything else (a test's capture handler, a filter, another
handler) gets the record through logging as before.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses
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
service_log = logging.getLogger(LOGGER_NAME)


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
        return f"{_second_text(int(record.created))}.{int(record.msecs):03d}Z"


#: The last second formatted, with its text: one tuple, so that a thread never pairs one
#: second's number with another's text.
_stamp: tuple[int, str] = (-1, "")


def _second_text(second: int) -> str:
    """`second` (epoch) as `2026-11-29T00:10:13`, formatted once per second."""
    global _stamp
    cached, text = _stamp
    if second != cached:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp = (second, text)
    return text


def utc_stamp(created: float) -> str:
    """`created` (a `time.time()`) as `2026-11-29T00:10:13.492Z`, milliseconds as a
    `LogRecord` counts them from its `created`."""
    second = int(created)
    return f"{_second_text(second)}.{int((created - second) * 1000):03d}Z"


def _json_string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def access_line(level: int, created: float, fields: dict[str, Any]) -> str:
    """The line `JSONFormatter` writes for an access record with `fields`, without a record."""
    duration = fields["duration_ms"]
    return (
        f'{{"time": "{utc_stamp(created)}", "level": "{logging.getLevelName(level)}", '
        f'"logger": "{ACCESS_LOGGER_NAME}", "method": {_json_string(fields["method"])}, '
        f'"path": {_json_string(fields["path"])}, "status": {int(fields["status"])}, '
        f'"duration_ms": {"null" if duration is None else float.__repr__(duration)}, '
        f'"request_id": {_json_string(fields["request_id"])}, '
        f'"remote_addr": {_json_string(fields["remote_addr"])}, '
        f'"grant": {_json_string(fields["grant"])}}}\n'
    )


def _only_our_handler(level: int) -> StdoutHandler | None:
    """Our handler, when an access record at `level` would reach it and nothing else."""
    if access_log.handlers or access_log.filters or not access_log.propagate:
        return None
    handlers = service_log.handlers
    if len(handlers) != 1 or service_log.filters or service_log.propagate:
        return None
    handler = handlers[0]
    if type(handler) is not StdoutHandler or handler.filters or level < handler.level:
        return None
    if type(handler.formatter) is not JSONFormatter:
        return None
    return handler


def log_access(level: int, fields: dict[str, Any]) -> None:
    """One access line with `fields`: straight to our handler's stream when only it would
    see the record, else through logging (whose `fields` extra other handlers can read)."""
    handler = _only_our_handler(level)
    if handler is None:
        access_log.log(level, "request", extra={"fields": fields})
        return
    line = access_line(level, time.time(), fields)
    with handler.lock:  # type: ignore[union-attr]  # StreamHandler always has one
        stream = handler.stream
        stream.write(line)
        stream.flush()


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


class RequestIds:
    """Fresh request ids: 32 hex digits, a random 64-bit prefix per process and a counter.

    Unique for the life of a process (2**64 requests), and across processes, servers and
    restarts with the probability that two random 64-bit prefixes differ; a forked worker
    draws a prefix of its own. Cheaper than a uuid4 (16 bytes from the OS and a UUID object per
    request) while looking the same in logs. Not secret: an id only names a request.
    """

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def next(self) -> str:
        # next() on itertools.count is atomic under the GIL: no two threads get one number.
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_request_ids = RequestIds()


def request_id_from(header: str | None) -> str:
    """The client's id when it is safe to log and echo, else a fresh one (32 hex digits)."""
    if header and _VALID_REQUEST_ID.fullmatch(header):
        return header
    return _request_ids.next()


def log_caller(name: str) -> None:
    """Name who sent the current request in its access log line: a grant's name, never a token."""
    g.kvstore_grant = name


#: The WSGI environ's name of `X-Request-ID` (what `request.headers.get` looks up, unwrapped).
REQUEST_ID_ENVIRON = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


def _start_request() -> None:
    state = g._get_current_object()  # one context lookup rather than one per attribute
    state.request_started = time.perf_counter()
    state.request_id = request_id_from(request.environ.get(REQUEST_ID_ENVIRON))


def start_request(started: float, request_id: str) -> None:
    """What `_start_request` records, for a request whose clock and id were taken before
    its context existed (`kvstore/fast_path.py`)."""
    state = g._get_current_object()
    state.request_started = started
    state.request_id = request_id


def _finish_request(response: Response) -> Response:
    state = g._get_current_object()
    current = request._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy
    # A before_request registered earlier may have answered first: this one then did not run.
    request_id = state.get("request_id") or request_id_from(current.environ.get(REQUEST_ID_ENVIRON))
    response.headers[REQUEST_ID_HEADER] = request_id
    log_request(
        response.status_code,
        current.method,
        current.path,
        state.get("request_started"),
        request_id,
        current.remote_addr,
        state.get("kvstore_grant"),
    )
    return response


def log_request(
    status: int,
    method: str,
    path: str,
    started: float | None,
    request_id: str,
    remote_addr: str | None,
    grant: str | None,
) -> None:
    """The access line of one answered request (`started`: its `time.perf_counter()`)."""
    level = logging.ERROR if status >= 500 else logging.INFO
    if access_log.isEnabledFor(level):
        duration = None if started is None else (time.perf_counter() - started) * 1000
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": None if duration is None else round(duration, 3),
            "request_id": request_id,
            "remote_addr": remote_addr,
            "grant": grant,
        }
        log_access(level, fields)


def init_app(app: Flask, settings: Settings) -> None:
    """Log every request of `app` at the level `settings.log_level` names."""
    configure_logging(settings.log_level)
    # First of the app's before_request functions, so the clock starts before auth and such.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
