"""Shared helpers of the datastore base: value decoding (orjson with a stdlib fallback) and keys."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest

from kvstore.datastores.base import decode_value, validate_key
from kvstore.datastores.errors import InvalidKey


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1, 2.5, None, True, False, -0.0, 5e-324, 1.7976931348623157e308]},
        "ünïcødé \u2028 \x00 \U0001f600",
        [2**63 - 1, -(2**63), 2**64 - 1],
        2**64,  # beyond what orjson reads exactly: it would read a float
        -(2**63) - 1,
        10**40,
        {"n": [1, {"deep": 123456789012345678901234567890}]},
        "1234567890123456789",  # 19 digits inside a string: read by the stdlib, same value
        0.1234567890123456789,
    ],
)
def test_decode_reads_what_the_stdlib_reads(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    decoded = decode_value(text)
    assert decoded == json.loads(text)
    assert type(decoded) is type(json.loads(text))


def test_big_integers_stay_integers() -> None:
    decoded = decode_value('{"n":18446744073709551616}')
    assert decoded == {"n": 18446744073709551616}
    assert isinstance(decoded["n"], int)


def test_what_orjson_refuses_falls_back_to_the_stdlib() -> None:
    assert decode_value("[1e400]") == [float("inf")]


#: Unicode's Cc category, every character of it.
CONTROL_CHARACTERS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"]


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1fb", "a\x7fb", "\n", "a\x85b", "\x80", "\x9f"])
def test_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKey, match="control characters"):
        validate_key(bad)


def test_every_character_of_category_cc_is_refused_and_only_those() -> None:
    refused = {c for c in map(chr, range(0x2000)) if _refused(c)}
    assert refused == set(CONTROL_CHARACTERS)


def _refused(character: str) -> bool:
    try:
        validate_key(f"a{character}b")
    except InvalidKey:
        return True
    return False


@pytest.mark.parametrize("good", ["a b", "é/ü", "\xa0-no-break-space", "\u2028", "~!@"])
def test_other_characters_are_accepted(good: str) -> None:
    assert validate_key(good) == good
