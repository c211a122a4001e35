"""The DynamoDB datastore: the store, its boto3 client, its error translation, its table.

Imported only when the DynamoDB datastore is chosen (kvstore.datastores.factory), and boto3
itself only when a client is built, so the other datastores never pay for it.
"""

from __future__ import annotations

from kvstore.datastores.dynamodb.client import build_client
from kvstore.datastores.dynamodb.errors import translate
from kvstore.datastores.dynamodb.store import DynamoDBDatastore
from kvstore.datastores.dynamodb.table import create_table

__all__ = ["DynamoDBDatastore", "build_client", "create_table", "translate"]
