"""Strict JSON decoding: duplicate object members, NaN/Infinity and inexact numbers are
refused.

Python's `json` accepts all three (the last duplicate silently wins; 1e-400 becomes 0.0), so
one document could mean two things to two readers, or come back as another. Request bodies
and the API key configuration are read with this decoder instead, built once: `json.loads`
with hooks builds a new decoder on every call.
"""

from __future__ import annotations

import json
import math
import threading
from decimal import Decimal
from typing import Any


class InexactNumber(ValueError):
    """A number a double cannot hold exactly; `pointer` (RFC 6901) says where it is."""

    def __init__(self, pointer: str, text: str) -> None:
        super().__init__(f"the number {text[:40]} at {pointer} cannot be kept exactly")
        self.pointer = pointer
        self.text = text


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate object key {duplicate!r}")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _Inexact:
    """A number literal a double cannot hold; stands in the parsed document until found."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


#: Whether the document this thread is decoding holds an _Inexact (so most are not walked).
_decoding = threading.local()


def _parse_float(text: str) -> Any:
    """A fraction or exponent as a double, if the double is the same number.

    Values come back exactly as sent, and a double cannot hold every decimal: 1e309
    overflows, 1e-400 underflows to 0, 0.1000000000000000000001 has more digits than it
    keeps. The shortest spelling of a double (what JavaScript and Python write) is the
    common case: one repr.
    """
    value = float(text)
    if not math.isinf(value):
        spelled = repr(value)
        if spelled == text or Decimal(spelled) == Decimal(text):
            return value
    _decoding.inexact = True
    return _Inexact(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_float=_parse_float
)


def dumps(value: Any) -> str:
    """`value` as compact JSON text, as the service stores it: unicode as is, members in their
    order, and never NaN or Infinity (which `loads` would refuse back)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str) -> Any:
    """Decode `text`.

    Raises:
        InexactNumber: a number a double cannot hold exactly (the first one).
        ValueError: not JSON, a duplicate member or a non-finite number; the message says which.
        RecursionError: nested beyond Python's recursion limit.
    """
    _decoding.inexact = False
    document = _DECODER.decode(text)
    if _decoding.inexact:
        found = _first_inexact(document)
        if found is not None:
            raise InexactNumber(*found)
    return document


def _first_inexact(document: Any) -> tuple[str, str] | None:
    """The JSON Pointer and text of the first _Inexact in a document; iterative."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, _Inexact):
            return pointer or "/", node.text
        if isinstance(node, dict):
            children = [(f"{pointer}/{_escape(str(k))}", v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(f"{pointer}/{i}", v) for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _escape(member: str) -> str:
    return member.replace("~", "~0").replace("/", "~1")  # RFC 6901
