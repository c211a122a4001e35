"""Parsing of the operation lists of `/v1/batch` and `/v1/txn`, strictly and up front.

Every operation is checked before any runs, so a batch is either refused whole (422 naming the
`index` of the first bad operation) or run whole: a typo in operation 57 never leaves
operations 0-56 applied and the rest not. Checks that need the datastore's settings (the value
size limit) use the datastore's own validation, so the rules are the single-key API's rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kvstore.api.v1.wire import require_object
from kvstore.datastores.base import (
    ANY,
    MAX_OPERATIONS,
    Check,
    Condition,
    Datastore,
    Delete,
    EncodedWrite,
    Operation,
    Patch,
    PreparedOperations,
    Put,
    ValidKeys,
    at_version,
    valid_keys,
    validate_version,
)
from kvstore.datastores.errors import (
    DatastoreError,
    InvalidOperation,
    InvalidPatch,
    InvalidRequest,
)
from kvstore.errors import Problem
from kvstore.media import DEFAULT_PATCH_FORMAT
from kvstore.patches import parse_patch

#: Allowed members of each kind of operation; `op` and `key` are always required.
BATCH_MEMBERS: Mapping[str, frozenset[str]] = {
    "get": frozenset({"op", "key"}),
    "put": frozenset({"op", "key", "value", "ttl", "if_version", "if_absent", "if_present"}),
    "delete": frozenset({"op", "key", "if_version"}),
    "patch": frozenset({"op", "key", "patch", "format", "ttl", "if_version"}),
}
TXN_MEMBERS: Mapping[str, frozenset[str]] = {
    "put": BATCH_MEMBERS["put"],
    "delete": BATCH_MEMBERS["delete"],
    "patch": BATCH_MEMBERS["patch"],
    "check": frozenset({"op", "key", "if_version", "exists"}),
}
#: The member each kind of operation needs beside `op` and `key`.
REQUIRED_MEMBER: Mapping[str, str] = {"put": "value", "patch": "patch"}


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A validated batch: its gets, and its writes as the datastore prepared them, each with
    its position in the request."""

    size: int
    get_indexes: list[int]  # where the gets stand in the request
    reads: ValidKeys  # their keys, in that order, for `get_many`
    writes: list[tuple[int, EncodedWrite | Delete | Patch]]

    def gets(self) -> Iterator[tuple[int, str]]:
        """Each get's position in the request, with its key."""
        return zip(self.get_indexes, self.reads.keys, strict=True)


def invalid(index: int, detail: str, patch_index: int | None = None) -> Problem:
    """A 422 naming the bad operation (and, in a bad patch document, its bad operation)."""
    extra: dict[str, Any] = {"index": index}
    if patch_index is not None:
        extra["patch_index"] = patch_index
    return Problem(422, f"operation {index}: {detail}", slug="invalid-operation", **extra)


def operation_objects(body: Any) -> list[dict[str, Any]]:
    """The `operations` array of a body, each an object; at most MAX_OPERATIONS of them."""
    operations = require_object(body, {"operations"}, {"operations"})["operations"]
    if not isinstance(operations, list):
        raise Problem(422, "'operations' must be an array", slug="invalid-request")
    if len(operations) > MAX_OPERATIONS:
        raise Problem(
            422,
            f"at most {MAX_OPERATIONS} operations per request (got {len(operations)})",
            slug="too-many-operations",
        )
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise invalid(index, "must be a JSON object")
    return operations


def _kind(index: int, raw: dict[str, Any], members: Mapping[str, frozenset[str]]) -> str:
    op = raw.get("op")
    if not isinstance(op, str) or op not in members:
        allowed = ", ".join(repr(name) for name in members)
        raise invalid(index, f"'op' must be one of {allowed}")
    allowed_members = members[op]
    if not raw.keys() <= allowed_members:
        unknown = sorted(raw.keys() - allowed_members)
        raise invalid(index, f"unknown member(s) for {op!r}: {', '.join(unknown)}")
    if "key" not in raw:
        raise invalid(index, "missing member 'key'")
    required = REQUIRED_MEMBER.get(op)
    if required is not None and required not in raw:
        raise invalid(index, f"missing member {required!r}")
    return op


