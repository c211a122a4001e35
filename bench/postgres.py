"""PostgreSQL runs on a server of the benchmark's own, as the tests run theirs.

`initdb` into a temporary folder (as `nobody` when run as root: PostgreSQL refuses root), a
free loopback port, PostgreSQL's default settings (fsync and synchronous commit on, as a user
gets them), stopped and removed at the end; the service creates its table at start-up.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

TABLE = "kvstore_bench"


def available() -> str | None:
    """Why the PostgreSQL rows cannot run here, or None when they can."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (the postgres extra)"
    from tests.postgres_servers import PostgresMissing, bindir

    try:
        bindir()
    except PostgresMissing as exc:
        return str(exc)
    return None


@contextmanager
def server() -> Iterator[dict[str, str]]:
    """A running PostgreSQL; yields the service's environment for it."""
    from tests.postgres_servers import DURABLE, running, service_environment

    with running(DURABLE) as cluster:
        yield service_environment(cluster, TABLE)
