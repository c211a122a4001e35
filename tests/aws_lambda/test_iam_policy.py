"""The IAM policy grants exactly what the service uses, on its own table and nothing else.

The actions are not listed by hand here: every endpoint is exercised through the gateway
while the app's DynamoDB client records the actions its calls need (a TransactWriteItems
also needs the action of each item it holds). The policy must grant all of them (else a
deployed endpoint fails with AccessDenied) and nothing more.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.aws_lambda.gateway import Gateway
from tests.aws_lambda.harness import REPO, Deployment, zappa_stage_settings

STAGES = ("dev", "prod")


def stage_policy(stage: str) -> dict[str, Any]:
    """The policy Zappa attaches to the stage's role, as Zappa itself reads it."""
    policy: dict[str, Any] = json.loads(zappa_stage_settings(stage).zappa.attach_policy)
    return policy


def stage_config(stage: str) -> dict[str, Any]:
    config: dict[str, Any] = zappa_stage_settings(stage).stage_config
    return config


def dynamodb_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for statement in policy["Statement"]
        if any(action.startswith("dynamodb:") for action in statement["Action"])
    ]


def _exercise_every_endpoint(gateway: Gateway, ns: str) -> None:
    url = gateway.url
    answers = [
        gateway.post(url("/v1/key"), json_body={"key": f"{ns}/a", "value": 1}),
        gateway.put(url(f"/v1/key/{ns}/b"), json_body={"value": 2}),
        gateway.put(url(f"/v1/key/{ns}/b"), json_body={"value": 3}, headers={"If-Match": '"1"'}),
        gateway.put(url(f"/v1/key/{ns}/c"), json_body={"value": 4, "ttl": 60}),
        gateway.get(url(f"/v1/key/{ns}/a")),
        gateway.get(url(f"/v1/key?prefix={ns}&limit=2")),
        gateway.delete(url(f"/v1/key/{ns}/c"), headers={"If-Match": '"1"'}),
        gateway.post(
            url("/v1/batch"),
            json_body={
                "operations": [
                    {"op": "get", "key": f"{ns}/a"},
                    {"op": "get", "key": f"{ns}/b"},
                    {"op": "put", "key": f"{ns}/d", "value": 5},
                    {"op": "delete", "key": f"{ns}/d"},
                ]
            },
        ),
        gateway.post(
            url("/v1/txn"),
            json_body={
                "operations": [
                    {"op": "put", "key": f"{ns}/a", "value": 6, "if_version": 1},
                    {"op": "delete", "key": f"{ns}/b"},
                    {"op": "check", "key": f"{ns}/e", "exists": False},
                ]
            },
        ),
        gateway.request(
            "PATCH",
            url(f"/v1/key/{ns}/a"),
            body=b'{"patched": true}',
            headers={"Content-Type": "application/merge-patch+json"},
        ),
        gateway.get(url(f"/v1/key?prefix={ns}/&keys=true&delimiter=/")),
        gateway.delete(url(f"/v1/key?prefix={ns}/")),
        gateway.get(url("/readyz")),
    ]
    assert [answer.status for answer in answers] == [
        201, 201, 200, 201, 200, 200, 204, 200, 200, 200, 200, 200, 200,
    ]  # fmt: skip


def test_policy_grants_exactly_the_actions_the_service_uses(
    deployment: Deployment, rest: Gateway, ns: str
) -> None:
    deployment.recorder.actions.clear()
    _exercise_every_endpoint(rest, ns)
    used = set(deployment.recorder.actions)
    (statement,) = dynamodb_statements(stage_policy("dev"))
    assert set(statement["Action"]) == used


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_grants_its_own_table_only(stage: str) -> None:
    config = stage_config(stage)
    table = config["environment_variables"]["KVSTORE_DYNAMODB_TABLE"]
    assert table == f"kvstore-{stage}"
    policy = stage_policy(stage)
    (statement,) = dynamodb_statements(policy)
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == f"arn:aws:dynamodb:*:*:table/{table}"
    for each in policy["Statement"]:
        actions = each["Action"]
        assert all("*" not in action for action in actions), actions
        resources = each["Resource"] if isinstance(each["Resource"], list) else [each["Resource"]]
        assert all(resource != "*" for resource in resources)
        assert "NotAction" not in each
        assert "NotResource" not in each


def test_stages_grant_the_same_actions() -> None:
    dev, prod = (dynamodb_statements(stage_policy(stage)) for stage in STAGES)
    assert dev[0]["Action"] == prod[0]["Action"]


def test_policy_files_are_the_ones_zappa_reads() -> None:
    for stage in STAGES:
        path = REPO / stage_config(stage)["attach_policy"]
        assert json.loads(path.read_text()) == stage_policy(stage)
