"""Backends behind one abstract `Datastore`; `factory.build(settings)` picks one."""

from kvstore.datastores.base import Check, Datastore, Delete, Item, Page, Put
from kvstore.datastores.errors import (
    DatastoreError,
    DatastoreUnavailable,
    InvalidCursor,
    InvalidKey,
    InvalidRequest,
    InvalidValue,
    PreconditionFailed,
    TransactionFailed,
    ValueTooLarge,
)

__all__ = [
    "Check",
    "Datastore",
    "DatastoreError",
    "DatastoreUnavailable",
    "Delete",
    "InvalidCursor",
    "InvalidKey",
    "InvalidRequest",
    "InvalidValue",
    "Item",
    "Page",
    "PreconditionFailed",
    "Put",
    "TransactionFailed",
    "ValueTooLarge",
]
