"""The app factory: settings -> datastore -> blueprints -> error handlers."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from werkzeug.exceptions import HTTPException

from kvstore import resources
from kvstore.datastores import factory
from kvstore.datastores.base import Datastore
from kvstore.dispatch import SyncCheckedOnceFlask
from kvstore.errors import problem_response
from kvstore.fast_path import init_app as init_fast_path
from kvstore.json_provider import CompactJSONProvider
from kvstore.key_converter import KeyConverter
from kvstore.navigation import RelativeRedirectFlask
from kvstore.observability import init_app as init_observability
from kvstore.security_headers import add_security_headers
from kvstore.settings import Settings


class KVStoreFlask(RelativeRedirectFlask, SyncCheckedOnceFlask):
    """The app's class: host-free redirects (`navigation`), hooks checked for async once."""


def create_app(
    settings: Settings | None = None,
    *,
    datastore: Datastore | Callable[[], Datastore] | None = None,
) -> Flask:
    """Build an app; nothing connects until the first request needs the datastore.

    Args:
        settings: defaults to `Settings.from_env()`.
        datastore: an instance (tests inject one) or a builder; defaults to the factory.
    """
    settings = settings or Settings.from_env()
    app = KVStoreFlask("kvstore")
    app.json = CompactJSONProvider(app)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.url_map.converters["key"] = KeyConverter
    app.url_map.merge_slashes = False  # 'a//b' must reach validation, not be redirected

    if datastore is None:
        build: Callable[[], Datastore] = lambda: factory.build(settings)  # noqa: E731
    elif isinstance(datastore, Datastore):
        instance = datastore
        build = lambda: instance  # noqa: E731
    else:
        build = datastore
    resources.init_app(app, settings, build, owns_datastore=not isinstance(datastore, Datastore))

    from kvstore.api.v1 import create_blueprint, create_swagger_ui_blueprint
    from kvstore.health import bp as health_bp
    from kvstore.navigation import bp as navigation_bp
    from kvstore.ui import bp as ui_bp

    app.register_blueprint(navigation_bp)
    app.register_blueprint(ui_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(create_blueprint())
    app.register_blueprint(create_swagger_ui_blueprint())

    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(Exception, problem_response)
    app.after_request(add_security_headers)
    init_observability(app, settings)
    init_fast_path(app)
    return app
