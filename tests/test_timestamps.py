"""The one time format: what `kvstore.timestamps` writes must be what `isoformat` would."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from kvstore.timestamps import format_epoch, format_moment, moment_at, parse_moment


def reference(epoch_seconds: float) -> str:
    """RFC 3339 with milliseconds as the standard library writes it."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epochs() -> list[float]:
    chosen = random.Random(20261201)
    samples = [chosen.uniform(0, 4_102_444_800) for _ in range(20_000)]  # 1970 to 2100
    edges = [0.0, 0.0009, 0.9995, 0.9999995, 951_782_400.0, 1_764_612_604.123, 4_102_444_799.999]
    return samples + [round(s, 3) for s in samples[:2000]] + edges


def test_format_is_isoformat_to_the_millisecond() -> None:
    for epoch in epochs():
        assert format_epoch(epoch) == reference(epoch), epoch


def test_every_clock_reading_of_a_day_is_formatted() -> None:
    day = datetime(2024, 2, 29, tzinfo=UTC)
    for minute in range(0, 24 * 60, 7):
        for second in (0, 59):
            moment = day + timedelta(minutes=minute, seconds=second, milliseconds=minute % 1000)
            assert format_moment(moment) == moment.isoformat(timespec="milliseconds")[:-6] + "Z"


@pytest.mark.parametrize("epoch", [1_764_612_604.1234567, 1_764_612_604.9999996, 0.0])
def test_a_moment_reads_back_equal_from_its_text(epoch: float) -> None:
    moment = moment_at(epoch)
    assert moment.microsecond % 1000 == 0
    assert moment.tzinfo is UTC
    assert parse_moment(format_moment(moment)) == moment
    assert format_moment(moment) == reference(epoch)


def test_text_written_by_earlier_versions_reads_back_the_same() -> None:
    stored = "2026-01-01T00:00:00.000Z"
    assert format_moment(parse_moment(stored)) == stored
