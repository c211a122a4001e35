"""`kvstore dynamodb create-table`: create the DynamoDB table the service expects.

Reads the same settings as the server (`KVSTORE_DYNAMODB_TABLE`, `KVSTORE_DYNAMODB_ENDPOINT`,
`AWS_REGION` and boto3's usual credential chain), so the table created is the one the server
will use. Idempotent: an existing table is left as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.cli.create_table import CreateTable, Option

if TYPE_CHECKING:
    from kvstore.datastores.provisioning import TableSetup
    from kvstore.settings import Settings


def create(settings: Settings) -> TableSetup:
    from kvstore.datastores.dynamodb import build_client, create_table

    client = build_client(settings)
    try:
        return create_table(client, settings.dynamodb_table)
    finally:
        client.close()


COMMAND = CreateTable(
    "dynamodb",
    "DynamoDB",
    help="create the table (on-demand billing, TTL on expires_at)",
    description=(
        "Create the table if missing, wait until it is ACTIVE, and enable TTL on "
        "expires_at. Uses KVSTORE_DYNAMODB_TABLE, KVSTORE_DYNAMODB_ENDPOINT, AWS_REGION "
        "and the usual AWS credentials."
    ),
    epilog="Example: AWS_REGION=eu-west-1 kvstore dynamodb create-table --table kvstore",
    options=(
        Option(
            "--table", "dynamodb_table", "table name (default: KVSTORE_DYNAMODB_TABLE or kvstore)"
        ),
        Option(
            "--endpoint", "dynamodb_endpoint", "endpoint URL (default: KVSTORE_DYNAMODB_ENDPOINT)"
        ),
        Option("--region", "aws_region", "AWS region (default: AWS_REGION or us-east-1)"),
    ),
    create=create,
)
register = COMMAND.register
