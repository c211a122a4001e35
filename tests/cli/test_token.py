"""`kvstore token new`: a fresh token once, and a grant that holds only its hash."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from kvstore.app import create_app
from kvstore.cli import main
from kvstore.cli.remote import EXIT_USAGE
from kvstore.datastores.memory import MemoryDatastore
from kvstore.grants import Access, hashed_token
from kvstore.settings import Settings, parse_api_keys


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["token", "new", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def new(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, dict[str, Any]]:
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    token, line = out.splitlines()
    grant: dict[str, Any] = json.loads(line)
    return token, grant


def test_prints_the_token_then_a_grant_holding_only_its_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token, grant = new(capsys, "--name", "team-a", "--prefix", "team-a/", "--prefix", "shared/")
    assert token.startswith("kvs_")
    assert len(token) >= 40
    assert grant == {
        "name": "team-a",
        "token": hashed_token(token),
        "access": "write",
        "prefixes": ["team-a/", "shared/"],
    }
    assert token not in json.dumps(grant)


def test_read_only_on_every_key_by_default_name(capsys: pytest.CaptureFixture[str]) -> None:
    token, grant = new(capsys, "--ro")
    assert grant["access"] == "read"
    assert "prefixes" not in grant  # every key
    assert grant["name"] == "token-" + hashed_token(token).removeprefix("sha256:")[:8]


def test_every_token_is_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    tokens = {new(capsys)[0] for _ in range(5)}
    assert len(tokens) == 5


def test_the_server_accepts_the_token_for_its_grant(capsys: pytest.CaptureFixture[str]) -> None:
    token, grant = new(capsys, "--name", "team-a", "--prefix", "team-a/")
    grants = parse_api_keys(json.dumps([grant]))
    assert [(g.name, g.access, g.prefixes) for g in grants] == [
        ("team-a", Access.WRITE, ("team-a/",))
    ]
    client = create_app(
        Settings(datastore="memory", api_keys=grants, log_level="WARNING"),
        datastore=MemoryDatastore(),
    ).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.put("/v1/key/team-a/x", json={"value": 1}, headers=headers).status_code == 201
    assert client.put("/v1/key/team-b/x", json={"value": 1}, headers=headers).status_code == 403


def test_add_to_builds_the_file_the_server_reads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "grants.json"
    tokens = []
    for argv in (["--name", "a", "--prefix", "a/"], ["--name", "b", "--ro"]):
        code, out, err = run(capsys, *argv, "--add-to", str(path))
        assert (code, err) == (0, "")
        tokens.append(out.strip())
    assert all(token.startswith("kvs_") and "\n" not in token for token in tokens)
    text = path.read_text(encoding="utf-8")
    assert all(token not in text for token in tokens)
    assert [json.loads(line.rstrip(",")) for line in text.splitlines()[1:-1]] == [
        {"name": "a", "token": hashed_token(tokens[0]), "access": "write", "prefixes": ["a/"]},
        {"name": "b", "token": hashed_token(tokens[1]), "access": "read"},
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = Settings.from_env({"KVSTORE_API_KEYS_FILE": str(path)})
    assert [grant.name for grant in settings.api_keys] == ["a", "b"]


def test_add_to_keeps_the_mode_of_an_existing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "grants.json"
    path.write_text('[{"name": "old", "token": "plain", "access": "read"}]', encoding="utf-8")
    path.chmod(0o640)
    assert run(capsys, "--name", "new", "--add-to", str(path))[0] == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [g["name"] for g in json.loads(path.read_text(encoding="utf-8"))] == ["old", "new"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("plain,other:ro", "does not hold a JSON array of grants"),
        ('[{"name": "same", "token": "plain", "access": "read"}]', "names must be unique"),
        ("[{", "not a valid JSON array"),
    ],
)
def test_add_to_refuses_a_file_it_cannot_extend_and_leaves_it_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "grants.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "--name", "same", "--add-to", str(path))
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith(f"kvstore: error: {path}: ")
    assert message in err
    assert path.read_text(encoding="utf-8") == content
    assert [p.name for p in tmp_path.iterdir()] == ["grants.json"]  # no temporary file left


def test_add_to_a_missing_folder_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "--add-to", str(tmp_path / "no" / "grants.json"))
    assert (code, out) == (EXIT_USAGE, "")
    assert err.strip().count("\n") == 0
    assert "No such file or directory" in err


def test_a_bad_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--name", "x" * 65)
    assert (code, out) == (EXIT_USAGE, "")
    assert "name must be 1-64" in err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["token", "new", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage: kvstore token new [-h] [--ro] [--prefix P] [--name N]" in out
    assert "kvstore token new --name team-a --prefix team-a/" in out
