"""`validate_key`'s one-match shortcut accepts exactly the keys its rule-by-rule checks do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.datastores.base import MAX_KEY_BYTES, check_key_rules, validate_key
from kvstore.datastores.errors import InvalidKey

#: Characters around every rule: separators, dots, controls, ASCII and beyond, a surrogate.
ALPHABET = st.sampled_from(
    ["a", "Z", "0", "/", ".", " ", "\x00", "\x1f", "\x7f", "\u00e9", "\ud800"]
)


def verdict(check: object, key: str) -> str:
    try:
        return f"ok {check(key)!r}"  # type: ignore[operator]
    except InvalidKey as exc:
        return f"refused: {exc}"


@settings(deadline=None, derandomize=True, database=None)  # a busy host is not a failure
@given(st.lists(ALPHABET, max_size=12).map("".join))
def test_the_shortcut_agrees_with_every_rule(key: str) -> None:
    assert verdict(validate_key, key) == verdict(check_key_rules, key)


@pytest.mark.parametrize(
    "key", ["a" * MAX_KEY_BYTES, "a" * (MAX_KEY_BYTES + 1), "a/b.c", "a/./b", "..", 7]
)
def test_edges_agree(key: str) -> None:
    assert verdict(validate_key, key) == verdict(check_key_rules, key)
