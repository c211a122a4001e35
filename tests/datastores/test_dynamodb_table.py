"""`create_table` on both DynamoDB servers: idempotent, on-demand, TTL on expires_at where the
server implements TTL, and a clear word where it does not (dynalite)."""

from __future__ import annotations

import boto3
import pytest

from kvstore.datastores.dynamodb.table import TTL_ATTRIBUTE, create_table
from kvstore.datastores.errors import DatastoreUnavailable
from tests.backends import selected_backends
from tests.dynamodb_servers import Server, closed_port, make_client, unique_table


def _server(request: pytest.FixtureRequest, backend: str, fixture: str) -> Server:
    if backend not in selected_backends():
        pytest.skip(f"backend {backend} is not in KVSTORE_TEST_BACKENDS")
    server: Server = request.getfixturevalue(fixture)
    return server


@pytest.fixture
def moto(request: pytest.FixtureRequest) -> Server:
    return _server(request, "dynamodb-moto", "moto_server")


@pytest.fixture
def dynalite(request: pytest.FixtureRequest) -> Server:
    return _server(request, "dynamodb-dynalite", "dynalite_server")


@pytest.fixture
def table() -> str:
    return unique_table()


def test_creates_an_on_demand_table_with_ttl_on_expires_at(
    moto: Server, table: str, boto_session: boto3.session.Session
) -> None:
    client = make_client(moto.endpoint, session=boto_session)
    try:
        setup = create_table(client, table)
        assert setup.outcome == f"created; TTL enabled on {TTL_ATTRIBUTE!r}"
        described = client.describe_table(TableName=table)["Table"]
        assert described["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
        assert described.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")) == ("ENABLED", "expires_at")

        again = create_table(client, table)
        assert again.summary() == (
            f"DynamoDB table {table!r} already existed; TTL already enabled on 'expires_at'"
        )
    finally:
        client.delete_table(TableName=table)
        client.close()


def test_a_server_without_ttl_gets_a_table_and_a_clear_word(
    dynalite: Server, table: str, boto_session: boto3.session.Session
) -> None:
    client = make_client(dynalite.endpoint, session=boto_session)
    try:
        setup = create_table(client, table)
        assert setup.outcome.startswith("created; TTL not enabled")
        assert "does not implement UpdateTimeToLive" in setup.outcome
        assert "hidden on every read" in setup.outcome
        assert create_table(client, table).outcome.startswith("already existed; TTL not enabled")
    finally:
        client.delete_table(TableName=table)
        client.close()


def test_an_unreachable_endpoint_is_unavailable(boto_session: boto3.session.Session) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}", max_attempts=1, session=boto_session)
    try:
        with pytest.raises(DatastoreUnavailable, match="CreateTable on table 'kv-nowhere'"):
            create_table(client, "kv-nowhere")
    finally:
        client.close()
