"""`kvstore token new`: a fresh random API key, and the grant that holds only its hash.

The token is printed once and kept nowhere: the grant holds its SHA-256 (`sha256:<hex>`), so
the configuration (an environment variable in the Lambda console, a file in a repository, a
CI log) can be read by anyone without opening the API. 32 random bytes make guessing a token
from its hash hopeless, which a plain SHA-256 of a chosen password would not.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvstore.cli.groups import add_group
from kvstore.cli.remote import EXIT_USAGE, error, paragraph
from kvstore.grants import (
    EVERY_KEY,
    Access,
    GrantError,
    grant_document,
    parse_grants,
    token_digest,
)

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

#: Marks the string as a kvstore token, for people and for secret scanners.
TOKEN_PREFIX = "kvs_"
TOKEN_BYTES = 32


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def register(subparsers: Subparsers) -> None:
    commands = add_group(
        subparsers,
        "token",
        "make API keys",
        "Make API keys for KVSTORE_API_KEYS or KVSTORE_API_KEYS_FILE.",
    )
    new = commands.add_parser(
        "new",
        help="print a fresh random token, and its grant holding only the token's hash",
        description=paragraph(
            "Print a fresh random token (shown only this once: hand it to its holder) on the "
            "first line, and on the second the grant to add to the JSON array of "
            "KVSTORE_API_KEYS or KVSTORE_API_KEYS_FILE, which holds only the token's "
            "SHA-256. With --add-to, the grant goes into that file instead."
        ),
        epilog=(
            "Examples:\n"
            "  kvstore token new --name team-a --prefix team-a/\n"
            "  kvstore token new --name reader --ro\n"
            "  kvstore token new --name ci --prefix builds/ --add-to grants.json > ci.token\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument("--ro", action="store_true", help="read only (default: read and write)")
    new.add_argument(
        "--prefix",
        action="append",
        metavar="P",
        help="a key prefix the token may use; repeat for several (default: every key)",
    )
    new.add_argument(
        "--name", metavar="N", help="the grant's name, logged with each request it makes"
    )
    new.add_argument(
        "--add-to",
        type=Path,
        metavar="FILE",
        help="add the grant to the JSON array in FILE (created if missing); print only the token",
    )
    new.set_defaults(func=run_new)


def run_new(args: argparse.Namespace) -> int:
    token = new_token()
    name = args.name or f"token-{token_digest(token).hex()[:8]}"
    access = Access.READ if args.ro else Access.WRITE
    prefixes = tuple(args.prefix) if args.prefix else EVERY_KEY
    grant = grant_document(name, token, access, prefixes)
    if args.add_to is None:
        try:
            parse_grants(json.dumps([grant]))  # the checks the server makes, on the name
        except GrantError as exc:
            return error(str(exc), EXIT_USAGE)
        print(token)
        print(_line(grant))
        return 0
    try:
        add_to(args.add_to, grant)
    except GrantError as exc:
        return error(f"{args.add_to}: {exc}", EXIT_USAGE)
    except OSError as exc:
        return error(f"{args.add_to}: {exc.strerror or exc}", EXIT_USAGE)
    print(token)
    return 0


def _line(grant: dict[str, Any]) -> str:
    return json.dumps(grant, ensure_ascii=False)


def add_to(path: Path, grant: dict[str, Any]) -> None:
    """Append `grant` to the JSON array in `path`, checked as the server will read it.

    Written to a temporary file and renamed over the old one, so a server starting meanwhile
    reads the old array or the new one, never half of one; a new file is readable by its
    owner only, an existing one keeps its mode.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    grants: list[Any] = []
    if text.strip():
        if not text.lstrip().startswith("["):
            raise GrantError("the file does not hold a JSON array of grants")
        parse_grants(text)
        grants = json.loads(text)
    grants.append(grant)
    content = "[\n" + ",\n".join(f"  {_line(g)}" for g in grants) + "\n]\n"
    parse_grants(content)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
