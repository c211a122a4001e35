"""`kvstore DATASTORE create-table`, written once for every datastore that has a table to make.

A datastore's module (`kvstore.cli.dynamodb`, `kvstore.cli.postgres`) declares a `CreateTable`:
its help texts, its options, and how to create its table from the settings. The rest is the
same for all of them and is here: the `DATASTORE` group, each option read over the setting it
names, one line on stderr when the table cannot be made, the summary of what was done.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvstore.cli.groups import add_group
from kvstore.datastores.errors import DatastoreError
from kvstore.settings import Settings, SettingsError, exit_for

if TYPE_CHECKING:
    from kvstore.datastores.provisioning import TableSetup

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


@dataclass(frozen=True, slots=True)
class Option:
    """`--flag VALUE`, which stands over the setting `setting` (a field of `Settings`) for
    this run: declared once, it is both the argument and the override."""

    flag: str
    setting: str
    help: str

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True, slots=True)
class CreateTable:
    """`kvstore DATASTORE create-table` for one datastore; `register` adds it to the CLI.

    `create` makes the table the settings name and says what it did; it raises
    `DatastoreError` when the datastore refuses, `SettingsError` when a setting it needs is
    missing.
    """

    datastore: str  # KVSTORE_DATASTORE's value, and the command's name: "dynamodb"
    what: str  # the datastore as people write it: "DynamoDB"
    help: str
    description: str
    epilog: str
    options: tuple[Option, ...]
    create: Callable[[Settings], TableSetup]

    def register(self, subparsers: Subparsers) -> None:
        commands = add_group(
            subparsers,
            self.datastore,
            f"manage the {self.what} table",
            f"Manage the {self.what} table of KVSTORE_DATASTORE={self.datastore}.",
        )
        parser = commands.add_parser(
            "create-table", help=self.help, description=self.description, epilog=self.epilog
        )
        for option in self.options:
            parser.add_argument(option.flag, help=option.help)
        parser.set_defaults(func=self.run)

    def run(self, args: argparse.Namespace) -> int:
        overrides: dict[str, Any] = {
            option.setting: getattr(args, option.dest)
            for option in self.options
            if getattr(args, option.dest)
        }
        try:
            setup = self.create(Settings.from_env(**overrides))
        except SettingsError as exc:
            exit_for(exc)
        except DatastoreError as exc:
            return cannot_create_table(exc)
        print(setup.summary())
        return 0


def cannot_create_table(exc: DatastoreError) -> int:
    """Say why `create-table` failed, in one line on stderr (an outage as `kvstore serve`
    reports one: with its remedy and diagnosis); the command's exit status."""
    from kvstore.errors import datastore_error_report

    print(f"kvstore: cannot create the table: {datastore_error_report(exc)}", file=sys.stderr)
    return 1
