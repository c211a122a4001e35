"""What only the PostgreSQL datastore promises, on a real server (tests/postgres_servers.py):
its schema and how it migrates, values kept as their JSON text, the sweep of expired rows,
transactions that hold every key (absent ones too) until they commit, and its settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kvstore.datastores import factory
from kvstore.datastores.base import ABSENT, Check, Put, at_version
from kvstore.datastores.errors import DatastoreUnavailable, PreconditionFailed, TransactionFailed
from kvstore.datastores.postgres import PostgresDatastore, create_table, migrate, open_pool, schema
from kvstore.datastores.postgres import store as store_module
from kvstore.datastores.postgres.pool import Connection, Pool, conninfo
from kvstore.datastores.postgres.schema import quoted
from kvstore.errors import RETRY_AFTER_S, outage_detail
from kvstore.settings import Settings, SettingsError
from tests.backends import BUILDERS, FakeClock
from tests.postgres_servers import PostgresCluster, drop_table, shared_server, unique_table

#: How long a test waits for a blocked call to finish once its lock is released.
LOCK_WAIT_S = 10


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> PostgresCluster:
    return shared_server(request)


@pytest.fixture
def store(
    cluster: PostgresCluster, request: pytest.FixtureRequest, clock: FakeClock
) -> PostgresDatastore:
    built = BUILDERS["postgres"](request, Path(), clock)
    assert isinstance(built, PostgresDatastore)
    return built


@pytest.fixture
def admin(cluster: PostgresCluster) -> Iterator[Connection]:
    with cluster.admin() as conn:
        yield conn


@pytest.fixture
def fresh_table(cluster: PostgresCluster, admin: Connection) -> Iterator[str]:
    """A table name nothing uses yet; whatever a test makes of it is dropped afterwards."""
    table = unique_table()
    yield table
    drop_table(admin, table)


def rows(admin: Connection, table: str) -> list[tuple[Any, ...]]:
    return admin.execute(f"SELECT key, value, version FROM {quoted(table)} ORDER BY key").fetchall()


# -- schema ----------------------------------------------------------------------------------


def test_the_table_is_created_once_and_its_version_recorded(
    cluster: PostgresCluster, admin: Connection, fresh_table: str
) -> None:
    first = create_table(cluster.dsn(), fresh_table)
    assert first.summary() == f"PostgreSQL table {fresh_table!r} created (schema version 1)"
    again = create_table(cluster.dsn(), fresh_table)
    assert again.summary() == f"PostgreSQL table {fresh_table!r} already at schema version 1"
    assert admin.execute(
        "SELECT version FROM kvstore_schema WHERE table_name = %s", (fresh_table,)
    ).fetchall() == [(1,)]
    columns = admin.execute(
        "SELECT column_name, data_type, collation_name FROM information_schema.columns"
        " WHERE table_name = %s ORDER BY ordinal_position",
        (fresh_table,),
    ).fetchall()
    assert columns == [
        ("key", "text", "C"),
        ("value", "text", None),
        ("version", "bigint", None),
        ("updated_at", "text", None),
        ("expires_at", "double precision", None),
    ]


def test_values_are_kept_as_the_compact_json_text_sent(
    store: PostgresDatastore, admin: Connection
) -> None:
    value = {"b": 1, "a": [1.0, 1e300, "é", {}], "": None}
    store.put("k", value)
    assert rows(admin, store.table) == [("k", '{"b":1,"a":[1.0,1e+300,"é",{}],"":null}', 1)]
    stored = store.get("k")
    assert stored is not None
    assert list(stored.value) == ["b", "a", ""]
    assert type(stored.value["a"][1]) is float


def test_a_later_schema_version_migrates_in_place(
    cluster: PostgresCluster,
    admin: Connection,
    fresh_table: str,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
) -> None:
    create_table(cluster.dsn(), fresh_table)
    pool = open_pool(cluster.dsn(), size=1, statement_timeout_ms=5000)
    try:
        PostgresDatastore(pool, fresh_table, clock=clock).put("k", "kept")
        monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
        later = ("ALTER TABLE {table} ADD COLUMN note text",)
        monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, later))
        behind = PostgresDatastore(pool, fresh_table, clock=clock)
        with pytest.raises(DatastoreUnavailable) as refused:
            behind.check()
        assert refused.value.reason == "missing-table"
        assert "schema version 1, this kvstore needs 2" in str(refused.value)
        assert "kvstore postgres create-table" in outage_detail(refused.value)

        migrated = create_table(cluster.dsn(), fresh_table)
        assert migrated.summary() == (
            f"PostgreSQL table {fresh_table!r} migrated from schema version 1 to 2"
        )
        behind.check()
        item = behind.get("k")
        assert item is not None
        assert item.value == "kept"
    finally:
        pool.close()


def test_a_table_newer_than_this_kvstore_is_refused(
    store: PostgresDatastore, admin: Connection
) -> None:
    admin.execute("UPDATE kvstore_schema SET version = 99 WHERE table_name = %s", (store.table,))
    try:
        with pytest.raises(DatastoreUnavailable) as refused:
            store.check()
        assert refused.value.reason == "unsupported"
        assert outage_detail(refused.value).endswith("upgrade kvstore")
        with store.pool.connection() as conn, pytest.raises(DatastoreUnavailable):
            migrate(conn, store.table)
    finally:
        admin.execute("UPDATE kvstore_schema SET version = 1 WHERE table_name = %s", (store.table,))


def test_a_missing_table_names_the_command_that_creates_it(
    cluster: PostgresCluster, store: PostgresDatastore, fresh_table: str
) -> None:
    missing = PostgresDatastore(store.pool, fresh_table)
    calls: list[Callable[[], object]] = [missing.check, lambda: missing.get("k")]
    for call in calls:
        with pytest.raises(DatastoreUnavailable) as unavailable:
            call()
        assert unavailable.value.reason == "missing-table"
        assert RETRY_AFTER_S[unavailable.value.reason] == 30
        assert outage_detail(unavailable.value) == (
            f"PostgreSQL table {fresh_table!r} does not exist; create or migrate it with"
            " `kvstore postgres create-table` (or set KVSTORE_POSTGRES_CREATE_TABLE=true)"
        )


def test_a_table_kvstore_did_not_create_is_left_alone(
    cluster: PostgresCluster, admin: Connection, fresh_table: str
) -> None:
    admin.execute(f"CREATE TABLE {quoted(fresh_table)} (key text)")
    with pytest.raises(DatastoreUnavailable, match="kvstore did not create it") as refused:
        create_table(cluster.dsn(), fresh_table)
    assert refused.value.reason == "refused"


def test_a_database_that_is_not_utf8_is_refused(
    cluster: PostgresCluster, admin: Connection
) -> None:
    with cluster.admin("postgres") as server:
        server.execute("CREATE DATABASE latin1 ENCODING 'LATIN1' TEMPLATE template0 OWNER kvstore")
    try:
        with pytest.raises(DatastoreUnavailable, match="not UTF8") as refused:
            create_table(cluster.dsn(database="latin1"), unique_table())
        assert refused.value.reason == "refused"
    finally:
        with cluster.admin("postgres") as server:
            server.execute("DROP DATABASE latin1")


def test_an_unreachable_server_is_unavailable_with_the_drivers_words_for_the_log(
    cluster: PostgresCluster,
) -> None:
    dsn = cluster.dsn().replace(f"port={cluster.port}", "port=1")
    with pytest.raises(DatastoreUnavailable) as unavailable:
        create_table(dsn, unique_table())
    assert unavailable.value.reason == "unreachable"
    assert "127.0.0.1" not in str(unavailable.value)  # the client-facing part names no host
    assert unavailable.value.diagnosis is not None
    assert "port 1" in unavailable.value.diagnosis


# -- expiry ----------------------------------------------------------------------------------


def test_expired_rows_are_swept_in_bounded_batches(
    store: PostgresDatastore, admin: Connection, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        store.put(f"short/{n}", n, ttl=10)
    store.put("long", 1, ttl=1000)
    store.put("forever", 1)
    assert store.sweep() == 0
    clock.advance(20)
    monkeypatch.setattr(store_module, "SWEEP_LIMIT", 2)
    assert store.sweep() == 2
    assert store.sweep() == 1
    assert store.sweep() == 0
    assert [row[0] for row in rows(admin, store.table)] == ["forever", "long"]


def test_writes_sweep_now_and_then(
    store: PostgresDatastore, admin: Connection, clock: FakeClock
) -> None:
    sweeping = PostgresDatastore(store.pool, store.table, clock=clock, sweep_interval_s=0)
    sweeping.put("brief", 1, ttl=1)
    clock.advance(2)
    assert [row[0] for row in rows(admin, store.table)] == ["brief"]  # reads leave it
    assert sweeping.get("brief") is None
    sweeping.put("other", 2)
    assert [row[0] for row in rows(admin, store.table)] == ["other"]


# -- transactions ----------------------------------------------------------------------------


def test_a_transaction_holds_an_absent_key_until_it_commits(
    cluster: PostgresCluster, store: PostgresDatastore, admin: Connection
) -> None:
    """While a transaction waits for one of its keys, a key it found absent is claimed: no one
    sees it, and a create of it waits, then finds the transaction's item."""
    store.put("held", 0)
    admin.execute("BEGIN")
    admin.execute(f"SELECT 1 FROM {quoted(store.table)} WHERE key = 'held' FOR UPDATE")
    with ThreadPoolExecutor(max_workers=2) as threads:
        txn = threads.submit(
            store.transact,
            [Put("absent", "txn", condition=ABSENT), Put("held", 1, condition=at_version(1))],
        )
        cluster.wait_for_lock_waiters(1)  # the transaction: claimed "absent", waits for "held"
        assert store.get("absent") is None
        assert [item.key for item in store.list().items] == ["held"]
        create = threads.submit(store.put, "absent", "rival", condition=ABSENT)
        cluster.wait_for_lock_waiters(2)  # the create waits for the transaction's claim
        admin.execute("COMMIT")
        results = txn.result(timeout=LOCK_WAIT_S)
        with pytest.raises(PreconditionFailed):
            create.result(timeout=LOCK_WAIT_S)
    assert [(r.key, r.value, r.version) for r in results if r] == [
        ("absent", "txn", 1),
        ("held", 1, 2),
    ]
    item = store.get("absent")
    assert item is not None
    assert item.value == "txn"


