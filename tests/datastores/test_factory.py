"""`factory.build`: the datastore the settings name, with what every backend takes from them.

The DynamoDB and PostgreSQL builders are tested beside their stores (test_dynamodb.py,
test_postgres.py), on real servers; these two need none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstore.datastores import factory
from kvstore.datastores.errors import ValueTooLarge
from kvstore.settings import Settings


@pytest.mark.parametrize("datastore", ["memory", "sqlite"])
def test_every_datastore_built_keeps_the_settings_value_limit(
    datastore: str, tmp_path: Path
) -> None:
    settings = Settings(
        datastore=datastore, sqlite_path=str(tmp_path / "kv.sqlite3"), max_value_bytes=8
    )
    store = factory.build(settings)
    try:
        assert store.name == datastore
        assert store.max_value_bytes == 8
        store.put("k", "123456")  # "123456" with its quotes: 8 bytes
        with pytest.raises(ValueTooLarge):
            store.put("k", "1234567")
    finally:
        store.close()
