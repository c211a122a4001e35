"""The `kvstore` command: one sub-module per command group, each adding its sub-parsers."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kvstore import __version__

#: Modules with `register(subparsers)`; each command sets `func(args) -> int`.
COMMAND_MODULES = (
    "kvstore.cli.serve",
    "kvstore.cli.spec",
    "kvstore.cli.dynamodb",
    "kvstore.cli.demo",
    "kvstore.cli.keys",
    "kvstore.cli.bulk",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvstore",
        description="A key/value REST service, and a client for it.",
        epilog="Example: kvstore serve --port 5000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kvstore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
