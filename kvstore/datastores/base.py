"""The datastore contract every backend keeps, and the validation they share.

Public methods validate their arguments here, once, and then call a backend's private hook
(`_get`, `_put`, ...). A backend therefore never sees an invalid key, value or precondition,
and the HTTP layer never needs to know which backend it talks to.
"""

from __future__ import annotations

import builtins
import json
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

import orjson

from kvstore.datastores.cursor import Position, decode_cursor, decode_position
from kvstore.datastores.errors import (
    DatastoreError,
    InvalidCursor,
    InvalidKey,
    InvalidOperation,
    InvalidPatchResult,
    InvalidRequest,
    InvalidValue,
    KeyNotFound,
    PatchFailed,
    PreconditionFailed,
    TransactionFailed,
    UpdateConflict,
    ValueTooLarge,
)
from kvstore.datastores.listing import KeyPage
from kvstore.timestamps import moment_at

JSONValue = Any
Clock = Callable[[], float]

MAX_KEY_BYTES = 1024
MAX_TTL_SECONDS = 31_536_000
MAX_LIST_LIMIT = 1000
DEFAULT_LIST_LIMIT = 100
DEFAULT_MAX_VALUE_BYTES = 262_144
MAX_OPERATIONS = 100
#: Deepest nesting of arrays/objects a value may have. Without a bound, a value that parses
#: at one stack depth can fail to decode or encode at a deeper one (RecursionError: a 500);
#: 128 is serde_json's default and far deeper than any real document.
MAX_VALUE_DEPTH = 128
#: Reads and conditional writes an update tries before it reports a conflict: each retry
#: means another writer changed the key in between, so a few are plenty but for a hot key.
UPDATE_ATTEMPTS = 10
#: Cap, in seconds, on the jittered pause before an update's next attempt.
UPDATE_MAX_PAUSE_S = 0.05
#: Locks that make one process's updates of a key take turns (a key's lock is its hash's).
UPDATE_LOCK_STRIPES = 64


@dataclass(slots=True)
class Item:
    """A stored key/value with its metadata.

    Each time is held in the form its stores keep, so that reading one converts little:
    `updated_at` as an aware UTC datetime (the stores that keep text keep RFC 3339, which
    `datetime.fromisoformat` reads), `expires_at` as epoch seconds (every store keeps a number,
    DynamoDB's TTL needs one, and every read compares it with the clock). The API formats
    both (`kvstore.timestamps`).

    Immutable by its `Final` fields, which mypy enforces, rather than by `frozen=True`, whose
    `__init__` sets each field through `object.__setattr__`, several times slower: a list page
    or a batch builds one item per key read.
    """

    key: Final[str]
    value: Final[JSONValue]
    version: Final[int]
    updated_at: Final[datetime]
    expires_at: Final[float | None] = None

    def is_live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Item]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PrefixDeletion:
    """What one `delete_prefix` call did: live keys deleted, and where to go on, if anywhere."""

    deleted: int
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Condition:
    """What must hold of a key's current item for an operation to apply.

    The one shape of a precondition: built once at the edge (`If-Match` and `If-None-Match`,
    the members of a batch or transaction operation) and carried unchanged to the backend,
    which evaluates it atomically with the write. `version` implies that the key exists.
    """

    version: int | None = None
    exists: bool | None = None

    def __post_init__(self) -> None:
        if self.version is not None:
            validate_version(self.version)
            if self.exists is False:
                raise InvalidRequest("if_version and exists=false cannot both hold")

    @classmethod
    def from_fields(
        cls, *, if_version: object = None, if_absent: bool = False, if_present: bool = False
    ) -> Condition:
        """A put's condition from its JSON members, of which at most one may be set."""
        if sum((if_version is not None, if_absent, if_present)) > 1:
            raise InvalidRequest("use at most one of if_version, if_absent and if_present")
        if if_version is not None:
            return cls(version=validate_version(if_version))
        return ABSENT if if_absent else PRESENT if if_present else ANY

    @property
    def is_unconditional(self) -> bool:
        return self.version is None and self.exists is None

    @property
    def kind(self) -> Literal["any", "absent", "present", "version"]:
        """Which of the four conditions this is, for a backend with a statement for each."""
        if self.version is not None:
            return "version"
        if self.exists is None:
            return "any"
        return "present" if self.exists else "absent"

    def holds(self, current: Item | None) -> bool:
        if self.version is not None:
            return current is not None and current.version == self.version
        if self.exists is not None:
            return (current is not None) == self.exists
        return True

    def describe(self) -> str:
        """Why the condition failed: the one wording of each failure."""
        if self.version is not None:
            return f"the key is not at version {self.version}"
        return "the key does not exist" if self.exists else "the key already exists"


