"""The datastore contract: one suite, run on every backend of tests/backends.py.

This is the definition of a correct backend. Optional behaviour is skipped by declared
capability (with the reason printed), never by backend name.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from kvstore.datastores.base import (
    ABSENT,
    MAX_KEY_BYTES,
    PRESENT,
    Check,
    Condition,
    Datastore,
    Delete,
    Put,
    at_version,
)
from kvstore.datastores.errors import (
    InvalidCursor,
    InvalidKey,
    InvalidRequest,
    InvalidValue,
    PreconditionFailed,
    TransactionFailed,
    ValueTooLarge,
)
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
    assert item.updated_at.endswith("Z")
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
    assert item.to_dict()["expires_at"].endswith("Z")


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
