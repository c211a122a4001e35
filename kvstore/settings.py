"""Typed settings, read once from `KVSTORE_*` environment variables.

An explicit value (tests, the CLI) wins over the environment. A bad value raises
`SettingsError` whose message is one line naming the variable, so start-up can print it
and stop without a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

from kvstore.grants import Grant, GrantError, parse_grants

DATASTORES = ("memory", "sqlite", "dynamodb", "postgres")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Environment variable names, in one place.
ENV_DATASTORE = "KVSTORE_DATASTORE"
ENV_SQLITE_PATH = "KVSTORE_SQLITE_PATH"
ENV_DYNAMODB_TABLE = "KVSTORE_DYNAMODB_TABLE"
ENV_DYNAMODB_ENDPOINT = "KVSTORE_DYNAMODB_ENDPOINT"
ENV_DYNAMODB_CREATE_TABLE = "KVSTORE_DYNAMODB_CREATE_TABLE"
ENV_POSTGRES_DSN = "KVSTORE_POSTGRES_DSN"
ENV_POSTGRES_TABLE = "KVSTORE_POSTGRES_TABLE"
ENV_POSTGRES_CREATE_TABLE = "KVSTORE_POSTGRES_CREATE_TABLE"
ENV_POSTGRES_POOL_SIZE = "KVSTORE_POSTGRES_POOL_SIZE"
ENV_POSTGRES_STATEMENT_TIMEOUT_MS = "KVSTORE_POSTGRES_STATEMENT_TIMEOUT_MS"
ENV_MAX_VALUE_BYTES = "KVSTORE_MAX_VALUE_BYTES"
ENV_API_KEYS = "KVSTORE_API_KEYS"
ENV_API_KEYS_FILE = "KVSTORE_API_KEYS_FILE"
ENV_LOG_LEVEL = "KVSTORE_LOG_LEVEL"
ENV_READ_TIMEOUT_S = "KVSTORE_READ_TIMEOUT_S"

#: Longest a server-side read deadline may be: API Gateway gives up on a request after 29 s.
MAX_READ_TIMEOUT_S = 30


#: The PostgreSQL table: a plain lower-case identifier (no quoting needed anywhere), short
#: enough that the names derived from it (its index) stay within PostgreSQL's 63 bytes.
POSTGRES_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")
#: Connections per process: the server's request threads (4 by default) plus the batch
#: executor's 16 workers (kvstore.resources), the most datastore calls one process makes at once.
DEFAULT_POSTGRES_POOL_SIZE = 20


class SettingsError(ValueError):
    """A setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    datastore: str = "sqlite"
    sqlite_path: str = "./data/kvstore.sqlite3"
    dynamodb_table: str = "kvstore"
    dynamodb_endpoint: str | None = None
    dynamodb_create_table: bool = False
    aws_region: str = "us-east-1"
    postgres_dsn: str | None = field(default=None, repr=False)  # may hold a password
    postgres_table: str = "kvstore"
    postgres_create_table: bool = False
    postgres_pool_size: int = DEFAULT_POSTGRES_POOL_SIZE
    postgres_statement_timeout_ms: int = 5000
    max_value_bytes: int = 262_144
    api_keys: tuple[Grant, ...] = field(default=(), repr=False)  # digests only, never printed
    log_level: str = "INFO"
    #: Seconds a request's headers, and then its body, may take to arrive (`kvstore serve`).
    read_timeout_s: int = 10

    def __post_init__(self) -> None:
        if self.datastore not in DATASTORES:
            raise SettingsError(
                f"{ENV_DATASTORE}={self.datastore!r} is not one of {', '.join(DATASTORES)}"
            )
        if not 1 <= self.max_value_bytes <= 16 * 1024 * 1024:
            raise SettingsError(f"{ENV_MAX_VALUE_BYTES} must be between 1 and 16777216")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"{ENV_LOG_LEVEL}={self.log_level!r} is not one of {LOG_LEVELS}")
        if not 1 <= self.read_timeout_s <= MAX_READ_TIMEOUT_S:
            raise SettingsError(f"{ENV_READ_TIMEOUT_S} must be between 1 and {MAX_READ_TIMEOUT_S}")
        if not self.dynamodb_table:
            raise SettingsError(f"{ENV_DYNAMODB_TABLE} must not be empty")
        if not self.sqlite_path:
            raise SettingsError(f"{ENV_SQLITE_PATH} must not be empty")
        if self.datastore == "postgres" and not self.postgres_dsn:
            raise SettingsError(
                f"{ENV_POSTGRES_DSN} must be set for {ENV_DATASTORE}=postgres"
                " (e.g. postgresql://kvstore:secret@db.internal:5432/kvstore)"
            )
        if not POSTGRES_TABLE_NAME.fullmatch(self.postgres_table):
            raise SettingsError(
                f"{ENV_POSTGRES_TABLE}={self.postgres_table!r} must be 1-48 of a-z, 0-9 and _,"
                " not starting with a digit"
            )
        if self.postgres_table == "kvstore_schema":
            raise SettingsError(f"{ENV_POSTGRES_TABLE} must not be kvstore_schema (reserved)")
        if not 1 <= self.postgres_pool_size <= 1000:
            raise SettingsError(f"{ENV_POSTGRES_POOL_SIZE} must be between 1 and 1000")
        if not 1 <= self.postgres_statement_timeout_ms <= 600_000:
            raise SettingsError(f"{ENV_POSTGRES_STATEMENT_TIMEOUT_MS} must be between 1 and 600000")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if ENV_DATASTORE in env:
            values["datastore"] = env[ENV_DATASTORE].strip().lower()
        if ENV_SQLITE_PATH in env:
            values["sqlite_path"] = env[ENV_SQLITE_PATH]
        if ENV_DYNAMODB_TABLE in env:
            values["dynamodb_table"] = env[ENV_DYNAMODB_TABLE].strip()
        if env.get(ENV_DYNAMODB_ENDPOINT):
            values["dynamodb_endpoint"] = env[ENV_DYNAMODB_ENDPOINT].strip()
        if ENV_DYNAMODB_CREATE_TABLE in env:
            values["dynamodb_create_table"] = _boolean(ENV_DYNAMODB_CREATE_TABLE, env)
        if env.get(ENV_POSTGRES_DSN):
            values["postgres_dsn"] = env[ENV_POSTGRES_DSN].strip()
        if ENV_POSTGRES_TABLE in env:
            values["postgres_table"] = env[ENV_POSTGRES_TABLE].strip()
        if ENV_POSTGRES_CREATE_TABLE in env:
            values["postgres_create_table"] = _boolean(ENV_POSTGRES_CREATE_TABLE, env)
        if ENV_POSTGRES_POOL_SIZE in env:
            values["postgres_pool_size"] = _integer(ENV_POSTGRES_POOL_SIZE, env)
        if ENV_POSTGRES_STATEMENT_TIMEOUT_MS in env:
            values["postgres_statement_timeout_ms"] = _integer(
                ENV_POSTGRES_STATEMENT_TIMEOUT_MS, env
            )
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            values["aws_region"] = region
        if ENV_MAX_VALUE_BYTES in env:
            values["max_value_bytes"] = _integer(ENV_MAX_VALUE_BYTES, env)
        api_keys = _api_keys(env)
        if api_keys:
            values["api_keys"] = api_keys
        if ENV_LOG_LEVEL in env:
            values["log_level"] = env[ENV_LOG_LEVEL].strip().upper()
        if ENV_READ_TIMEOUT_S in env:
            values["read_timeout_s"] = _integer(ENV_READ_TIMEOUT_S, env)
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)


