"""The datastore contract: one suite, run on every backend of tests/backends.py.

This is the definition of a correct backend. Optional behaviour is skipped by declared
capability (with the reason printed), never by backend name.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from kvstore.datastores.base import (
    ABSENT,
    MAX_KEY_BYTES,
    MAX_VALUE_DEPTH,
    PRESENT,
    UPDATE_ATTEMPTS,
    Change,
    Check,
    Condition,
    Datastore,
    Delete,
    Patch,
    PrefixDeletion,
    Put,
    at_version,
)
from kvstore.datastores.errors import (
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
from kvstore.patches import parse_patch
from tests.backends import FakeClock

LOSSLESS_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**63 + 1,
    -(2**80),
    1.5,
    1e-300,
    "",
    "héllo wörld ✓ 日本 🎉",
    [],
    {},
    [[], {}, [None]],
    {"b": 1, "a": [1, 2, {"z": None}], "": "empty key"},
    ["baseball", "hockey", "football"],
]


def require(datastore: Datastore, capability: str) -> None:
    if capability not in datastore.capabilities:
        pytest.skip(f"{datastore.name} lacks the {capability!r} capability")


def list_all(datastore: Datastore, prefix: str = "", limit: int = 100) -> list[str]:
    keys: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = datastore.list(prefix=prefix, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        keys.extend(item.key for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return keys
    raise AssertionError("listing never ended")


# -- get / put -------------------------------------------------------------------------------


def test_get_missing_is_none(datastore: Datastore) -> None:
    assert datastore.get("nope") is None


def test_put_creates_at_version_1(datastore: Datastore, clock: FakeClock) -> None:
    item, created = datastore.put("sports", ["baseball", "hockey", "football"])
    assert created is True
    assert item.key == "sports"
    assert item.value == ["baseball", "hockey", "football"]
    assert item.version == 1
    assert item.expires_at is None
    assert item.updated_at.tzinfo is UTC
    assert item.updated_at.microsecond % 1000 == 0  # to the millisecond, as every store keeps
    assert datastore.get("sports") == item


def test_put_replaces_and_bumps_version(datastore: Datastore) -> None:
    datastore.put("k", 1)
    item, created = datastore.put("k", 2)
    assert created is False
    assert item.version == 2
    stored = datastore.get("k")
    assert stored is not None
    assert (stored.value, stored.version) == (2, 2)


@pytest.mark.parametrize("value", LOSSLESS_VALUES, ids=repr)
def test_values_are_lossless(datastore: Datastore, value: object) -> None:
    datastore.put("v", value)
    stored = datastore.get("v")
    assert stored is not None
    assert stored.value == value
    assert type(stored.value) is type(value)


def test_object_member_order_is_kept(datastore: Datastore) -> None:
    datastore.put("o", {"z": 1, "a": 2, "m": 3})
    stored = datastore.get("o")
    assert stored is not None
    assert list(stored.value) == ["z", "a", "m"]


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a/b/c",
        "with space",
        "unicode/日本/✓",
        "q?x=1#frag",
        "100%",
        "'; DROP TABLE kv; --",
        "etc/passwd",
        "x" * MAX_KEY_BYTES,
        "é" * (MAX_KEY_BYTES // 2),
        ".hidden",
        "a/.b",
        "...",
    ],
    ids=lambda k: k[:20],
)
def test_valid_keys_round_trip(datastore: Datastore, key: str) -> None:
    datastore.put(key, key)
    stored = datastore.get(key)
    assert stored is not None
    assert stored.key == key
    assert stored.value == key


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("", "empty"),
        ("x" * (MAX_KEY_BYTES + 1), "1024 bytes"),
        ("é" * (MAX_KEY_BYTES // 2 + 1), "1024 bytes"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("/a", "start or end"),
        ("a/", "start or end"),
        ("a//b", "empty segment"),
        ("a/./b", "'.'"),
        ("../x", "'..'"),
        ("..", "'..'"),
        ("\ud800", "UTF-8"),
    ],
)
def test_invalid_keys_name_the_rule(datastore: Datastore, key: str, rule: str) -> None:
    with pytest.raises(InvalidKey, match=rule):
        datastore.put(key, 1)
    with pytest.raises(InvalidKey):
        datastore.get(key)
    with pytest.raises(InvalidKey):
        datastore.delete(key)


def test_value_size_limit_counts_compact_utf8(datastore: Datastore) -> None:
    limit = datastore.max_value_bytes
    fits = "x" * (limit - 2)  # the quotes count
    datastore.put("big", fits)
    with pytest.raises(ValueTooLarge):
        datastore.put("big", fits + "x")
    stored = datastore.get("big")
    assert stored is not None
    assert stored.value == fits  # the refused write changed nothing


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"s": {1, 2}}, object()])
def test_non_json_values_are_refused(datastore: Datastore, value: object) -> None:
    with pytest.raises(InvalidValue):
        datastore.put("bad", value)
    assert datastore.get("bad") is None


@pytest.mark.parametrize("ttl", [0, -1, 31_536_001, 1.5, True, "10"])
def test_invalid_ttl_is_refused(datastore: Datastore, ttl: object) -> None:
    with pytest.raises(InvalidRequest):
        datastore.put("t", 1, ttl=ttl)  # type: ignore[arg-type]
    assert datastore.get("t") is None


def test_conflicting_preconditions_are_refused(datastore: Datastore) -> None:
    with pytest.raises(InvalidRequest):
        Condition.from_fields(if_absent=True, if_version=1)
    with pytest.raises(InvalidRequest):
        datastore.put("k", 1, condition=at_version(0))
    with pytest.raises(InvalidRequest):
        datastore.delete("k", condition=ABSENT)
    assert datastore.get("k") is None


# -- preconditions ---------------------------------------------------------------------------


def test_if_absent(datastore: Datastore) -> None:
    item, created = datastore.put("k", 1, condition=ABSENT)
    assert created
    with pytest.raises(PreconditionFailed):
        datastore.put("k", 2, condition=ABSENT)
    assert datastore.get("k") == item


def test_if_present(datastore: Datastore) -> None:
    with pytest.raises(PreconditionFailed):
        datastore.put("k", 1, condition=PRESENT)
    assert datastore.get("k") is None
    datastore.put("k", 1)
    item, created = datastore.put("k", 2, condition=PRESENT)
    assert (created, item.version, item.value) == (False, 2, 2)


def test_if_version(datastore: Datastore) -> None:
    with pytest.raises(PreconditionFailed):
        datastore.put("k", 1, condition=at_version(1))
    datastore.put("k", 1)
    with pytest.raises(PreconditionFailed):
        datastore.put("k", 2, condition=at_version(2))
    item, _ = datastore.put("k", 2, condition=at_version(1))
    assert item.version == 2
    stored = datastore.get("k")
    assert stored is not None
    assert stored.value == 2


def test_delete(datastore: Datastore) -> None:
    assert datastore.delete("k") is False
    datastore.put("k", 1)
    assert datastore.delete("k") is True
    assert datastore.get("k") is None
    assert datastore.delete("k") is False


def test_delete_if_version(datastore: Datastore) -> None:
    with pytest.raises(PreconditionFailed):
        datastore.delete("k", condition=at_version(1))
    datastore.put("k", 1)
    datastore.put("k", 2)
    with pytest.raises(PreconditionFailed):
        datastore.delete("k", condition=at_version(1))
    assert datastore.get("k") is not None
    assert datastore.delete("k", condition=at_version(2)) is True
    assert datastore.get("k") is None


def test_recreated_key_starts_again_at_version_1(datastore: Datastore) -> None:
    datastore.put("k", 1)
    datastore.put("k", 2)
    datastore.delete("k")
    item, created = datastore.put("k", 3)
    assert (created, item.version) == (True, 1)


# -- expiry ----------------------------------------------------------------------------------


def test_ttl_sets_expires_at(datastore: Datastore, clock: FakeClock) -> None:
    item, _ = datastore.put("t", 1, ttl=60)
    assert item.expires_at == pytest.approx(clock.now + 60)


def test_expired_item_is_gone_everywhere(datastore: Datastore, clock: FakeClock) -> None:
    datastore.put("t/1", 1, ttl=10)
    datastore.put("t/2", 2)
    clock.advance(9)
    assert datastore.get("t/1") is not None
    clock.advance(1)
    assert datastore.get("t/1") is None
    assert list_all(datastore, prefix="t/") == ["t/2"]
    assert set(datastore.get_many(["t/1", "t/2"])) == {"t/2"}
    assert datastore.delete("t/1") is False


def test_expired_item_is_absent_for_preconditions(datastore: Datastore, clock: FakeClock) -> None:
    datastore.put("t", 1, ttl=5)
    clock.advance(5)
    with pytest.raises(PreconditionFailed):
        datastore.put("t", 2, condition=PRESENT)
    with pytest.raises(PreconditionFailed):
        datastore.put("t", 2, condition=at_version(1))
    with pytest.raises(PreconditionFailed):
        datastore.delete("t", condition=at_version(1))
    item, created = datastore.put("t", 2, condition=ABSENT)
    assert (created, item.version, item.expires_at) == (True, 1, None)


def test_replacing_without_ttl_clears_expiry(datastore: Datastore, clock: FakeClock) -> None:
    datastore.put("t", 1, ttl=5)
    datastore.put("t", 2)
    clock.advance(10)
    stored = datastore.get("t")
    assert stored is not None
    assert stored.expires_at is None


# -- listing ---------------------------------------------------------------------------------


def test_list_empty(datastore: Datastore) -> None:
    page = datastore.list()
    assert page.items == []
    assert page.next_cursor is None


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_pagination_visits_each_key_once(datastore: Datastore, limit: int) -> None:
    keys = [f"k/{i:03d}" for i in range(23)]
    for key in keys:
        datastore.put(key, key)
    seen = list_all(datastore, limit=limit)
    assert sorted(seen) == keys
    assert len(seen) == len(set(seen))


def test_full_pages_until_the_last(datastore: Datastore) -> None:
    for i in range(10):
        datastore.put(f"k{i}", i)
    first = datastore.list(limit=4)
    assert len(first.items) == 4
    assert first.next_cursor is not None
    second = datastore.list(limit=4, cursor=first.next_cursor)
    assert len(second.items) == 4


def test_listing_is_sorted_where_promised(datastore: Datastore) -> None:
    require(datastore, "sorted_listing")
    keys = ["b", "a", "c/2", "c/1", "é", "Z", "a/b"]
    for key in keys:
        datastore.put(key, 1)
    assert list_all(datastore, limit=2) == sorted(keys)


def test_prefix_filters(datastore: Datastore) -> None:
    for key in ["sports", "sports/hockey", "sports/baseball", "sportsman", "spor", "other"]:
        datastore.put(key, 1)
    assert sorted(list_all(datastore, prefix="sports/", limit=1)) == [
        "sports/baseball",
        "sports/hockey",
    ]
    assert sorted(list_all(datastore, prefix="sports")) == [
        "sports",
        "sports/baseball",
        "sports/hockey",
        "sportsman",
    ]
    assert list_all(datastore, prefix="zzz") == []


def test_prefix_with_unicode_boundary(datastore: Datastore) -> None:
    for key in ["a\U0010ffff", "a\U0010ffffb", "b"]:
        datastore.put(key, 1)
    assert sorted(list_all(datastore, prefix="a\U0010ffff")) == ["a\U0010ffff", "a\U0010ffffb"]


def test_items_in_pages_carry_values(datastore: Datastore) -> None:
    datastore.put("sports", ["baseball", "hockey", "football"])
    (item,) = datastore.list().items
    assert item.value == ["baseball", "hockey", "football"]
    assert item.version == 1


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_bad_limit(datastore: Datastore, limit: int) -> None:
    with pytest.raises(InvalidRequest):
        datastore.list(limit=limit)


@pytest.mark.parametrize("cursor", ["garbage", "e30", "!!!", "eyJ2IjoxLCJhZnRlciI6IiJ9"])
def test_forged_cursor_is_refused(datastore: Datastore, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        datastore.list(cursor=cursor)


# -- get_many --------------------------------------------------------------------------------


def test_get_many(datastore: Datastore) -> None:
    for i in range(5):
        datastore.put(f"k{i}", i)
    found = datastore.get_many(["k0", "k3", "missing", "k3"])
    assert set(found) == {"k0", "k3"}
    assert found["k3"].value == 3
    assert datastore.get_many([]) == {}


def test_get_many_beyond_one_request(datastore: Datastore) -> None:
    keys = [f"k{i}" for i in range(230)]
    for key in keys:
        datastore.put(key, key)
    found = datastore.get_many(keys)
    assert set(found) == set(keys)


def test_get_many_validates_keys(datastore: Datastore) -> None:
    with pytest.raises(InvalidKey):
        datastore.get_many(["ok", "/bad"])


# -- transactions ----------------------------------------------------------------------------


def test_transact_all_or_nothing(datastore: Datastore) -> None:
    require(datastore, "transactions")
    datastore.put("a", 1)
    datastore.put("b", 1)
    with pytest.raises(TransactionFailed) as failure:
        datastore.transact([Put("a", 2), Delete("b"), Put("c", 3, condition=at_version(4))])
    assert failure.value.index == 2
    a, b = datastore.get("a"), datastore.get("b")
    assert a is not None
    assert a.value == 1
    assert b is not None
    assert datastore.get("c") is None


def test_transact_applies_every_operation(datastore: Datastore) -> None:
    require(datastore, "transactions")
    datastore.put("a", 1)
    datastore.put("b", 1)
    datastore.put("c", "checked")
    results = datastore.transact(
        [
            Put("a", 2, condition=at_version(1)),
            Delete("b"),
            Check("c", at_version(1)),
            Put("d", 4, ttl=60),
            Check("e", ABSENT),
        ]
    )
    put_a, deleted_b, checked_c, put_d, checked_e = results
    assert put_a is not None
    assert (put_a.value, put_a.version) == (2, 2)
    assert deleted_b is None
    assert checked_c is not None
    assert checked_c.value == "checked"
    assert put_d is not None
    assert put_d.version == 1
    assert put_d.expires_at is not None
    assert checked_e is None
    assert datastore.get("b") is None
    stored = datastore.get("a")
    assert stored is not None
    assert stored.value == 2


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        (Check("a", ABSENT), "exists"),
        (Check("missing", PRESENT), "does not exist"),
        (Check("a", at_version(9)), "version 9"),
        (Put("a", 1, condition=ABSENT), "exists"),
        (Put("missing", 1, condition=PRESENT), "does not exist"),
        (Delete("a", condition=at_version(9)), "version 9"),
    ],
)
def test_transact_failed_condition_names_index(
    datastore: Datastore, operation: Put | Delete | Check, reason: str
) -> None:
    require(datastore, "transactions")
    datastore.put("a", 1)
    with pytest.raises(TransactionFailed) as failure:
        datastore.transact([Put("z", 1), operation])
    assert failure.value.index == 1
    assert datastore.get("z") is None


def test_transact_refuses_a_key_twice_and_too_many(datastore: Datastore) -> None:
    with pytest.raises(InvalidRequest):
        datastore.transact([Put("a", 1), Delete("a")])
    with pytest.raises(InvalidRequest):
        datastore.transact([Put(f"k{i}", i) for i in range(101)])
    assert datastore.get("a") is None


def test_transact_delete_absent_is_a_noop(datastore: Datastore) -> None:
    require(datastore, "transactions")
    assert datastore.transact([Delete("never")]) == [None]


def test_transact_treats_expired_as_absent(datastore: Datastore, clock: FakeClock) -> None:
    require(datastore, "transactions")
    datastore.put("t", 1, ttl=5)
    clock.advance(6)
    (item,) = datastore.transact([Put("t", 2, condition=ABSENT)])
    assert item is not None
    assert item.version == 1


# -- concurrency -----------------------------------------------------------------------------


def test_concurrent_conditional_writes_lose_nothing(datastore: Datastore) -> None:
    """Read-modify-write with if_version from many threads: every acknowledged +1 is kept."""
    datastore.put("counter", 0)
    increments_per_thread, threads = 15, 8
    start = threading.Barrier(threads)

    def worker() -> int:
        start.wait(timeout=10)
        done = 0
        while done < increments_per_thread:
            current = datastore.get("counter")
            assert current is not None
            try:
                datastore.put("counter", current.value + 1, condition=at_version(current.version))
            except PreconditionFailed:
                continue
            done += 1
        return done

    with ThreadPoolExecutor(threads) as pool:
        acknowledged = sum(pool.map(lambda _: worker(), range(threads)))
    final = datastore.get("counter")
    assert final is not None
    assert final.value == acknowledged == threads * increments_per_thread
    assert final.version == acknowledged + 1


def test_concurrent_creates_have_one_winner(datastore: Datastore) -> None:
    threads = 8
    start = threading.Barrier(threads)

    def create(i: int) -> bool:
        start.wait(timeout=10)
        try:
            datastore.put("once", i, condition=ABSENT)
        except PreconditionFailed:
            return False
        return True

    with ThreadPoolExecutor(threads) as pool:
        winners = sum(pool.map(create, range(threads)))
    assert winners == 1


def test_check_passes_on_a_working_store(datastore: Datastore) -> None:
    datastore.check()


# -- update (patches) ------------------------------------------------------------------------


def merge(patch: object) -> Change:
    return parse_patch(patch, "merge")


def json_patch(*operations: dict[str, object]) -> Change:
    return parse_patch(list(operations), "json-patch")


def test_update_merges_and_bumps_version(datastore: Datastore) -> None:
    datastore.put("doc", {"name": "kv", "tags": ["a"], "drop": 1})
    item = datastore.update("doc", merge({"tags": ["a", "b"], "drop": None, "new": {"x": 1}}))
    assert item.value == {"name": "kv", "tags": ["a", "b"], "new": {"x": 1}}
    assert list(item.value) == ["name", "tags", "new"]  # members keep their places
    assert item.version == 2
    assert datastore.get("doc") == item


def test_update_applies_json_patch(datastore: Datastore) -> None:
    datastore.put("sports", ["baseball", "hockey"])
    item = datastore.update(
        "sports",
        json_patch(
            {"op": "test", "path": "/1", "value": "hockey"},
            {"op": "add", "path": "/-", "value": "soccer"},
        ),
    )
    assert (item.value, item.version) == (["baseball", "hockey", "soccer"], 2)


def test_update_of_a_missing_key(datastore: Datastore, clock: FakeClock) -> None:
    with pytest.raises(KeyNotFound):
        datastore.update("nope", merge({"a": 1}))
    for condition in (PRESENT, at_version(1)):
        with pytest.raises(PreconditionFailed):
            datastore.update("nope", merge({"a": 1}), condition=condition)
    datastore.put("gone", 1, ttl=5)
    clock.advance(5)
    with pytest.raises(KeyNotFound):
        datastore.update("gone", merge(2))
    assert datastore.get("nope") is None
    assert datastore.get("gone") is None


def test_update_if_version(datastore: Datastore) -> None:
    datastore.put("k", {"n": 0})
    item = datastore.update("k", merge({"n": 1}), condition=at_version(1))
    assert item.version == 2
    with pytest.raises(PreconditionFailed):
        datastore.update("k", merge({"n": 2}), condition=at_version(1))
    stored = datastore.get("k")
    assert stored is not None
    assert (stored.value, stored.version) == ({"n": 1}, 2)


def test_failed_patch_names_its_operation_and_writes_nothing(datastore: Datastore) -> None:
    datastore.put("k", {"a": [1]})
    with pytest.raises(PatchFailed) as failure:
        datastore.update(
            "k",
            json_patch(
                {"op": "add", "path": "/b", "value": 2},
                {"op": "test", "path": "/a/0", "value": True},  # 1 is not true in JSON
            ),
        )
    assert failure.value.index == 1
    with pytest.raises(PatchFailed) as missing:
        datastore.update("k", json_patch({"op": "remove", "path": "/nope"}))
    assert missing.value.index == 0
    stored = datastore.get("k")
    assert stored is not None
    assert (stored.value, stored.version) == ({"a": [1]}, 1)


def test_update_result_obeys_the_value_rules(datastore: Datastore) -> None:
    datastore.put("k", {"a": 1})
    with pytest.raises(InvalidPatchResult, match="bytes"):
        datastore.update("k", merge({"big": "x" * datastore.max_value_bytes}))
    deep: object = 0
    for _ in range(MAX_VALUE_DEPTH):
        deep = [deep]
    with pytest.raises(InvalidPatchResult, match="deeper"):
        datastore.update("k", merge({"deep": deep}))
    stored = datastore.get("k")
    assert stored is not None
    assert (stored.value, stored.version) == ({"a": 1}, 1)


def test_update_keeps_the_expiry_unless_given_a_ttl(datastore: Datastore, clock: FakeClock) -> None:
    first, _ = datastore.put("t", {"n": 0}, ttl=60)
    clock.advance(10)
    kept = datastore.update("t", merge({"n": 1}))
    assert kept.expires_at == pytest.approx(first.expires_at)
    renewed = datastore.update("t", merge({"n": 2}), ttl=100)
    assert renewed.expires_at == pytest.approx(clock.now + 100)
    permanent, _ = datastore.put("p", 1)
    assert datastore.update("p", merge(2)).expires_at is None
    assert permanent.expires_at is None


def test_update_refuses_impossible_arguments(datastore: Datastore) -> None:
    datastore.put("k", 1)
    with pytest.raises(InvalidRequest):
        datastore.update("k", merge(2), condition=ABSENT)
    with pytest.raises(InvalidRequest):
        datastore.update("k", merge(2), ttl=0)
    with pytest.raises(InvalidKey):
        datastore.update("/k", merge(2))
    stored = datastore.get("k")
    assert stored is not None
    assert stored.version == 1


def test_update_never_changes_a_value_already_read(datastore: Datastore) -> None:
    before, _ = datastore.put("k", {"list": [1], "obj": {"a": 1}})
    datastore.update("k", json_patch({"op": "add", "path": "/list/-", "value": 2}))
    datastore.update("k", merge({"obj": {"b": 2}}))
    assert before.value == {"list": [1], "obj": {"a": 1}}


def test_update_reads_again_when_another_writer_got_in_between(datastore: Datastore) -> None:
    datastore.put("k", {"ours": 0})
    calls: list[object] = []

    def change(value: object) -> object:
        calls.append(value)
        if len(calls) == 1:  # another writer, between our read and our write
            datastore.put("k", {"theirs": 1})
        return merge({"ours": 1})(value)

    item = datastore.update("k", change)
    assert calls == [{"ours": 0}, {"theirs": 1}]
    assert (item.value, item.version) == ({"theirs": 1, "ours": 1}, 3)


def test_update_gives_up_after_bounded_attempts(datastore: Datastore) -> None:
    datastore.put("k", 0)
    attempts = 0

    def change(value: int) -> int:
        nonlocal attempts
        attempts += 1
        datastore.put("k", value + 100)  # always someone faster
        return value + 1

    with pytest.raises(UpdateConflict):
        datastore.update("k", change)
    assert attempts == UPDATE_ATTEMPTS
    stored = datastore.get("k")
    assert stored is not None
    assert stored.value == 100 * UPDATE_ATTEMPTS  # every write was the other writer's


def test_transact_patch_applies_to_the_value_read(datastore: Datastore) -> None:
    require(datastore, "transactions")
    datastore.put("doc", {"n": 1})
    patched, put = datastore.transact(
        [Patch("doc", merge({"m": 2}), condition=at_version(1)), Put("other", 1)]
    )
    assert patched is not None
    assert (patched.value, patched.version) == ({"n": 1, "m": 2}, 2)
    assert put is not None
    assert datastore.get("doc") == patched


def test_transact_failed_patch_names_both_indexes(datastore: Datastore) -> None:
    require(datastore, "transactions")
    datastore.put("doc", ["a"])
    with pytest.raises(TransactionFailed) as failure:
        datastore.transact(
            [
                Put("z", 1),
                Patch(
                    "doc",
                    json_patch(
                        {"op": "add", "path": "/-", "value": "b"},
                        {"op": "test", "path": "/0", "value": "nope"},
                    ),
                ),
            ]
        )
    assert (failure.value.index, failure.value.patch_index) == (1, 1)
    with pytest.raises(TransactionFailed) as missing:
        datastore.transact([Put("z", 1), Patch("absent", merge({"a": 1}))])
    assert (missing.value.index, missing.value.patch_index) == (1, None)
    assert datastore.get("z") is None
    stored = datastore.get("doc")
    assert stored is not None
    assert stored.value == ["a"]


def test_transact_patch_result_breaking_a_rule_names_its_index(datastore: Datastore) -> None:
    require(datastore, "transactions")
    datastore.put("doc", {})
    with pytest.raises(InvalidOperation) as refused:
        datastore.transact(
            [Put("z", 1), Patch("doc", merge({"big": "x" * datastore.max_value_bytes}))]
        )
    assert refused.value.index == 1
    assert datastore.get("z") is None


#: Patches per writer: a DynamoDB server over HTTP costs about 20 ms a patch (a read and a
#: conditional write) on the shared development machine, so it gets fewer to stay in seconds.
PATCHES_PER_WRITER = {"local": 200, "remote": 25}


def test_concurrent_patches_of_one_object_lose_nothing(datastore: Datastore, backend: str) -> None:
    """8 writers patch their own member of one object, 200 times each (25 on a DynamoDB
    server), with both formats: every patch is in the final value, in each writer's order."""
    writers = 8
    patches = PATCHES_PER_WRITER["remote" if backend.startswith("dynamodb") else "local"]
    datastore.put("shared", {f"w{i}": [] if i % 2 else {} for i in range(writers)})
    start = threading.Barrier(writers)

    def writer(i: int) -> int:
        start.wait(timeout=10)
        conflicts = 0
        for n in range(patches):
            change = (
                json_patch({"op": "add", "path": f"/w{i}/-", "value": n})
                if i % 2
                else merge({f"w{i}": {f"n{n}": n}})
            )
            while True:
                try:
                    datastore.update("shared", change)
                    break
                except UpdateConflict:
                    conflicts += 1  # other writers won every attempt: go again
        return conflicts

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(writer, range(writers)))
    final = datastore.get("shared")
    assert final is not None
    for i in range(writers):
        expected = list(range(patches)) if i % 2 else {f"n{n}": n for n in range(patches)}
        assert final.value[f"w{i}"] == expected
        if not i % 2:
            assert list(final.value[f"w{i}"]) == [f"n{n}" for n in range(patches)]
    assert final.version == 1 + writers * patches


