"""Exceptions of the datastore layer; the HTTP layer maps each to one status code."""

from __future__ import annotations

from typing import Literal

#: Kinds of outage, for the edges to advise on: the HTTP layer turns each into a Retry-After
#: and the CLI into a remedy (kvstore.errors). "unknown-outcome": a write was sent and its
#: answer lost, so it may have been applied (once): retrying it blindly could apply it twice.
#: "file-changed": the file the datastore opened is no longer the one at its path.
Outage = Literal[
    "unreachable",
    "busy",
    "throttled",
    "missing-table",
    "refused",
    "unsupported",
    "unknown-outcome",
    "file-changed",
]


class DatastoreError(Exception):
    """Base of every error a datastore raises on purpose."""


class InvalidRequest(DatastoreError):
    """Arguments that can never succeed (bad ttl, limit, conflicting preconditions)."""


class InvalidKey(InvalidRequest):
    """A key that breaks one of the key rules; the message names the rule."""


class InvalidOperation(InvalidRequest):
    """An operation of a transaction or batch that can never succeed; nothing ran.

    `index` is the operation's position, or None when the list as a whole is refused.
    """

    def __init__(self, index: int | None, reason: str) -> None:
        super().__init__(reason if index is None else f"operation {index}: {reason}")
        self.index = index
        self.reason = reason


class InvalidValue(InvalidRequest):
    """A value that is not representable as JSON."""


class ValueTooLarge(InvalidRequest):
    """A value over the configured size limit."""


class InvalidCursor(InvalidRequest):
    """A listing cursor that this backend did not issue, or that was altered."""


class InvalidPatch(InvalidRequest):
    """A patch document that can never apply (malformed); `index` is its bad operation."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        super().__init__(reason if index is None else f"patch operation {index}: {reason}")
        self.index = index


class InvalidPatchResult(InvalidRequest):
    """A patch whose result breaks a value rule (size, depth, JSON); nothing was written."""


class KeyNotFound(DatastoreError):
    """An update of a key that does not exist."""


class PatchFailed(DatastoreError):
    """A patch that cannot apply to the key's current value (a failing `test`, a path that
    is not there); `index` is its failing operation. Nothing was written."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"patch operation {index} failed: {reason}")
        self.index = index
        self.reason = reason


class UpdateConflict(DatastoreError):
    """An update that kept losing the race to other writers, past its bounded retries."""


class PreconditionFailed(DatastoreError):
    """A conditional write or delete whose condition did not hold; nothing was written."""


class TransactionFailed(DatastoreError):
    """A transaction whose operation at `index` failed its condition (or, for a patch, whose
    patch operation `patch_index` failed); nothing was written."""

    def __init__(self, index: int, reason: str, patch_index: int | None = None) -> None:
        super().__init__(f"operation {index} failed: {reason}")
        self.index = index
        self.reason = reason
        self.patch_index = patch_index


class DatastoreUnavailable(DatastoreError):
    """The backend cannot serve requests now: unreachable, throttling past its retries,
    locked, or missing its table. `reason` names which; `retry_after` is for a backend that
    knows when it will be back, and otherwise the edge decides by `reason`.

    The message is what a client may read (the 503's detail). `datastore` names the kind of
    backend where the edge's advice for `reason` depends on it (which `create-table` to run);
    `remedy` is what an operator can do, when the backend knows better than the edge's advice;
    `diagnosis` is the driver's own words (hosts, ports, user names): logged and printed at
    start-up, never sent.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: Outage = "unreachable",
        retry_after: int | None = None,
        datastore: str | None = None,
        remedy: str | None = None,
        diagnosis: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason: Outage = reason
        self.datastore = datastore
        self.retry_after = retry_after
        self.remedy = remedy
        self.diagnosis = diagnosis


class DatastoreCorrupt(DatastoreError):
    """The stored data is damaged (a corrupt page, a file that is not a database): a lasting
    failure that waiting will not mend, unlike DatastoreUnavailable; an operator must restore
    the data."""