#: The exit status of a command refused for its configuration, as for a usage error.
EXIT_CONFIGURATION = 2


def exit_for(exc: SettingsError, status: int = EXIT_CONFIGURATION) -> NoReturn:
    """Print the one line that names the bad setting, and stop the process: no traceback."""
    print(f"kvstore: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(status)


def _boolean(name: str, env: Mapping[str, str]) -> bool:
    raw = env[name].strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name}={env[name]!r} is not a boolean (true or false)")


def _integer(name: str, env: Mapping[str, str]) -> int:
    raw = env[name].strip()
    if not (raw.isascii() and raw.isdigit()):  # int() also takes "1_0" and other scripts' digits
        raise SettingsError(f"{name}={env[name]!r} is not a whole number")
    return int(raw)


def parse_api_keys(raw: str, source: str = ENV_API_KEYS) -> tuple[Grant, ...]:
    """The grants of `raw` (either form, see `kvstore.grants`); `source` names it in errors."""
    try:
        return parse_grants(raw)
    except GrantError as exc:
        raise SettingsError(f"{source}: {exc}") from None


def _api_keys(env: Mapping[str, str]) -> tuple[Grant, ...]:
    """The grants of KVSTORE_API_KEYS or of the file KVSTORE_API_KEYS_FILE names; () if neither.

    A file that is named but missing, unreadable or empty stops start-up: an API key file
    that failed to mount must not leave the service open.
    """
    inline, path = env.get(ENV_API_KEYS, "").strip(), env.get(ENV_API_KEYS_FILE, "").strip()
    if inline and path:
        raise SettingsError(f"set {ENV_API_KEYS} or {ENV_API_KEYS_FILE}, not both")
    if inline:
        return parse_api_keys(inline)
    if not path:
        return ()
    source = f"{ENV_API_KEYS_FILE}={path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise SettingsError(f"{source}: cannot read the file ({reason})") from None
    return parse_api_keys(text, source)
