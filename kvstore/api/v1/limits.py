"""How large a request body may be, per kind of route, from the value size limit.

The value limit counts a value as compact UTF-8 JSON; a client may spell the same value
longer (`json.dumps` escapes every non-ASCII character, and any character may be written
`\\u0061`), and a body the server refused for its spelling would refuse a value the API
accepts. The longest spelling of a character is 6 bytes for 1 (`a` as `\\u0061`), so a body
may be 6 times the value limit plus room for the rest of the document; the value is then
measured as compact JSON. A batch or transaction is bounded as a whole too, so one request
cannot hold unbounded memory: 100 values at the limit fit when spelled compactly, and a batch
of larger spellings is split by the client (`kvstore import` sends at most 4 MiB a request).
"""

from __future__ import annotations

from kvstore.datastores.base import MAX_OPERATIONS

#: Bytes of the longest JSON spelling of one byte of compact JSON (`a` -> `\u0061`).
LONGEST_SPELLING = 6
#: Room in a single-key body for the JSON around the value (key, ttl) and whitespace.
BODY_OVERHEAD = 64 * 1024
#: Room per operation of a batch or transaction (key, flags, punctuation).
PER_OPERATION_OVERHEAD = 8 * 1024
#: Absolute bound on a batch or transaction body, whatever the value limit is.
MAX_BODY_BYTES = 32 * 1024 * 1024


def single_body_limit(max_value_bytes: int) -> int:
    """`PUT /v1/key/<key>` and `POST /v1/key`: one value in any spelling."""
    return LONGEST_SPELLING * max_value_bytes + BODY_OVERHEAD


def batch_body_limit(max_value_bytes: int) -> int:
    """`/v1/batch` and `/v1/txn`: any one value in any spelling, 100 values spelled compactly,
    at most MAX_BODY_BYTES in all."""
    per_operation = max_value_bytes + PER_OPERATION_OVERHEAD
    return min(
        max(MAX_OPERATIONS * per_operation, single_body_limit(max_value_bytes)), MAX_BODY_BYTES
    )


def largest_body_limit(max_value_bytes: int) -> int:
    """The largest body any route accepts: what the server front buffers at most."""
    return max(single_body_limit(max_value_bytes), batch_body_limit(max_value_bytes))