# -- delete_prefix ---------------------------------------------------------------------------


def delete_all(datastore: Datastore, prefix: str) -> tuple[int, int]:
    """Follow `delete_prefix`'s cursors to the end: (keys deleted, calls made)."""
    deleted, calls, cursor = 0, 0, None
    for _ in range(10_000):
        done = datastore.delete_prefix(prefix, cursor=cursor)
        deleted, calls, cursor = deleted + done.deleted, calls + 1, done.next_cursor
        if cursor is None:
            return deleted, calls
    raise AssertionError("deleting never ended")


def test_delete_prefix_deletes_exactly_the_prefix(datastore: Datastore) -> None:
    keys = ["sports", "sports/a", "sports/b/c", "sportsman", "spor", "other", "sports/é"]
    for key in keys:
        datastore.put(key, key)
    assert delete_all(datastore, "sports/")[0] == 3
    assert sorted(list_all(datastore)) == ["other", "spor", "sports", "sportsman"]
    assert delete_all(datastore, "sports/")[0] == 0
    assert delete_all(datastore, "sports")[0] == 2
    assert sorted(list_all(datastore)) == ["other", "spor"]


def test_delete_prefix_counts_live_keys_only(datastore: Datastore, clock: FakeClock) -> None:
    datastore.put("t/old", 1, ttl=5)
    datastore.put("t/new", 2)
    clock.advance(5)
    assert delete_all(datastore, "t/")[0] == 1
    assert datastore.get("t/new") is None
    item, created = datastore.put("t/old", 3, condition=ABSENT)
    assert (created, item.version) == (True, 1)


