"""Opaque listing cursors: the last key a page returned, base64url-encoded JSON.

Every backend resumes a listing after a key (SQLite and memory by order, DynamoDB through
`ExclusiveStartKey`), so one format serves all. A cursor grants nothing: decoding validates it
and a forged one only names a position.
"""

from __future__ import annotations

import base64
import binascii
import json

from kvstore.datastores.errors import InvalidCursor, InvalidKey

_VERSION = 1


def encode_cursor(last_key: str) -> str:
    payload = json.dumps({"v": _VERSION, "after": last_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Return the key a cursor resumes after.

    Raises:
        InvalidCursor: the cursor was not issued by `encode_cursor`.
    """
    from kvstore.datastores.base import validate_key

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this service issued") from None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise InvalidCursor("cursor is not one this service issued")
    after = payload.get("after")
    try:
        return validate_key(after)
    except InvalidKey:
        raise InvalidCursor("cursor is not one this service issued") from None


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
