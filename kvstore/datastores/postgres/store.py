"""The shared datastore off AWS: one PostgreSQL table, reached through a connection pool.

Any number of service processes, on any number of machines, may share the table: every
check-and-write is one statement (an `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE` or an
`UPDATE ... WHERE version = ...`, each atomic on its row), and a transaction holds a row
lock on each of its keys from its read to its commit. Expiry uses the request's clock, as on
every backend: an expired row is absent to every read and every condition, rewritten in
place by the next write, and deleted by a cheap periodic sweep.

The store is given its pool and its table (schema.py); building the pool and creating the
table are the factory's and the CLI's (`kvstore postgres create-table`).
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import errors
from psycopg_pool import PoolTimeout

from kvstore.datastores import base
from kvstore.datastores.cursor import (
    Position,
    decode_cursor,
    encode_cursor,
    prefix_upper_bound,
)
from kvstore.datastores.errors import DatastoreUnavailable, PreconditionFailed
from kvstore.datastores.listing import KeyPage, group_sorted
from kvstore.datastores.postgres.errors import diagnosis, translate
from kvstore.datastores.postgres.pool import (
    Connection,
    Pool,
    has_pending_input,
    last_failure,
)
from kvstore.datastores.postgres.schema import quoted, verify
from kvstore.settings import POSTGRES_TABLE_NAME
from kvstore.timestamps import format_epoch, format_moment, parse_moment

log = logging.getLogger("kvstore.datastores.postgres")

#: The sessions that change the table: a connection lost during one may have committed.
WRITES = frozenset({"put", "delete", "delete_prefix", "transaction"})
#: Attempts at a transaction that met a deadlock, or a key deleted between its two locking
#: statements, before it is a 503.
TRANSACT_ATTEMPTS = 4
#: Each process sweeps expired rows at most this often, after a write, at most
#: `SWEEP_LIMIT` rows at a time, skipping rows another session holds.
SWEEP_INTERVAL_S = 60.0
SWEEP_LIMIT = 500

Row = tuple[str, str, int, str, float | None]
COLUMNS = "key, value, version, updated_at, expires_at"
LIVE = "(expires_at IS NULL OR expires_at > %(now)s)"


def _item(row: Row) -> base.Item:
    key, value, version, updated_at, expires_at = row
    return base.Item(key, base.decode_value(value), version, parse_moment(updated_at), expires_at)


def _is_live(row: Row, now: float) -> bool:
    """A row that is neither a transaction's placeholder (version 0) nor expired."""
    return row[2] > 0 and (row[4] is None or row[4] > now)


class _Retry(Exception):
    """Roll the transaction back and run it again (a key vanished between its locks)."""


def _by_range(statement: Callable[[str], str]) -> dict[tuple[bool, bool], str]:
    """`statement` over a range of keys, one per (after the start, bounded above)."""
    return {
        (after, bounded): statement(
            f"key {'>' if after else '>='} %(start)s{' AND key < %(upper)s' if bounded else ''}"
        )
        for after in (False, True)
        for bounded in (False, True)
    }


