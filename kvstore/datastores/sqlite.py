"""The embedded default: one SQLite file in WAL mode, safe across threads and processes.

Each thread of each process keeps its own connection (sqlite3 connections must not cross
threads, and must never survive a fork). Every conditional write is one `BEGIN IMMEDIATE`
transaction, so SQLite's file lock makes check-and-write atomic across gunicorn workers.

Recovery, so that no thread keeps answering from a broken connection:
- a lock held too long is a 503 and the connection stays;
- any other operational failure (read-only, I/O, a missing table, a file that cannot be
  opened) is a 503 and the connection is closed: the next operation on that thread opens a
  fresh one, so a file made writable again is written again;
- the file at the path is compared with the one opened (device and inode) before every
  operation: removed or replaced, every operation (writes above all: into an unlinked file
  they would be lost at restart) is a 503 naming which, and none opens or creates a new file;
- a damaged file (a corrupt page, not a database) is DatastoreCorrupt, a 500, logged once:
  waiting will not mend it, so every operation after it answers the same.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from kvstore.datastores import base
from kvstore.datastores.cursor import (
    Position,
    decode_cursor,
    encode_cursor,
    prefix_upper_bound,
)
from kvstore.datastores.errors import (
    DatastoreCorrupt,
    DatastoreUnavailable,
    Outage,
    PreconditionFailed,
)
from kvstore.datastores.listing import KeyPage, group_sorted
from kvstore.timestamps import format_moment, parse_moment

log = logging.getLogger("kvstore.datastores.sqlite")

BUSY_TIMEOUT_MS = 5000
#: SQLite's primary result codes (`sqlite_errorcode & 0xFF`) by what they call for.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_NOTADB = 5, 6, 11, 26
#: Writes nothing, but fails at once on a connection or file that cannot be written.
_WRITE_PROBE = "DELETE FROM kv WHERE 0"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at REAL
) WITHOUT ROWID
"""

_SELECT = "SELECT key, value, version, updated_at, expires_at FROM kv"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"

Row = tuple[str, str, int, str, float | None]


def _item(row: Row) -> base.Item:
    key, value, version, updated_at, expires_at = row
    return base.Item(key, base.decode_value(value), version, parse_moment(updated_at), expires_at)


class _ThreadConnection:
    """One thread's connection, closed when its thread ends, its store is closed or collected.

    Never left for the garbage collector to close (Python 3.13 warns of every connection that
    is), and never closed in a process it was not opened in (a forked child must not touch
    its parent's connection).
    """

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def close(self) -> None:
        if self.pid == os.getpid():
            with suppress(sqlite3.Error):
                self.conn.close()

    __del__ = close


def _key_range(prefix: str, after: str | None) -> tuple[list[str], list[Any]]:
    """SQL clauses (and their parameters) for the keys under `prefix`, after `after` if any."""
    if after is not None and after >= prefix:
        clauses, params = ["key > ?"], [after]
    else:
        clauses, params = ["key >= ?"], [prefix]
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        clauses.append("key < ?")
        params.append(upper)
    return clauses, params


