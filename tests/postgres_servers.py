"""A real PostgreSQL server for the tests (and the benchmark): Debian's `postgresql` package.

`PostgresCluster` runs `initdb` into a fresh temporary folder and `postgres` on a free
127.0.0.1 port, TCP only, as an unprivileged user: PostgreSQL refuses to run as root, and the
tests run as root in CI, so there the server runs as `nobody`. It is stopped, and its folder
removed, at the end. `make install` brings Debian's package when it is missing (as root with
apt-get; elsewhere the tests that need it skip, saying why).

The session's shared server trades durability for speed (`fsync=off`: the operating system
still holds every committed write, so only a machine crash could lose one); the durability
tests start their own with PostgreSQL's defaults. Each test of the shared suites gets its own
table, dropped afterwards, on one session-wide connection pool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.dynamodb_servers import free_port

if TYPE_CHECKING:
    from kvstore.datastores.postgres import PostgresDatastore
    from kvstore.datastores.postgres.pool import Connection, Pool
    from tests.backends import FakeClock

#: Debian installs each major version's programs here, off PATH.
DEBIAN_BINDIRS = Path("/usr/lib/postgresql")
#: The account the server runs as when the tests run as root (Debian's `nobody`/`nogroup`).
NOBODY = 65534
START_TIMEOUT_S = 60
#: How long a test waits for a session to reach a lock before it fails.
LOCK_WAIT_S = 10
#: The superuser (fault injection, clean-up) and the service's own role, which owns the
#: `kvstore` database and nothing else, as the README tells a user to set it up.
ADMIN_ROLE = "postgres"
SERVICE_ROLE = "kvstore"
DATABASE = "kvstore"
#: The shared server: fast, and roomy enough for three workers of two services with their pools.
FAST = {"fsync": "off", "full_page_writes": "off", "max_connections": "200"}
#: The durability tests' server: PostgreSQL's defaults (fsync on, synchronous commit).
DURABLE = {"max_connections": "100"}


class PostgresMissing(RuntimeError):
    """PostgreSQL's server programs are not installed here."""


def bindir() -> Path:
    """Where `initdb`, `pg_ctl` and `postgres` are: PATH first, then Debian's newest version."""
    found = shutil.which("pg_ctl")
    if found is not None:
        return Path(found).resolve().parent
    candidates = sorted(
        DEBIAN_BINDIRS.glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name), reverse=True
    )
    if not candidates:
        raise PostgresMissing(
            "PostgreSQL is not installed (`make install` installs Debian's postgresql as root)"
        )
    return candidates[0].parent