def _flag(raw: dict[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false")
    return value


def _operation(op: str, raw: dict[str, Any]) -> Operation:
    """The datastore operation a JSON object describes; its condition built here, once."""
    if op == "put":
        condition = Condition.from_fields(
            if_version=raw.get("if_version"),
            if_absent=_flag(raw, "if_absent"),
            if_present=_flag(raw, "if_present"),
        )
        return Put(raw["key"], raw["value"], raw.get("ttl"), condition)
    version = validate_version(raw.get("if_version"))
    condition = ANY if version is None else at_version(version)
    if op == "patch":
        format = raw.get("format", DEFAULT_PATCH_FORMAT)
        if not isinstance(format, str):
            raise InvalidPatch("format must be a string")
        return Patch(raw["key"], parse_patch(raw["patch"], format), raw.get("ttl"), condition)
    if op == "delete":
        return Delete(raw["key"], condition)
    exists = raw.get("exists")
    if exists is not None and not isinstance(exists, bool):
        raise InvalidRequest("exists must be true or false")
    return Check(raw["key"], Condition(version=version, exists=exists))


def _operations(body: Any, members: Mapping[str, frozenset[str]]) -> list[tuple[str, Any]]:
    parsed: list[tuple[str, Any]] = []
    for index, raw in enumerate(operation_objects(body)):
        op = _kind(index, raw, members)
        try:
            parsed.append((op, raw["key"] if op == "get" else _operation(op, raw)))
        except InvalidPatch as exc:
            raise invalid(index, str(exc), exc.index) from None
        except DatastoreError as exc:
            raise invalid(index, str(exc)) from None
    return parsed


def _prepare(
    datastore: Datastore,
    operations: list[Operation],
    *,
    unique_keys: bool,
    positions: list[int] | None = None,
) -> PreparedOperations:
    """The datastore's validation of the operations; its verdict as a 422 naming the index
    in the request (`positions` maps the operations' indexes to the request's)."""
    try:
        return datastore.prepare(operations, unique_keys=unique_keys)
    except InvalidOperation as exc:
        raise _refused(exc, positions) from None


def _refused(exc: InvalidOperation, positions: list[int] | None) -> Problem:
    """The datastore's refusal as a 422 naming the operation's index in the request."""
    if exc.index is None:
        return Problem(422, exc.reason, slug="invalid-request")
    return invalid(exc.index if positions is None else positions[exc.index], exc.reason)


def parse_batch(body: Any, datastore: Datastore) -> BatchPlan:
    """Validate a batch body; raises Problem(422) naming the first bad operation."""
    parsed = _operations(body, BATCH_MEMBERS)
    get_indexes = [index for index, (op, _) in enumerate(parsed) if op == "get"]
    try:
        reads = valid_keys(parsed[index][1] for index in get_indexes)
    except InvalidOperation as exc:
        raise _refused(exc, get_indexes) from None
    positions = [index for index, (op, _) in enumerate(parsed) if op != "get"]
    operations = [parsed[i][1] for i in positions]
    prepared = _prepare(datastore, operations, unique_keys=False, positions=positions)
    writes = [
        (index, write)
        for index, write in zip(positions, prepared.operations, strict=True)
        if not isinstance(write, Check)
    ]
    return BatchPlan(len(parsed), get_indexes, reads, writes)


def parse_txn(body: Any, datastore: Datastore) -> PreparedOperations:
    """Validate a transaction body; a key may appear once. Raises Problem(422) with `index`."""
    operations = [operation for _, operation in _operations(body, TXN_MEMBERS)]
    return _prepare(datastore, operations, unique_keys=True)
