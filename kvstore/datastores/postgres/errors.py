"""psycopg's failures, turned into this service's errors in one place.

Everything that means "PostgreSQL cannot serve this now" becomes `DatastoreUnavailable`, with
a reason the edges turn into a Retry-After: a lost or refused connection is "unreachable", a
statement timeout or a lock that cannot be had is "busy". The message says which, and is
what a client reads; the driver's own text (it names hosts, ports and roles) goes into the
diagnosis, for the log. Anything else (a malformed statement: a bug here) is re-raised.

A write whose connection broke may or may not have been committed: it is never retried
here, and its 503 says that its outcome is unknown ("unknown-outcome"), so that a client does
not send it again blindly either; it is applied at most once.
"""

from __future__ import annotations

import psycopg
from psycopg import errors

from kvstore.datastores.errors import DatastoreUnavailable, Outage


def diagnosis(exc: BaseException) -> str:
    """The driver's message on one line (libpq's span several, indented)."""
    return " ".join(str(exc).split()) or type(exc).__name__


#: The failures that mean "PostgreSQL cannot serve this now", by class: the message (with the
#: action, the table and the SQLSTATE) and the kind of outage.
OUTAGES: tuple[tuple[tuple[type[psycopg.Error], ...], str, Outage], ...] = (
    (
        (errors.QueryCanceled,),
        "PostgreSQL cancelled {action} on table {table!r}: statement timeout",
        "busy",
    ),
    (
        (errors.LockNotAvailable, errors.DeadlockDetected, errors.SerializationFailure),
        "PostgreSQL could not lock table {table!r} for {action} in time",
        "busy",
    ),
    (
        (  # SQLSTATE class 53; psycopg has a class per SQLSTATE, not per SQLSTATE class
            errors.InsufficientResources,
            errors.DiskFull,
            errors.OutOfMemory,
            errors.TooManyConnections,
            errors.ConfigurationLimitExceeded,
        ),
        "PostgreSQL is out of resources for {action} ({sqlstate})",
        "busy",
    ),
    ((errors.UndefinedTable,), "PostgreSQL table {table!r} does not exist", "missing-table"),
    (
        (
            errors.InsufficientPrivilege,
            errors.InvalidAuthorizationSpecification,
            errors.InvalidPassword,
        ),
        "PostgreSQL refused {action} on table {table!r} ({sqlstate})",
        "refused",
    ),
    (
        (errors.ReadOnlySqlTransaction,),
        "PostgreSQL is read-only (a standby?) for {action}",
        "unreachable",
    ),
)


def translate(exc: psycopg.Error, table: str, action: str, *, writes: bool = False) -> Exception:
    """The service's error for a psycopg failure of `action` on `table`; `writes`: the action
    changes the table, so a connection lost during it may have committed."""
    why = diagnosis(exc)
    for kinds, message, reason in OUTAGES:
        if isinstance(exc, kinds):
            return DatastoreUnavailable(
                message.format(action=action, table=table, sqlstate=exc.sqlstate),
                reason=reason,
                datastore="postgres",
                diagnosis=why,
            )
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        # Refused, or gone (restart, pg_terminate_backend, network): named by kind only.
        kind = type(exc).__name__
        if writes:
            return DatastoreUnavailable(
                f"PostgreSQL connection failed during {action} ({kind}): the write may or may"
                " not have been applied, and is never applied twice",
                reason="unknown-outcome",
                diagnosis=why,
            )
        return DatastoreUnavailable(
            f"PostgreSQL connection failed during {action} ({kind})", diagnosis=why
        )
    return exc
