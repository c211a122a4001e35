"""What every command that talks to a running service shares: `--url`/`--token` (or
`KVSTORE_URL`/`KVSTORE_TOKEN`), the client, JSON output, error exits.

Output is JSON on stdout so it pipes into `jq`; an error is one line on stderr carrying the
server's problem detail, and the exit status says which kind of failure it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import Any, TextIO

from kvstore import strictjson
from kvstore.client import ClientError, ConnectionFailed, KVStoreClient

ENV_URL = "KVSTORE_URL"
ENV_TOKEN = "KVSTORE_TOKEN"
DEFAULT_URL = "http://127.0.0.1:5000"
MAX_PAGE_SIZE = 1000  # the API's largest `limit`

#: Exit statuses: the API answered with an error / the service could not be reached /
#: the command line was wrong (argparse uses 2 too).
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def paragraph(text: str) -> str:
    """A description wrapped for a terminal; the epilog's example lines stay as written."""
    return textwrap.fill(text, width=78)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get(ENV_URL, DEFAULT_URL),
        help=f"service base URL (default: ${ENV_URL}, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(ENV_TOKEN),
        help=f"API key, sent as a Bearer token (default: ${ENV_TOKEN})",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call")


def _page_size(text: str) -> int:
    size = int(text)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PAGE_SIZE}")
    return size


def add_page_size_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--page-size",
        type=_page_size,
        default=MAX_PAGE_SIZE,
        help=f"items per request while following cursors (default {MAX_PAGE_SIZE})",
    )


def open_client(args: argparse.Namespace) -> KVStoreClient:
    return KVStoreClient(args.url, token=args.token or None, timeout=args.timeout)


def dumps(value: Any, *, pretty: bool = False) -> str:
    """JSON as the service stores it: unicode as is, members in their order."""
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return strictjson.dumps(value)


def print_json(value: Any, out: TextIO | None = None) -> None:
    print(dumps(value, pretty=True), file=out or sys.stdout)


def error(message: str, status: int = EXIT_API_ERROR) -> int:
    print(f"kvstore: error: {message}", file=sys.stderr)
    return status


def client_error(exc: ClientError) -> int:
    """Report an API error (or no answer) on stderr; the exit status for it."""
    if isinstance(exc, ConnectionFailed):
        return error(exc.detail, EXIT_UNREACHABLE)
    title = exc.problem.get("title")
    detail = exc.detail or title or "request failed"
    return error(f"{exc.status} {title}: {detail}" if title else f"{exc.status}: {detail}")
