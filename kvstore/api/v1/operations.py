"""Parsing of the operation lists of `/v1/batch` and `/v1/txn`, strictly and up front.

Every operation is checked before any runs, so a batch is either refused whole (422 naming the
`index` of the first bad operation) or run whole: a typo in operation 57 never leaves
operations 0-56 applied and the rest not. Checks that need the datastore's settings (the value
size limit) use the datastore's own validation, so the rules are the single-key API's rules.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kvstore.api.v1.http import require_object
from kvstore.datastores.base import (
    MAX_OPERATIONS,
    Check,
    Datastore,
    Delete,
    Operation,
    Put,
    validate_key,
    validate_version,
)
from kvstore.datastores.errors import DatastoreError
from kvstore.errors import Problem

#: Allowed members of each kind of operation; `op` and `key` are always required.
BATCH_MEMBERS: Mapping[str, frozenset[str]] = {
    "get": frozenset({"op", "key"}),
    "put": frozenset({"op", "key", "value", "ttl", "if_version", "if_absent", "if_present"}),
    "delete": frozenset({"op", "key", "if_version"}),
}
TXN_MEMBERS: Mapping[str, frozenset[str]] = {
    "put": BATCH_MEMBERS["put"],
    "delete": BATCH_MEMBERS["delete"],
    "check": frozenset({"op", "key", "if_version", "exists"}),
}

#: Slack per operation over the value limit (key, flags, JSON punctuation, escapes).
PER_OPERATION_OVERHEAD = 8 * 1024
#: Absolute bound on a batch or transaction body, whatever the value limit is.
MAX_BODY_BYTES = 32 * 1024 * 1024


def body_limit(max_value_bytes: int) -> int:
    """Room for 100 operations of the largest value, bounded so one request cannot hog memory."""
    return min(MAX_OPERATIONS * (max_value_bytes + PER_OPERATION_OVERHEAD), MAX_BODY_BYTES)


@dataclass(frozen=True, slots=True)
class BatchOperation:
    """One validated operation of a batch; `value` and the conditions matter only for a put."""

    op: str
    key: str
    value: Any = None
    ttl: int | None = None
    if_version: int | None = None
    if_absent: bool = False
    if_present: bool = False


def invalid(index: int, detail: str) -> Problem:
    return Problem(422, f"operation {index}: {detail}", slug="invalid-operation", index=index)


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


def _kind(index: int, raw: dict[str, Any], members: Mapping[str, Collection[str]]) -> str:
    op = raw.get("op")
    if not isinstance(op, str) or op not in members:
        allowed = ", ".join(repr(name) for name in members)
        raise invalid(index, f"'op' must be one of {allowed}")
    unknown = sorted(set(raw) - set(members[op]))
    if unknown:
        raise invalid(index, f"unknown member(s) for {op!r}: {', '.join(unknown)}")
    if "key" not in raw:
        raise invalid(index, "missing member 'key'")
    if op == "put" and "value" not in raw:
        raise invalid(index, "missing member 'value'")
    return op


def _flag(index: int, raw: dict[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise invalid(index, f"{name} must be true or false")
    return value


def _validated_put(index: int, raw: dict[str, Any], datastore: Datastore) -> Put:
    put = Put(
        key=raw["key"],
        value=raw["value"],
        ttl=raw.get("ttl"),
        if_version=raw.get("if_version"),
        if_absent=_flag(index, raw, "if_absent"),
        if_present=_flag(index, raw, "if_present"),
    )
    # The datastore's own rules (key, ttl, value size, one condition at most); the encoded
    # result is thrown away, only the verdict matters here.
    datastore.prepare_write(
        put.key,
        put.value,
        put.ttl,
        put.if_version,
        put.if_absent,
        put.if_present,
        now=datastore.clock(),
    )
    return put


def _validated_delete(raw: dict[str, Any]) -> Delete:
    return Delete(key=validate_key(raw["key"]), if_version=validate_version(raw.get("if_version")))


def parse_batch(body: Any, datastore: Datastore) -> list[BatchOperation]:
    """Validate a batch body; raises Problem(422) naming the first bad operation."""
    parsed: list[BatchOperation] = []
    for index, raw in enumerate(operation_objects(body)):
        op = _kind(index, raw, BATCH_MEMBERS)
        try:
            if op == "get":
                parsed.append(BatchOperation("get", validate_key(raw["key"])))
            elif op == "delete":
                delete = _validated_delete(raw)
                parsed.append(BatchOperation("delete", delete.key, if_version=delete.if_version))
            else:
                put = _validated_put(index, raw, datastore)
                parsed.append(
                    BatchOperation(
                        "put",
                        put.key,
                        put.value,
                        put.ttl,
                        put.if_version,
                        put.if_absent,
                        put.if_present,
                    )
                )
        except DatastoreError as exc:
            raise invalid(index, str(exc)) from None
    return parsed


def parse_txn(body: Any, datastore: Datastore) -> list[Operation]:
    """Validate a transaction body; a key may appear once. Raises Problem(422) with `index`."""
    parsed: list[Operation] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(operation_objects(body)):
        op = _kind(index, raw, TXN_MEMBERS)
        try:
            operation: Operation
            if op == "put":
                operation = _validated_put(index, raw, datastore)
            elif op == "delete":
                operation = _validated_delete(raw)
            else:
                operation = _validated_check(index, raw)
        except DatastoreError as exc:
            raise invalid(index, str(exc)) from None
        if operation.key in seen:
            raise invalid(
                index, f"key {operation.key!r} is already used by operation {seen[operation.key]}"
            )
        seen[operation.key] = index
        parsed.append(operation)
    return parsed


def _validated_check(index: int, raw: dict[str, Any]) -> Check:
    key = validate_key(raw["key"])
    if_version = validate_version(raw.get("if_version"))
    exists = raw.get("exists")
    if exists is not None and not isinstance(exists, bool):
        raise invalid(index, "exists must be true or false")
    if if_version is None and exists is None:
        raise invalid(index, "a check needs 'if_version' or 'exists'")
    if if_version is not None and exists is False:
        raise invalid(index, "if_version and exists=false cannot both hold")
    return Check(key=key, if_version=if_version, exists=exists)
