"""A TCP relay between the PostgreSQL datastore and its server that can lose a response.

In `pass` mode it relays bytes both ways. In `lose_response` mode the next statement a client
sends still reaches the server, which runs and commits it; the relay reads the server's whole
answer (up to its `ReadyForQuery` message, so the statement is over), then closes the
client's connection instead of passing the answer on: the client cannot know its write
happened, exactly the ambiguity a retry must not turn into a second write.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter

MODES = ("pass", "lose_response")
#: The backend message that ends every answer: 'Z', a length of 4 + 1, the transaction status.
READY_FOR_QUERY = b"Z"


class PostgresProxy:
    """Listens on 127.0.0.1 (a free port) and relays to `upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.seen: Counter[str] = Counter()  # statements handled, per mode
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.mode = mode

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _start(self, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()
        return thread

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            self._start(self._relay, client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to server in this thread, server to client in another, until either closes."""
        relaying = threading.Event()  # set while the server's answers go to the client
        relaying.set()
        answers = self._start(self._answer, upstream, client, relaying)
        client.settimeout(0.05)
        with client, upstream:
            while not self._stopping.is_set():
                try:
                    data = client.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    mode = self.mode
                if mode == "lose_response":
                    relaying.clear()
                    answers.join()  # from here on, only this thread reads the server
                    self.seen[mode] += 1
                    upstream.sendall(data)
                    self._read_answer(upstream)
                    return  # closes the client's connection, the answer unsent
                upstream.sendall(data)

    def _answer(
        self, upstream: socket.socket, client: socket.socket, relaying: threading.Event
    ) -> None:
        upstream.settimeout(0.05)
        while not self._stopping.is_set() and relaying.is_set():
            try:
                data = upstream.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                client.sendall(data)
            except OSError:
                return

    @staticmethod
    def _read_answer(upstream: socket.socket) -> None:
        """Read backend messages until `ReadyForQuery`: the statement has run (and committed)."""
        upstream.settimeout(10)
        buffer = b""
        while True:
            while len(buffer) >= 5:
                kind = buffer[:1]
                (length,) = struct.unpack("!i", buffer[1:5])
                if len(buffer) < 1 + length:
                    break
                buffer = buffer[1 + length :]
                if kind == READY_FOR_QUERY:
                    return
            chunk = upstream.recv(65536)
            if not chunk:
                return
            buffer += chunk
