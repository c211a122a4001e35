"""The app's JSON encoder: orjson where it writes the same document, the stdlib otherwise.

Why: encoding the response is a measurable share of every request (most of all of a list page
or a batch, docs/performance.md), and orjson does it several times faster.

"The same document" means what the service promises about values: UTF-8 as is (the stdlib's
`ensure_ascii=False`), object members in their stored order, compact separators. orjson
refuses integers beyond 64 bits (a JSON value may hold any integer, and what is PUT is GOT
back), non-string keys and lone surrogates; for those the stdlib encoder answers, so such a
document comes out exactly as before, only slower. Floats are written in their shortest
round-trip form by both (orjson spells `1e-07` as `1e-7`: the same number).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

#: Types Flask's provider formats its own way (dates as HTTP dates, dataclasses via asdict):
#: orjson hands them to Flask's `default` instead of formatting them itself.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_COMPACT = (",", ":")
_DEFAULT = DefaultJSONProvider.default  # Flask's formats for dates, dataclasses, ...


class CompactJSONProvider(DefaultJSONProvider):
    """Keep object members in their stored order and unicode as is: values come back as PUT."""

    sort_keys = False
    ensure_ascii = False
    compact = True

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs and kwargs != {"separators": _COMPACT}:
            return super().dumps(obj, **kwargs)  # indent and such: the caller's own format
        return dumps_bytes(obj).decode()


def dumps_bytes(obj: Any) -> bytes:
    """The provider's compact document as UTF-8 bytes, what a response body is: a large one
    (a batch of 100 values) is not also copied into a str and back."""
    try:
        return orjson.dumps(obj, default=_DEFAULT, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: an int beyond 64 bits, a non-str key
        text = json.dumps(obj, default=_DEFAULT, ensure_ascii=False, separators=_COMPACT)
        return text.encode("utf-8")
