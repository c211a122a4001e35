"""The `kvstore` command: one sub-module per command group, each adding its sub-parsers.

Only the module of the command being run is imported, so a dependency one command needs (or a
slow import) costs nothing to the others, and a missing one breaks only that command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kvstore import __version__

#: Each command, and the module whose `register(subparsers)` adds it (and sets `func`).
COMMANDS = {
    "serve": "kvstore.cli.serve",
    "spec": "kvstore.cli.spec",
    "dynamodb": "kvstore.cli.dynamodb",
    "postgres": "kvstore.cli.postgres",
    "demo": "kvstore.cli.demo",
    "get": "kvstore.cli.keys",
    "put": "kvstore.cli.keys",
    "patch": "kvstore.cli.keys",
    "rm": "kvstore.cli.keys",
    "ls": "kvstore.cli.keys",
    "export": "kvstore.cli.import_export",
    "import": "kvstore.cli.import_export",
    "token": "kvstore.cli.token",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command`'s module only, or for every command when it is None."""
    parser = argparse.ArgumentParser(
        prog="kvstore",
        description="A key/value REST service, and a client for it.",
        epilog="Example: kvstore serve --port 5000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kvstore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(name).register(subparsers)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is not an option (none takes a value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(command_of(argv)).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
