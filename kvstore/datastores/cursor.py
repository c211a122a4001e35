"""Opaque listing cursors: the last key a page returned, base64url-encoded JSON.

Every backend resumes a listing after a key (SQLite and memory by order, DynamoDB through
`ExclusiveStartKey`), so one format serves all. A listing of names grouped by a delimiter may
also end on a folder (`web/`), and resumes after every key under it: such a cursor says so.
A cursor grants nothing: decoding validates it and a forged one only names a position.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from kvstore.datastores.errors import InvalidCursor, InvalidKey

_VERSION = 1
_FORGED = "cursor is not one this service issued"
#: Longer than any cursor `encode_position` makes (a 1024-byte key, every character escaped).
MAX_CURSOR_CHARS = 12 * 1024


@dataclass(frozen=True, slots=True)
class Position:
    """Where a listing resumes: after the key `after`, or (`folder`) after every key that
    starts with it."""

    after: str
    folder: bool = False


def _encode(payload: dict[str, Any]) -> str:
    text = json.dumps({"v": _VERSION, **payload}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor(_FORGED)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidCursor(_FORGED) from None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise InvalidCursor(_FORGED)
    return payload


def encode_cursor(last_key: str) -> str:
    return _encode({"after": last_key})


def decode_cursor(cursor: str) -> str:
    """Return the key a cursor resumes after.

    Raises:
        InvalidCursor: the cursor was not issued by `encode_cursor`.
    """
    position = decode_position(cursor)
    if position.folder:
        raise InvalidCursor(_FORGED)
    return position.after


def encode_position(position: Position) -> str:
    if not position.folder:
        return encode_cursor(position.after)
    return _encode({"after": position.after, "folder": True})


def decode_position(cursor: str) -> Position:
    """The position a cursor of a listing (of items or of names) resumes at.

    Raises:
        InvalidCursor: the cursor was not issued by this module.
    """
    from kvstore.datastores.base import validate_key

    payload = _decode(cursor)
    after, folder = payload.get("after"), payload.get("folder", False)
    if not isinstance(after, str) or not isinstance(folder, bool):
        raise InvalidCursor(_FORGED)
    try:
        # A folder is a key's beginning up to a delimiter: a valid key once the trailing "/"
        # of the usual delimiter is cut off.
        validate_key(after.rstrip("/") if folder else after)
    except InvalidKey:
        raise InvalidCursor(_FORGED) from None
    return Position(after, folder)


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: no bound).

    Code-point order equals SQLite's BINARY (UTF-8 memcmp) order, so this bounds a range scan
    on both; the surrogate block is skipped because it cannot be stored.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None