def test_delete_prefix_is_one_atomic_step_where_promised(datastore: Datastore) -> None:
    require(datastore, "atomic_prefix_delete")
    for i in range(250):
        datastore.put(f"many/{i:03d}", i)
    assert datastore.delete_prefix("many/") == PrefixDeletion(250, None)
    assert list_all(datastore) == []


@pytest.mark.parametrize("prefix", ["", None, 5])
def test_delete_prefix_refuses_an_empty_prefix(datastore: Datastore, prefix: object) -> None:
    datastore.put("k", 1)
    with pytest.raises(InvalidRequest):
        datastore.delete_prefix(prefix)  # type: ignore[arg-type]
    assert datastore.get("k") is not None


def test_delete_prefix_refuses_a_forged_cursor(datastore: Datastore) -> None:
    datastore.put("a/1", 1)
    with pytest.raises(InvalidCursor):
        datastore.delete_prefix("a/", cursor="garbage")
    assert datastore.get("a/1") is not None


# -- keys (names, one level at a time) -------------------------------------------------------


def names_all(
    datastore: Datastore, prefix: str = "", delimiter: str | None = None, limit: int = 100
) -> tuple[list[str], list[str], int]:
    """Every page of `keys`: (names, folders, pages), checking each page's size."""
    names: list[str] = []
    folders: list[str] = []
    cursor = None
    for pages in range(1, 10_000):
        page = datastore.keys(prefix=prefix, delimiter=delimiter, limit=limit, cursor=cursor)
        assert len(page.keys) + len(page.prefixes) <= limit
        if page.next_cursor is not None:
            assert len(page.keys) + len(page.prefixes) == limit  # full pages until the last
        names.extend(page.keys)
        folders.extend(page.prefixes)
        cursor = page.next_cursor
        if cursor is None:
            return names, folders, pages
    raise AssertionError("listing never ended")


