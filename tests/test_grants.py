"""The API key configuration: both forms, hashed tokens, the file, and errors that show no token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvstore.grants import Access, Grant, hashed_token, token_digest
from kvstore.settings import Settings, SettingsError, parse_api_keys

SECRET = "s3cret-token-value"


def grants_of(document: list[dict[str, Any]]) -> tuple[Grant, ...]:
    return parse_api_keys(json.dumps(document))


def summary(grants: tuple[Grant, ...]) -> list[tuple[str, Access, tuple[str, ...]]]:
    return [(grant.name, grant.access, grant.prefixes) for grant in grants]


def test_the_original_list_still_works() -> None:
    grants = parse_api_keys(f" alpha , beta:ro,gamma:rw, {hashed_token(SECRET)}:ro ,")
    assert summary(grants) == [
        ("key-1", Access.WRITE, ("",)),
        ("key-2", Access.READ, ("",)),
        ("key-3", Access.WRITE, ("",)),
        ("key-4", Access.READ, ("",)),
    ]
    assert [grant.digest for grant in grants] == [
        token_digest("alpha"),
        token_digest("beta"),
        token_digest("gamma"),
        token_digest(SECRET),
    ]


def test_the_json_form() -> None:
    grants = grants_of(
        [
            {"name": "team-a", "token": "ta", "access": "write", "prefixes": ["team-a/"]},
            {
                "name": "reader",
                "token": hashed_token(SECRET).upper().replace("SHA256", "sha256"),
                "access": "read",
            },
            {"name": "two", "token": "t2", "access": "read", "prefixes": ["x/", "y/", "x/"]},
        ]
    )
    assert summary(grants) == [
        ("team-a", Access.WRITE, ("team-a/",)),
        ("reader", Access.READ, ("",)),
        ("two", Access.READ, ("x/", "y/")),
    ]
    assert grants[1].digest == token_digest(SECRET)


@pytest.mark.parametrize(
    ("access", "scope", "allowed"),
    [
        (Access.READ, "team-a/x", True),
        (Access.WRITE, "team-a/x", True),
        (Access.READ, "team-a/", True),  # the listing of exactly the prefix
        (Access.READ, "team-a", False),
        (Access.READ, "team-ab/x", False),
        (Access.READ, "", False),
    ],
)
def test_a_grant_covers_the_keys_and_prefixes_under_its_prefixes(
    access: Access, scope: str, allowed: bool
) -> None:
    grant = Grant("g", token_digest("t"), Access.WRITE, ("team-a/", "other/"))
    assert grant.allows(access, scope) is allowed


def test_read_grants_never_write() -> None:
    grant = Grant("g", token_digest("t"), Access.READ)
    assert grant.allows(Access.READ, "anything")
    assert not grant.allows(Access.WRITE, "anything")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("token:admin", "entries must be TOKEN"),
        (":ro", "entries must be TOKEN"),
        (",,", "no API key is configured"),
        ("sha256:abc", "64 hexadecimal digits"),
        ("[]", "no API key is configured"),
        ("[{]", "not a valid JSON array"),
        ('{"name": "x"}', "entries must be TOKEN"),
        ('[{"name": "x", "token": "t", "access": "read"}, 1]', "grant 1: must be a JSON object"),
        ('[{"name": "x", "token": "t"}]', "missing member(s) access"),
        ('[{"name": "x", "token": "t", "access": "admin"}]', "access must be 'read' or 'write'"),
        ('[{"name": "x", "token": "t", "access": "read", "acess": 1}]', "unknown member(s) acess"),
        ('[{"name": "", "token": "t", "access": "read"}]', "name must be 1-64"),
        ('[{"name": "x", "token": 5, "access": "read"}]', "token must be a string"),
        ('[{"name": "x", "token": "", "access": "read"}]', "must not be empty"),
        ('[{"name": "x", "token": " t", "access": "read"}]', "white space"),
        ('[{"name": "x", "token": "t", "access": "read", "prefixes": []}]', "non-empty array"),
        ('[{"name": "x", "token": "t", "access": "read", "prefixes": "a/"}]', "non-empty array"),
        ('[{"name": "x", "token": "t", "access": "read", "access": "write"}]', "duplicate"),
        (
            '[{"name": "x", "token": "t", "access": "read"}, '
            '{"name": "x", "token": "u", "access": "read"}]',
            "names must be unique: 'x'",
        ),
    ],
)
def test_a_bad_configuration_names_the_variable_and_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"KVSTORE_API_KEYS": raw})
    assert str(raised.value).startswith("KVSTORE_API_KEYS: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "raw",
    [
        f"{SECRET}:admin",
        f'[{{"name": "x", "token": "{SECRET}", "access": "admin"}}]',
        f'[{{"name": "x", "token": "{SECRET}", "access": "read", "prefixes": []}}]',
        f'[{{"name": "x", "token": "{SECRET}", "access": "read"}}, {{"name": "x", "token": 1}}]',
        f'[{{"name": "x", "token": "{SECRET}" "access": "read"}}]',
        f'[{{"name": "x", "token": " {SECRET}", "access": "read"}}]',
    ],
)
def test_an_error_never_shows_a_token(raw: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_api_keys(raw)
    assert SECRET not in str(raised.value)


def test_unset_or_empty_is_an_open_api() -> None:
    assert Settings.from_env({}).api_keys == ()
    assert Settings.from_env({"KVSTORE_API_KEYS": " "}).api_keys == ()
    assert Settings.from_env({"KVSTORE_API_KEYS_FILE": ""}).api_keys == ()


def test_the_file_holds_the_same_configuration(tmp_path: Path) -> None:
    path = tmp_path / "grants.json"
    path.write_text(
        json.dumps([{"name": "team-a", "token": hashed_token(SECRET), "access": "write"}]),
        encoding="utf-8",
    )
    settings = Settings.from_env({"KVSTORE_API_KEYS_FILE": str(path)})
    assert summary(settings.api_keys) == [("team-a", Access.WRITE, ("",))]
    assert settings.api_keys[0].digest == token_digest(SECRET)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the file (No such file or directory)"),
        ("", "no API key is configured"),
        ("\n", "no API key is configured"),
        (b"\xff[", "cannot read the file (not UTF-8)"),
        ('[{"name": "x"}]', "grant 0 ('x'): missing member(s) access, token"),
    ],
)
def test_a_file_that_cannot_be_used_stops_start_up(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    """A secret that failed to mount must not leave the API open."""
    path = tmp_path / "grants.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"KVSTORE_API_KEYS_FILE": str(path)})
    assert str(raised.value).startswith(f"KVSTORE_API_KEYS_FILE={path}: {message}")


def test_both_the_variable_and_the_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({"KVSTORE_API_KEYS": "a", "KVSTORE_API_KEYS_FILE": str(tmp_path)})
