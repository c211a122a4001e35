"""The served spec's basePath follows each request's SCRIPT_NAME (an API Gateway stage)."""

from __future__ import annotations

from kvstore.app import create_app
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings


def test_base_path_follows_the_stage_of_each_request() -> None:
    app = create_app(Settings(datastore="memory", log_level="WARNING"), datastore=MemoryDatastore())
    client = app.test_client()

    def base_path(base_url: str) -> str:
        spec = client.get("/v1/swagger.json", base_url=base_url).get_json()
        value: str = spec["basePath"]
        return value

    assert base_path("http://localhost/") == "/v1"
    assert base_path("http://localhost/dev/") == "/dev/v1"
    assert base_path("http://localhost/") == "/v1"
    assert base_path("http://localhost/prod/") == "/prod/v1"
