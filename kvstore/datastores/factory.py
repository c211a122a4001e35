"""Datastore name -> class; heavy backends are imported only when chosen.

A user of the memory or SQLite store never imports boto3 (Lambda cold start, local runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvstore.datastores.base import Datastore
from kvstore.settings import ENV_DATASTORE, Settings, SettingsError


def _memory(settings: Settings, **kwargs: Any) -> Datastore:
    from kvstore.datastores.memory import MemoryDatastore

    return MemoryDatastore(max_value_bytes=settings.max_value_bytes, **kwargs)


def _sqlite(settings: Settings, **kwargs: Any) -> Datastore:
    from kvstore.datastores.sqlite import SQLiteDatastore

    return SQLiteDatastore(settings.sqlite_path, max_value_bytes=settings.max_value_bytes, **kwargs)


def _dynamodb(settings: Settings, **kwargs: Any) -> Datastore:
    from kvstore.datastores.dynamodb import DynamoDBDatastore

    return DynamoDBDatastore.from_settings(settings, **kwargs)


BUILDERS: dict[str, Callable[..., Datastore]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
}


def build(settings: Settings, **kwargs: Any) -> Datastore:
    """Build the datastore the settings name; `kwargs` (a clock, a client) go to its class."""
    try:
        builder = BUILDERS[settings.datastore]
    except KeyError:
        raise SettingsError(f"{ENV_DATASTORE}={settings.datastore!r} is unknown") from None
    return builder(settings, **kwargs)
