"""The README's curl sessions work as printed, against the real server.

The commands are read from README.md itself, so the README cannot drift from what the service
does: only the port is changed (the test server takes a free one) and times are masked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.processes import kvstore_server
from tests.readme import curl_session, sports_session


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_quick_start_curl_session_prints_what_the_readme_says(tmp_path: Path) -> None:
    with kvstore_server({}, cwd=tmp_path) as (base, _):
        printed, expected = sports_session(base.removeprefix("http://"))
    assert printed == expected


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_partial_update_session_prints_what_the_readme_says(tmp_path: Path) -> None:
    with kvstore_server({}, cwd=tmp_path) as (base, _):
        printed, expected = curl_session(
            "**Partial updates, prefix deletes",
            "Which prints",
            base.removeprefix("http://"),
            page="docs/api.md",
        )
    assert printed == expected
