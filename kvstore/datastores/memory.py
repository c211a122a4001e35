"""An in-process dict behind one lock: tests and throwaway runs, one worker process only."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import Any

from kvstore.datastores import base
from kvstore.datastores.cursor import (
    Position,
    decode_cursor,
    encode_cursor,
    prefix_upper_bound,
)
from kvstore.datastores.errors import PreconditionFailed
from kvstore.datastores.listing import KeyPage, group_sorted


class MemoryDatastore(base.Datastore):
    name = "memory"
    capabilities = frozenset({"transactions", "sorted_listing", "atomic_prefix_delete"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._items: dict[str, base.Item] = {}
        self._sorted_keys: list[str] = []  # kept sorted so listing is a bisect, not a sort

    # All helpers below expect the lock to be held.

    def _live(self, key: str, now: float) -> base.Item | None:
        item = self._items.get(key)
        if item is not None and not item.is_live(now):
            self._forget(key)
            return None
        return item

    def _forget(self, key: str) -> None:
        if self._items.pop(key, None) is not None:
            index = bisect.bisect_left(self._sorted_keys, key)
            del self._sorted_keys[index]

    def _first_index(self, prefix: str, after: str | None) -> int:
        """Where the keys under `prefix` (and after `after`, if any) begin."""
        if after is not None and after >= prefix:
            return bisect.bisect_right(self._sorted_keys, after)
        return bisect.bisect_left(self._sorted_keys, prefix)

    def _store(self, item: base.Item) -> None:
        if item.key not in self._items:
            bisect.insort(self._sorted_keys, item.key)
        self._items[item.key] = item

    def _apply_write(self, write: base.EncodedWrite, now: float) -> tuple[base.Item, bool]:
        current = self._live(write.key, now)
        if not write.condition.holds(current):
            raise PreconditionFailed(write.condition.describe())
        item = self.next_item(write, current, now)
        self._store(item)
        return item, current is None

    # Hooks.

    def _get(self, key: str, now: float) -> base.Item | None:
        with self._lock:
            return self._live(key, now)

    def _put(self, write: base.EncodedWrite, now: float) -> tuple[base.Item, bool]:
        with self._lock:
            return self._apply_write(write, now)

    def _delete(self, key: str, condition: base.Condition, now: float) -> bool:
        with self._lock:
            current = self._live(key, now)
            if not condition.holds(current):
                raise PreconditionFailed(condition.describe())
            if current is None:
                return False
            self._forget(key)
            return True

    def _list(self, prefix: str, limit: int, cursor: str | None, now: float) -> base.Page:
        after = None if cursor is None else decode_cursor(cursor)
        upper = prefix_upper_bound(prefix)
        page: list[base.Item] = []
        with self._lock:
            keys, stored = self._sorted_keys, self._items
            index = self._first_index(prefix, after)
            end = len(keys) if upper is None else bisect.bisect_left(keys, upper, index)
            # Slices of just the keys still wanted (one more than a page, to know whether
            # another follows), taken again only when expired items left the page short.
            while len(page) <= limit and index < end:
                chunk = keys[index : min(end, index + limit + 1 - len(page))]
                index += len(chunk)
                page += [item for key in chunk if (item := stored[key]).is_live(now)]
        more = len(page) > limit
        del page[limit:]
        return base.Page(page, encode_cursor(page[-1].key) if more else None)

    def _keys(
        self, prefix: str, delimiter: str | None, limit: int, after: Position | None, now: float
    ) -> KeyPage:
        upper = prefix_upper_bound(prefix)

        def scan(start: str, inclusive: bool) -> Iterator[str]:
            keys = self._sorted_keys
            index = (bisect.bisect_left if inclusive else bisect.bisect_right)(keys, start)
            end = len(keys) if upper is None else bisect.bisect_left(keys, upper, index)
            while index < end:  # by index: a slice would copy the rest of the keys
                key = keys[index]
                index += 1
                if self._items[key].is_live(now):
                    yield key

        with self._lock:
            return group_sorted(scan, prefix, delimiter, limit, after)

    def _delete_prefix(self, prefix: str, after: str | None, now: float) -> base.PrefixDeletion:
        upper = prefix_upper_bound(prefix)
        with self._lock:
            keys = self._sorted_keys
            low = self._first_index(prefix, after)
            high = len(keys) if upper is None else bisect.bisect_left(keys, upper)
            doomed = keys[low:high]
            del keys[low:high]
            items = [self._items.pop(key) for key in doomed]
        return base.PrefixDeletion(sum(item.is_live(now) for item in items), None)

    def _get_many(self, keys: list[str], now: float) -> dict[str, base.Item]:
        with self._lock:
            found = {key: self._live(key, now) for key in keys}
        return {key: item for key, item in found.items() if item is not None}

    def _transact(self, operations: list[base.Prepared], now: float) -> list[base.Item | None]:
        def write(op: base.EncodedWrite, current: base.Item | None) -> base.Item:
            item = self.next_item(op, current, now)
            self._store(item)
            return item

        with self._lock:
            current = {op.key: self._live(op.key, now) for op in operations}
            decided = self.decide(operations, current, now)
            return base.transact_under_lock(decided, current, write, self._forget)

    def _check(self) -> None:
        return None
