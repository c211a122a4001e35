"""zappa_settings.json, read the way Zappa reads it (stages resolved through `extends`)."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.bytecode import lambda_python
from tests.aws_lambda.harness import zappa_settings_source, zappa_stage_settings

STAGES = ("dev", "prod")


def stage(name: str) -> dict[str, Any]:
    config: dict[str, Any] = zappa_stage_settings(name).stage_config
    return config


@pytest.mark.parametrize("name", STAGES)
def test_stage_runs_the_app_on_dynamodb(name: str) -> None:
    config = stage(name)
    assert config["app_function"] == "kvstore.wsgi.app"
    assert config["environment_variables"]["KVSTORE_DATASTORE"] == "dynamodb"
    assert config["environment_variables"]["KVSTORE_DYNAMODB_TABLE"] == f"kvstore-{name}"
    source = zappa_settings_source(name)
    assert f"API_STAGE='{name}'" in source
    assert "DEBUG=False" in source  # Zappa's default would put tracebacks in 500 bodies


@pytest.mark.parametrize("name", STAGES)
def test_runtime_is_supported_and_the_one_the_zip_is_built_for(name: str) -> None:
    """python3.13 (Amazon Linux 2023): python3.11's Amazon Linux 2 runtime is deprecated.

    Zappa packages the building interpreter's wheels and deploy/bytecode.py its bytecode, so
    both read the runtime from this file: the Makefile builds with that interpreter.
    """
    assert stage(name)["runtime"] == "python3.13"
    assert lambda_python() == (3, 13)


@pytest.mark.parametrize("name", STAGES)
def test_idle_costs_nothing_but_storage(name: str) -> None:
    config = stage(name)
    assert config["keep_warm"] is False  # else a CloudWatch rule invokes it every 4 minutes
    assert "provisioned_concurrency" not in config
    assert "events" not in config


@pytest.mark.parametrize("name", STAGES)
def test_packaging_is_offline_and_excludes_what_lambda_needs_not(name: str) -> None:
    config = stage(name)
    assert config["use_precompiled_packages"] is False  # wheels come from .venv-lambda
    assert config["slim_handler"] is False
    assert {".venv*", "tests", "data", "node_modules", "boto3*", "botocore*"} <= set(
        config["exclude"]
    )
