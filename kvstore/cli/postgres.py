"""`kvstore postgres create-table`: create (or migrate) the PostgreSQL table the service expects.

Reads the same settings as the server (`KVSTORE_POSTGRES_DSN`, `KVSTORE_POSTGRES_TABLE`), so
the table created is the one the server will use. Idempotent: a table already at this
kvstore's schema version is left as it is, an older one is migrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.cli.create_table import CreateTable, Option
from kvstore.settings import ENV_POSTGRES_DSN, SettingsError

if TYPE_CHECKING:
    from kvstore.datastores.provisioning import TableSetup
    from kvstore.settings import Settings


def create(settings: Settings) -> TableSetup:
    if not settings.postgres_dsn:
        raise SettingsError(f"{ENV_POSTGRES_DSN} (or --dsn) must be set")
    from kvstore.datastores.postgres import create_table  # without the extra: one line

    return create_table(settings.postgres_dsn, settings.postgres_table)


COMMAND = CreateTable(
    "postgres",
    "PostgreSQL",
    help="create the table, or migrate it to this kvstore's schema version",
    description=(
        "Create the table (and the kvstore_schema registry) if missing, or migrate it to "
        "this kvstore's schema version. Uses KVSTORE_POSTGRES_DSN and KVSTORE_POSTGRES_TABLE; "
        "the role needs CREATE on the database's schema (owning the database is enough)."
    ),
    epilog=(
        "Example: KVSTORE_POSTGRES_DSN=postgresql://kvstore@db:5432/kvstore "
        "kvstore postgres create-table"
    ),
    options=(
        Option(
            "--dsn",
            "postgres_dsn",
            f"connection string or URL (default: {ENV_POSTGRES_DSN}; prefer the variable)",
        ),
        Option(
            "--table", "postgres_table", "table name (default: KVSTORE_POSTGRES_TABLE or kvstore)"
        ),
    ),
    create=create,
)
register = COMMAND.register
