"""The connection pool of the PostgreSQL datastore: one per process, built once per app.

Sized by `KVSTORE_POSTGRES_POOL_SIZE` (default 20: the server's 4 request threads plus the
batch executor's 16 workers, the most datastore calls one process makes at once). It opens
with one connection and grows on demand, so an idle worker holds one connection, not twenty.
Every connection is in autocommit mode (each single-key operation is one statement, and a
transaction is opened explicitly) with the configured statement timeout.

The pool connects in the background: a server that is down when the service starts, or that
restarts later, costs requests a 503 until it is back, never the process. Why the last
attempt to connect failed is kept (`last_failure`) for the 503's log line.
"""

from __future__ import annotations

import logging
import select
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from kvstore.datastores.postgres.errors import diagnosis
from kvstore.settings import ENV_POSTGRES_DSN, SettingsError

if TYPE_CHECKING:
    from typing import Self

    from kvstore.settings import Settings

Connection = psycopg.Connection[TupleRow]
Pool = ConnectionPool[Connection]

#: Defaults for what the DSN leaves unset (a DSN's own values always win): a bounded connect,
#: a name in `pg_stat_activity`, and TCP keepalives, so that a request waiting on a server
#: whose machine vanished (no reset ever comes) fails within about 25 s instead of hanging.
CONNECT_TIMEOUT_S = 3
APPLICATION_NAME = "kvstore"
DSN_DEFAULTS = {
    "connect_timeout": str(CONNECT_TIMEOUT_S),
    "application_name": APPLICATION_NAME,
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}
#: How long a request waits for a free connection before it is a 503.
POOL_TIMEOUT_S = 5.0
#: Connections kept open while idle.
MIN_SIZE = 1
#: How long the pool retries one connection (backing off from 1 s) before it gives up; the
#: next request that needs a connection starts again at once. Short, so that a server back
#: after a long outage is found within seconds rather than after a long backoff.
RECONNECT_TIMEOUT_S = 10.0


def conninfo(dsn: str) -> str:
    """The DSN with this service's defaults for the parameters it does not set.

    Raises:
        SettingsError: the DSN is not a connection string or URL libpq accepts.
    """
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise SettingsError(
            f"{ENV_POSTGRES_DSN} is not a PostgreSQL connection string: {exc}"
        ) from None
    return make_conninfo(dsn, **{k: v for k, v in DSN_DEFAULTS.items() if k not in given})


class RecordingConnection(Connection):
    """A connection class that remembers why the last attempt to open one failed.

    Each pool gets a subclass of its own (`open_pool`), so pools of different servers keep
    their failures apart.
    """

    last_failure: ClassVar[str | None] = None

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        try:
            conn = super().connect(conninfo, **kwargs)
        except psycopg.Error as exc:
            cls.last_failure = diagnosis(exc)
            raise
        cls.last_failure = None
        return conn


def last_failure(pool: Pool) -> str | None:
    """Why `pool` last failed to connect, if its latest attempt failed."""
    failure: str | None = getattr(pool.connection_class, "last_failure", None)
    return failure


def open_pool(
    dsn: str,
    *,
    size: int,
    statement_timeout_ms: int,
    timeout: float = POOL_TIMEOUT_S,
    min_size: int = MIN_SIZE,
) -> Pool:
    """A pool on `dsn`, opened without waiting for its first connection."""
    quiet_pool_logger()

    def configure(conn: Connection) -> None:
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false)", (f"{statement_timeout_ms}ms",)
        )

    connection_class = type("PoolConnection", (RecordingConnection,), {})
    pool: Pool = ConnectionPool(
        conninfo(dsn),
        connection_class=connection_class,
        kwargs={"autocommit": True},
        min_size=min(min_size, size),
        max_size=size,
        open=False,
        configure=configure,
        name="kvstore",
        timeout=timeout,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
    )
    pool.open(wait=False)
    return pool


def build_pool(settings: Settings) -> Pool:
    """The pool the settings describe (`KVSTORE_POSTGRES_*`)."""
    if not settings.postgres_dsn:
        raise SettingsError(f"{ENV_POSTGRES_DSN} must be set")
    return open_pool(
        settings.postgres_dsn,
        size=settings.postgres_pool_size,
        statement_timeout_ms=settings.postgres_statement_timeout_ms,
    )


def quiet_pool_logger() -> None:
    """Keep psycopg's pool to errors, unless someone configured its logger.

    The pool warns at every failed reconnection attempt and every broken connection it
    discards; each failure a request meets is already logged once, as its 503, with the
    driver's words, so the pool's warnings would only repeat it.
    """
    logger = logging.getLogger("psycopg.pool")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


def has_pending_input(conn: Connection) -> bool:
    """Whether the server sent something to an idle connection: almost always that it is
    closing it (a restart, `pg_terminate_backend`, an idle timeout). One poll, no round trip,
    so every checkout can afford it."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    except (psycopg.Error, OSError, ValueError):
        return True
    return bool(poller.poll(0))