def test_a_failed_transaction_leaves_no_placeholder(
    store: PostgresDatastore, admin: Connection
) -> None:
    store.put("k", 1)
    with pytest.raises(TransactionFailed) as failed:
        store.transact([Put("new", 1), Check("k", at_version(7)), Check("nope", ABSENT)])
    assert failed.value.index == 1
    assert rows(admin, store.table) == [("k", "1", 1)]
    assert store.transact([Check("nope", ABSENT), Put("new", 2)])[1] is not None
    assert rows(admin, store.table) == [("k", "1", 1), ("new", "2", 1)]  # no version-0 row


def test_transactions_over_the_same_keys_in_any_order_do_not_deadlock(
    store: PostgresDatastore,
) -> None:
    keys = [f"acct/{n}" for n in range(4)]
    for key in keys:
        store.put(key, 0)
    start = threading.Barrier(4)

    def bump(order: list[str]) -> int:
        start.wait()
        done = 0
        while done < 15:
            items = store.get_many(order)
            try:
                store.transact(
                    [
                        Put(key, items[key].value + 1, condition=at_version(items[key].version))
                        for key in order
                    ]
                )
            except TransactionFailed:
                continue
            done += 1
        return done

    orders = [keys, keys[::-1], keys[1:] + keys[:1], keys[2:] + keys[:2]]
    with ThreadPoolExecutor(max_workers=4) as threads:
        assert sum(threads.map(bump, orders)) == 60
    assert [store.get(key).value for key in keys] == [60] * 4  # type: ignore[union-attr]


