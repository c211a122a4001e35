"""The table the PostgreSQL datastore expects, its version, and how it gets there.

Schema (version 1), one table per `KVSTORE_POSTGRES_TABLE` (default `kvstore`):

    key        text COLLATE "C" PRIMARY KEY   -- byte order = code-point order, as listed
    value      text NOT NULL                  -- the value's compact JSON, exactly as sent
    version    bigint NOT NULL                -- 1 on create, +1 per write
    updated_at text NOT NULL                  -- RFC 3339 UTC with milliseconds, as shown
    expires_at double precision               -- epoch seconds; NULL when there is no ttl

plus a partial index on `expires_at` for the sweep of expired rows. `value` is text, not
jsonb: jsonb reorders object members, keeps one of duplicate members, and rewrites numbers
(`1e300` comes back as 301 digits, an integer), and the contract is that a value comes back
exactly as it was sent.

`kvstore_schema` records each table's schema version. `migrate` brings a table from the
version recorded (0: none) to `SCHEMA_VERSION` by running `MIGRATIONS` in order, in one
transaction under an advisory lock, so several service processes starting at once with
`KVSTORE_POSTGRES_CREATE_TABLE=true` create it once; a later schema change is one more entry.
The store only reads the version (`verify`) and refuses a table it does not know.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from kvstore.datastores.errors import DatastoreUnavailable
from kvstore.datastores.postgres.errors import translate
from kvstore.datastores.postgres.pool import conninfo
from kvstore.datastores.provisioning import TableSetup

Connection = psycopg.Connection[TupleRow]

SCHEMA_VERSION = 1
REGISTRY = "kvstore_schema"
#: The advisory lock every migration holds ("kvstore" in ASCII, as a number).
MIGRATION_LOCK = 0x6B7673746F7265

_REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS kvstore_schema (
    table_name  text PRIMARY KEY,
    version     integer NOT NULL,
    migrated_at timestamptz NOT NULL DEFAULT now()
)
"""

#: MIGRATIONS[n - 1] takes a table from schema version n - 1 to n. `{table}` is the table's
#: quoted name, `{expiry_index}` its expiry index's.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE {table} (
            key        text COLLATE "C" PRIMARY KEY,
            value      text NOT NULL,
            version    bigint NOT NULL,
            updated_at text NOT NULL,
            expires_at double precision
        )
        """,
        "CREATE INDEX {expiry_index} ON {table} (expires_at) WHERE expires_at IS NOT NULL",
    ),
)


def _setup(table: str, before: int, after: int) -> TableSetup:
    """What taking `table` from schema version `before` (0: none) to `after` did."""
    if before == after:
        outcome = f"already at schema version {after}"
    elif before == 0:
        outcome = f"created (schema version {after})"
    else:
        outcome = f"migrated from schema version {before} to {after}"
    return TableSetup("PostgreSQL", table, outcome)


def quoted(name: str) -> str:
    return sql.Identifier(name).as_string()


def _check_encoding(encoding: object) -> None:
    if encoding != "UTF8":
        raise DatastoreUnavailable(
            f"the PostgreSQL database's encoding is {encoding!r}, not UTF8: keys and values"
            " are Unicode",
            reason="refused",
            remedy="create the database WITH ENCODING 'UTF8'",
        )


def migrate(conn: Connection, table: str) -> TableSetup:
    """Create `table`, or migrate it to `SCHEMA_VERSION`; a table already there is left alone.

    Raises:
        DatastoreUnavailable: the database is not UTF-8, the table exists but was not made by
            kvstore, or its schema is newer than this kvstore's.
        psycopg.Error: anything else the server refused (the caller translates it).
    """
    names = {"table": quoted(table), "expiry_index": quoted(f"{table}_expires_at")}
    with conn.transaction():
        row = conn.execute(
            "SELECT current_setting('server_encoding'), pg_advisory_xact_lock(%s)",
            (MIGRATION_LOCK,),
        ).fetchone()
        _check_encoding(None if row is None else row[0])
        conn.execute(_REGISTRY_DDL)
        row = conn.execute(
            "SELECT version FROM kvstore_schema WHERE table_name = %s FOR UPDATE", (table,)
        ).fetchone()
        before = 0 if row is None else int(row[0])
        if before > SCHEMA_VERSION:
            raise _newer(table, before)
        if before == 0 and _exists(conn, table):
            raise DatastoreUnavailable(
                f"PostgreSQL table {table!r} exists but kvstore did not create it (it has no row"
                f" in {REGISTRY})",
                reason="refused",
                remedy="choose another KVSTORE_POSTGRES_TABLE, or drop that table",
            )
        for version in range(before + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement.format(**names))
        conn.execute(
            "INSERT INTO kvstore_schema (table_name, version) VALUES (%s, %s)"
            " ON CONFLICT (table_name) DO UPDATE SET version = excluded.version,"
            " migrated_at = now()",
            (table, SCHEMA_VERSION),
        )
    return _setup(table, before, SCHEMA_VERSION)


def _exists(conn: Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (quoted(table),)).fetchone()
    return bool(row and row[0])


def _newer(table: str, version: int) -> DatastoreUnavailable:
    return DatastoreUnavailable(
        f"PostgreSQL table {table!r} is at schema version {version}; this kvstore knows"
        f" versions up to {SCHEMA_VERSION}",
        reason="unsupported",
        remedy="upgrade kvstore",
    )


def verify(conn: Connection, table: str) -> None:
    """Refuse a database that is not UTF-8 and a table not at `SCHEMA_VERSION`.

    Raises:
        DatastoreUnavailable: naming what is wrong and what to do about it.
        psycopg.Error: the registry is missing (UndefinedTable: the caller translates it).
    """
    row = conn.execute(
        "SELECT current_setting('server_encoding'),"
        " (SELECT version FROM kvstore_schema WHERE table_name = %s)",
        (table,),
    ).fetchone()
    encoding, version = (None, None) if row is None else row
    _check_encoding(encoding)
    if version is not None and version > SCHEMA_VERSION:
        raise _newer(table, version)
    if version is None or version < SCHEMA_VERSION:  # both mended by `create-table`
        state = (
            "does not exist"
            if version is None
            else f"is at schema version {version}, this kvstore needs {SCHEMA_VERSION}"
        )
        raise DatastoreUnavailable(
            f"PostgreSQL table {table!r} {state}", reason="missing-table", datastore="postgres"
        )


def create_table(dsn: str, table: str) -> TableSetup:
    """`migrate` on a connection of its own: `kvstore postgres create-table`, and the factory
    when `KVSTORE_POSTGRES_CREATE_TABLE=true`.

    Raises:
        DatastoreUnavailable: the server cannot be reached, refuses, or the table cannot be.
    """
    try:
        with psycopg.connect(conninfo(dsn), autocommit=True) as conn:
            return migrate(conn, table)
    except psycopg.Error as exc:
        raise translate(exc, table, "create-table") from exc
