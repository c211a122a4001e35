"""The service's one time format: RFC 3339 in UTC with milliseconds, `2026-12-01T18:10:04.123Z`.

Datastores hold times as values (`Item.updated_at` an aware UTC datetime, `expires_at` epoch
seconds) and the API formats them here, at the edge; the stores that keep a time as text
(SQLite, PostgreSQL and DynamoDB keep `updated_at` so) keep this same text. Log lines write
the same format from a `LogRecord`'s own millisecond count (`kvstore.observability`), so that
a line written without the logging module reads as the formatter would write it.

Formatted by hand rather than by `isoformat(timespec="milliseconds")`, which is several times
slower (and writes `+00:00`): a list page formats a time for every item it returns. A day's
date is kept once it has been formatted (a store's times fall on few days); the clock's
fields come from tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

_DIGITS = "0123456789"
#: "00" to "99", and "000" to "999": a clock's fields by their value (built by concatenation,
#: which a cold start pays far less for than formatting each).
_TWO = tuple(tens + ones for tens in _DIGITS for ones in _DIGITS)
_THREE = tuple(hundreds + two for hundreds in _DIGITS for two in _TWO)


@lru_cache(maxsize=4096)
def _day(ordinal: int) -> str:
    return f"{date.fromordinal(ordinal).isoformat()}T"


def format_moment(moment: datetime) -> str:
    """`moment` (aware, in UTC) as RFC 3339, its microseconds cut to milliseconds."""
    return (
        f"{_day(moment.toordinal())}{_TWO[moment.hour]}:{_TWO[moment.minute]}:"
        f"{_TWO[moment.second]}.{_THREE[moment.microsecond // 1000]}Z"
    )


def moment_at(epoch_seconds: float) -> datetime:
    """The UTC moment of a `time.time()` reading, cut to the millisecond: what every store
    keeps, so that an item reads back equal to the one its write returned."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_epoch(epoch_seconds: float) -> str:
    return format_moment(moment_at(epoch_seconds))


def parse_moment(text: str) -> datetime:
    """A time as `format_moment` wrote it (a store's `updated_at`) back to its moment."""
    return datetime.fromisoformat(text)
