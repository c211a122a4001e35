"""Commands that group subcommands (`kvstore dynamodb create-table`, `kvstore token new`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_group(subparsers: Subparsers, name: str, help_text: str, description: str) -> Subparsers:
    """A command `name` whose subcommand is required; returns where to add the subcommands."""
    parser = subparsers.add_parser(name, help=help_text, description=description)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)
