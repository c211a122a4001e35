"""`kvstore get|put|patch|rm|ls`: keys against a running service, JSON out."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kvstore.cli import remote
from kvstore.client import ClientError, KVStoreClient

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _command(
    subparsers: Subparsers, name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=remote.paragraph(help_text[0].upper() + help_text[1:] + "."),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remote.add_connection_arguments(parser)
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

    patch = _command(
        subparsers,
        "patch",
        "change part of a value atomically; PATCH is a JSON merge patch, or a JSON Patch "
        "with --json-patch",
        "Examples:\n"
        '  kvstore patch config \'{"debug": true, "old": null}\'\n'
        '  kvstore patch sports \'[{"op": "add", "path": "/-", "value": "curling"}]\' '
        "--json-patch",
    )
    patch.add_argument("key")
    patch.add_argument("patch", help="a JSON document, or - to read it from stdin")
    formats = patch.add_mutually_exclusive_group()
    formats.add_argument(
        "--merge",
        dest="format",
        action="store_const",
        const="merge",
        default="merge",
        help="RFC 7396 merge patch: objects merge, null removes a member (the default)",
    )
    formats.add_argument(
        "--json-patch",
        dest="format",
        action="store_const",
        const="json-patch",
        help="RFC 6902 JSON Patch: an array of operations (add, remove, replace, test, ...)",
    )
    patch.add_argument("--ttl", type=int, help="expire after this many seconds (else kept)")
    patch.add_argument("--if-version", type=int, help="only if the key is at this version")
    patch.set_defaults(func=_patch_command)

    rm = _command(
        subparsers,
        "rm",
        "delete a key (exit status 1 when it does not exist), or every key under --prefix",
        "Examples:\n  kvstore rm sports\n  kvstore rm --prefix sports/",
    )
    rm.add_argument("key", nargs="?")
    rm.add_argument(
        "--prefix", help="delete every key starting with this instead, and print the count"
    )
    rm.set_defaults(func=_rm_command)

    ls = _command(
        subparsers,
        "ls",
        "list items as a JSON array, following cursors to the last page",
        "Examples:\n  kvstore ls --prefix user/ | jq length\n  kvstore ls --keys\n"
        "  kvstore ls --keys --delimiter / --prefix user/",
    )
    ls.add_argument("--prefix", default="", help="only keys starting with this")
    ls.add_argument("--keys", action="store_true", help="print only the keys")
    ls.add_argument(
        "--delimiter",
        help="with --keys: one level only, deeper keys as folders ending in it (e.g. /)",
    )
    remote.add_page_size_argument(ls)
    ls.set_defaults(func=_ls_command)


def _with_client(args: argparse.Namespace, action: Callable[[KVStoreClient, Any], None]) -> int:
    try:
        with remote.open_client(args) as client:
            action(client, args)
    except ClientError as exc:
        return remote.client_error(exc)
    return 0


def _get(client: KVStoreClient, args: argparse.Namespace) -> None:
    remote.print_json(client.get(args.key))


def parse_value(text: str, *, as_string: bool) -> Any:
    """VALUE as given on the command line; ValueError says why it is not JSON."""
    if as_string:
        return text
    try:
        return parse_json_argument(text, "VALUE")
    except ValueError as exc:
        raise ValueError(f"{exc}; quote it as JSON or pass --string to store it as text") from None


def parse_json_argument(text: str, name: str) -> Any:
    """A JSON argument of the command line; ValueError says why it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc.msg} at column {exc.colno})") from None


def _put_command(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.value == "-" else args.value
    try:
        value = parse_value(text, as_string=args.string)
    except ValueError as exc:
        return remote.error(str(exc), remote.EXIT_USAGE)
    return _with_client(
        args, lambda client, _: remote.print_json(client.put(args.key, value, ttl=args.ttl))
    )


def _patch_command(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.patch == "-" else args.patch
    try:
        document = parse_json_argument(text, "PATCH")
    except ValueError as exc:
        return remote.error(str(exc), remote.EXIT_USAGE)

    def patch(client: KVStoreClient, _: Any) -> None:
        item = client.patch(
            args.key, document, format=args.format, if_version=args.if_version, ttl=args.ttl
        )
        remote.print_json(item)

    return _with_client(args, patch)


def _rm_command(args: argparse.Namespace) -> int:
    if (args.key is None) == (args.prefix is None) or args.prefix == "":
        return remote.error("give a KEY or a non-empty --prefix, not both", remote.EXIT_USAGE)
    return _with_client(args, _rm)


def _rm(client: KVStoreClient, args: argparse.Namespace) -> None:
    if args.prefix is not None:
        remote.print_json({"deleted": client.delete_prefix(args.prefix)})  # follows every cursor
        return
    client.delete(args.key)
    remote.print_json({"deleted": args.key})


def _ls_command(args: argparse.Namespace) -> int:
    if args.delimiter is not None and not (args.keys and args.delimiter):
        return remote.error("--delimiter needs --keys, and must not be empty", remote.EXIT_USAGE)
    return _with_client(args, _ls)


def _ls(client: KVStoreClient, args: argparse.Namespace) -> None:
    """Stream a JSON array, so a large store is never held in memory at once."""
    entries: Iterator[Any] = (
        client.keys(args.prefix, args.delimiter, page_size=args.page_size)
        if args.keys
        else client.items(args.prefix, page_size=args.page_size)
    )
    out = sys.stdout
    separator = "[\n  "
    for entry in entries:
        out.write(separator + remote.dumps(entry))
        separator = ",\n  "
    out.write("[]\n" if separator.startswith("[") else "\n]\n")
