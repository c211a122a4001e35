"""Real HTTP for tests: the service in a thread (`serve`), and a port that refuses connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from kvstore.inprocess import serve_in_thread as serve

__all__ = ["serve", "socket_without_listener"]


@contextmanager
def socket_without_listener() -> Iterator[int]:
    """A 127.0.0.1 port that is bound but not listening: connecting to it is refused.

    Holding the port for the test keeps another process from taking it meanwhile, which a
    "find a free port, close it, hope" approach cannot promise.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
