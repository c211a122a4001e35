"""Strict JSON decoding: duplicate object members and NaN/Infinity are refused.

Python's `json` accepts both (the last duplicate silently wins), so one document could mean
two things to two readers. Request bodies and the API key configuration are read with this
decoder instead, built once: `json.loads` with hooks builds a new decoder on every call.
"""

from __future__ import annotations

import json
from typing import Any


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate object key {duplicate!r}")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def loads(text: str) -> Any:
    """Decode `text`.

    Raises:
        ValueError: not JSON, a duplicate member or a non-finite number; the message says which.
        RecursionError: nested beyond Python's recursion limit.
    """
    return _DECODER.decode(text)
