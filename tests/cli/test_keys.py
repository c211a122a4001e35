"""`kvstore get|put|rm|ls` against a live service: JSON out, problems on stderr, exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from kvstore.app import create_app
from kvstore.cli import main
from kvstore.cli.remote import EXIT_API_ERROR, EXIT_UNREACHABLE, EXIT_USAGE
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings, parse_api_keys
from tests.live_server import serve, socket_without_listener


@pytest.fixture
def store() -> MemoryDatastore:
    return MemoryDatastore()


@pytest.fixture
def url(store: MemoryDatastore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A live server; KVSTORE_URL points at it, as a user would set it."""
    app = create_app(Settings(datastore="memory", log_level="WARNING"), datastore=store)
    with serve(app) as base:
        monkeypatch.setenv("KVSTORE_URL", base)
        monkeypatch.delenv("KVSTORE_TOKEN", raising=False)
        yield base


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("url")
def test_put_then_get_prints_the_item(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "put", "sports", '["tennis", "football"]')
    assert code == 0
    assert json.loads(out)["version"] == 1

    code, out, err = run(capsys, "get", "sports")
    assert (code, err) == (0, "")
    item = json.loads(out)
    assert item["value"] == ["tennis", "football"]
    assert item["key"] == "sports"


@pytest.mark.usefixtures("url")
def test_put_string_ttl_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: MemoryDatastore
) -> None:
    assert run(capsys, "put", "greeting", "héllo wörld", "--string", "--ttl", "60")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO('{"a": [1, 2.5, null]}'))
    assert run(capsys, "put", "config", "-")[0] == 0

    greeting = store.get("greeting")
    assert greeting is not None
    assert greeting.value == "héllo wörld"
    assert greeting.expires_at is not None
    config = store.get("config")
    assert config is not None
    assert config.value == {"a": [1, 2.5, None]}


@pytest.mark.usefixtures("url")
def test_put_of_invalid_json_says_how_to_fix_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "put", "k", "{not json")
    assert code == EXIT_USAGE
    assert out == ""
    assert "VALUE is not valid JSON" in err
    assert "--string" in err


@pytest.mark.usefixtures("url")
def test_errors_carry_the_problem_detail(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "get", "missing")
    assert (code, out) == (EXIT_API_ERROR, "")
    assert err == "kvstore: error: 404 Not Found: key 'missing' not found\n"

    code, _, err = run(capsys, "put", "a//b", "1")
    assert code == EXIT_API_ERROR
    assert err.startswith("kvstore: error: 400 ")


def test_rm_deletes_and_fails_on_a_missing_key(
    capsys: pytest.CaptureFixture[str], url: str, store: MemoryDatastore
) -> None:
    store.put("gone/soon", 1)
    code, out, _ = run(capsys, "rm", "gone/soon", "--url", url)
    assert (code, json.loads(out)) == (0, {"deleted": "gone/soon"})
    assert store.get("gone/soon") is None

    code, _, err = run(capsys, "rm", "gone/soon")
    assert code == EXIT_API_ERROR
    assert "not found" in err


@pytest.mark.usefixtures("url")
def test_ls_follows_cursors_to_the_end(
    capsys: pytest.CaptureFixture[str], store: MemoryDatastore
) -> None:
    for index in range(7):
        store.put(f"user/{index}", {"n": index})
    store.put("other", 0)

    code, out, _ = run(capsys, "ls", "--prefix", "user/", "--page-size", "2")
    assert code == 0
    items = json.loads(out)
    assert [item["key"] for item in items] == [f"user/{i}" for i in range(7)]
    assert items[3]["value"] == {"n": 3}

    code, out, _ = run(capsys, "ls", "--keys", "--page-size", "3")
    assert json.loads(out) == ["other", *(f"user/{i}" for i in range(7))]

    code, out, _ = run(capsys, "ls", "--prefix", "nothing/")
    assert (code, json.loads(out)) == (0, [])


def test_token_from_the_environment_or_the_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        datastore="memory", log_level="WARNING", api_keys=parse_api_keys("s3cret,reader:ro")
    )
    with serve(create_app(settings, datastore=MemoryDatastore())) as base:
        monkeypatch.setenv("KVSTORE_URL", base)
        monkeypatch.delenv("KVSTORE_TOKEN", raising=False)
        code, _, err = run(capsys, "get", "k")
        assert code == EXIT_API_ERROR
        assert err.startswith("kvstore: error: 401 ")

        assert run(capsys, "put", "k", "1", "--token", "s3cret")[0] == 0
        monkeypatch.setenv("KVSTORE_TOKEN", "reader")
        assert json.loads(run(capsys, "get", "k")[1])["value"] == 1
        code, _, err = run(capsys, "rm", "k")
        assert code == EXIT_API_ERROR
        assert err.startswith("kvstore: error: 403 ")


