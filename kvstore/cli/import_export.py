"""`kvstore export` and `kvstore import`: JSON Lines in and out of a running service.

Together they move data between any two datastores: export from a server on SQLite, import
into one on DynamoDB. The rules (chunks, idempotence, expiry, bad lines) live in
`kvstore.import_export`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from kvstore.cli import remote
from kvstore.cli.progress import ProgressBar
from kvstore.client import ClientError
from kvstore.import_export import export_lines, import_lines

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subparsers: Subparsers) -> None:
    export = subparsers.add_parser(
        "export",
        help="write every item as JSON Lines to stdout",
        description=remote.paragraph(
            "Write every item (key, value, version, updated_at, expires_at), one JSON object "
            "a line, following cursors to the end."
        ),
        epilog="Example:\n  kvstore export --url http://127.0.0.1:5000 > dump.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remote.add_connection_arguments(export)
    export.add_argument("--prefix", default="", help="only keys starting with this")
    remote.add_page_size_argument(export)
    export.set_defaults(func=run_export)

    load = subparsers.add_parser(
        "import",
        help="write the items of a JSON Lines file (an export) into the service",
        description=remote.paragraph(
            "Import JSON Lines (one object with 'key', 'value' and optionally 'expires_at' "
            "a line) with POST /v1/batch, 100 items a request. Safe to re-run: items already "
            "equal are left alone. An expires_at becomes the remaining ttl; expired items are "
            "skipped. A bad line stops the import after writing every line before it. Counts "
            "are printed as JSON at the end."
        ),
        epilog=(
            "Example (move SQLite data to DynamoDB):\n"
            "  kvstore export --url http://127.0.0.1:5000 > dump.jsonl\n"
            "  kvstore import dump.jsonl --url https://abc123.execute-api.us-east-1"
            ".amazonaws.com/dev"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remote.add_connection_arguments(load)
    load.add_argument("file", help="JSON Lines file to import, or - for stdin")
    load.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    out = sys.stdout
    try:
        with remote.open_client(args) as client:
            for line in export_lines(client, args.prefix, page_size=args.page_size):
                out.write(line + "\n")
    except ClientError as exc:
        return remote.client_error(exc)
    out.flush()
    return 0


@contextmanager
def _open_lines(path: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """The file as bytes and its line count (None for stdin, which cannot be read twice)."""
    if path == "-":
        yield sys.stdin.buffer, None
        return
    with open(path, "rb") as handle:
        total = sum(1 for _ in handle)
        handle.seek(0)
        yield handle, total


def run_import(args: argparse.Namespace) -> int:
    try:
        with _open_lines(args.file) as (lines, total), remote.open_client(args) as client:
            bar = ProgressBar("import", total)
            try:
                report = import_lines(client, lines, progress=bar.update)
            finally:
                bar.close()
    except OSError as exc:
        return remote.error(f"cannot read {args.file}: {exc.strerror or exc}", remote.EXIT_USAGE)
    except ClientError as exc:
        return remote.client_error(exc)
    print(remote.dumps(report.counts()))
    for failure in report.failed:
        remote.error(failure)
    if report.interrupted is not None:
        status = remote.client_error(report.interrupted)
        remote.error(f"{args.file}: stopped at line {report.lines} or before; run again to finish")
        return status
    if report.error is not None:
        kept = "every line before it was imported; fix it and run again"
        return remote.error(f"{args.file}: {report.error} ({kept})")
    return 0 if report.ok else remote.EXIT_API_ERROR
