"""Datastore name -> class; heavy backends are imported only when chosen.

A user of the memory or SQLite store never imports boto3 (Lambda cold start, local runs), and
only a user of the PostgreSQL store imports psycopg (an extra: `kvstore[postgres]`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kvstore.datastores.base import Datastore
from kvstore.settings import ENV_DATASTORE, Settings, SettingsError

log = logging.getLogger("kvstore.datastores.factory")


def _memory(settings: Settings, **kwargs: Any) -> Datastore:
    from kvstore.datastores.memory import MemoryDatastore

    return MemoryDatastore(**kwargs)


def _sqlite(settings: Settings, **kwargs: Any) -> Datastore:
    from kvstore.datastores.sqlite import SQLiteDatastore

    return SQLiteDatastore(settings.sqlite_path, **kwargs)


def _store_on(
    given: Any, build: Callable[[], Any], store: Callable[[Any, bool], Datastore]
) -> Datastore:
    """`store(connection, owned)` on the client or pool passed in, or else on one built here:
    that one is the store's to close (`owned`), and is closed here if the store fails."""
    connection = build() if given is None else given
    try:
        return store(connection, given is None)
    except BaseException:
        if given is None:
            connection.close()
        raise


def _dynamodb(settings: Settings, *, client: Any = None, **kwargs: Any) -> Datastore:
    """The store on its table; the table is created first when the settings ask for it (a
    local DynamoDB), and the client is the store's to close unless one was passed in."""
    from kvstore.datastores.dynamodb import DynamoDBDatastore, build_client, create_table

    def store(client: Any, owned: bool) -> Datastore:
        if settings.dynamodb_create_table:
            log.info("%s", create_table(client, settings.dynamodb_table).summary())
        return DynamoDBDatastore(client, settings.dynamodb_table, owns_client=owned, **kwargs)

    return _store_on(client, lambda: build_client(settings), store)


def _postgres(settings: Settings, *, pool: Any = None, **kwargs: Any) -> Datastore:
    """The store on its table, created or migrated first when the settings ask for it; the
    pool is the store's to close unless one was passed in."""
    from kvstore.datastores.postgres import PostgresDatastore, build_pool, create_table

    if settings.postgres_create_table and settings.postgres_dsn:
        log.info("%s", create_table(settings.postgres_dsn, settings.postgres_table).summary())

    def store(pool: Any, owned: bool) -> Datastore:
        return PostgresDatastore(pool, settings.postgres_table, owns_pool=owned, **kwargs)

    return _store_on(pool, lambda: build_pool(settings), store)


BUILDERS: dict[str, Callable[..., Datastore]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
    "postgres": _postgres,
}


def build(settings: Settings, **kwargs: Any) -> Datastore:
    """Build the datastore the settings name; `kwargs` (a clock, a client) go to its class.

    What every backend takes from the settings alike (the value size limit) is passed here,
    once; a builder adds only its own backend's arguments.
    """
    try:
        builder = BUILDERS[settings.datastore]
    except KeyError:
        raise SettingsError(f"{ENV_DATASTORE}={settings.datastore!r} is unknown") from None
    return builder(settings, max_value_bytes=settings.max_value_bytes, **kwargs)