def test_an_unreachable_service_is_its_own_exit_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket_without_listener() as port:
        code, out, err = run(capsys, "ls", "--url", f"http://127.0.0.1:{port}")
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert "Connection refused" in err


@pytest.mark.parametrize("command", ["get", "put", "patch", "rm", "ls", "export", "import"])
def test_every_command_has_help_with_an_example(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Example" in out
    assert f"kvstore {command}" in out
    assert "--url" in out
    assert "--token" in out


@pytest.mark.usefixtures("url")
def test_keys_with_reserved_and_unicode_characters(
    capsys: pytest.CaptureFixture[str], store: MemoryDatastore
) -> None:
    key = "dir/a b?c#d%e/ünï 漢"
    assert run(capsys, "put", key, '{"ok": true}')[0] == 0
    item = store.get(key)
    assert item is not None
    assert item.value == {"ok": True}

    code, out, _ = run(capsys, "get", key)
    assert (code, json.loads(out)["key"]) == (0, key)
    assert json.loads(run(capsys, "ls", "--keys", "--prefix", "dir/")[1]) == [key]
    assert run(capsys, "rm", key)[0] == 0
    assert store.get(key) is None


@pytest.mark.usefixtures("url")
def test_patch_merges_or_applies_a_json_patch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: MemoryDatastore
) -> None:
    store.put("sports", ["hockey"], ttl=600)
    code, out, _ = run(
        capsys,
        "patch",
        "sports",
        '[{"op": "add", "path": "/-", "value": "curling"}]',
        "--json-patch",
    )
    assert code == 0
    item = json.loads(out)
    assert (item["value"], item["version"]) == (["hockey", "curling"], 2)
    assert item["expires_at"] is not None

    store.put("config", {"debug": False, "old": 1})
    monkeypatch.setattr("sys.stdin", io.StringIO('{"debug": true, "old": null}'))
    assert (
        run(capsys, "patch", "config", "-", "--merge", "--if-version", "1", "--ttl", "60")[0] == 0
    )
    config = store.get("config")
    assert config is not None
    assert config.value == {"debug": True}
    assert config.expires_at is not None


@pytest.mark.usefixtures("url")
def test_patch_errors(capsys: pytest.CaptureFixture[str], store: MemoryDatastore) -> None:
    code, out, err = run(capsys, "patch", "k", "{not json")
    assert (code, out) == (EXIT_USAGE, "")
    assert "PATCH is not valid JSON" in err
    assert run(capsys, "patch", "missing", "{}")[0] == EXIT_API_ERROR
    store.put("k", [1])
    code, _, err = run(
        capsys, "patch", "k", '[{"op": "test", "path": "/0", "value": 2}]', "--json-patch"
    )
    assert code == EXIT_API_ERROR
    assert "409 Patch failed: patch operation 0 failed" in err
    with pytest.raises(SystemExit) as exited:
        main(["patch", "k", "{}", "--merge", "--json-patch"])
    assert exited.value.code == EXIT_USAGE


@pytest.mark.usefixtures("url")
def test_rm_prefix_prints_the_count(
    capsys: pytest.CaptureFixture[str], store: MemoryDatastore
) -> None:
    for key in ("old/1", "old/2/x", "older", "keep"):
        store.put(key, 1)
    code, out, _ = run(capsys, "rm", "--prefix", "old/")
    assert (code, json.loads(out)) == (0, {"deleted": 2})
    assert [item.key for item in store.list().items] == ["keep", "older"]
    for argv in (["rm"], ["rm", "keep", "--prefix", "old/"], ["rm", "--prefix", ""]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (EXIT_USAGE, "")
        assert "--prefix" in err


@pytest.mark.usefixtures("url")
def test_ls_keys_with_a_delimiter(
    capsys: pytest.CaptureFixture[str], store: MemoryDatastore
) -> None:
    for key in ("web/bar", "web/sub/a", "web/sub/b", "web", "other"):
        store.put(key, 1)
    code, out, _ = run(capsys, "ls", "--keys", "--delimiter", "/", "--page-size", "1")
    assert (code, json.loads(out)) == (0, ["other", "web", "web/"])
    code, out, _ = run(capsys, "ls", "--keys", "--delimiter", "/", "--prefix", "web/")
    assert json.loads(out) == ["web/bar", "web/sub/"]
    code, _, err = run(capsys, "ls", "--delimiter", "/")
    assert code == EXIT_USAGE
    assert "--delimiter needs --keys" in err