ANY = Condition()
ABSENT = Condition(exists=False)
PRESENT = Condition(exists=True)


def at_version(version: int) -> Condition:
    return Condition(version=version)


@dataclass(frozen=True, slots=True)
class Put:
    """A write inside `transact` (and a batch)."""

    key: str
    value: JSONValue
    ttl: int | None = None
    condition: Condition = ANY


@dataclass(frozen=True, slots=True)
class Delete:
    """A delete; deleting an absent key is a no-op unless the condition says otherwise."""

    key: str
    condition: Condition = ANY


@dataclass(frozen=True, slots=True)
class Check:
    """A condition inside `transact` that writes nothing."""

    key: str
    condition: Condition


#: A new value from the current one. It must not change its argument (a stored value may be
#: shared) and raises PatchFailed when it cannot apply.
Change = Callable[[JSONValue], JSONValue]


@dataclass(frozen=True, slots=True)
class Patch:
    """A change to an existing key's value (`update`, and inside a batch or transaction).

    `change` gets the value current when the patch runs, and `condition` is checked against
    that same item. `ttl` None keeps the item's expiry; seconds set a new one from now.
    """

    key: str
    change: Change
    ttl: int | None = None
    condition: Condition = ANY


Operation = Put | Delete | Check | Patch


@dataclass(frozen=True, slots=True)
class EncodedWrite:
    """A validated write, ready for a backend: the value as compact JSON text."""

    key: str
    value: JSONValue
    value_json: str
    expires_at: float | None
    condition: Condition


#: An operation validated by `Datastore.prepare`, as the backends receive it.
Prepared = EncodedWrite | Delete | Check | Patch
#: A transaction's operation once decided against the items it read: patches become writes.
Decided = EncodedWrite | Delete | Check


@dataclass(frozen=True, slots=True)
class PreparedOperations:
    """Operations a datastore has validated (and values it has encoded), so nothing later
    validates them again; `transact` and the batch route take them as they are."""

    operations: tuple[Prepared, ...]
    now: float


@dataclass(frozen=True, slots=True)
class ValidKeys:
    """Keys `valid_keys` has validated, so that `get_many` takes them as they are: the batch
    route validates its gets' keys first, to name the index of a bad one."""

    keys: tuple[str, ...]


def valid_keys(keys: Iterable[object]) -> ValidKeys:
    """Every key checked against the key rules, for `get_many`.

    Raises:
        InvalidOperation: naming the index of the first key that breaks a rule.
    """
    checked: list[str] = []
    for index, key in enumerate(keys):
        try:
            checked.append(validate_key(key))
        except DatastoreError as exc:
            raise InvalidOperation(index, str(exc)) from None
    return ValidKeys(tuple(checked))


#: Control characters a key may not hold: Unicode's whole Cc category, C0, DEL and C1 (a regex
#: scans in C; a per-character loop showed up in every request's profile).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


#: A key that plainly keeps every rule: ASCII segments of no control character and no '/',
#: none empty. With no '.' in it and short enough, one match accepts it (a batch of 100 gets
#: validates 100 keys, and the checks below one by one showed in its profile).
_PLAIN_KEY = re.compile(r"[^\x00-\x1f\x7f/]+(?:/[^\x00-\x1f\x7f/]+)*")


def validate_key(key: object) -> str:
    """Enforce the key rules (docs/design.md), so that every key survives URL normalisation.

    Raises:
        InvalidKey: naming the rule the key breaks.
    """
    if (
        type(key) is str
        and key.isascii()
        and len(key) <= MAX_KEY_BYTES
        and "." not in key
        and _PLAIN_KEY.fullmatch(key)
    ):
        return key  # what `check_key_rules` accepts; any other key goes through it
    return check_key_rules(key)


