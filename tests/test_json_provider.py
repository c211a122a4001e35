"""The orjson-backed provider writes the same documents the stdlib would, compactly."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from kvstore.json_provider import CompactJSONProvider


@pytest.fixture
def provider() -> CompactJSONProvider:
    return CompactJSONProvider(Flask("test"))


def stdlib(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1, 2.5, None, True, False], "é": "ünïcødé \u2028 \x00 \U0001f600"},
        {"z": {"y": {"x": []}}, "a": {}},
        [-(2**63), 2**64 - 1, 0.1, -0.0, 5e-324, 1.7976931348623157e308],
        "plain",
    ],
)
def test_same_document_as_the_stdlib(provider: CompactJSONProvider, value: Any) -> None:
    assert provider.dumps(value) == stdlib(value)


def test_key_order_is_kept_not_sorted(provider: CompactJSONProvider) -> None:
    assert provider.dumps({"b": 1, "a": 2}) == '{"b":1,"a":2}'


@pytest.mark.parametrize("big", [2**64, -(2**63) - 1, 10**40])
def test_integers_beyond_64_bits_fall_back_to_the_stdlib(
    provider: CompactJSONProvider, big: int
) -> None:
    value = {"n": big, "list": [big, "é"]}
    assert provider.dumps(value) == stdlib(value)
    assert json.loads(provider.dumps(value)) == value


def test_non_string_keys_are_written_as_the_stdlib_writes_them(
    provider: CompactJSONProvider,
) -> None:
    assert provider.dumps({1: "a", None: "b"}) == '{"1":"a","null":"b"}'


def test_flask_types_keep_flasks_formatting(provider: CompactJSONProvider) -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert provider.dumps({"at": moment, "p": Point(1, 2)}) == (
        '{"at":"Fri, 02 Jan 2026 03:04:05 GMT","p":{"x":1,"y":2}}'
    )


def test_explicit_options_use_the_stdlib(provider: CompactJSONProvider) -> None:
    assert provider.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'


def test_unserialisable_objects_still_raise_type_error(provider: CompactJSONProvider) -> None:
    with pytest.raises(TypeError):
        provider.dumps({"x": object()})
