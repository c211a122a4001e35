"""The patch formats of the API, by name and media type: shared by the server and the client,
and free of imports, so that the client does not load the server's patch machinery."""

from __future__ import annotations

from collections.abc import Mapping

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
#: Each format's name (a batch or transaction operation's `format`) and its media type (PATCH).
PATCH_FORMATS: Mapping[str, str] = {"merge": MERGE_PATCH, "json-patch": JSON_PATCH}
DEFAULT_PATCH_FORMAT = "merge"
