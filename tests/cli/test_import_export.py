"""`kvstore export` and `kvstore import` as a user runs them: files, stdout, stderr, exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstore.app import create_app
from kvstore.cli import main
from kvstore.cli.remote import EXIT_API_ERROR, EXIT_UNREACHABLE, EXIT_USAGE
from kvstore.datastores.memory import MemoryDatastore
from kvstore.datastores.sqlite import SQLiteDatastore
from kvstore.settings import Settings
from tests.live_server import serve, socket_without_listener


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str, SQLiteDatastore, MemoryDatastore]]:
    """A source on SQLite and an empty target on memory, both live."""
    quiet = Settings(datastore="memory", log_level="WARNING")
    source, target = SQLiteDatastore(tmp_path / "source.sqlite3"), MemoryDatastore()
    with (
        serve(create_app(quiet, datastore=source)) as source_url,
        serve(create_app(quiet, datastore=target)) as target_url,
    ):
        yield source_url, target_url, source, target
    source.close()


def test_export_to_a_file_then_import_it(
    servers: tuple[str, str, SQLiteDatastore, MemoryDatastore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source_url, target_url, source, target = servers
    for index in range(120):
        source.put(f"k/{index:03d}", {"n": index, "s": "é"})
    source.put("session", "x", ttl=600)

    assert main(["export", "--url", source_url, "--page-size", "50"]) == 0
    dump = capsys.readouterr().out
    assert len(dump.splitlines()) == 121
    path = tmp_path / "dump.jsonl"
    path.write_text(dump, encoding="utf-8")

    assert main(["import", str(path), "--url", target_url]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "lines": 121,
        "created": 121,
        "replaced": 0,
        "unchanged": 0,
        "expired": 0,
        "failed": 0,
    }
    assert "\r" not in captured.err  # no progress bar when stderr is not a terminal
    session = target.get("session")
    assert session is not None
    assert session.expires_at is not None

    assert main(["import", str(path), "--url", target_url]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 121


def test_export_with_a_prefix(
    servers: tuple[str, str, SQLiteDatastore, MemoryDatastore],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source_url, _, source, _ = servers
    source.put("a/1", 1)
    source.put("b/1", 2)

    assert main(["export", "--url", source_url, "--prefix", "b/"]) == 0
    assert [json.loads(line)["key"] for line in capsys.readouterr().out.splitlines()] == ["b/1"]


def test_a_bad_line_is_named_and_what_went_before_is_kept(
    servers: tuple[str, str, SQLiteDatastore, MemoryDatastore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, target_url, _, target = servers
    path = tmp_path / "broken.jsonl"
    path.write_text(
        '{"key":"a","value":1}\n{"key":"b","value":2}\n{"key":"c"}\n{"key":"d","value":4}\n'
    )

    assert main(["import", str(path), "--url", target_url]) == EXIT_API_ERROR
    captured = capsys.readouterr()
    assert json.loads(captured.out)["created"] == 2
    assert f"{path}: line 3: key 'c' has no 'value'" in captured.err
    assert "every line before it was imported" in captured.err
    assert [item.key for item in target.list().items] == ["a", "b"]


def test_import_from_stdin(
    servers: tuple[str, str, SQLiteDatastore, MemoryDatastore],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, target_url, _, target = servers
    stdin = io.TextIOWrapper(io.BytesIO(b'{"key":"from/stdin","value":[true]}\n'))
    monkeypatch.setattr("sys.stdin", stdin)

    assert main(["import", "-", "--url", target_url]) == 0
    assert json.loads(capsys.readouterr().out)["created"] == 1
    item = target.get("from/stdin")
    assert item is not None
    assert item.value == [True]


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["import", str(tmp_path / "nope.jsonl"), "--url", "http://127.0.0.1:9"])
    assert code == EXIT_USAGE
    assert "cannot read" in capsys.readouterr().err


def test_an_unreachable_service_interrupts_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dump.jsonl"
    path.write_text('{"key":"a","value":1}\n', encoding="utf-8")
    with socket_without_listener() as port:
        code = main(["import", str(path), "--url", f"http://127.0.0.1:{port}"])

    assert code == EXIT_UNREACHABLE
    captured = capsys.readouterr()
    assert json.loads(captured.out)["created"] == 0
    assert "Connection refused" in captured.err
    assert "run again to finish" in captured.err
