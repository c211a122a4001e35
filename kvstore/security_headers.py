"""The headers every answer carries unless its view set its own: no MIME sniffing, no caching.

Why one module: JSON answers are built with these headers already in place (`api/v1/wire.py`
builds a response in one go), and the app's `after_request` hook adds them to every other
answer (redirects, the data browser's assets, errors), so both read the one list here.
"""

from __future__ import annotations

from flask import Response

SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"))


def add_security_headers(response: Response) -> Response:
    """An `after_request` hook: the headers `response` lacks, by case-insensitive name.

    A response built with them finds them among its first headers, so the check is short;
    `Headers.setdefault` would raise and catch a KeyError per missing header instead.
    """
    headers = response.headers
    for name, value in SECURITY_HEADERS:
        if name not in headers:
            headers.add(name, value)
    return response
