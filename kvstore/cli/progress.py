"""A one-line progress bar on stderr, drawn only when stderr is a terminal.

Piped or redirected (CI, `2> log`), nothing is drawn, so logs hold no carriage-return noise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 30
#: Redraw at most this often: a bar is for people, not worth a syscall per chunk.
MIN_INTERVAL = 0.1


class ProgressBar:
    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.clock = clock
        self._drawn_at: float | None = None
        self._done = 0

    def render(self, done: int) -> str:
        if not self.total:
            return f"{self.label} {done} lines"
        fraction = min(1.0, done / self.total)
        filled = int(WIDTH * fraction)
        bar = "#" * filled + "-" * (WIDTH - filled)
        return f"{self.label} [{bar}] {fraction:4.0%} {done}/{self.total} lines"

    def update(self, done: int) -> None:
        self._done = done
        if not self.enabled:
            return
        now = self.clock()
        if self._drawn_at is not None and now - self._drawn_at < MIN_INTERVAL:
            return
        self._drawn_at = now
        self.stream.write("\r" + self.render(done))
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled and self._drawn_at is not None:
            self.stream.write("\r" + self.render(self._done) + "\n")
            self.stream.flush()