TREE = ["web", "web/bar", "web/sub/a", "web/sub/b/c", "web/zed", "webx", "other", "a-b-c"]


def test_keys_lists_names_without_values(datastore: Datastore, clock: FakeClock) -> None:
    for key in TREE:
        datastore.put(key, {"big": "value"})
    datastore.put("web/old", 1, ttl=5)
    clock.advance(5)
    names, folders, _ = names_all(datastore, limit=3)
    assert sorted(names) == sorted(TREE)
    assert folders == []
    assert sorted(names_all(datastore, prefix="web/")[0]) == [
        "web/bar",
        "web/sub/a",
        "web/sub/b/c",
        "web/zed",
    ]


@pytest.mark.parametrize("limit", [1, 2, 100])
def test_keys_with_a_delimiter_walk_one_level(datastore: Datastore, limit: int) -> None:
    for key in TREE:
        datastore.put(key, 1)
    names, folders, _ = names_all(datastore, delimiter="/", limit=limit)
    assert sorted(names) == ["a-b-c", "other", "web", "webx"]
    assert folders == ["web/"]
    names, folders, _ = names_all(datastore, prefix="web/", delimiter="/", limit=limit)
    assert sorted(names) == ["web/bar", "web/zed"]
    assert folders == ["web/sub/"]
    assert names_all(datastore, prefix="web/sub/", delimiter="/", limit=limit)[:2] == (
        ["web/sub/a"],
        ["web/sub/b/"],
    )
    names, folders, _ = names_all(datastore, delimiter="-", limit=limit)
    assert (sorted(names), folders) == (sorted(set(TREE) - {"a-b-c"}), ["a-"])


