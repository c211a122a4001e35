"""Real HTTP for tests: the service in a thread (`serve`), a record of the requests it answered
(`AnswerLog`), and a port that refuses connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kvstore.threaded_server import serve_in_thread as serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["AnswerLog", "serve", "socket_without_listener"]


class AnswerLog:
    """WSGI middleware recording `(method, path, status)` of each answer the app gives.

    An answer is recorded when the app starts its response, so once a request is in `answers`
    the app has done all it will do for it; `wait_for(n)` blocks until `n` answers are in.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.answers: list[tuple[str, str, int]] = []
        self._changed = threading.Condition()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def recording(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], object]:
            with self._changed:
                self.answers.append(
                    (environ["REQUEST_METHOD"], environ["PATH_INFO"], int(status.split()[0]))
                )
                self._changed.notify_all()
            return start_response(status, headers, exc_info)

        return self.app(environ, recording)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, str, int]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.answers) >= count, timeout):
                raise TimeoutError(f"{len(self.answers)} answers, not {count}, in {timeout}s")
            return list(self.answers)


@contextmanager
def socket_without_listener() -> Iterator[int]:
    """A 127.0.0.1 port that is bound but not listening: connecting to it is refused.

    Holding the port for the test keeps another process from taking it meanwhile, which a
    "find a free port, close it, hope" approach cannot promise.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
