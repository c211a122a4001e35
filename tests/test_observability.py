"""The per-request JSON log line and the X-Request-ID header."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from flask import Flask

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.observability import (
    LOGGER_NAME,
    JSONFormatter,
    RequestIds,
    StdoutHandler,
    access_line,
    request_id_from,
)
from kvstore.settings import Settings

UUID_HEX = re.compile(r"[0-9a-f]{32}")


def make_app(**settings: Any) -> Flask:
    app = create_app(Settings(datastore="memory", **settings), datastore=MemoryDatastore())
    app.config["TESTING"] = True
    return app


def log_lines(out: str) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON object."""
    return [json.loads(line) for line in out.splitlines() if line]


def test_one_json_line_per_request_with_its_fields(capsys: pytest.CaptureFixture[str]) -> None:
    client = make_app().test_client()
    capsys.readouterr()
    client.put("/v1/key/sports", json={"value": ["tennis"]})
    client.get("/v1/key/missing", environ_base={"REMOTE_ADDR": "127.0.0.9"})

    put, get = log_lines(capsys.readouterr().out)
    assert put["method"] == "PUT"
    assert put["path"] == "/v1/key/sports"
    assert put["status"] == 201
    assert get["status"] == 404
    assert get["remote_addr"] == "127.0.0.9"
    assert get["level"] == "INFO"
    assert get["logger"] == "kvstore.access"
    for line in (put, get):
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert UUID_HEX.fullmatch(line["request_id"])
        assert line["time"].endswith("Z")


def test_never_logs_a_value_a_token_or_the_query(capsys: pytest.CaptureFixture[str]) -> None:
    client = make_app().test_client()
    capsys.readouterr()
    client.put(
        "/v1/key/k",
        json={"value": "value-secret-1"},
        headers={"Authorization": "Bearer token-secret-2"},
    )
    client.get("/v1/key?prefix=prefix-secret-3&cursor=cursor-secret-4")

    out = capsys.readouterr().out
    assert len(log_lines(out)) == 2
    for secret in ("value-secret-1", "token-secret-2", "prefix-secret-3", "cursor-secret-4"):
        assert secret not in out


def test_request_id_is_echoed_when_valid(capsys: pytest.CaptureFixture[str]) -> None:
    client = make_app().test_client()
    capsys.readouterr()
    response = client.get("/healthz", headers={"X-Request-ID": "trace-42 from caller"})

    assert response.headers["X-Request-ID"] == "trace-42 from caller"
    (line,) = log_lines(capsys.readouterr().out)
    assert line["request_id"] == "trace-42 from caller"


@pytest.mark.parametrize("given", ["x" * 129, "abc\x7f", "caf\u00e9"])
def test_an_unsafe_request_id_is_replaced(given: str) -> None:
    response = make_app().test_client().get("/healthz", headers={"X-Request-ID": given})

    assert UUID_HEX.fullmatch(response.headers["X-Request-ID"])


def test_request_id_is_generated_fresh_per_request() -> None:
    client = make_app().test_client()
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3
    assert all(UUID_HEX.fullmatch(request_id) for request_id in ids)


def test_request_id_from_keeps_128_characters() -> None:
    assert request_id_from("a" * 128) == "a" * 128
    assert request_id_from("") != ""
    assert request_id_from(None) != request_id_from(None)


def test_many_apps_share_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    apps = [make_app() for _ in range(3)]
    capsys.readouterr()
    apps[-1].test_client().get("/healthz")

    apps[0].logger.info("through Flask's app.logger")
    make_app()

    # pytest attaches its capture handlers to non-propagating loggers too: leave those out.
    handlers = logging.getLogger(LOGGER_NAME).handlers
    ours = [h for h in handlers if not type(h).__module__.startswith("_pytest")]
    assert len(ours) == 1
    assert isinstance(ours[0], StdoutHandler)
    captured = capsys.readouterr()
    request_line, app_line = log_lines(captured.out)
    assert request_line["path"] == "/healthz"
    assert app_line["message"] == "through Flask's app.logger"
    assert captured.err == ""


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_lines_do_not_propagate_to_the_root_logger() -> None:
    # On Lambda the root logger has the runtime's handler: propagating would print twice.
    client = make_app().test_client()
    root, collect = logging.getLogger(), Collect()
    root.addHandler(collect)
    try:
        client.get("/healthz")
    finally:
        root.removeHandler(collect)

    assert [r for r in collect.records if r.name.startswith(LOGGER_NAME)] == []


