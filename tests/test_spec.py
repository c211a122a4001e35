"""`swagger.yaml` at the repo root is the served spec; regenerate with `make spec`."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask.testing import FlaskClient

from kvstore.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_swagger_yaml_matches_the_served_spec(client: FlaskClient) -> None:
    served = client.get("/v1/swagger.json").get_json()
    committed = yaml.safe_load((ROOT / "swagger.yaml").read_text(encoding="utf-8"))
    assert committed == served, "swagger.yaml is stale: run `make spec` and commit it"


def test_spec_command_writes_the_served_spec(client: FlaskClient, tmp_path: Path) -> None:
    target = tmp_path / "spec.yaml"
    assert main(["spec", "--output", str(target)]) == 0
    assert (
        yaml.safe_load(target.read_text(encoding="utf-8"))
        == client.get("/v1/swagger.json").get_json()
    )


def test_docs_page_and_assets_are_served_locally(client: FlaskClient) -> None:
    page = client.get("/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger-ui" in html
    assert "//cdn" not in html
    assert "https://" not in html.split("<body")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/swaggerui/{asset}" in html
        with client.get(f"/swaggerui/{asset}") as response:  # closes the file it streams
            assert response.status_code == 200
