"""Plain-text tables of a run (they are pasted into the README as they are printed)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence

from bench.suite import ETCD, FLASK, ReferenceRow, Row, ServerRow, SoakResult


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, load {load}"


def header(title: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"{title} -- {stamp} -- {machine()}"


def _ms(us: int) -> str:
    return f"{us / 1000:.2f}"


def datastore_rows(rows: Sequence[Row]) -> list[str]:
    lines = [
        f"| {'datastore':9} | {'request':18} | {'req/s':>7} | {'p50 ms':>6} | {'p99 ms':>6} "
        f"| {'x floor':>7} | note",
        f"|{'-' * 11}|{'-' * 20}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 9}|------",
    ]
    for row in rows:
        result = row.result
        if result is None:
            lines.append(f"| {row.datastore:9} | {row.scenario:18} | {'-':>7} | {'-':>6} "
                         f"| {'-':>6} | {'-':>7} | {row.note}")  # fmt: skip
            continue
        note = row.note
        if result.errors:
            note = f"{note}; {result.errors} errors".strip("; ")
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.datastore:9} | {row.scenario:18} | {result.rps:7.0f} "
            f"| {_ms(result.p50_us):>6} "
            f"| {_ms(result.p99_us):>6} | {ratio:>7} | {note}"
        )
    return lines


def server_rows(rows: Sequence[ServerRow]) -> list[str]:
    base = rows[0].healthz.rps if rows else 0.0
    lines = [
        f"| {'server':26} | {'/healthz req/s':>14} | {'p50 ms':>6} | {'GET req/s':>9} "
        f"| {'p50 ms':>6} | {'x ' + rows[0].config.name if rows else '':>24} |",
        f"|{'-' * 28}|{'-' * 16}|{'-' * 8}|{'-' * 11}|{'-' * 8}|{'-' * 26}|",
    ]
    for row in rows:
        ratio = row.healthz.rps / base if base else 0.0
        errors = row.healthz.errors + row.get.errors
        flag = f" ({errors} errors)" if errors else ""
        lines.append(
            f"| {row.config.name:26} | {row.healthz.rps:14.0f} | {_ms(row.healthz.p50_us):>6} "
            f"| {row.get.rps:9.0f} | {_ms(row.get.p50_us):>6} | {ratio:24.2f} |{flag}"
        )
    return lines


def reference_rows(rows: Sequence[ReferenceRow]) -> list[str]:
    """GET and PUT of each server, with its ratios to etcd's and to the bare Flask route's."""
    by_name = {row.name: row for row in rows}
    refs = [by_name[name] for name in (ETCD, FLASK) if name in by_name]
    ratio_heads = "".join(f" | {'x ' + ref.name:>12}" for ref in refs)
    lines = [
        f"| {'server':36} | {'GET req/s':>9} | {'p50 ms':>6}{ratio_heads} "
        f"| {'PUT req/s':>9} | {'p50 ms':>6}{ratio_heads} |",
        f"|{'-' * 38}|{'-' * 11}|{'-' * 8}{'|' + '-' * 14 if refs else ''}"
        f"{'|' + '-' * 14 if len(refs) > 1 else ''}|{'-' * 11}|{'-' * 8}"
        f"{'|' + '-' * 14 if refs else ''}{'|' + '-' * 14 if len(refs) > 1 else ''}|",
    ]
    for row in rows:
        cells = [f"| {row.description:36}"]
        for mine, attr in ((row.get, "get"), (row.put, "put")):
            cells.append(f" | {mine.rps:9.0f} | {_ms(mine.p50_us):>6}")
            for ref in refs:
                base: float = getattr(ref, attr).rps
                cells.append(f" | {mine.rps / base if base else 0.0:12.2f}")
        errors = row.get.errors + row.put.errors
        cells.append(" |" + (f" ({errors} errors)" if errors else ""))
        lines.append("".join(cells))
    return lines


def soak_lines(datastore: str, result: SoakResult) -> list[str]:
    mib = 1024 * 1024
    return [
        f"soak on {datastore}: {result.requests} requests after warm-up, RSS "
        f"{result.rss_after_warmup / mib:.1f} MiB -> {result.rss_after / mib:.1f} MiB "
        f"({result.growth:+.1%}; target < +10%), {result.errors} errors"
    ]
