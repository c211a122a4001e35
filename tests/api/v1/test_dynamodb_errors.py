"""The API's answers when DynamoDB is misused or missing: clear problem+json, never a 500.

A forged cursor is the client's fault (400); a missing table or an endpoint that is down is
the operator's (503 with Retry-After, the detail naming the table and the fix).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from kvstore.app import create_app
from kvstore.datastores.dynamodb import DynamoDBDatastore
from kvstore.settings import Settings
from tests.backends import BUILDERS, FakeClock, selected_backends
from tests.dynamodb_servers import Server, closed_port, make_client, server_environment

DYNAMODB_BACKENDS = [name for name in selected_backends() if name.startswith("dynamodb-")]
SETTINGS = Settings(datastore="dynamodb")


def client_for(store: DynamoDBDatastore) -> FlaskClient:
    app = create_app(SETTINGS, datastore=store)
    app.config["TESTING"] = True
    return app.test_client()


def problem(response: TestResponse, status: int) -> dict[str, object]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, object] = response.get_json()
    assert body["status"] == status
    return body


@pytest.fixture(params=DYNAMODB_BACKENDS)
def api(request: pytest.FixtureRequest, clock: FakeClock) -> FlaskClient:
    store = BUILDERS[request.param](request, Path(), clock)
    assert isinstance(store, DynamoDBDatastore)
    return client_for(store)


@pytest.fixture
def moto(request: pytest.FixtureRequest) -> Server:
    if "dynamodb-moto" not in selected_backends():
        pytest.skip("backend dynamodb-moto is not in KVSTORE_TEST_BACKENDS")
    server: Server = request.getfixturevalue("moto_server")
    return server


def _cursor(payload: object) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "!!!!",
        _cursor({"v": 2, "after": "a"}),
        _cursor({"v": 1, "after": "/etc/passwd"}),
        _cursor({"v": 1, "after": {"key": {"S": "a"}}}),
        _cursor(["a"]),
    ],
)
def test_a_forged_cursor_is_400(api: FlaskClient, cursor: str) -> None:
    api.put("/v1/key/a", json={"value": 1})
    body = problem(api.get("/v1/key", query_string={"cursor": cursor}), 400)
    assert body["type"] == "urn:kvstore:problem:invalid-cursor"


def test_a_wellformed_cursor_for_an_absent_key_is_only_a_position(api: FlaskClient) -> None:
    for key in ("a", "b", "c"):
        api.put(f"/v1/key/{key}", json={"value": key})
    response = api.get("/v1/key", query_string={"cursor": _cursor({"v": 1, "after": "zz"})})
    assert response.status_code == 200
    assert {item["key"] for item in response.get_json()["items"]} <= {"a", "b", "c"}


def test_a_missing_table_is_503_naming_the_table_and_the_fix(
    moto: Server, boto_session: boto3.session.Session
) -> None:
    client = make_client(moto.endpoint, session=boto_session)
    api = client_for(DynamoDBDatastore(client, "kvstore-never-created"))
    try:
        for response in (
            api.get("/v1/key/a"),
            api.put("/v1/key/a", json={"value": 1}),
            api.get("/v1/key"),
            api.get("/readyz"),
        ):
            body = problem(response, 503)
            assert response.headers["Retry-After"] == "30"
            assert "'kvstore-never-created' does not exist" in str(body["detail"])
            assert "kvstore dynamodb create-table" in str(body["detail"])
    finally:
        client.close()


def test_an_endpoint_that_is_down_is_503_with_retry_after(
    boto_session: boto3.session.Session,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    client = make_client(endpoint, max_attempts=1, session=boto_session)
    api = client_for(DynamoDBDatastore(client, "kvstore"))
    try:
        for response in (api.get("/v1/key/a"), api.delete("/v1/key/a"), api.get("/readyz")):
            body = problem(response, 503)
            assert response.headers["Retry-After"] == "5"
            assert "EndpointConnectionError" in str(body["detail"])
            assert endpoint not in str(body["detail"])
        batch = api.post("/v1/batch", json={"operations": [{"op": "get", "key": "a"}]})
        assert batch.get_json()["results"][0]["status"] == 503  # answered per operation
    finally:
        client.close()


def test_serve_refuses_to_start_on_a_missing_table_in_one_line(moto: Server) -> None:
    env = server_environment(moto.endpoint, "kvstore-not-there")
    done = subprocess.run(
        [sys.executable, "-m", "kvstore", "serve", "--port", str(closed_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "kvstore: cannot start: DynamoDB table 'kvstore-not-there' does not exist; create it "
        "with `kvstore dynamodb create-table` (or set KVSTORE_DYNAMODB_CREATE_TABLE=true for a "
        "local DynamoDB)"
    ]