class Statements:
    """Every statement the store sends, rendered once for its table."""

    def __init__(self, table: str) -> None:
        t = quoted(table)
        values = "%(key)s, %(value)s, 1, %(updated_at)s, %(expires_at)s"
        upsert = (
            f"INSERT INTO {t} AS t ({COLUMNS}) VALUES ({values}) ON CONFLICT (key) DO UPDATE"
            " SET value = excluded.value, updated_at = excluded.updated_at,"
            " expires_at = excluded.expires_at"
        )
        update = (
            f"UPDATE {t} SET value = %(value)s, updated_at = %(updated_at)s,"
            " expires_at = %(expires_at)s, version = version + 1"
            f" WHERE key = %(key)s AND {LIVE}"
        )
        delete = f"DELETE FROM {t} WHERE key = %(key)s"
        self.get = f"SELECT {COLUMNS} FROM {t} WHERE key = %(key)s AND {LIVE}"
        self.get_many = f"SELECT {COLUMNS} FROM {t} WHERE key = ANY(%(keys)s) AND {LIVE}"
        # One statement per kind of condition, which it checks as it writes (a delete has no
        # if-absent form: the datastore refuses that condition).
        self.put: dict[str, str] = {
            # Create, or replace (where an expired row restarts at 1).
            "any": (
                f"{upsert}, version = CASE WHEN t.expires_at IS NULL OR t.expires_at > %(now)s"
                " THEN t.version + 1 ELSE 1 END RETURNING version"
            ),
            # If-None-Match: * -- over an expired row only.
            "absent": f"{upsert}, version = 1 WHERE t.expires_at <= %(now)s RETURNING version",
            "present": f"{update} RETURNING version",
            "version": f"{update} AND version = %(version)s RETURNING version",
        }
        self.delete: dict[str, str] = {
            "any": f"{delete} RETURNING {LIVE}",
            "present": f"{delete} AND {LIVE} RETURNING 1",
            "version": f"{delete} AND {LIVE} AND version = %(version)s RETURNING 1",
        }
        # Listing, names and prefix deletes: the keys from the prefix (or after the cursor's
        # key), below the prefix's bound; keyed by (after the start, bounded above).
        self.list = _by_range(
            lambda where: (
                f"SELECT {COLUMNS} FROM {t} WHERE {where} AND {LIVE} ORDER BY key LIMIT %(limit)s"
            )
        )
        self.keys = _by_range(
            lambda where: (
                f"SELECT key FROM {t} WHERE {where} AND {LIVE} ORDER BY key LIMIT %(limit)s"
            )
        )
        # Every row goes (expired leftovers too); the live ones are counted.
        self.delete_range = _by_range(
            lambda where: (
                f"WITH gone AS (DELETE FROM {t} WHERE {where} RETURNING expires_at)"
                f" SELECT count(*) FROM gone WHERE {LIVE}"
            )
        )
        # A transaction claims each absent key with an uncommitted placeholder row (version
        # 0, seen by no one else), then locks every row; both in key order.
        self.claim_absent = (
            f"INSERT INTO {t} ({COLUMNS}) SELECT k, '', 0, '', '-Infinity'"
            ' FROM unnest(%(keys)s::text[]) AS k ORDER BY k COLLATE "C"'
            " ON CONFLICT (key) DO NOTHING"
        )
        self.lock = f"SELECT {COLUMNS} FROM {t} WHERE key = ANY(%(keys)s) ORDER BY key FOR UPDATE"
        self.write = (
            f"UPDATE {t} SET value = %(value)s, version = %(version)s,"
            " updated_at = %(updated_at)s, expires_at = %(expires_at)s WHERE key = %(key)s"
        )
        # Deleted keys go, and so do the placeholders of keys that were only checked.
        self.release = (
            f"DELETE FROM {t} WHERE key = ANY(%(deleted)s)"
            " OR (key = ANY(%(checked)s) AND version = 0)"
        )
        self.sweep = (
            f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= %(now)s"
            " ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        )


class PostgresDatastore(base.Datastore):
    name = "postgres"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"transactions", "sorted_listing", "atomic_prefix_delete"}
    )

    def __init__(
        self,
        pool: Pool,
        table: str,
        *,
        owns_pool: bool = False,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        """`owns_pool`: close the pool with the store (else whoever made it closes it)."""
        super().__init__(**kwargs)
        if not POSTGRES_TABLE_NAME.fullmatch(table):
            raise ValueError(f"not a table name this store uses: {table!r}")
        self.pool = pool
        self.table = table
        self.sql = Statements(table)
        self._owns_pool = owns_pool
        self._verified = False
        self._sweep_interval_s = sweep_interval_s
        self._next_sweep = time.monotonic() + sweep_interval_s
        self._held = 0  # connections this store has checked out: tells exhaustion from outage
        self._held_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def _session(self, action: str) -> Iterator[Connection]:
        """A pool connection for `action`; psycopg's failures become the service's errors."""
        conn = self._checkout(action)
        try:
            if not self._verified:
                verify(conn, self.table)
                self._verified = True
            yield conn
        except psycopg.Error as exc:
            raise translate(exc, self.table, action, writes=action in WRITES) from exc
        finally:
            with self._held_lock:
                self._held -= 1
            self.pool.putconn(conn)

    def _checkout(self, action: str) -> Connection:
        """A connection that is still open, as far as one poll can tell.

        A connection the server closed while it sat in the pool (a restart, a terminated
        backend) is replaced before anything is sent on it, so that no request fails for it;
        its idle siblings are most likely closed too, so the pool checks them all at once.
        """
        try:
            conn = self.pool.getconn()
            if has_pending_input(conn):
                try:
                    self.pool.check_connection(conn)
                except psycopg.Error:
                    self.pool.putconn(conn)  # broken: the pool discards it
                    self.pool.check()
                    conn = self.pool.getconn()
        except PoolTimeout as exc:
            raise self._no_connection(action) from exc
        with self._held_lock:
            self._held += 1
        return conn

    def _no_connection(self, action: str) -> DatastoreUnavailable:
        with self._held_lock:
            held = self._held
        if held >= self.pool.max_size:
            return DatastoreUnavailable(
                f"PostgreSQL pool exhausted: all {self.pool.max_size} connections busy for"
                f" {self.pool.timeout:g} s ({action})",
                reason="busy",
            )
        return DatastoreUnavailable(
            f"PostgreSQL is unreachable: no connection within {self.pool.timeout:g} s ({action})",
            diagnosis=last_failure(self.pool),
        )

    def close(self) -> None:
        if self._owns_pool:
            self.pool.close()

    # -- single-key operations: one statement each -------------------------------------------

    def _get(self, key: str, now: float) -> base.Item | None:
        with self._session("get") as conn:
            row = conn.execute(self.sql.get, {"key": key, "now": now}).fetchone()
        return None if row is None else _item(row)

    def _put(self, write: base.EncodedWrite, now: float) -> tuple[base.Item, bool]:
        condition = write.condition
        params: dict[str, Any] = {
            "key": write.key,
            "value": write.value_json,
            "updated_at": format_epoch(now),
            "expires_at": write.expires_at,
            "now": now,
            "version": condition.version,
        }
        with self._session("put") as conn:
            row = conn.execute(self.sql.put[condition.kind], params).fetchone()
            self._maybe_sweep(conn, now)
        if row is None:
            raise PreconditionFailed(condition.describe())
        version = int(row[0])
        return self.stored_item(write, version, now), version == 1

    def _delete(self, key: str, condition: base.Condition, now: float) -> bool:
        params = {"key": key, "now": now, "version": condition.version}
        with self._session("delete") as conn:
            row = conn.execute(self.sql.delete[condition.kind], params).fetchone()
            self._maybe_sweep(conn, now)
        if condition.is_unconditional:
            return row is not None and bool(row[0])  # an expired row is deleted, but was absent
        if row is None:
            raise PreconditionFailed(condition.describe())
        return True

    # -- listing and batches ------------------------------------------------------------------

    def _list(self, prefix: str, limit: int, cursor: str | None, now: float) -> base.Page:
        after = None if cursor is None else decode_cursor(cursor)
        resume = after is not None and after >= prefix
        upper = prefix_upper_bound(prefix)
        params = {"start": after if resume else prefix, "upper": upper, "limit": limit + 1}
        statement = self.sql.list[(resume, upper is not None)]
        with self._session("list") as conn:
            rows = conn.execute(statement, {**params, "now": now}).fetchall()
        items = [_item(row) for row in rows[:limit]]
        return base.Page(items, encode_cursor(items[-1].key) if len(rows) > limit else None)

    def _keys(
        self, prefix: str, delimiter: str | None, limit: int, after: Position | None, now: float
    ) -> KeyPage:
        upper = prefix_upper_bound(prefix)
        chunk = limit + 1  # a page without folders needs no more

        def scan(start: str, inclusive: bool) -> Iterator[str]:
            while True:
                statement = self.sql.keys[(not inclusive, upper is not None)]
                params = {"start": start, "upper": upper, "limit": chunk, "now": now}
                keys = [row[0] for row in conn.execute(statement, params).fetchall()]
                yield from keys
                if len(keys) < chunk:
                    return
                start, inclusive = keys[-1], False

        with self._session("keys") as conn:
            return group_sorted(scan, prefix, delimiter, limit, after)

    def _delete_prefix(self, prefix: str, after: str | None, now: float) -> base.PrefixDeletion:
        """One statement: every key under the prefix goes at once, or none does."""
        resume = after is not None and after >= prefix
        upper = prefix_upper_bound(prefix)
        statement = self.sql.delete_range[(resume, upper is not None)]
        params = {"start": after if resume else prefix, "upper": upper, "now": now}
        with self._session("delete_prefix") as conn, conn.transaction():
            (live,) = conn.execute(statement, params).fetchone() or (0,)
        return base.PrefixDeletion(int(live), None)

    def _get_many(self, keys: builtins.list[str], now: float) -> dict[str, base.Item]:
        with self._session("get_many") as conn:
            rows = conn.execute(self.sql.get_many, {"keys": keys, "now": now}).fetchall()
        return {row[0]: _item(row) for row in rows}

    # -- transactions -------------------------------------------------------------------------

    def _transact(
        self, operations: builtins.list[base.Prepared], now: float
    ) -> builtins.list[base.Item | None]:
        """Lock every key, decide on what the locks hold, write, commit: all or nothing.

        A key that exists is locked by `SELECT ... FOR UPDATE`; one that does not is claimed
        first by inserting an uncommitted placeholder row, which makes anyone else creating
        it wait for this transaction. Both go in key order, so two transactions do not
        deadlock over their keys; a deadlock with a third party is broken by PostgreSQL and
        the transaction runs again, as it does when a key is deleted between the two steps.
        """
        keys = sorted(op.key for op in operations)
        for _ in range(TRANSACT_ATTEMPTS):
            try:
                with self._session("transaction") as conn:
                    try:
                        with conn.transaction():
                            results = self._transact_locked(conn, operations, keys, now)
                    except errors.DeadlockDetected:
                        raise _Retry from None
                    self._maybe_sweep(conn, now)
                return results
            except _Retry:
                continue
        raise DatastoreUnavailable(
            f"transaction on table {self.table!r} kept conflicting with other writers",
            reason="busy",
        )

    def _transact_locked(
        self,
        conn: Connection,
        operations: builtins.list[base.Prepared],
        keys: builtins.list[str],
        now: float,
    ) -> builtins.list[base.Item | None]:
        conn.execute(self.sql.claim_absent, {"keys": keys})
        rows = conn.execute(self.sql.lock, {"keys": keys}).fetchall()
        if len(rows) != len(keys):
            raise _Retry  # a key was deleted between the claim and the lock
        current = {row[0]: _item(row) if _is_live(row, now) else None for row in rows}
        writes: builtins.list[dict[str, Any]] = []
        deleted: builtins.list[str] = []

        def write(op: base.EncodedWrite, before: base.Item | None) -> base.Item:
            item = self.next_item(op, before, now)
            writes.append(
                {
                    "key": op.key,
                    "value": op.value_json,
                    "version": item.version,
                    "updated_at": format_moment(item.updated_at),
                    "expires_at": item.expires_at,
                }
            )
            return item

        decided = self.decide(operations, current, now)
        results = base.transact_under_lock(decided, current, write, deleted.append)
        if writes:
            conn.cursor().executemany(self.sql.write, writes)
        checked = [op.key for op in operations if isinstance(op, base.Check)]
        if deleted or checked:
            conn.execute(self.sql.release, {"deleted": deleted, "checked": checked})
        return results

    # -- expiry -------------------------------------------------------------------------------

    def _maybe_sweep(self, conn: Connection, now: float) -> None:
        """After a write, now and then, delete a bounded batch of expired rows.

        The write has succeeded by then: a sweep that fails is logged, never the request's.
        """
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self._sweep_interval_s
        try:
            self._sweep(conn, now)
        except psycopg.Error as exc:
            log.info("sweep of expired rows in table %r failed: %s", self.table, diagnosis(exc))

    def sweep(self) -> int:
        """Delete up to `SWEEP_LIMIT` expired rows now; returns how many went."""
        with self._session("sweep") as conn:
            return self._sweep(conn, self.clock())

    def _sweep(self, conn: Connection, now: float) -> int:
        """Rows another session holds are skipped, not waited for, so a sweep never blocks a
        request; what it leaves, a later sweep (or the next write to the key) takes."""
        return conn.execute(self.sql.sweep, {"now": now, "limit": SWEEP_LIMIT}).rowcount

    # -- health -------------------------------------------------------------------------------

    def _check(self) -> None:
        """The server answers and the table is at this kvstore's schema version."""
        with self._session("check") as conn:
            verify(conn, self.table)
