"""Drive a server with wrk (Debian's `wrk` package) and read back its numbers.

Each scenario is a Lua script from `bench/lua/` with `report.lua` appended, whose `done()`
prints one `BENCH key=value ...` line; parsing that line is sturdier than parsing wrk's
human-readable summary, whose units change with the magnitude (us, ms, s; k, M).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no result line."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    errors: int  # connect/read/write/timeout errors plus non-2xx/3xx answers

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


def parse(output: str) -> WrkResult:
    """The result of a run from the `BENCH ...` line `report.lua` prints.

    Raises:
        WrkError: no such line (wrk failed before `done()`).
    """
    for line in output.splitlines():
        if line.startswith("BENCH "):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            numbers = {name: int(value) for name, value in fields.items()}
            errors = sum(numbers[name] for name in ("connect", "read", "write", "status"))
            return WrkResult(
                requests=numbers["requests"],
                duration_us=numbers["duration_us"],
                p50_us=numbers["p50_us"],
                p99_us=numbers["p99_us"],
                errors=errors + numbers["timeout"],
            )
    raise WrkError(f"wrk printed no result line:\n{output[-2000:]}")


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    return found


def run(
    url: str,
    script: str,
    args: tuple[str, ...] = (),
    *,
    seconds: float = 5.0,
    connections: int = 16,
    threads: int = 1,
) -> WrkResult:
    """Run wrk against `url` (loopback only) for a bounded time with `bench/lua/<script>`."""
    if not url.startswith("http://127.0.0.1:"):
        raise WrkError(f"refusing to load anything but 127.0.0.1: {url}")
    source = (LUA_DIR / script).read_text() + "\n" + (LUA_DIR / "report.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as handle:
        handle.write(source)
        handle.flush()
        command = [
            wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            handle.name,
            url,
            "--",
            *args,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return parse(done.stdout)
