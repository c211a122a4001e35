"""docker-compose.yml and the Dockerfile, checked by a real Compose implementation.

There is no Docker engine here, but Debian's docker-compose validates and resolves a compose
file without one (`make compose` installs it when missing). The resolved file is then checked
for what makes the stack work: the app reaches the DynamoDB service by its name, with settings
that `Settings` accepts, and the `postgres` profile's two instances share one PostgreSQL.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from kvstore.settings import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (`make compose` installs Debian's package)")
    return binary


def run_compose(compose: str, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [compose, "--project-directory", str(REPO), "-f", str(path), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved(compose: str) -> dict[str, Any]:
    done = run_compose(compose, COMPOSE_FILE)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_the_compose_file_validates(compose: str) -> None:
    done = run_compose(compose, COMPOSE_FILE, "-q")
    assert done.returncode == 0, done.stderr


def test_the_validator_rejects_a_broken_file(compose: str, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    broken.write_text(text.replace("depends_on:", "depends_onn:"), encoding="utf-8")
    done = run_compose(compose, broken, "-q")
    assert done.returncode != 0
    assert "depends_onn" in done.stderr


def test_the_app_reaches_dynamodb_local_by_service_name(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    app = services["kvstore"]
    settings = Settings.from_env(app["environment"])
    assert settings.datastore == "dynamodb"
    assert settings.dynamodb_create_table is True
    assert settings.dynamodb_endpoint is not None
    endpoint = urlsplit(settings.dynamodb_endpoint)
    dynamodb = services[endpoint.hostname]
    assert dynamodb["image"].startswith("amazon/dynamodb-local:")
    assert "latest" not in dynamodb["image"]
    assert endpoint.port == 8000
    assert app["environment"]["AWS_ACCESS_KEY_ID"]
    assert app["environment"]["AWS_SECRET_ACCESS_KEY"]
    assert endpoint.hostname in app["depends_on"]


def test_the_postgres_profile_runs_two_instances_on_one_database(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    instances = ["kvstore-postgres", "kvstore-postgres-2"]
    dsns = set()
    for name in instances:
        app = services[name]
        assert app["profiles"] == ["postgres"]
        assert app["image"] == services["kvstore"]["image"]  # the same image, psycopg included
        settings = Settings.from_env(app["environment"])
        assert settings.datastore == "postgres"
        assert settings.postgres_create_table is True
        assert settings.postgres_dsn is not None
        dsn = urlsplit(settings.postgres_dsn)
        assert dsn.hostname in app["depends_on"]
        dsns.add(settings.postgres_dsn)
    (shared,) = dsns
    dsn = urlsplit(shared)
    database = services[dsn.hostname or ""]
    assert database["profiles"] == ["postgres"]
    assert database["image"].startswith("postgres:")
    assert "latest" not in database["image"]
    assert dsn.port == 5432
    assert database["environment"]["POSTGRES_USER"] == dsn.username
    assert database["environment"]["POSTGRES_PASSWORD"] == dsn.password
    assert database["environment"]["POSTGRES_DB"] == dsn.path.lstrip("/")
    assert [services[name]["ports"] for name in instances] == [
        ["127.0.0.1:5001:5000/tcp"],
        ["127.0.0.1:5002:5000/tcp"],
    ]


def test_the_app_is_built_from_the_dockerfile_and_published(resolved: dict[str, Any]) -> None:
    app = resolved["services"]["kvstore"]
    assert Path(app["build"]["context"]) == REPO
    assert (REPO / "Dockerfile").is_file()
    # Published on the host's loopback only: the stack is for a developer's machine.
    assert app["ports"] == ["127.0.0.1:5000:5000/tcp"]


def test_the_dockerfile_runs_the_server_on_all_interfaces() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    assert "FROM python:3.13-slim" in lines
    assert "RUN pip install -r requirements/base.txt" in lines
    assert 'CMD ["kvstore", "serve", "--host", "0.0.0.0"]' in lines
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert not {"kvstore", "requirements", "pyproject.toml", "README.md", "LICENSE"} & set(ignored)
