"""One cold-started Lambda function for this package's tests, on DynamoDB (moto's server).

The function is the `dev` stage of zappa_settings.json as Zappa's handler loads it; only the
DynamoDB endpoint and the table (fresh for the package) are the test's. Tests keep out of each
other's way by using keys under their own `ns` prefix. Package-scoped, because Zappa's handler
sets the stage's variables in `os.environ`: they are put back before any other package runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kvstore.datastores.dynamodb.table import create_table
from tests.aws_lambda.gateway import Gateway
from tests.aws_lambda.harness import Deployment, lambda_handler
from tests.dynamodb_servers import Server, make_client, unique_table


def dynamodb_environment(server: Server, table: str) -> dict[str, str]:
    """What the test adds to the stage's environment: where DynamoDB is, which table."""
    return {"KVSTORE_DYNAMODB_ENDPOINT": server.endpoint, "KVSTORE_DYNAMODB_TABLE": table}


@pytest.fixture(scope="package")
def lambda_table(moto_server: Server) -> Iterator[str]:
    client = make_client(moto_server.endpoint)
    table = unique_table()
    create_table(client, table)
    yield table
    client.delete_table(TableName=table)
    client.close()


@pytest.fixture(scope="package")
def deployment(
    moto_server: Server, lambda_table: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("zappa-dev")
    with lambda_handler("dev", dynamodb_environment(moto_server, lambda_table), workdir) as dep:
        yield dep


@pytest.fixture
def ns() -> str:
    """A key prefix of this test's own."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def rest(deployment: Deployment) -> Gateway:
    """The REST API `zappa deploy` creates, reached on its execute-api URL (`/dev/...`)."""
    return Gateway(deployment.handler, stage=deployment.stage)


@pytest.fixture
def domain(deployment: Deployment) -> Gateway:
    """The same REST API behind a custom domain mapped to the stage (no `/dev` in URLs)."""
    return Gateway(deployment.handler, stage=deployment.stage, custom_domain=True)


@pytest.fixture
def http_api(deployment: Deployment) -> Gateway:
    """An HTTP API (payload 2.0) with a `dev` stage in front of the same function."""
    return Gateway(deployment.handler, stage=deployment.stage, payload="2.0")