@dataclass
class PostgresCluster:
    """One PostgreSQL server in its own folder; `start`, `stop` and `restart` it at will."""

    root: Path
    port: int
    bindir: Path
    settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Mapping[str, str] = FAST) -> PostgresCluster:
        """`initdb` a new cluster (UTF-8, C locale, trust on loopback) and configure it."""
        programs = bindir()
        root = Path(tempfile.mkdtemp(prefix="kvstore-postgres-"))
        cluster = cls(root, free_port(), programs, dict(settings))
        try:
            if os.geteuid() == 0:
                os.chown(root, NOBODY, NOBODY)
            cluster._run(
                "initdb",
                "--pgdata",
                str(cluster.data),
                "--username",
                ADMIN_ROLE,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
                "--no-instructions",
            )
            lines = {
                "port": str(cluster.port),
                "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": "''",
                **{name: value for name, value in cluster.settings.items()},
            }
            with (cluster.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.writelines(f"{name} = {value}\n" for name, value in lines.items())
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, role: str = SERVICE_ROLE, database: str = DATABASE, **params: str) -> str:
        extra = "".join(f" {name}={value}" for name, value in params.items())
        return f"host=127.0.0.1 port={self.port} user={role} dbname={database}{extra}"

    @property
    def url(self) -> str:
        """The service's DSN as a URL, the form the README shows."""
        return f"postgresql://{SERVICE_ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, program: str, *args: str) -> None:
        """Run one of PostgreSQL's programs, as `nobody` when this process is root."""
        as_root = os.geteuid() == 0
        done = subprocess.run(
            [str(self.bindir / program), *args],
            cwd=self.root,  # pg_ctl needs a working directory it can read
            user=NOBODY if as_root else None,
            group=NOBODY if as_root else None,
            extra_groups=[] if as_root else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S + 30,
            check=False,
        )
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed: {done.stderr}{tail}")

    def pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "--pgdata", str(self.data), *args)

    def start(self) -> None:
        self.pg_ctl("--log", str(self.log), "--wait", f"--timeout={START_TIMEOUT_S}", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" rolls back sessions and checkpoints, "immediate" kills every
        process at once, as a crash would (the next start recovers from the WAL)."""
        self.pg_ctl("--mode", mode, "--wait", f"--timeout={START_TIMEOUT_S}", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def bootstrap(self) -> None:
        """The service's role and the database it owns (PostgreSQL 15 and later give no one
        but a database's owner the right to create tables in its public schema)."""
        with self.admin("postgres") as conn:
            conn.execute(f"CREATE ROLE {SERVICE_ROLE} LOGIN")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {SERVICE_ROLE}")

    def admin(self, database: str = DATABASE) -> Connection:
        """A superuser connection in autocommit mode, to look behind the service's back."""
        import psycopg

        return psycopg.connect(self.dsn(ADMIN_ROLE, database), autocommit=True)

    def wait_for_lock_waiters(self, count: int, application_name: str | None = None) -> list[int]:
        """The pids of the sessions (of `application_name`, if given) that wait on a lock, once
        there are `count`: the moment a test arranged, waited for rather than guessed."""
        query = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        if application_name is not None:
            query += " AND application_name = %(name)s"
        deadline = time.monotonic() + LOCK_WAIT_S
        with self.admin() as conn:
            while time.monotonic() < deadline:
                pids = [row[0] for row in conn.execute(query, {"name": application_name})]
                if len(pids) >= count:
                    return pids
                time.sleep(0.01)
        raise AssertionError(f"{count} sessions never waited on a lock")

    def destroy(self) -> None:
        """Stop the server if it runs, and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running(settings: Mapping[str, str] = FAST) -> Iterator[PostgresCluster]:
    """A started, bootstrapped cluster, destroyed on exit whatever happens."""
    cluster = PostgresCluster.create(settings)
    try:
        cluster.start()
        cluster.bootstrap()
        yield cluster
    finally:
        cluster.destroy()


def own_server(settings: Mapping[str, str]) -> Iterator[PostgresCluster]:
    """For a fixture: a running cluster of its own, or a skip saying why there is none."""
    from tests.backends import selected_backends

    if "postgres" not in selected_backends():
        pytest.skip("backend postgres is not in KVSTORE_TEST_BACKENDS")
    try:
        bindir()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    with running(settings) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """The session's shared PostgreSQL server (`FAST`), started on first use."""
    yield from own_server(FAST)


def shared_server(request: pytest.FixtureRequest) -> PostgresCluster:
    """The session's server, for a test of the PostgreSQL backend (skipped when not selected)."""
    cluster: PostgresCluster = request.getfixturevalue("postgres_server")
    return cluster


@pytest.fixture(scope="session")
def postgres_pool(postgres_server: PostgresCluster) -> Iterator[Pool]:
    """One pool for every test of the shared suites (each on its own table)."""
    from kvstore.datastores.postgres import open_pool

    pool = open_pool(postgres_server.dsn(), size=8, statement_timeout_ms=10_000)
    yield pool
    pool.close()


def unique_table() -> str:
    return f"kv_{uuid.uuid4().hex[:12]}"


def service_environment(cluster: PostgresCluster, table: str) -> dict[str, str]:
    """The variables of a `kvstore serve` on `table` of `cluster`, which it creates itself."""
    return {
        "KVSTORE_DATASTORE": "postgres",
        "KVSTORE_POSTGRES_DSN": cluster.url,
        "KVSTORE_POSTGRES_TABLE": table,
        "KVSTORE_POSTGRES_CREATE_TABLE": "true",
    }


def drop_table(conn: Connection, table: str) -> None:
    """Remove a table the tests made, with its row in the schema registry."""
    from kvstore.datastores.postgres.schema import quoted

    with conn.transaction():
        conn.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
        conn.execute("DELETE FROM kvstore_schema WHERE table_name = %s", (table,))


class Tables:
    """Empty tables for the shared suites: each made once, emptied after its test, reused.

    Emptying a table is a fraction of a millisecond; creating one is several, per test.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.free: list[str] = []

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        from kvstore.datastores.postgres import migrate

        table = unique_table()
        with self.pool.connection() as conn:
            migrate(conn, table)
        return table

    def give_back(self, table: str) -> None:
        from kvstore.datastores.postgres.schema import quoted

        with self.pool.connection() as conn:
            conn.execute(f"DELETE FROM {quoted(table)}")
        self.free.append(table)


@pytest.fixture(scope="session")
def postgres_tables(postgres_pool: Pool) -> Tables:
    return Tables(postgres_pool)


def build_store(request: pytest.FixtureRequest, clock: FakeClock) -> PostgresDatastore:
    """A store on an empty table of the shared server, emptied again after the test."""
    from kvstore.datastores.postgres import PostgresDatastore

    tables: Tables = request.getfixturevalue("postgres_tables")
    table = tables.take()
    request.addfinalizer(lambda: tables.give_back(table))
    return PostgresDatastore(tables.pool, table, clock=clock)
