"""The app's JSON encoder: orjson where it writes the same document, the stdlib otherwise.

Why: encoding the response is a measurable share of every request (a tenth of a list page or
a batch, see README "Performance"), and orjson does it several times faster.

"The same document" means what the service promises about values: UTF-8 as is (the stdlib's
`ensure_ascii=False`), object members in their stored order, compact separators. orjson
refuses integers beyond 64 bits (a JSON value may hold any integer, and what is PUT is GOT
back), non-string keys and lone surrogates; for those the stdlib encoder answers, so such a
document comes out exactly as before, only slower. Floats are written in their shortest
round-trip form by both (orjson spells `1e-07` as `1e-7`: the same number).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

#: Types Flask's provider formats its own way (dates as HTTP dates, dataclasses via asdict):
#: orjson hands them to Flask's `default` instead of formatting them itself.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_COMPACT = (",", ":")


class CompactJSONProvider(DefaultJSONProvider):
    """Keep object members in their stored order and unicode as is: values come back as PUT."""

    sort_keys = False
    ensure_ascii = False
    compact = True

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs and kwargs != {"separators": _COMPACT}:
            return super().dumps(obj, **kwargs)  # indent and such: the caller's own format
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()
        except TypeError:  # orjson.JSONEncodeError: an int beyond 64 bits, a non-str key
            return super().dumps(obj, separators=_COMPACT)

    def dumps_bytes(self, obj: Any) -> bytes:
        """`dumps(obj)` as the UTF-8 a response body is: orjson's own bytes, not re-encoded."""
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:
            return super().dumps(obj, separators=_COMPACT).encode()
