"""moto's server, exactly as `moto_server` builds it, answering one request at a time.

moto's DynamoDB checks a `ConditionExpression` and then writes, with no lock in between, and
`moto_server` serves requests on concurrent threads: two conditional writes racing on one item
can then both pass, which DynamoDB itself never allows (each item's check-and-write is atomic).
The contract suite's concurrency test would then fail on moto for moto's sake. Serialising the
requests restores DynamoDB's guarantee; everything else is moto's own server, over HTTP.

Run as `python -m tests.serial_moto_server -H 127.0.0.1 -p PORT` (tests/dynamodb_servers.py).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialised(app: WSGIApp) -> WSGIApp:
    """Run `app` for one request at a time, its response body read inside the lock."""
    lock = threading.Lock()

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return wsgi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        serialised(app),
        threaded=True,  # connections stay concurrent (keep-alive); the app runs one at a time
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
