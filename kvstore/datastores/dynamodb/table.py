"""Creating the DynamoDB table the datastore expects: `kvstore dynamodb create-table`.

On-demand billing (no capacity to plan) and TTL on `expires_at`, so DynamoDB eventually
deletes what the datastore already hides. Used by the CLI and, when
`KVSTORE_DYNAMODB_CREATE_TABLE=true`, by the datastore factory; never by the store itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kvstore.datastores.dynamodb.errors import translate
from kvstore.datastores.errors import DatastoreUnavailable
from kvstore.datastores.provisioning import TableSetup

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TTL_ATTRIBUTE = "expires_at"
ACTIVE_TIMEOUT_S = 120.0
#: Polls start fast (local servers are ACTIVE in milliseconds) and back off to AWS's pace.
FIRST_POLL_S = 0.02
MAX_POLL_S = 2.0


def create_table(
    client: DynamoDBClient,
    name: str,
    *,
    timeout: float = ACTIVE_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> TableSetup:
    """Create table `name` if missing, wait until it is ACTIVE, then enable TTL.

    Safe to run again: an existing table and an enabled TTL are left as they are. Returns
    whether the table was created, and what became of its TTL.

    Raises:
        DatastoreUnavailable: the endpoint cannot be reached, refuses the credentials, or the
            table is not ACTIVE within `timeout` seconds.
    """
    try:
        client.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise translate(exc, name, "CreateTable") from exc
        created = False
    except BotoCoreError as exc:
        raise translate(exc, name, "CreateTable") from exc
    wait_until_active(client, name, timeout=timeout, sleep=sleep)
    state = "created" if created else "already existed"
    return TableSetup("DynamoDB", name, f"{state}; {enable_ttl(client, name)}")


def wait_until_active(
    client: DynamoDBClient,
    name: str,
    *,
    timeout: float = ACTIVE_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll DescribeTable until the table is ACTIVE (AWS takes seconds, local servers less)."""
    deadline = time.monotonic() + timeout
    interval = FIRST_POLL_S
    while True:
        try:
            status = client.describe_table(TableName=name)["Table"].get("TableStatus")
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, name, "DescribeTable") from exc
        if status == "ACTIVE":
            return
        if time.monotonic() >= deadline:
            raise DatastoreUnavailable(
                f"DynamoDB table {name!r} is still {status} after {timeout:.0f} s", reason="busy"
            )
        sleep(interval)
        interval = min(interval * 2, MAX_POLL_S)


def enable_ttl(client: DynamoDBClient, name: str) -> str:
    """Turn on TTL deletion of expired items; says what happened, in words.

    Looks first, so a second run (every worker of a local server runs this) changes nothing.
    An endpoint without UpdateTimeToLive (dynalite) is not an error: the datastore hides
    expired items on every read anyway, they are just never deleted there.
    """
    try:
        description = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        status = description.get("TimeToLiveStatus", "DISABLED")
        attribute = description.get("AttributeName")
        if status in ("ENABLED", "ENABLING"):
            if attribute == TTL_ATTRIBUTE:
                return f"TTL already enabled on {TTL_ATTRIBUTE!r}"
            return (
                f"TTL is enabled on {attribute!r}, not {TTL_ATTRIBUTE!r}: expired items stay "
                "hidden on every read but DynamoDB will not delete them"
            )
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code == "UnknownOperationException":
            return (
                "TTL not enabled: this endpoint does not implement UpdateTimeToLive; expired "
                "items stay hidden on every read but are never deleted"
            )
        if code == "ValidationException":  # e.g. a TTL change less than an hour ago
            return f"TTL not enabled ({message}); expired items stay hidden on every read"
        raise translate(exc, name, "UpdateTimeToLive") from exc
    except BotoCoreError as exc:
        raise translate(exc, name, "UpdateTimeToLive") from exc
    return f"TTL enabled on {TTL_ATTRIBUTE!r}"
