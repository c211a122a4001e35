"""The picture of the data browser in the README (docs/ui.png), as Chromium renders it.

    .venv/bin/python -m tests.ui_screenshot docs/ui.png      # or: make ui-screenshot

The page shows the demo's keys at the top of the tree, with `sports` open in the editor.
tests/test_ui_browser.py takes the same picture into a temporary folder, so this keeps working.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings
from tests.browser import chromium, seed_tree, served

VIEWPORT = {"width": 1200, "height": 640}


def screenshot(context: Any, path: Path) -> None:
    """Serves the demo's tree, opens `sports` in the page, and saves the picture to `path`."""
    from playwright.sync_api import expect

    datastore = MemoryDatastore()
    seed_tree(datastore)
    app = create_app(Settings(datastore="memory", log_level="WARNING"), datastore=datastore)
    with served(app, staged=False) as service:
        page = context.new_page()
        try:
            page.set_viewport_size(VIEWPORT)
            page.goto(f"{service.root}/ui#key=sports")
            expect(page.get_by_role("link", name="sports/", exact=True)).to_be_visible()
            expect(page.get_by_label("Value", exact=True)).not_to_have_value("")
            page.screenshot(path=str(path))
        finally:
            page.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.ui_screenshot OUT.png", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile, chromium(Path(profile)) as context:
        screenshot(context, Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
