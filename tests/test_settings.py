"""Settings come from KVSTORE_* once; a bad one is a single line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvstore.grants import Access, token_digest
from kvstore.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.datastore == "sqlite"
    assert settings.sqlite_path == "./data/kvstore.sqlite3"
    assert settings.max_value_bytes == 262_144
    assert settings.api_keys == ()


def test_reads_environment() -> None:
    settings = Settings.from_env(
        {
            "KVSTORE_DATASTORE": "memory",
            "KVSTORE_MAX_VALUE_BYTES": "1024",
            "KVSTORE_API_KEYS": "alpha, beta:ro",
            "KVSTORE_DYNAMODB_CREATE_TABLE": "true",
            "KVSTORE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
            "AWS_REGION": "eu-west-1",
            "KVSTORE_LOG_LEVEL": "debug",
        }
    )
    assert settings.datastore == "memory"
    assert settings.max_value_bytes == 1024
    assert [(key.name, key.access, key.prefixes) for key in settings.api_keys] == [
        ("key-1", Access.WRITE, ("",)),
        ("key-2", Access.READ, ("",)),
    ]
    assert [key.digest for key in settings.api_keys] == [
        token_digest("alpha"),
        token_digest("beta"),
    ]
    assert settings.dynamodb_create_table is True
    assert settings.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert settings.aws_region == "eu-west-1"
    assert settings.log_level == "DEBUG"
    assert "alpha" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KVSTORE_DATASTORE": "redis"}, "KVSTORE_DATASTORE"),
        ({"KVSTORE_MAX_VALUE_BYTES": "lots"}, "KVSTORE_MAX_VALUE_BYTES"),
        ({"KVSTORE_MAX_VALUE_BYTES": "0"}, "KVSTORE_MAX_VALUE_BYTES"),
        ({"KVSTORE_DYNAMODB_CREATE_TABLE": "maybe"}, "KVSTORE_DYNAMODB_CREATE_TABLE"),
        ({"KVSTORE_LOG_LEVEL": "LOUD"}, "KVSTORE_LOG_LEVEL"),
        ({"KVSTORE_API_KEYS": "token:admin"}, "KVSTORE_API_KEYS"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KVSTORE_DATASTORE": "postgres"}, "KVSTORE_POSTGRES_DSN"),
        ({"KVSTORE_POSTGRES_TABLE": "Kv"}, "KVSTORE_POSTGRES_TABLE"),
        ({"KVSTORE_POSTGRES_TABLE": "kvstore_schema"}, "KVSTORE_POSTGRES_TABLE"),
        ({"KVSTORE_POSTGRES_TABLE": "1kv"}, "KVSTORE_POSTGRES_TABLE"),
        ({"KVSTORE_POSTGRES_POOL_SIZE": "0"}, "KVSTORE_POSTGRES_POOL_SIZE"),
        ({"KVSTORE_POSTGRES_POOL_SIZE": "many"}, "KVSTORE_POSTGRES_POOL_SIZE"),
        ({"KVSTORE_POSTGRES_STATEMENT_TIMEOUT_MS": "0"}, "KVSTORE_POSTGRES_STATEMENT_TIMEOUT_MS"),
        ({"KVSTORE_POSTGRES_CREATE_TABLE": "perhaps"}, "KVSTORE_POSTGRES_CREATE_TABLE"),
    ],
)
def test_a_bad_postgres_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_postgres_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "KVSTORE_DATASTORE": "postgres",
            "KVSTORE_POSTGRES_DSN": "postgresql://kvstore:secret@db/kvstore",
            "KVSTORE_POSTGRES_TABLE": "kv_prod",
            "KVSTORE_POSTGRES_CREATE_TABLE": "true",
            "KVSTORE_POSTGRES_POOL_SIZE": "36",
            "KVSTORE_POSTGRES_STATEMENT_TIMEOUT_MS": "2500",
        }
    )
    assert settings.postgres_dsn == "postgresql://kvstore:secret@db/kvstore"
    assert (settings.postgres_table, settings.postgres_create_table) == ("kv_prod", True)
    assert (settings.postgres_pool_size, settings.postgres_statement_timeout_ms) == (36, 2500)
    assert "secret" not in repr(settings)


def _serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KVSTORE_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "kvstore", "serve", "--port", "1"],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KVSTORE_DATASTORE": "redis"}, "KVSTORE_DATASTORE"),
        ({"KVSTORE_MAX_VALUE_BYTES": "lots"}, "KVSTORE_MAX_VALUE_BYTES"),
        ({"KVSTORE_API_KEYS_FILE": "missing.json"}, "KVSTORE_API_KEYS_FILE=missing.json"),
        ({"KVSTORE_API_KEYS": "[]"}, "KVSTORE_API_KEYS"),
    ],
)
def test_serve_stops_with_one_line(env: dict[str, str], variable: str, tmp_path: Path) -> None:
    result = _serve(env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_refuses_unwritable_sqlite_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _serve({"KVSTORE_SQLITE_PATH": str(blocker / "db.sqlite3")}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SQLite" in lines[0]
    assert f"KVSTORE_SQLITE_PATH={blocker / 'db.sqlite3'}" in lines[0]
    assert "Traceback" not in result.stderr


def test_wsgi_import_with_bad_setting_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVSTORE_")}
    env["KVSTORE_DATASTORE"] = "nosuch"
    result = subprocess.run(
        [sys.executable, "-c", "import kvstore.wsgi"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "kvstore: configuration error: KVSTORE_DATASTORE='nosuch' is not one of "
        "memory, sqlite, dynamodb, postgres"
    ]
