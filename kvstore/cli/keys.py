"""`kvstore get|put|rm|ls`: one key at a time against a running service, JSON out."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kvstore.cli.connection import (
    EXIT_USAGE,
    add_connection_arguments,
    add_page_size_argument,
    client_error,
    dumps,
    error,
    open_client,
    paragraph,
    print_json,
)
from kvstore.client import ClientError, KVStoreClient

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _command(
    subparsers: Subparsers, name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=paragraph(help_text[0].upper() + help_text[1:] + "."),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_arguments(parser)
    return parser


def register(subparsers: Subparsers) -> None:
    get = _command(
        subparsers,
        "get",
        "print one item (key, value, version, updated_at, expires_at) as JSON",
        "Example:\n  kvstore get sports | jq .value",
    )
    get.add_argument("key")
    get.set_defaults(func=lambda args: _with_client(args, _get))

    put = _command(
        subparsers,
        "put",
        "create or replace a key; VALUE is JSON unless --string",
        "Examples:\n"
        '  kvstore put sports \'["tennis", "football"]\'\n'
        "  kvstore put greeting hello --string --ttl 3600\n"
        "  cat value.json | kvstore put config -",
    )
    put.add_argument("key")
    put.add_argument("value", help="a JSON document, or - to read it from stdin")
    put.add_argument("--string", action="store_true", help="store VALUE as a plain string")
    put.add_argument("--ttl", type=int, help="expire after this many seconds")
    put.set_defaults(func=_put_command)

    rm = _command(
        subparsers,
        "rm",
        "delete a key (exit status 1 when it does not exist)",
        "Example:\n  kvstore rm sports",
    )
    rm.add_argument("key")
    rm.set_defaults(func=lambda args: _with_client(args, _rm))

    ls = _command(
        subparsers,
        "ls",
        "list items as a JSON array, following cursors to the last page",
        "Examples:\n  kvstore ls --prefix user/ | jq length\n  kvstore ls --keys",
    )
    ls.add_argument("--prefix", default="", help="only keys starting with this")
    ls.add_argument("--keys", action="store_true", help="print only the keys")
    add_page_size_argument(ls)
    ls.set_defaults(func=lambda args: _with_client(args, _ls))


def _with_client(args: argparse.Namespace, action: Callable[[KVStoreClient, Any], None]) -> int:
    try:
        with open_client(args) as client:
            action(client, args)
    except ClientError as exc:
        return client_error(exc)
    return 0


def _get(client: KVStoreClient, args: argparse.Namespace) -> None:
    print_json(client.get(args.key))


def parse_value(text: str, *, as_string: bool) -> Any:
    """VALUE as given on the command line; ValueError says why it is not JSON."""
    if as_string:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"VALUE is not valid JSON ({exc.msg} at column {exc.colno}); "
            "quote it as JSON or pass --string to store it as text"
        ) from None


def _put_command(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.value == "-" else args.value
    try:
        value = parse_value(text, as_string=args.string)
    except ValueError as exc:
        return error(str(exc), EXIT_USAGE)
    return _with_client(
        args, lambda client, _: print_json(client.put(args.key, value, ttl=args.ttl))
    )


def _rm(client: KVStoreClient, args: argparse.Namespace) -> None:
    client.delete(args.key)
    print_json({"deleted": args.key})


def _ls(client: KVStoreClient, args: argparse.Namespace) -> None:
    """Stream a JSON array, so a large store is never held in memory at once."""
    out = sys.stdout
    separator = "[\n  "
    for item in client.items(args.prefix, page_size=args.page_size):
        out.write(separator + dumps(item["key"] if args.keys else item))
        separator = ",\n  "
    out.write("[]\n" if separator.startswith("[") else "\n]\n")
