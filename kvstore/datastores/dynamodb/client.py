"""The boto3 client of the DynamoDB datastore: built once per app, reused by every request."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from kvstore.settings import Settings

#: botocore client settings: standard retries, and timeouts well inside API Gateway's 29 s.
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
MAX_ATTEMPTS = 3  # in all, the first try included
MAX_POOL_CONNECTIONS = 32


def build_client(settings: Settings) -> DynamoDBClient:
    """One client per app: standard retries, bounded timeouts, a pool sized for threads."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )
    client: DynamoDBClient = boto3.session.Session().client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint,
        config=config,
    )
    return client
