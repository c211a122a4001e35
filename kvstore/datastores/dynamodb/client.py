"""The boto3 client of the DynamoDB datastore: built once per app, reused by every request.

Its time budget: a call ends within `call_budget_s` (every attempt timing out, with botocore's
backoff between them), and the store starts no call that could end past
`REQUEST_BUDGET_S` after its request began, so a stuck DynamoDB is a 503 well inside API
Gateway's 29 s.

Its retries: botocore re-sends a request after a throttle or a connection that never opened,
which cannot have been applied, and also after a timeout or a 5xx, which may have been. A
write is never re-sent after those (`never_resend_unknown_writes`): the store finds out what
happened instead (dynamodb/store.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ConnectionError as NeverSent

from kvstore.datastores.dynamodb.errors import UnknownOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from kvstore.settings import Settings

CONNECT_TIMEOUT_S = 1
READ_TIMEOUT_S = 2
MAX_ATTEMPTS = 3  # in all, the first try included
MAX_POOL_CONNECTIONS = 32
#: Longest a request may spend on DynamoDB before it answers 503.
REQUEST_BUDGET_S = 20
#: The operations that change the table: never re-sent when their outcome is unknown.
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


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


def call_budget_s(client: DynamoDBClient) -> float:
    """The longest one call of `client` can take: every attempt timing out, and standard
    mode's backoff before each retry (at most 1, 2, 4 ... s)."""
    config: Any = client.meta.config  # botocore's Config: its options are set dynamically
    retries: dict[str, Any] = config.retries or {}
    attempts = int(retries.get("total_max_attempts", retries.get("max_attempts", 2) + 1))
    per_attempt = float(config.connect_timeout) + float(config.read_timeout)
    backoff = sum(min(20, 2**retry) for retry in range(attempts - 1))
    return float(attempts * per_attempt + backoff)


def never_resend_unknown_writes(client: DynamoDBClient) -> None:
    """Stop botocore re-sending a write that may have been applied; raise UnknownOutcome.

    A re-sent write is applied twice when the first landed and its answer was lost: a
    condition cannot refuse the copy once another writer has changed the item in between,
    and an unconditional write has no condition at all. botocore asks its `needs-retry`
    handlers, most specific event first, after each attempt; raising here ends the call.
    """
    for operation in WRITES:
        client.meta.events.register_first(
            f"needs-retry.dynamodb.{operation}",
            _refuse_unknown_outcome,
            unique_id=f"kvstore-never-resend-{operation}",
        )


def _refuse_unknown_outcome(
    response: Any = None, caught_exception: Exception | None = None, **kwargs: Any
) -> None:
    operation = kwargs["operation"].name
    if caught_exception is not None:
        if isinstance(caught_exception, NeverSent):
            return None  # the connection never opened: nothing reached DynamoDB
        raise UnknownOutcome(operation) from caught_exception
    if response is not None and response[0].status_code >= 500:
        raise UnknownOutcome(operation)  # "may or may not have succeeded", says AWS
    return None
