"""Run the app the way Lambda runs it: Zappa's `LambdaHandler` and the settings Zappa generates.

`zappa package` writes a `zappa_settings.py` module into the zip (APP_MODULE, APP_FUNCTION,
ENVIRONMENT_VARIABLES, API_STAGE, BINARY_SUPPORT, ...), and the handler imports it by name.
Here that module is produced by Zappa's own code from the repository's `zappa_settings.json`,
so a change to the JSON is a change to what these tests run; only the DynamoDB endpoint and
table are pointed at the test's moto server.

`LambdaHandler` is a process-wide singleton that also writes to `os.environ` and the root
logger, and imports `kvstore.wsgi` once; `lambda_handler()` gives each use a cold start of its
own and puts all of that back afterwards.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from kvstore import resources

REPO = Path(__file__).resolve().parents[2]
SETTINGS_JSON = REPO / "zappa_settings.json"
SETTINGS_MODULE = "zappa_settings"  # the name the handler imports by default
APP_MODULE = "kvstore.wsgi"
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def zappa_stage_settings(stage: str) -> Any:
    """A ZappaCLI with `stage` loaded from zappa_settings.json, offline (no credentials)."""
    from zappa.cli import ZappaCLI

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)  # attach_policy is a path relative to the project
        for name, value in DUMMY_AWS.items():
            mp.setenv(name, value)
        cli = ZappaCLI()
        cli.api_stage = stage
        cli.load_credentials = False
        cli.load_settings(str(SETTINGS_JSON))
        return cli


def zappa_settings_source(stage: str) -> str:
    """The `zappa_settings.py` that `zappa package <stage>` puts in the zip."""
    source: str = zappa_stage_settings(stage).get_zappa_settings_string()
    return source


#: IAM actions a TransactWriteItems call needs besides its own, by member of TransactItems.
TRANSACT_ACTIONS = {
    "ConditionCheck": "ConditionCheckItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
}


@dataclass
class ClientRecorder:
    """Counts the DynamoDB clients created and records the IAM actions their calls need.

    Installed on botocore's `Session.create_client`, so it sees the app's own client, however
    the datastore builds it, without reaching into the datastore.
    """

    created: int = 0
    actions: list[str] = field(default_factory=list)

    def wrap(self, create_client: Callable[..., Any]) -> Callable[..., Any]:
        def recording_create_client(session: Any, service_name: str, *a: Any, **kw: Any) -> Any:
            client = create_client(session, service_name, *a, **kw)
            if service_name == "dynamodb":
                self.created += 1
                client.meta.events.register("before-parameter-build.dynamodb", self._record)
            return client

        return recording_create_client

    def _record(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.actions.append(f"dynamodb:{model.name}")
        for member in params.get("TransactItems", []) if model.name == "TransactWriteItems" else []:
            for kind in member:
                self.actions.append(f"dynamodb:{TRANSACT_ACTIONS[kind]}")


@dataclass
class Deployment:
    """A cold-started Lambda function: Zappa's handler, the app it loaded, what it called."""

    handler: Any
    stage: str
    recorder: ClientRecorder

    @property
    def app(self) -> Flask:
        app: Flask = self.handler.app_module.app
        return app


def _reset_singleton() -> None:
    from zappa.handler import LambdaHandler

    LambdaHandler._LambdaHandler__instance = None


@contextmanager
def lambda_handler(
    stage: str, environment: Mapping[str, str], workdir: Path
) -> Iterator[Deployment]:
    """A fresh `LambdaHandler` for `stage`, with `environment` added to the stage's variables.

    Args:
        environment: test-only variables (the moto endpoint, a per-session table), appended to
            the generated module the same way the stage's own `environment_variables` are.
        workdir: where the generated settings module is written (put first on sys.path).
    """
    import botocore.session
    from zappa.handler import LambdaHandler

    source = zappa_settings_source(stage)
    source += f"ENVIRONMENT_VARIABLES.update({dict(environment)!r})\n"
    (workdir / f"{SETTINGS_MODULE}.py").write_text(source, encoding="utf-8")

    saved_env = dict(os.environ)
    saved_modules = {
        name: sys.modules.pop(name) for name in (SETTINGS_MODULE, APP_MODULE) if name in sys.modules
    }
    root = logging.getLogger()
    saved_level = root.level
    recorder = ClientRecorder()
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(workdir))
        mp.setattr(
            botocore.session.Session,
            "create_client",
            recorder.wrap(botocore.session.Session.create_client),
        )
        for name, value in DUMMY_AWS.items():
            mp.setenv(name, value)
        _reset_singleton()
        deployment: Deployment | None = None
        try:
            deployment = Deployment(LambdaHandler(SETTINGS_MODULE), stage, recorder)
            yield deployment
        finally:
            if deployment is not None:  # release the app's client (its pooled sockets)
                resources.close(deployment.app)
            _reset_singleton()
            for name in (SETTINGS_MODULE, APP_MODULE):
                sys.modules.pop(name, None)
            sys.modules.update(saved_modules)
            os.environ.clear()
            os.environ.update(saved_env)
            root.setLevel(saved_level)