def check_key_rules(key: object) -> str:
    """`validate_key` rule by rule, each refusal naming its rule."""
    if not isinstance(key, str):
        raise InvalidKey("key must be a string")
    if not key:
        raise InvalidKey("key must not be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKey("key must be valid UTF-8 (no lone surrogates)") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"key must be at most {MAX_KEY_BYTES} bytes of UTF-8, got {size}")
    if _CONTROL.search(key):
        raise InvalidKey(
            "key must not contain control characters (Unicode category Cc:"
            " U+0000-U+001F, U+007F-U+009F)"
        )
    if key.startswith("/") or key.endswith("/"):
        raise InvalidKey("key must not start or end with '/'")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey("key must not contain an empty segment ('//')")
        if segment in (".", ".."):
            raise InvalidKey("key must not contain a '.' or '..' segment")
    return key


def validate_ttl(ttl: object) -> int | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise InvalidRequest("ttl must be an integer number of seconds")
    if not 1 <= ttl <= MAX_TTL_SECONDS:
        raise InvalidRequest(f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds")
    return ttl


def _validate_listing(prefix: object, limit: object) -> None:
    """The rules every listing shares (`list`, `keys`)."""
    if not isinstance(prefix, str):
        raise InvalidRequest("prefix must be a string")
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidRequest(f"prefix must be at most {MAX_KEY_BYTES} bytes, as keys are")
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidRequest("limit must be an integer")
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIST_LIMIT}")


def _cursor_text(cursor: object) -> str | None:
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidCursor("cursor must be a string")
    return cursor


def validate_version(version: object, field: str = "if_version") -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidRequest(f"{field} must be an integer >= 1")
    return version


#: Built once: `json.dumps` with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_value(value: JSONValue, max_bytes: int) -> str:
    """Serialise a value as compact JSON, the form every backend stores and the limit counts.

    Raises:
        InvalidValue: the value is not JSON (NaN, a non-string object key, ...).
        ValueTooLarge: the compact UTF-8 JSON is longer than `max_bytes`.
    """
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValue(f"value is not JSON: {exc}") from None
    # Counting brackets is cheap and bounds the depth, so most values skip the walk.
    if text.count("[") + text.count("{") > MAX_VALUE_DEPTH and deeper_than(value, MAX_VALUE_DEPTH):
        raise InvalidValue(f"value is nested deeper than {MAX_VALUE_DEPTH} arrays/objects")
    # One encode in the common case; a lone surrogate is counted as its 3 bytes, so the size
    # limit is still checked first.
    try:
        size, valid = len(text.encode("utf-8")), True
    except UnicodeEncodeError:
        size, valid = len(text.encode("utf-8", "surrogatepass")), False
    if size > max_bytes:
        raise ValueTooLarge(f"value is {size} bytes as compact JSON; the limit is {max_bytes}")
    if not valid:
        raise InvalidValue("value must be valid UTF-8 (no lone surrogates)")
    return text


def deeper_than(value: JSONValue, limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` deep; iterative, so it cannot recurse."""
    if not isinstance(value, dict | builtins.list):
        return False
    stack: builtins.list[tuple[JSONValue, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | builtins.list))
    return False


#: Every ASCII digit becomes "0" and every other byte a space, so that a run of 19 digits is
#: one substring search (a `\d{19}` regex backtracks at every digit: slower than decoding).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_NINETEEN_DIGITS = b"0" * 19


def decode_value(text: str) -> JSONValue:
    """A stored value's JSON text back to the value, as `json.loads` reads it.

    orjson does the common case several times faster (every read, every list page), but it
    reads an integer beyond 64 bits as a float, silently; a text with 19 digits in a row (a
    long integer, or merely a long string of digits) is therefore left to the stdlib, as is
    anything orjson refuses (nesting deeper than 1024, out-of-range floats).
    """
    raw = text.encode("utf-8", "surrogatepass")
    if _NINETEEN_DIGITS not in raw.translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def transact_under_lock(
    operations: Sequence[Decided],
    current: Mapping[str, Item | None],
    write: Callable[[EncodedWrite, Item | None], Item],
    delete: Callable[[str], None],
) -> builtins.list[Item | None]:
    """The writes of a transaction for a backend that holds one lock over every key it read
    (memory's mutex, SQLite's `BEGIN IMMEDIATE`), once `Datastore.decide` has checked every
    condition on `current`: a failure there has left nothing behind.
    """
    results: builtins.list[Item | None] = []
    for op in operations:
        if isinstance(op, EncodedWrite):
            results.append(write(op, current[op.key]))
        elif isinstance(op, Delete):
            delete(op.key)
            results.append(None)
        else:
            results.append(current[op.key])
    return results


class Datastore(ABC):
    """A key/value store of JSON values with versions, preconditions and expiry.

    Subclasses implement the `_hooks`; every precondition check and its write must be one
    atomic step in the backend (a lock, a transaction, a conditional request).
    """

    name: ClassVar[str]
    #: Optional features a backend may lack; the contract suite skips by these, not by name.
    #: "transactions": `transact` works. "sorted_listing": `list` and `keys` return keys in
    #: ascending order. "atomic_prefix_delete": `delete_prefix` deletes everything in one
    #: atomic step, never answering a cursor.
    capabilities: ClassVar[frozenset[str]] = frozenset({"transactions"})

    def __init__(
        self, *, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES, clock: Clock = time.time
    ) -> None:
        self.max_value_bytes = max_value_bytes
        self.clock = clock
        self._update_locks = tuple(threading.RLock() for _ in range(UPDATE_LOCK_STRIPES))

    # -- public API: validate, then delegate -------------------------------------------------

    def get(self, key: str) -> Item | None:
        return self._get(validate_key(key), self.clock())

    def put(
        self, key: str, value: JSONValue, *, ttl: int | None = None, condition: Condition = ANY
    ) -> tuple[Item, bool]:
        """Create or replace `key`; returns the stored item and whether it was created.

        Raises:
            InvalidKey, InvalidValue, ValueTooLarge, InvalidRequest: bad arguments.
            PreconditionFailed: the condition does not hold; nothing was written.
            DatastoreUnavailable: the backend cannot be reached.
        """
        now = self.clock()
        return self._put(self.prepare_write(Put(key, value, ttl, condition), now), now)

    def delete(self, key: str, *, condition: Condition = ANY) -> bool:
        """Delete `key`; returns False when it did not exist (and the condition allowed that).

        Raises:
            InvalidRequest: the condition requires the key to be absent.
            PreconditionFailed: the condition does not hold; nothing was deleted.
        """
        if condition.exists is False:
            raise InvalidRequest("a delete cannot require the key to be absent")
        return self._delete(validate_key(key), condition, self.clock())

    def update(
        self,
        key: str,
        change: Change,
        *,
        ttl: int | None = None,
        condition: Condition = ANY,
    ) -> Item:
        """Change an existing key's value atomically, as far as any other writer can see.

        Reads the item, applies `change` to its value and writes the result only if the key
        is still at the version read; when another writer got in between, it reads again,
        at most UPDATE_ATTEMPTS times. `ttl` None keeps the item's expiry.

        Raises:
            KeyNotFound: no such key (and no condition was given).
            PreconditionFailed: the condition does not hold (an absent key fails any).
            PatchFailed: `change` cannot apply to the current value.
            InvalidPatchResult: the new value breaks a value rule (size, depth, JSON).
            UpdateConflict: other writers won every attempt; nothing was written.
        """
        return self._apply_patch(self.prepare_patch(Patch(key, change, ttl, condition)))

    def apply(self, operation: EncodedWrite | Delete | Patch) -> tuple[Item, bool] | bool:
        """Run one prepared write: `put`'s, `delete`'s or `update`'s answer (as an item
        that was not created), without validating again."""
        if isinstance(operation, Patch):
            return self._apply_patch(operation), False
        now = self.clock()
        if isinstance(operation, EncodedWrite):
            return self._put(operation, now)
        return self._delete(operation.key, operation.condition, now)

    def delete_prefix(self, prefix: str, *, cursor: str | None = None) -> PrefixDeletion:
        """Delete every key that starts with `prefix` (not empty: that would be everything).

        A backend with "atomic_prefix_delete" deletes them all in one step. Another bounds
        the work of one call and answers a `next_cursor` when keys may be left: call again
        with it until it is None. `deleted` counts live keys only.

        Raises:
            InvalidRequest: an empty prefix.
            InvalidCursor: a cursor this backend did not issue.
        """
        if not isinstance(prefix, str) or not prefix:
            raise InvalidRequest("prefix must be a non-empty string")
        text = _cursor_text(cursor)
        return self._delete_prefix(prefix, decode_cursor(text) if text else None, self.clock())

    def list(
        self, *, prefix: str = "", limit: int = DEFAULT_LIST_LIMIT, cursor: str | None = None
    ) -> Page:
        """One page of live items whose key starts with `prefix`.

        Raises:
            InvalidRequest: `limit` outside 1..1000.
            InvalidCursor: a cursor this backend did not issue.
        """
        _validate_listing(prefix, limit)
        return self._list(prefix, limit, _cursor_text(cursor) or None, self.clock())

    def keys(
        self,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        cursor: str | None = None,
    ) -> KeyPage:
        """One page of the names of live keys under `prefix`, without their values.

        With a `delimiter`, keys holding it after the prefix are rolled up into folders
        (`kvstore.datastores.listing`); names and folders count together towards `limit`,
        and following the cursors yields each of them exactly once.

        Raises:
            InvalidRequest: `limit` outside 1..1000, an empty or non-string delimiter.
            InvalidCursor: a cursor this backend did not issue.
        """
        _validate_listing(prefix, limit)
        if delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
            raise InvalidRequest("delimiter must be a non-empty string")
        text = _cursor_text(cursor)
        after = decode_position(text) if text else None
        return self._keys(prefix, delimiter, limit, after, self.clock())

    def get_many(self, keys: Iterable[str] | ValidKeys) -> dict[str, Item]:
        """The live items among `keys`; absent keys are simply missing from the result."""
        if isinstance(keys, ValidKeys):
            unique = list(dict.fromkeys(keys.keys))
        else:
            unique = list(dict.fromkeys(validate_key(key) for key in keys))
        if not unique:
            return {}
        return self._get_many(unique, self.clock())

    def transact(
        self, operations: Sequence[Operation] | PreparedOperations
    ) -> builtins.list[Item | None]:
        """Apply every operation or none.

        Returns, per operation: the written item for a put, None for a delete, the current
        item (or None) for a check.

        Raises:
            InvalidOperation: a bad operation, more than 100, or a key named twice.
            TransactionFailed: `index` is the first operation whose condition failed.
        """
        if not isinstance(operations, PreparedOperations):
            operations = self.prepare(operations, unique_keys=True)
        if not operations.operations:
            return []
        return self._transact(builtins.list(operations.operations), operations.now)

    def prepare(self, operations: Sequence[Operation], *, unique_keys: bool) -> PreparedOperations:
        """Validate every operation (keys, values, TTLs) once, before any runs.

        Raises:
            InvalidOperation: naming the index of the first bad operation.
        """
        if len(operations) > MAX_OPERATIONS:
            raise InvalidOperation(
                None, f"at most {MAX_OPERATIONS} operations per request (got {len(operations)})"
            )
        now = self.clock()
        seen: dict[str, int] = {}
        prepared: builtins.list[Prepared] = []
        for index, op in enumerate(operations):
            try:  # each kind's preparation validates its key, once
                if isinstance(op, Put):
                    prepared.append(self.prepare_write(op, now))
                elif isinstance(op, Patch):
                    prepared.append(self.prepare_patch(op))
                elif isinstance(op, Delete | Check):
                    validate_key(op.key)
                    if isinstance(op, Delete) and op.condition.exists is False:
                        raise InvalidRequest("a delete cannot require the key to be absent")
                    if isinstance(op, Check) and op.condition.is_unconditional:
                        raise InvalidRequest("a check needs 'if_version' or 'exists'")
                    prepared.append(op)
                else:
                    raise InvalidRequest("unknown operation")
            except DatastoreError as exc:
                raise InvalidOperation(index, str(exc)) from None
            if unique_keys and op.key in seen:
                raise InvalidOperation(
                    index, f"key {op.key!r} is already used by operation {seen[op.key]}"
                )
            seen[op.key] = index
        return PreparedOperations(tuple(prepared), now)

    def check(self) -> None:
        """Raise DatastoreUnavailable when the backend cannot serve requests."""
        self._check()

    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""

    # -- shared helpers ----------------------------------------------------------------------

    def prepare_write(self, put: Put, now: float) -> EncodedWrite:
        """A put validated and its value encoded: what `_put` and `_transact` receive."""
        ttl = validate_ttl(put.ttl)
        return EncodedWrite(
            key=validate_key(put.key),
            value=put.value,
            value_json=encode_value(put.value, self.max_value_bytes),
            expires_at=None if ttl is None else now + ttl,
            condition=put.condition,
        )

    @staticmethod
    def prepare_patch(patch: Patch) -> Patch:
        """A patch validated: its key, its ttl, and a condition it can meet."""
        validate_key(patch.key)
        validate_ttl(patch.ttl)
        if patch.condition.exists is False:
            raise InvalidRequest("a patch changes an existing key; it cannot require it absent")
        return patch

    def patched(self, patch: Patch, current: Item | None, now: float) -> EncodedWrite:
        """The write a patch makes of `current`: the changed value, pinned to the version read.

        Raises:
            KeyNotFound: there is no such key, and the patch has no condition.
            PreconditionFailed: the patch's condition does not hold of `current`.
            PatchFailed: the change cannot apply to the current value.
            InvalidPatchResult: the changed value breaks a value rule.
        """
        if current is None and patch.condition.is_unconditional:
            raise KeyNotFound(f"key {patch.key!r} not found")
        if current is None or not patch.condition.holds(current):
            raise PreconditionFailed(patch.condition.describe())
        value = patch.change(current.value)
        try:
            value_json = encode_value(value, self.max_value_bytes)
        except (ValueTooLarge, InvalidValue) as exc:
            raise InvalidPatchResult(f"the patched {exc}") from None
        expires_at = current.expires_at if patch.ttl is None else now + patch.ttl
        return EncodedWrite(patch.key, value, value_json, expires_at, at_version(current.version))

    def decide(
        self, operations: Sequence[Prepared], current: Mapping[str, Item | None], now: float
    ) -> builtins.list[Decided]:
        """A transaction's operations checked against the items it read, each patch turned
        into the write it makes of its item: nothing may be written before this returns.

        Raises:
            TransactionFailed: naming the first operation whose condition or patch fails.
            InvalidOperation: a patch whose result breaks a value rule.
        """
        decided: builtins.list[Decided] = []
        for index, op in enumerate(operations):
            before = current.get(op.key)
            if not isinstance(op, Patch):
                if not op.condition.holds(before):
                    raise TransactionFailed(index, op.condition.describe())
                decided.append(op)
                continue
            try:
                decided.append(self.patched(op, before, now))
            except KeyNotFound:
                raise TransactionFailed(index, PRESENT.describe()) from None
            except PreconditionFailed as exc:
                raise TransactionFailed(index, str(exc)) from None
            except PatchFailed as exc:
                raise TransactionFailed(index, str(exc), patch_index=exc.index) from None
            except InvalidPatchResult as exc:
                raise InvalidOperation(index, str(exc)) from None
        return decided

    def _apply_patch(self, patch: Patch) -> Item:
        """`update`'s loop: read, change, write pinned to the version read; again on a race.

        The threads of one process take turns on a key (a striped lock): racing each other,
        all but one of them would lose every round, each loss a wasted read and write. Other
        processes and other writers are kept out by the version alone.
        """
        with self._update_locks[hash(patch.key) % UPDATE_LOCK_STRIPES]:
            return self._patch_attempts(patch)

    def _patch_attempts(self, patch: Patch) -> Item:
        for attempt in range(UPDATE_ATTEMPTS):
            if attempt:
                # Full jitter, so that writers who collided do not collide again in step.
                time.sleep(random.uniform(0, min(UPDATE_MAX_PAUSE_S, 0.002 * 2**attempt)))
            now = self.clock()
            write = self.patched(patch, self._get(patch.key, now), now)
            try:
                item, _ = self._put(write, now)
            except PreconditionFailed:
                continue  # the key changed since it was read
            return item
        raise UpdateConflict(
            f"key {patch.key!r} kept changing while it was being updated "
            f"({UPDATE_ATTEMPTS} attempts); try again"
        )

    @staticmethod
    def next_item(write: EncodedWrite, current: Item | None, now: float) -> Item:
        """The item a successful write stores: version 1 on create, +1 on replace."""
        return Datastore.stored_item(write, 1 if current is None else current.version + 1, now)

    @staticmethod
    def stored_item(write: EncodedWrite, version: int, now: float) -> Item:
        """The item `write` stored at `version`, for a backend whose store chose the version."""
        return Item(
            key=write.key,
            value=decode_value(write.value_json),
            version=version,
            updated_at=moment_at(now),
            expires_at=write.expires_at,
        )

    # -- backend hooks -----------------------------------------------------------------------

    @abstractmethod
    def _get(self, key: str, now: float) -> Item | None: ...

    @abstractmethod
    def _put(self, write: EncodedWrite, now: float) -> tuple[Item, bool]: ...

    @abstractmethod
    def _delete(self, key: str, condition: Condition, now: float) -> bool: ...

    @abstractmethod
    def _list(self, prefix: str, limit: int, cursor: str | None, now: float) -> Page: ...

    @abstractmethod
    def _keys(
        self, prefix: str, delimiter: str | None, limit: int, after: Position | None, now: float
    ) -> KeyPage: ...

    @abstractmethod
    def _delete_prefix(self, prefix: str, after: str | None, now: float) -> PrefixDeletion: ...

    @abstractmethod
    def _get_many(self, keys: builtins.list[str], now: float) -> dict[str, Item]: ...

    @abstractmethod
    def _transact(
        self, operations: builtins.list[Prepared], now: float
    ) -> builtins.list[Item | None]: ...

    @abstractmethod
    def _check(self) -> None: ...
