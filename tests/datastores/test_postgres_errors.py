"""Every psycopg failure the PostgreSQL store expects becomes its outage, with the words and
the kind an operator and a client need (`kvstore.datastores.postgres.errors`)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from kvstore.datastores.errors import DatastoreUnavailable
from kvstore.datastores.postgres.errors import translate
from kvstore.errors import RETRY_AFTER_S, outage_detail

CASES = [
    (errors.QueryCanceled, "busy", "PostgreSQL cancelled put on table 'kv': statement timeout"),
    (errors.LockNotAvailable, "busy", "PostgreSQL could not lock table 'kv' for put in time"),
    (errors.DeadlockDetected, "busy", "PostgreSQL could not lock table 'kv' for put in time"),
    (errors.SerializationFailure, "busy", "PostgreSQL could not lock table 'kv' for put in time"),
    (errors.InsufficientResources, "busy", "PostgreSQL is out of resources for put (53000)"),
    (errors.DiskFull, "busy", "PostgreSQL is out of resources for put (53100)"),
    (errors.OutOfMemory, "busy", "PostgreSQL is out of resources for put (53200)"),
    (errors.TooManyConnections, "busy", "PostgreSQL is out of resources for put (53300)"),
    (errors.ConfigurationLimitExceeded, "busy", "PostgreSQL is out of resources for put (53400)"),
    (errors.UndefinedTable, "missing-table", "PostgreSQL table 'kv' does not exist"),
    (errors.InsufficientPrivilege, "refused", "PostgreSQL refused put on table 'kv' (42501)"),
    (
        errors.InvalidAuthorizationSpecification,
        "refused",
        "PostgreSQL refused put on table 'kv' (28000)",
    ),
    (errors.InvalidPassword, "refused", "PostgreSQL refused put on table 'kv' (28P01)"),
    (errors.ReadOnlySqlTransaction, "unreachable", "PostgreSQL is read-only (a standby?) for put"),
]


@pytest.mark.parametrize(("kind", "reason", "message"), CASES)
def test_each_expected_failure_is_its_outage(
    kind: type[psycopg.Error], reason: str, message: str
) -> None:
    """The same for a read and a write: a write that failed this way was not applied, so its
    outcome is known."""
    driver_words = "the driver's own words, host db.internal"
    for writes in (False, True):
        translated = translate(kind(driver_words), "kv", "put", writes=writes)
        assert isinstance(translated, DatastoreUnavailable)
        assert (str(translated), translated.reason) == (message, reason)
        assert translated.reason in RETRY_AFTER_S
        assert "db.internal" in str(translated.diagnosis)  # for the log only
        assert "db.internal" not in outage_detail(translated)


def test_a_missing_table_is_advised_at_the_edge() -> None:
    translated = translate(errors.UndefinedTable("no"), "kv", "get")
    assert isinstance(translated, DatastoreUnavailable)
    assert outage_detail(translated) == (
        "PostgreSQL table 'kv' does not exist; create or migrate it with"
        " `kvstore postgres create-table` (or set KVSTORE_POSTGRES_CREATE_TABLE=true)"
    )


@pytest.mark.parametrize("writes", [False, True])
def test_a_lost_connection_is_unknown_only_for_a_write(writes: bool) -> None:
    translated = translate(psycopg.OperationalError("server closed"), "kv", "put", writes=writes)
    assert isinstance(translated, DatastoreUnavailable)
    assert translated.reason == ("unknown-outcome" if writes else "unreachable")


def test_anything_else_is_raised_as_it_is() -> None:
    bug = errors.SyntaxError("syntax error at or near")
    assert translate(bug, "kv", "put") is bug
