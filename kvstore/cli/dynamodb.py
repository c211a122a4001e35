"""`kvstore dynamodb create-table`: create the DynamoDB table the service expects.

Reads the same settings as the server (`KVSTORE_DYNAMODB_TABLE`, `KVSTORE_DYNAMODB_ENDPOINT`,
`AWS_REGION` and boto3's usual credential chain), so the table created is the one the server
will use. Idempotent: an existing table is left as it is.
"""

from __future__ import annotations

import argparse

from kvstore.cli.groups import add_create_table, cannot_create_table, settings_with
from kvstore.datastores.errors import DatastoreError


# The same command as `kvstore postgres create-table` (add_create_table); its own options.
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = add_create_table(
        subparsers,
        "dynamodb",
        "DynamoDB",
        help_text="create the table (on-demand billing, TTL on expires_at)",
        description=(
            "Create the table if missing, wait until it is ACTIVE, and enable TTL on "
            "expires_at. Uses KVSTORE_DYNAMODB_TABLE, KVSTORE_DYNAMODB_ENDPOINT, AWS_REGION "
            "and the usual AWS credentials."
        ),
        epilog="Example: AWS_REGION=eu-west-1 kvstore dynamodb create-table --table kvstore",
    )
    create.add_argument("--table", help="table name (default: KVSTORE_DYNAMODB_TABLE or kvstore)")
    create.add_argument("--endpoint", help="endpoint URL (default: KVSTORE_DYNAMODB_ENDPOINT)")
    create.add_argument("--region", help="AWS region (default: AWS_REGION or us-east-1)")
    create.set_defaults(func=run_create_table)


def run_create_table(args: argparse.Namespace) -> int:
    settings = settings_with(
        args, {"dynamodb_table": "table", "dynamodb_endpoint": "endpoint", "aws_region": "region"}
    )

    from kvstore.datastores.dynamodb import build_client, create_table

    client = build_client(settings)
    try:
        setup = create_table(client, settings.dynamodb_table)
    except DatastoreError as exc:
        return cannot_create_table(exc)
    finally:
        client.close()
    print(setup.summary())
    return 0
