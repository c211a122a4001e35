"""The service over real HTTP inside this process: a free 127.0.0.1 port, a server thread.

The demo runs on it so that it is one command with no server started beforehand; the tests
run on it to see what a client over the network sees, without starting a process each time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No werkzeug access line: the caller prints its own output."""


@contextmanager
def serve_in_thread(app: WSGIApplication, *, quiet: bool = False) -> Iterator[str]:
    """Serve `app` (one thread per request) and yield its base URL; stopped on exit."""
    handler = _QuietHandler if quiet else WSGIRequestHandler
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.01},
        name="kvstore-in-process",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
