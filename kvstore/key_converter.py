"""URL routing details that keep every valid key addressable."""

from __future__ import annotations

from werkzeug.routing import PathConverter


class KeyConverter(PathConverter):
    """Take the rest of the path, slashes included, even a leading or doubled one.

    Werkzeug's `path` refuses a leading '/', which would turn a bad key into a bare 404; here
    the key reaches the view, and validation answers 400 naming the rule it breaks.
    """

    regex = r"[\s\S]+"  # not ".+": '.' skips a newline, and a key with one must reach validation
    part_isolating = False  # werkzeug infers True from a regex without "/"
