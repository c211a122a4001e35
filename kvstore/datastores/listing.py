"""Listings of names without values, grouped one level at a time by a delimiter.

With a delimiter, every key under the prefix whose rest holds the delimiter is rolled up into
its folder, the key up to and including the first delimiter after the prefix (S3's
CommonPrefixes): `web/bar` and `web/sub/x` under prefix `web/` with `/` are the name
`web/bar` and the folder `web/sub/`. A page holds at most `limit` entries, names and folders
together, and its cursor is the last entry; a listing resumed after a folder skips every key
under it, so each name and each folder appears exactly once across the pages.

The grouping is written once, over any source of keys in ascending order that can start
anywhere: a backend that keeps keys sorted seeks past a folder in one step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kvstore.datastores.cursor import Position, encode_position, prefix_upper_bound

#: Live keys under the listing's prefix, ascending, from `start` (itself included or not).
SortedScan = Callable[[str, bool], Iterator[str]]


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of names: keys, folders (empty without a delimiter) and the next cursor."""

    keys: list[str]
    prefixes: list[str]
    next_cursor: str | None


def folder_of(key: str, prefix: str, delimiter: str | None) -> str | None:
    """The folder `key` is rolled up into, or None when it is listed as itself."""
    if delimiter is None:
        return None
    index = key.find(delimiter, len(prefix))
    return None if index < 0 else key[: index + len(delimiter)]


def start_of(prefix: str, after: Position | None) -> tuple[str, bool] | None:
    """Where a sorted walk resumes (key, inclusive), or None when nothing can follow."""
    if after is None:
        return prefix, True
    if after.folder:
        upper = prefix_upper_bound(after.after)
        if upper is None:
            return None
        start, inclusive = upper, True
    else:
        start, inclusive = after.after, False
    return (start, inclusive) if start >= prefix else (prefix, True)


def group_sorted(
    scan: SortedScan, prefix: str, delimiter: str | None, limit: int, after: Position | None
) -> KeyPage:
    """One page of names and folders from keys in ascending order, seeking past each folder.

    A page is complete when it holds `limit` entries and one more key exists: only then does
    it carry a cursor, so the last page never comes back empty.
    """
    names: list[str] = []
    folders: list[str] = []
    last: Position | None = None
    resume = start_of(prefix, after)
    while resume is not None:
        start, inclusive = resume
        resume = None
        for key in scan(start, inclusive):
            if len(names) + len(folders) == limit:
                assert last is not None
                return KeyPage(names, folders, encode_position(last))
            folder = folder_of(key, prefix, delimiter)
            if folder is None:
                names.append(key)
                last = Position(key)
                continue
            folders.append(folder)
            last = Position(folder, folder=True)
            upper = prefix_upper_bound(folder)
            resume = None if upper is None else (upper, True)
            break
    return KeyPage(names, folders, None)
