"""The benchmark's plumbing: reading wrk's result line, and refusing non-loopback targets."""

from __future__ import annotations

import pytest

from bench import wrk

LINE = (
    "BENCH requests=12000 duration_us=2000000 p50_us=1500 p99_us=9000 "
    "connect=0 read=1 write=0 status=3 timeout=2"
)


def test_parse_reads_the_result_line_among_others() -> None:
    result = wrk.parse(f"Running 2s test @ http://127.0.0.1:1/\n{LINE}\nRequests/sec: 6000\n")
    assert result == wrk.WrkResult(
        requests=12000, duration_us=2_000_000, p50_us=1500, p99_us=9000, errors=6
    )
    assert result.rps == 6000


def test_parse_without_a_result_line_says_what_wrk_printed() -> None:
    with pytest.raises(wrk.WrkError, match="unable to connect"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")


@pytest.mark.parametrize("url", ["http://localhost:80/", "http://10.0.0.1:80/", "https://x/"])
def test_run_refuses_anything_but_loopback(url: str) -> None:
    with pytest.raises(wrk.WrkError, match=r"127\.0\.0\.1"):
        wrk.run(url, "static.lua")
