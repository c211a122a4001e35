"""The import progress bar: drawn on a terminal only, throttled, ended with a newline."""

from __future__ import annotations

import io

from kvstore.cli.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar("import", 10, stream=stream)
    bar.update(5)
    bar.close()

    assert stream.getvalue() == ""


def test_a_terminal_gets_a_bar_redrawn_in_place() -> None:
    now = [0.0]
    stream = Terminal()
    bar = ProgressBar("import", 200, stream=stream, clock=lambda: now[0])
    bar.update(50)
    bar.update(60)  # within the redraw interval: skipped
    now[0] = 1.0
    bar.update(100)
    bar.close()

    frames = stream.getvalue().split("\r")[1:]
    assert frames[0] == "import [#######-----------------------]  25% 50/200 lines"
    assert frames[1].endswith(" 50% 100/200 lines")
    assert frames[2].endswith("100/200 lines\n")
    assert len(frames) == 3


def test_without_a_total_it_counts_lines() -> None:
    stream = Terminal()
    bar = ProgressBar("import", None, stream=stream)
    bar.update(42)

    assert stream.getvalue() == "\rimport 42 lines"
