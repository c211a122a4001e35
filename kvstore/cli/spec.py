"""`kvstore spec`: export the served OpenAPI (Swagger 2.0) spec as YAML."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml


def served_spec() -> dict[str, Any]:
    """The spec exactly as `/v1/swagger.json` serves it at the root path."""
    from kvstore.app import create_app
    from kvstore.settings import Settings

    # WARNING: the request below must not log a line into the YAML on stdout.
    app = create_app(Settings(datastore="memory", log_level="WARNING"))
    with app.test_client() as client:
        response = client.get("/v1/swagger.json")
        spec: dict[str, Any] = response.get_json()
    return spec


def spec_yaml() -> str:
    return yaml.safe_dump(served_spec(), sort_keys=True, allow_unicode=True)


# Each command declares its own parser; `serve`'s resembles this one in shape only.
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "spec",
        help="export the OpenAPI spec as YAML",
        description="Print the API's Swagger 2.0 spec as YAML (as served at /v1/swagger.json).",
        epilog="Example: kvstore spec --output swagger.yaml",
    )
    parser.add_argument("--output", "-o", help="write to this file instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = spec_yaml()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0