def test_keys_sorted_where_promised(datastore: Datastore) -> None:
    require(datastore, "sorted_listing")
    for key in TREE:
        datastore.put(key, 1)
    page = datastore.keys(delimiter="/", limit=100)
    assert page.keys == sorted(page.keys)
    assert names_all(datastore, limit=2)[0] == sorted(TREE)


def test_keys_refuse_bad_arguments(datastore: Datastore) -> None:
    with pytest.raises(InvalidRequest):
        datastore.keys(delimiter="")
    with pytest.raises(InvalidRequest):
        datastore.keys(limit=0)
    with pytest.raises(InvalidCursor):
        datastore.keys(cursor="garbage")


_roots = itertools.count()


@given(
    keys=st.sets(
        st.lists(st.sampled_from(["a", "b", "ab", "é", "a-b", "-"]), min_size=1, max_size=3).map(
            "/".join
        ),
        max_size=12,
    ),
    prefix=st.sampled_from(["", "a", "a/", "ab", "b/a", "é", "-"]),
    delimiter=st.sampled_from([None, "/", "-", "b/"]),
    limit=st.integers(min_value=1, max_value=4),
)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_keys_name_every_entry_exactly_once_across_pages(
    datastore: Datastore, keys: set[str], prefix: str, delimiter: str | None, limit: int
) -> None:
    """Whatever the tree, prefix, delimiter and page size: following the cursors yields each
    name and each folder exactly once, in full pages, sorted where the backend promises."""
    root = f"r{next(_roots)}/"  # each example in a tree of its own: no clean-up needed
    for key in keys:
        datastore.put(root + key, 1)
    expected_names: set[str] = set()
    expected_folders: set[str] = set()
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter is not None and delimiter in rest:
            expected_folders.add(root + prefix + rest[: rest.index(delimiter) + len(delimiter)])
        else:
            expected_names.add(root + key)
    names, folders, pages = names_all(datastore, root + prefix, delimiter, limit)
    assert sorted(names) == sorted(expected_names)  # each exactly once
    assert sorted(folders) == sorted(expected_folders)
    assert pages == max(1, -(-(len(names) + len(folders)) // limit))
    if "sorted_listing" in datastore.capabilities:
        assert names == sorted(names)
        assert folders == sorted(folders)
