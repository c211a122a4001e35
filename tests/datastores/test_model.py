"""Model-based test: random sequences of operations give a plain dict's answers, on every backend.

A Hypothesis `RuleBasedStateMachine` drives the datastore and a dict side by side: puts,
conditional puts (`if_version`, `if_absent`, `if_present`), deletes, conditional deletes,
updates (a JSON Patch replacing the value, keeping or setting the expiry), prefix deletes,
reads, `get_many`, listings of items and of names (with and without a delimiter) with
prefixes and small pages (following every cursor), small transactions, and time moving on an
injected clock so that TTLs expire. Every answer (item,
version, `created`, `expires_at`, `updated_at`, the precondition that fails) must be the
model's. Listing order is compared only where the backend declares `sorted_listing`.

Examples are bounded and derandomised, so the run is deterministic and the file stays well
under a minute on every backend, DynamoDB servers included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hypothesis.strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kvstore.datastores.base import (
    ABSENT,
    ANY,
    MAX_TTL_SECONDS,
    PRESENT,
    Check,
    Datastore,
    Delete,
    Item,
    Operation,
    Put,
    at_version,
)
from kvstore.datastores.errors import KeyNotFound, PreconditionFailed, TransactionFailed
from kvstore.patches import parse_patch
from kvstore.timestamps import moment_at
from tests.backends import FakeClock, machine_settings

# A small key space, so operations collide; prefixes that split it in interesting places.
KEYS = (
    "a",
    "a/b",
    "a/b/c",
    "ab",
    "b",
    "é/ü",
    "x y",
    "etc/passwd",
    "'; DROP TABLE kv; --",
    "z",
)
PREFIXES = ("", "a", "a/", "a/b", "b", "é", "x", "'", "e", "zz")

keys = st.sampled_from(KEYS)
# Few distinct TTLs and clock steps, so that time often lands exactly on an expiry.
ttls = st.none() | st.sampled_from([1, 10, 50, 100])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def exact(value: Any) -> str:
    """Type-strict, order-strict equality: 1, 1.0 and true differ; member order counts."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    value: Any
    version: int
    updated_at: datetime
    expires_at: float | None


