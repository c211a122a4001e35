"""The PostgreSQL datastore: the store, its connection pool, its schema, its error translation.

Imported only when the PostgreSQL datastore is chosen (kvstore.datastores.factory, `kvstore
postgres`), so the other datastores, the Lambda package among them, never need psycopg. It
comes with the `postgres` extra (`pip install 'kvstore[postgres]'`); without it, importing
this package is one line saying so.
"""

from __future__ import annotations

from kvstore.settings import ENV_DATASTORE, SettingsError

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError as exc:
    raise SettingsError(
        f"{ENV_DATASTORE}=postgres needs the 'postgres' extra: pip install 'kvstore[postgres]'"
        f" ({exc})"
    ) from None

from kvstore.datastores.postgres.errors import translate
from kvstore.datastores.postgres.pool import build_pool, open_pool
from kvstore.datastores.postgres.schema import SCHEMA_VERSION, create_table, migrate
from kvstore.datastores.postgres.store import PostgresDatastore

__all__ = [
    "SCHEMA_VERSION",
    "PostgresDatastore",
    "build_pool",
    "create_table",
    "migrate",
    "open_pool",
    "translate",
]
