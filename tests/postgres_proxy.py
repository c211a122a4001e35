"""A TCP relay between the PostgreSQL datastore and its server that can lose an answer.

The fault proxy's listener and modes (tests/fault_proxy.py), relaying PostgreSQL's wire
protocol instead of HTTP. In `pass` mode it relays bytes both ways. In `lose_response` mode
the next statement a client sends still reaches the server, which runs and commits it; the
relay reads the server's whole answer (up to its `ReadyForQuery` message, so the statement is
over), then closes the client's connection instead of passing the answer on: the client
cannot know its write happened, the ambiguity a retry must not turn into a second write.
`lose_next_answer()` does that to the next message only, then relays again: so the pool's
replacement connection, opened at once, is never caught in it.
"""

from __future__ import annotations

import socket
import struct
import threading

from tests.fault_proxy import FaultProxy

#: The backend message that ends every answer: 'Z', its length (5), the transaction status.
READY_FOR_QUERY = b"Z"
POLL_S = 0.05


def _pump(source: socket.socket, target: socket.socket, going: threading.Event) -> None:
    """Copy `source` to `target` while `going` is set and neither side has closed."""
    source.settimeout(POLL_S)
    while going.is_set():
        try:
            data = source.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            return
        try:
            target.sendall(data)
        except OSError:
            return


def _read_answer(upstream: socket.socket) -> None:
    """Read backend messages until `ReadyForQuery`: the statement has run (and committed)."""
    upstream.settimeout(10)
    buffer = b""
    while True:
        while len(buffer) >= 5:
            (length,) = struct.unpack("!i", buffer[1:5])
            if len(buffer) < 1 + length:
                break
            kind, buffer = buffer[:1], buffer[1 + length :]
            if kind == READY_FOR_QUERY:
                return
        chunk = upstream.recv(65536)
        if not chunk:
            return
        buffer += chunk


class PostgresProxy(FaultProxy):
    """Listens on 127.0.0.1 (a free port) and relays to the PostgreSQL at `upstream_port`."""

    _lose_once = False

    def lose_next_answer(self) -> None:
        """`lose_response` for the next message any client sends, then `pass` again."""
        with self._lock:
            self._lose_once = True
            self.mode = "lose_response"

    def _handle(self, conn: socket.socket) -> None:
        """Client to server in this thread, server to client in another, until either closes."""
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        relaying = threading.Event()  # set while the server's answers go to the client
        relaying.set()
        answers = threading.Thread(target=_pump, args=(upstream, conn, relaying), daemon=True)
        answers.start()
        conn.settimeout(POLL_S)
        with conn, upstream:
            while not self._stopping.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                with self._lock:
                    mode = self.mode
                    if mode == "lose_response" and self._lose_once:
                        self.mode, self._lose_once = "pass", False
                if mode == "lose_response":
                    relaying.clear()
                    answers.join()  # from here on, only this thread reads the server
                    self.seen[mode] += 1
                    upstream.sendall(data)
                    _read_answer(upstream)
                    break  # closes the client's connection, the answer unsent
                upstream.sendall(data)
            relaying.clear()