class SQLiteDatastore(base.Datastore):
    name = "sqlite"
    capabilities = frozenset({"transactions", "sorted_listing", "atomic_prefix_delete"})

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        **kwargs: Any,
    ) -> None:
        """`busy_timeout_ms`: how long a write waits for another's lock before it is a 503."""
        super().__init__(**kwargs)
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._in_memory = str(self.path) == ":memory:"
        #: (device, inode) of the file the first connection opened; every later one must match.
        self._identity: tuple[int, int] | None = None
        self._corruption: str | None = None  # set once, by the first damage seen

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._identity is None and not self._in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Only the first connection may create the file: a later one opening a file that was
        # removed meanwhile would otherwise write into a new, empty one.
        target: str | Path = self.path if self._identity is None else self._uri()
        conn = sqlite3.connect(
            target,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            # Each connection serves one thread (`_conn`); another may only close it.
            check_same_thread=False,
            cached_statements=64,
            uri=isinstance(target, str),
        )
        try:
            # NORMAL in WAL mode: a committed transaction survives the process being killed;
            # only an OS crash or power loss can lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            if not self._schema_ready:
                with self._schema_lock:
                    if not self._schema_ready:
                        self._initialise(conn)
                        self._schema_ready = True
                        self._identity = self._file_identity()
        except BaseException:
            conn.close()  # a file that cannot be set up leaves no connection behind
            raise
        return conn

    def _uri(self) -> str:
        return "file:" + urllib.parse.quote(str(self.path.absolute())) + "?mode=rw"

    def _file_identity(self) -> tuple[int, int] | None:
        if self._in_memory:
            return None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _verify_file(self) -> None:
        """Refuse to go on when the file at the path is not the one this store opened."""
        if self._identity is None:
            return  # nothing opened yet (or in memory)
        identity = self._file_identity()
        if identity == self._identity:
            return
        what = "removed" if identity is None else "replaced by another file"
        raise DatastoreUnavailable(
            f"SQLite: the database file was {what} while the server runs", reason="file-changed"
        )

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (a lasting property of the file) and create the table.

        On a new file, SQLite answers "database is locked" at once, without waiting out the busy
        timeout, when another connection initialises it at the same moment (another worker
        process; threads here are serialised by `_schema_lock`), so retry until the timeout.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @property
    def _conn(self) -> sqlite3.Connection:
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            held = _ThreadConnection(self._connect())
            self._local.held = held
            self._connections.add(held)
        return held.conn

    def _discard(self) -> None:
        """Close this thread's connection: the next operation opens a fresh one."""
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is not None:
            held.close()  # not in a forked child: there it is only forgotten
            self._connections.discard(held)
        self._local.held = None

    @contextmanager
    def _translated(self) -> Iterator[sqlite3.Connection]:
        """Run an operation on this thread's connection, SQLite's failures made the store's.

        The path stays out of every message: it reaches clients in the 503's detail.
        """
        if self._corruption is not None:
            raise DatastoreCorrupt(self._corruption)
        self._verify_file()
        try:
            yield self._conn
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
                raise self._damaged(exc) from exc
            if code not in (SQLITE_BUSY, SQLITE_LOCKED):
                self._discard()
                self._verify_file()  # a file removed or replaced is the better answer
            reason: Outage = "busy" if code in (SQLITE_BUSY, SQLITE_LOCKED) else "unreachable"
            raise DatastoreUnavailable(f"SQLite: {exc}", reason=reason) from exc
        except OSError as exc:
            self._discard()
            raise DatastoreUnavailable(f"SQLite: {exc.strerror}", reason="unreachable") from exc

    def _damaged(self, exc: sqlite3.DatabaseError) -> DatastoreCorrupt:
        """The first damage seen is logged, once, and answers every operation after it."""
        with self._schema_lock:
            first = self._corruption is None
            if first:
                self._corruption = f"SQLite: {exc}"
        if first:
            log.error("the SQLite database is corrupt: %s (restore it from a backup)", exc)
        self._discard()
        return DatastoreCorrupt(self._corruption or str(exc))

    @contextmanager
    def _write_transaction(self) -> Iterator[sqlite3.Connection]:
        with self._translated() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with suppress(sqlite3.Error):  # a broken connection has nothing to roll back
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection; a later call opens new ones."""
        for held in list(self._connections):
            held.close()
        self._connections = weakref.WeakSet()
        self._local = threading.local()

    # -- hooks -------------------------------------------------------------------------------

    @staticmethod
    def _current(conn: sqlite3.Connection, key: str, now: float) -> base.Item | None:
        row = conn.execute(f"{_SELECT} WHERE key = ? AND {_LIVE}", (key, now)).fetchone()
        return None if row is None else _item(row)

    def _get(self, key: str, now: float) -> base.Item | None:
        with self._translated() as conn:
            return self._current(conn, key, now)

    def _write(
        self,
        conn: sqlite3.Connection,
        write: base.EncodedWrite,
        current: base.Item | None,
        now: float,
    ) -> base.Item:
        item = self.next_item(write, current, now)
        conn.execute(
            "INSERT OR REPLACE INTO kv (key, value, version, updated_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                item.key,
                write.value_json,
                item.version,
                format_moment(item.updated_at),
                item.expires_at,
            ),
        )
        return item

    def _put(self, write: base.EncodedWrite, now: float) -> tuple[base.Item, bool]:
        with self._write_transaction() as conn:
            current = self._current(conn, write.key, now)
            if not write.condition.holds(current):
                raise PreconditionFailed(write.condition.describe())
            return self._write(conn, write, current, now), current is None

    def _delete(self, key: str, condition: base.Condition, now: float) -> bool:
        with self._write_transaction() as conn:
            current = self._current(conn, key, now)
            if not condition.holds(current):
                raise PreconditionFailed(condition.describe())
            # An expired row is deleted too, but counts as absent.
            conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            return current is not None

    def _list(self, prefix: str, limit: int, cursor: str | None, now: float) -> base.Page:
        after = None if cursor is None else decode_cursor(cursor)
        clauses, params = _key_range(prefix, after)
        sql = f"{_SELECT} WHERE {_LIVE} AND {' AND '.join(clauses)} ORDER BY key LIMIT ?"
        with self._translated() as conn:
            rows = conn.execute(sql, [now, *params, limit + 1]).fetchall()
        items = [_item(row) for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1].key) if len(rows) > limit else None
        return base.Page(items, next_cursor)

    def _keys(
        self, prefix: str, delimiter: str | None, limit: int, after: Position | None, now: float
    ) -> KeyPage:
        upper = prefix_upper_bound(prefix)
        bound = "" if upper is None else " AND key < ?"
        chunk = limit + 1  # a page without folders needs no more

        def scan(start: str, inclusive: bool) -> Iterator[str]:
            while True:
                sql = (
                    f"SELECT key FROM kv WHERE key {'>=' if inclusive else '>'} ?{bound}"
                    f" AND {_LIVE} ORDER BY key LIMIT ?"
                )
                params = [start, *([] if upper is None else [upper]), now, chunk]
                keys = [row[0] for row in conn.execute(sql, params).fetchall()]
                yield from keys
                if len(keys) < chunk:
                    return
                start, inclusive = keys[-1], False

        with self._translated() as conn:
            return group_sorted(scan, prefix, delimiter, limit, after)

    def _delete_prefix(self, prefix: str, after: str | None, now: float) -> base.PrefixDeletion:
        clauses, params = _key_range(prefix, after)
        where = " AND ".join(clauses)
        with self._write_transaction() as conn:
            (live,) = conn.execute(
                f"SELECT count(*) FROM kv WHERE {where} AND {_LIVE}", [*params, now]
            ).fetchone()
            conn.execute(f"DELETE FROM kv WHERE {where}", params)  # expired leftovers too
        return base.PrefixDeletion(live, None)

    def _get_many(self, keys: list[str], now: float) -> dict[str, base.Item]:
        found: dict[str, base.Item] = {}
        with self._translated() as conn:
            for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"{_SELECT} WHERE key IN ({marks}) AND {_LIVE}", (*chunk, now)
                ).fetchall()
                found.update((row[0], _item(row)) for row in rows)
        return found

    def _transact(self, operations: list[base.Prepared], now: float) -> list[base.Item | None]:
        with self._write_transaction() as conn:

            def write(op: base.EncodedWrite, before: base.Item | None) -> base.Item:
                return self._write(conn, op, before, now)

            def delete(key: str) -> None:
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))

            current = {op.key: self._current(conn, op.key, now) for op in operations}
            decided = self.decide(operations, current, now)
            return base.transact_under_lock(decided, current, write, delete)

    def _check(self) -> None:
        """Readable and writable, on this thread's connection: a read-only file (or one
        opened while it was) fails here as it would on the next write."""
        with self._translated() as conn:
            conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall()
            conn.execute(_WRITE_PROBE)