# -- pool and settings -----------------------------------------------------------------------


def test_every_connection_has_the_statement_timeout(cluster: PostgresCluster) -> None:
    pool = open_pool(cluster.dsn(), size=2, statement_timeout_ms=1234)
    try:
        with pool.connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("1234ms",)
            assert conn.autocommit
    finally:
        pool.close()


def test_the_dsn_keeps_its_own_parameters() -> None:
    given = conninfo("postgresql://u@db:5432/kv?application_name=mine")
    assert "application_name=mine" in given
    assert "connect_timeout=3" in given
    assert "connect_timeout=9" in conninfo("host=db connect_timeout=9")
    with pytest.raises(SettingsError, match="KVSTORE_POSTGRES_DSN"):
        conninfo("not a dsn")


def test_the_factory_creates_the_table_and_owns_its_pool(
    cluster: PostgresCluster, fresh_table: str
) -> None:
    settings = Settings(
        datastore="postgres",
        postgres_dsn=cluster.url,
        postgres_table=fresh_table,
        postgres_create_table=True,
        postgres_pool_size=3,
        max_value_bytes=1000,
    )
    built = factory.build(settings)
    assert isinstance(built, PostgresDatastore)
    pool: Pool = built.pool
    try:
        assert pool.max_size == 3
        assert built.max_value_bytes == 1000
        item, created = built.put("k", [1])
        assert created
        assert built.get("k") == item
        built.check()
    finally:
        built.close()
    assert pool.closed
