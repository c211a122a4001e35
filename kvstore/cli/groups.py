"""Commands that group subcommands (`kvstore dynamodb create-table`, `kvstore token new`), and
the settings such a subcommand reads: the environment, with its options over it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kvstore.settings import Settings, SettingsError, exit_for

if TYPE_CHECKING:
    from kvstore.datastores.errors import DatastoreError

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_group(subparsers: Subparsers, name: str, help_text: str, description: str) -> Subparsers:
    """A command `name` whose subcommand is required; returns where to add the subcommands."""
    parser = subparsers.add_parser(name, help=help_text, description=description)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def add_create_table(
    subparsers: Subparsers, name: str, what: str, *, help_text: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """`kvstore NAME create-table`, in the group of the datastore KVSTORE_DATASTORE=NAME names;
    returns the subcommand, for its own options."""
    commands = add_group(
        subparsers,
        name,
        f"manage the {what} table",
        f"Manage the {what} table of KVSTORE_DATASTORE={name}.",
    )
    return commands.add_parser(
        "create-table", help=help_text, description=description, epilog=epilog
    )


def cannot_create_table(exc: DatastoreError) -> int:
    """Say why `create-table` failed, in one line on stderr (an outage as `kvstore serve`
    reports one: with its remedy and diagnosis); the command's exit status."""
    from kvstore.errors import datastore_error_report

    print(f"kvstore: cannot create the table: {datastore_error_report(exc)}", file=sys.stderr)
    return 1


def settings_with(args: argparse.Namespace, options: Mapping[str, str]) -> Settings:
    """The environment's settings with each given option over its setting (`options` maps a
    setting's name to its option's); a bad one stops the command with one line."""
    overrides: dict[str, Any] = {
        setting: getattr(args, option)
        for setting, option in options.items()
        if getattr(args, option)
    }
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        exit_for(exc)
