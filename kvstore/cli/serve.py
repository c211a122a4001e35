"""`kvstore serve`: the production server (granian) on the configured datastore.

Settings and the datastore are checked before the server starts, so a bad configuration is one
line on stderr and exit status 2, never a worker traceback loop.

granian (a Rust HTTP server) is the default because it measured ahead of gunicorn on this
app (the figures are in docs/performance.md, from `make bench`); it runs the app through
`kvstore.asgi`, so that a slow client never holds a thread.
`--server gunicorn` keeps a gunicorn gthread configuration as a fallback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kvstore.datastores.errors import DatastoreError
from kvstore.errors import datastore_error_report
from kvstore.settings import (
    ENV_SQLITE_PATH,
    Settings,
    SettingsError,
    exit_for,
)


def preflight(settings: Settings) -> str | None:
    """Build the datastore once and check it; the error line, or None when ready."""
    from kvstore.datastores import factory

    try:
        datastore = factory.build(settings)
        try:
            datastore.check()
        finally:
            datastore.close()
    except SettingsError as exc:
        return str(exc)
    except DatastoreError as exc:
        detail = datastore_error_report(exc)
        if settings.datastore == "sqlite":
            # The 503 detail leaves the path out (clients see it); the operator needs it here.
            return f"{detail} ({ENV_SQLITE_PATH}={settings.sqlite_path})"
        return detail
    return None


SERVERS = ("granian", "gunicorn")
#: What granian serves: a factory wrapping `kvstore.wsgi:app` in the buffering front; it reads
#: the same KVSTORE_* environment preflight checked.
ASGI_APP = "kvstore.asgi:build"


def default_workers(settings: Settings) -> int:
    # The memory datastore lives in one process: several workers would be several stores.
    return 1 if settings.datastore == "memory" else 2


def default_threads(settings: Settings) -> int:
    # memory: the work is all Python under one GIL, and more threads only contend for it
    # (`make bench` compares them). SQLite and DynamoDB wait on locks and the network, which
    # threads overlap.
    return 1 if settings.datastore == "memory" else 4


def granian_options(
    settings: Settings, host: str, port: int, workers: int | None, threads: int | None
) -> dict[str, Any]:
    """Keyword arguments of `granian.Granian`: N processes, each running the app through
    `kvstore.asgi` (bodies read whole on granian's event loop, then M threads run the app).

    The threads are `kvstore.asgi`'s, not granian's (whose ASGI interface has one); they reach
    the worker processes through the environment (`kvstore.asgi.ENV_THREADS`).
    """
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from kvstore.asgi import ENV_THREADS

    os.environ[ENV_THREADS] = str(threads or default_threads(settings))
    return {
        "target": ASGI_APP,
        "factory": True,
        "address": host,
        "port": port,
        "interface": Interfaces.ASGINL,  # ASGI without lifespan events: the app has none
        "workers": workers or default_workers(settings),
        "websockets": False,
        # Slow headers: dropped after the same deadline as a slow body (kvstore.asgi).
        "http1_settings": HTTP1Settings(header_read_timeout=settings.read_timeout_s * 1000),
        "log_level": LogLevels(settings.log_level.lower()),
        "log_access": False,  # the app logs one JSON line per request itself
        "respawn_failed_workers": True,
        "workers_kill_timeout": 10,
    }


def server_options(
    settings: Settings, host: str, port: int, workers: int | None, threads: int | None
) -> dict[str, Any]:
    """gunicorn's settings (`--server gunicorn`): gthread workers."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(settings),
        "threads": threads or 4,
        "worker_class": "gthread",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        # A control socket in ~/.gunicorn would be shared by every server on the machine.
        "control_socket_disable": True,
    }


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP service",
        description="Serve the API with granian on the datastore KVSTORE_DATASTORE names.",
        epilog="Example: KVSTORE_DATASTORE=memory kvstore serve --port 8080",
    )
    parser.add_argument("--host", default=os.environ.get("KVSTORE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--workers", type=int, help="worker processes (default: 2; memory: 1)")
    parser.add_argument(
        "--threads", type=int, help="threads per worker (default: 4; memory with granian: 1)"
    )
    parser.add_argument(
        "--server", choices=SERVERS, default="granian", help="WSGI server (default: granian)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        exit_for(exc)
    problem = preflight(settings)
    if problem is not None:
        print(f"kvstore: cannot start: {problem}", file=sys.stderr)
        return 2

    if args.server == "granian":
        from granian import Granian

        Granian(
            **granian_options(settings, args.host, args.port, args.workers, args.threads)
        ).serve()
        return 0

    from gunicorn.app.base import BaseApplication

    from kvstore.app import create_app

    options = server_options(settings, args.host, args.port, args.workers, args.threads)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return create_app(settings)

    Server().run()
    return 0