def test_records_carry_their_fields_for_other_handlers(caplog: pytest.LogCaptureFixture) -> None:
    client = make_app().test_client()
    with caplog.at_level(logging.INFO, logger="kvstore.access"):
        client.delete("/v1/key/absent")

    (record,) = [r for r in caplog.records if r.name == "kvstore.access"]
    fields: dict[str, Any] = record.__dict__["fields"]
    assert fields["method"] == "DELETE"
    assert fields["status"] == 404


def test_log_level_setting_silences_info(capsys: pytest.CaptureFixture[str]) -> None:
    client = make_app(log_level="WARNING").test_client()
    capsys.readouterr()
    client.get("/healthz")

    assert capsys.readouterr().out == ""


def test_a_server_error_is_logged_at_error_with_its_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app(log_level="WARNING")

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    capsys.readouterr()
    response = app.test_client().get("/boom", headers={"X-Request-ID": "rid-500"})

    assert response.status_code == 500
    error, access = log_lines(capsys.readouterr().out)
    assert error["logger"] == "kvstore.errors"
    assert error["request_id"] == "rid-500"
    assert "RuntimeError: boom" in error["exception"]
    assert access["level"] == "ERROR"
    assert access["status"] == 500
    assert access["request_id"] == "rid-500"


@pytest.mark.parametrize(
    ("path", "duration", "grant", "status"),
    [
        ("/v1/key/sports", 0.284, None, 200),
        ('/v1/key/caf\u00e9/"quoted"\\back\tslash', None, "team-a", 500),
        ("/v1/key/\U0001f600", 12.0, "", 404),
    ],
)
def test_the_direct_access_line_is_the_formatters_line(
    path: str, duration: float | None, grant: str | None, status: int
) -> None:
    fields = {
        "method": "GET",
        "path": path,
        "status": status,
        "duration_ms": duration,
        "request_id": "rid-1",
        "remote_addr": None,
        "grant": grant,
    }
    level = logging.ERROR if status >= 500 else logging.INFO
    record = logging.LogRecord("kvstore.access", level, __file__, 1, "request", None, None)
    record.fields = fields
    # A time whose milliseconds every Python counts alike (3.12 counts them from nanoseconds).
    record.created, record.msecs = 1764590413.25, 250.0

    expected = JSONFormatter().format(record) + "\n"
    assert access_line(level, record.created, fields) == expected
    assert expected.startswith('{"time": "2025-12-01T12:00:13.250Z", ')


def test_a_filter_on_the_access_logger_still_sees_every_record() -> None:
    client = make_app().test_client()
    seen: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record)
        return False

    logging.getLogger("kvstore.access").addFilter(keep)
    try:
        client.get("/healthz")
    finally:
        logging.getLogger("kvstore.access").removeFilter(keep)

    assert [r.__dict__["fields"]["path"] for r in seen] == ["/healthz"]


def test_a_reseeded_process_makes_ids_of_its_own() -> None:
    # What a forked worker runs first (os.register_at_fork): a prefix of its own.
    ids = RequestIds()
    before = [ids.next() for _ in range(3)]
    ids.reseed()
    after = ids.next()

    assert len(set(before)) == 3
    assert all(UUID_HEX.fullmatch(i) for i in [*before, after])
    assert {i[:16] for i in before} == {before[0][:16]}
    assert after[:16] != before[0][:16]
