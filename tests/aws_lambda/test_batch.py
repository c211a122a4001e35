"""`POST /v1/batch` and `/v1/txn` through the gateway: the sports example, then a transfer."""

from __future__ import annotations

from tests.aws_lambda.gateway import Gateway


def test_batch_compiles_sports_in_request_order(rest: Gateway, ns: str) -> None:
    sports = {"soccer": {"players": 11}, "tennis": {"players": 2}, "golf": {"players": 1}}
    puts = [{"op": "put", "key": f"{ns}/{name}", "value": v} for name, v in sports.items()]
    puts.append({"op": "put", "key": f"{ns}/sports", "value": list(sports)})
    written = rest.post(rest.url("/v1/batch"), json_body={"operations": puts})
    assert written.status == 200, written.text
    assert [r["status"] for r in written.json()["results"]] == [201, 201, 201, 201]

    gets = [{"op": "get", "key": f"{ns}/{name}"} for name in [*sports, "cricket"]]
    read = rest.post(rest.url("/v1/batch"), json_body={"operations": gets})
    assert read.status == 200, read.text
    results = read.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 200, 404]
    assert [r["item"]["value"] for r in results[:3]] == list(sports.values())
    assert results[3]["error"]["status"] == 404


def test_txn_is_all_or_nothing_through_the_gateway(rest: Gateway, ns: str) -> None:
    alice, bob = f"{ns}/alice", f"{ns}/bob"
    seeded = rest.post(
        rest.url("/v1/txn"),
        json_body={
            "operations": [
                {"op": "put", "key": alice, "value": 10},
                {"op": "put", "key": bob, "value": 0},
            ]
        },
    )
    assert seeded.status == 200, seeded.text

    refused = rest.post(
        rest.url("/v1/txn"),
        json_body={
            "operations": [
                {"op": "put", "key": alice, "value": 5, "if_version": 1},
                {"op": "put", "key": bob, "value": 5, "if_version": 9},
            ]
        },
    )
    assert refused.status == 409
    assert refused.content_type == "application/problem+json"
    assert refused.json()["failed_index"] == 1
    assert rest.get(rest.url(f"/v1/key/{alice}")).json()["value"] == 10

    moved = rest.post(
        rest.url("/v1/txn"),
        json_body={
            "operations": [
                {"op": "put", "key": alice, "value": 5, "if_version": 1},
                {"op": "put", "key": bob, "value": 5, "if_version": 1},
            ]
        },
    )
    assert moved.status == 200, moved.text
    assert [item["version"] for item in moved.json()["results"]] == [2, 2]
