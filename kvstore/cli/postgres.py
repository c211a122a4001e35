"""`kvstore postgres create-table`: create (or migrate) the PostgreSQL table the service expects.

Reads the same settings as the server (`KVSTORE_POSTGRES_DSN`, `KVSTORE_POSTGRES_TABLE`), so
the table created is the one the server will use. Idempotent: a table already at this
kvstore's schema version is left as it is, an older one is migrated.
"""

from __future__ import annotations

import argparse

from kvstore.cli.groups import add_create_table, cannot_create_table, settings_with
from kvstore.datastores.errors import DatastoreError
from kvstore.settings import ENV_POSTGRES_DSN, SettingsError, exit_for


# The same command as `kvstore dynamodb create-table` (add_create_table); its own options.
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = add_create_table(
        subparsers,
        "postgres",
        "PostgreSQL",
        help_text="create the table, or migrate it to this kvstore's schema version",
        description=(
            "Create the table (and the kvstore_schema registry) if missing, or migrate it to "
            "this kvstore's schema version. Uses KVSTORE_POSTGRES_DSN and KVSTORE_POSTGRES_TABLE; "
            "the role needs CREATE on the database's schema (owning the database is enough)."
        ),
        epilog=(
            "Example: KVSTORE_POSTGRES_DSN=postgresql://kvstore@db:5432/kvstore "
            "kvstore postgres create-table"
        ),
    )
    create.add_argument(
        "--dsn", help=f"connection string or URL (default: {ENV_POSTGRES_DSN}; prefer the variable)"
    )
    create.add_argument("--table", help="table name (default: KVSTORE_POSTGRES_TABLE or kvstore)")
    create.set_defaults(func=run_create_table)


def run_create_table(args: argparse.Namespace) -> int:
    settings = settings_with(args, {"postgres_dsn": "dsn", "postgres_table": "table"})
    if not settings.postgres_dsn:
        exit_for(SettingsError(f"{ENV_POSTGRES_DSN} (or --dsn) must be set"))
    try:
        from kvstore.datastores.postgres import create_table  # without the extra: one line

        setup = create_table(settings.postgres_dsn, settings.postgres_table)
    except SettingsError as exc:
        exit_for(exc)
    except DatastoreError as exc:
        return cannot_create_table(exc)
    print(setup.summary())
    return 0
