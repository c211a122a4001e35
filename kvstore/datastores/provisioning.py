"""What creating a datastore's table did: one type for every backend that has a table to make.

`kvstore dynamodb create-table` and `kvstore postgres create-table` print its summary, and the
factory logs it when the settings ask for the table to be created on start. Each backend says
in its own words what happened (DynamoDB's TTL, PostgreSQL's schema version); the sentence
around those words is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TableSetup:
    """`outcome`: what happened to the table, in words that follow its name ("created; TTL
    enabled on 'expires_at'", "already at schema version 1")."""

    datastore: str  # as people write it: "DynamoDB", "PostgreSQL"
    table: str
    outcome: str

    def summary(self) -> str:
        return f"{self.datastore} table {self.table!r} {self.outcome}"