class DatastoreVsDict(RuleBasedStateMachine):
    def __init__(self, store: Datastore, clock: FakeClock) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.model: dict[str, Entry] = {}

    # -- the model ---------------------------------------------------------------------------

    def live(self, key: str) -> Entry | None:
        entry = self.model.get(key)
        if entry is None or (entry.expires_at is not None and entry.expires_at <= self.clock()):
            return None
        return entry

    def live_keys(self) -> list[str]:
        return sorted(key for key in self.model if self.live(key) is not None)

    def written(self, key: str, value: Any, ttl: int | None, *, keep_expiry: bool = False) -> Entry:
        """What a successful write stores, in the model: version 1 on create, +1 on replace
        (an update without a ttl keeps the expiry)."""
        current = self.live(key)
        now = self.clock()
        if keep_expiry and current is not None and ttl is None:
            expires_at = current.expires_at
        else:
            expires_at = None if ttl is None else now + ttl
        entry = Entry(
            value=value,
            version=1 if current is None else current.version + 1,
            updated_at=moment_at(now),
            expires_at=expires_at,
        )
        self.model[key] = entry
        return entry

    def assert_item(self, item: Item | None, key: str, entry: Entry | None) -> None:
        if entry is None:
            assert item is None, f"{key!r}: expected absent, got {item}"
            return
        assert item is not None, f"{key!r}: expected {entry}, got nothing"
        assert item.key == key
        assert exact(item.value) == exact(entry.value)
        assert item.version == entry.version
        assert item.updated_at == entry.updated_at
        assert item.expires_at == entry.expires_at

    # -- rules -------------------------------------------------------------------------------

    @initialize(entries=st.dictionaries(keys, st.tuples(json_values, ttls), max_size=len(KEYS)))
    def start(self, entries: dict[str, tuple[Any, int | None]]) -> None:
        """Empty the store, then seed it with several keys.

        The previous example's keys are deleted (the key space is known, so this does not rely
        on listing) and its TTLs run out. The seed makes listings span pages and operations
        meet existing keys. One initialize rule, as Hypothesis orders several at random.
        """
        self.clock.advance(MAX_TTL_SECONDS + 1)
        for key in KEYS:
            self.store.delete(key)
        assert self.store.list(limit=1000).items == []
        for key, (value, ttl) in entries.items():
            self.put(key, value, ttl)

    @rule(key=keys, value=json_values, ttl=ttls)
    def put(self, key: str, value: Any, ttl: int | None) -> None:
        existed = self.live(key) is not None
        item, created = self.store.put(key, value, ttl=ttl)
        assert created == (not existed)
        self.assert_item(item, key, self.written(key, value, ttl))

    @rule(
        key=keys,
        value=json_values,
        ttl=ttls,
        kind=st.sampled_from(["if_version", "if_absent", "if_present"]),
        offset=st.sampled_from([0, 0, 1, -1]),
    )
    def conditional_put(
        self, key: str, value: Any, ttl: int | None, kind: str, offset: int
    ) -> None:
        current = self.live(key)
        if kind == "if_version":
            version = max(1, (current.version if current else 1) + offset)
            holds = current is not None and current.version == version
            condition = at_version(version)
        elif kind == "if_absent":
            holds, condition = current is None, ABSENT
        else:
            holds, condition = current is not None, PRESENT
        arguments = {"condition": condition}
        try:
            item, created = self.store.put(key, value, ttl=ttl, condition=condition)
        except PreconditionFailed:
            assert not holds, f"put {key!r} {arguments} refused, but the condition holds"
            return
        assert holds, f"put {key!r} {arguments} applied, but the condition does not hold"
        assert created == (current is None)
        self.assert_item(item, key, self.written(key, value, ttl))

    @rule(key=keys)
    def delete(self, key: str) -> None:
        assert self.store.delete(key) == (self.live(key) is not None)
        self.model.pop(key, None)

    @rule(key=keys, offset=st.sampled_from([0, 0, 1, -1]))
    def conditional_delete(self, key: str, offset: int) -> None:
        current = self.live(key)
        version = max(1, (current.version if current else 1) + offset)
        holds = current is not None and current.version == version
        try:
            deleted = self.store.delete(key, condition=at_version(version))
        except PreconditionFailed:
            assert not holds
            return
        assert holds
        assert deleted
        self.model.pop(key, None)

    @rule(key=keys)
    def get(self, key: str) -> None:
        self.assert_item(self.store.get(key), key, self.live(key))

    @rule(wanted=st.lists(keys, max_size=5))
    def get_many(self, wanted: list[str]) -> None:
        found = self.store.get_many(wanted)
        expected = {key for key in wanted if self.live(key) is not None}
        assert set(found) == expected
        for key, item in found.items():
            self.assert_item(item, key, self.live(key))

    @rule(prefix=st.sampled_from(PREFIXES), limit=st.integers(min_value=1, max_value=4))
    def list_all_pages(self, prefix: str, limit: int) -> None:
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(len(KEYS) + 2):  # more pages than keys would be a cursor loop
            page = self.store.list(prefix=prefix, limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            for item in page.items:
                self.assert_item(item, item.key, self.live(item.key))
            seen.extend(item.key for item in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            raise AssertionError(f"listing {prefix!r} by {limit} never ended")
        expected = [key for key in self.live_keys() if key.startswith(prefix)]
        assert len(seen) == len(set(seen)), f"a key was listed twice: {seen}"
        assert set(seen) == set(expected)
        if "sorted_listing" in self.store.capabilities:
            assert seen == expected

    @rule(key=keys, value=json_values, ttl=ttls, pinned=st.booleans())
    def update(self, key: str, value: Any, ttl: int | None, pinned: bool) -> None:
        current = self.live(key)
        replace = parse_patch([{"op": "replace", "path": "", "value": value}], "json-patch")
        condition = at_version(current.version) if pinned and current is not None else ANY
        try:
            item = self.store.update(key, replace, ttl=ttl, condition=condition)
        except KeyNotFound:
            assert current is None, f"update {key!r} found no key, but it exists"
            return
        assert current is not None, f"update {key!r} applied, but there is no such key"
        self.assert_item(item, key, self.written(key, value, ttl, keep_expiry=True))

    @rule(prefix=st.sampled_from([prefix for prefix in PREFIXES if prefix]))
    def delete_prefix(self, prefix: str) -> None:
        deleted, cursor = 0, None
        for _ in range(len(KEYS) + 2):
            done = self.store.delete_prefix(prefix, cursor=cursor)
            deleted, cursor = deleted + done.deleted, done.next_cursor
            if cursor is None:
                break
        else:
            raise AssertionError(f"deleting {prefix!r} never ended")
        doomed = [key for key in self.model if key.startswith(prefix)]
        assert deleted == sum(self.live(key) is not None for key in doomed)
        for key in doomed:
            del self.model[key]

    @rule(
        prefix=st.sampled_from(PREFIXES),
        delimiter=st.sampled_from([None, "/", " "]),
        limit=st.integers(min_value=1, max_value=4),
    )
    def list_names(self, prefix: str, delimiter: str | None, limit: int) -> None:
        names: list[str] = []
        folders: list[str] = []
        cursor: str | None = None
        for _ in range(len(KEYS) + 2):
            page = self.store.keys(prefix=prefix, delimiter=delimiter, limit=limit, cursor=cursor)
            names += page.keys
            folders += page.prefixes
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            raise AssertionError(f"listing names under {prefix!r} never ended")
        expected_names, expected_folders = [], set()
        for key in self.live_keys():
            rest = key[len(prefix) :] if key.startswith(prefix) else None
            if rest is None:
                continue
            if delimiter is not None and delimiter in rest:
                expected_folders.add(prefix + rest[: rest.index(delimiter) + 1])
            else:
                expected_names.append(key)
        assert sorted(names) == expected_names, f"names under {prefix!r}: {names}"
        assert sorted(folders) == sorted(expected_folders)

    @rule(seconds=st.sampled_from([1, 10, 50, 100]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: "transactions" in self.store.capabilities)
    @rule(
        steps=st.lists(
            st.tuples(
                keys,
                st.sampled_from(["put", "put_if_version", "delete", "check_absent", "check"]),
                json_values,
                st.sampled_from([0, 0, 1]),
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda step: step[0],
        )
    )
    def transaction(self, steps: list[tuple[str, str, Any, int]]) -> None:
        operations: list[Operation] = []
        failing: int | None = None
        for index, (key, kind, value, offset) in enumerate(steps):
            current = self.live(key)
            version = (current.version if current else 1) + offset
            holds = True
            if kind == "put":
                operations.append(Put(key, value))
            elif kind == "put_if_version":
                operations.append(Put(key, value, condition=at_version(version)))
                holds = current is not None and current.version == version
            elif kind == "delete":
                operations.append(Delete(key))
            elif kind == "check_absent":
                operations.append(Check(key, ABSENT))
                holds = current is None
            else:
                operations.append(Check(key, at_version(version)))
                holds = current is not None and current.version == version
            if not holds and failing is None:
                failing = index
        failed: TransactionFailed | None = None
        try:
            results = self.store.transact(operations)
        except TransactionFailed as exc:
            failed = exc
        if failed is not None:
            assert failing == failed.index, f"{operations} failed at {failed.index}, not {failing}"
            return
        assert failing is None, f"{operations} applied, but operation {failing} fails"
        for op, result in zip(operations, results, strict=True):
            if isinstance(op, Put):
                self.assert_item(result, op.key, self.written(op.key, op.value, None))
            elif isinstance(op, Delete):
                assert result is None
                self.model.pop(op.key, None)
            else:
                self.assert_item(result, op.key, self.live(op.key))


def test_datastore_behaves_like_a_dict(
    datastore: Datastore, clock: FakeClock, backend: str
) -> None:
    run_state_machine_as_test(
        # Hypothesis documents any callable returning a machine; its annotation says a class.
        lambda: DatastoreVsDict(datastore, clock),  # type: ignore[arg-type]
        settings=machine_settings(backend, examples=(60, 30), steps=(50, 30)),
    )
