"""The WSGI entry point gunicorn and Zappa import: `kvstore.wsgi:app` (and `kvstore.asgi` wraps it).

A bad setting prints one line naming the variable and stops the process; nothing connects
or touches the disk here (the datastore is built on the first request).
"""

from __future__ import annotations

from kvstore.app import create_app
from kvstore.settings import SettingsError, exit_for

try:
    app = create_app()
except SettingsError as exc:
    exit_for(exc, status=1)  # what a failed import gives the server that imported this
