"""kvstore: a key/value REST service (Flask + flask-restx) over memory, SQLite or DynamoDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kvstore.app import create_app

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import kvstore.client` (or the settings) does not import Flask.
    if name == "create_app":
        from kvstore.app import create_app

        return create_app
    raise AttributeError(name)
