"""Who may do what: API key grants of read, or read and write, on key prefixes.

A grant gives one token `read` or `write` (read and write) on every key that starts with one
of its prefixes; the empty prefix is every key. A token's rights are the union of the grants
that hold it. The configuration (`KVSTORE_API_KEYS`, or the file `KVSTORE_API_KEYS_FILE`
names) is either the original comma-separated list, `TOKEN` (read-write) and `TOKEN:ro`
(read-only), both on every key, or a JSON array of grants:

    [{"name": "team-a", "token": "sha256:<hex>", "access": "write", "prefixes": ["team-a/"]}]

A token may be given as `sha256:<64 hex digits>`, its SHA-256, so that the configuration holds
nothing that opens the API. Either way only the digest is kept, so no token is held in memory
after start-up; tokens are random (`kvstore token new`), so a plain SHA-256 is enough to keep
one secret, where a password would need a slow hash.

A listing of a prefix P is covered by the same rule as a key: P must start with a granted
prefix, and then so does every key the listing could return.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kvstore import strictjson

HASH_SCHEME = "sha256:"
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
#: A grant's name goes into every access log line: printable ASCII, bounded.
_NAME = re.compile(r"[\x20-\x7e]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
GRANT_MEMBERS = frozenset({"name", "token", "access", "prefixes"})
EVERY_KEY = ("",)


class GrantError(ValueError):
    """A configuration that cannot be used; the message never holds a token."""


class Access(StrEnum):
    READ = "read"
    WRITE = "write"  # read and write


@dataclass(frozen=True, slots=True)
class Grant:
    name: str
    digest: bytes = field(repr=False)  # the token's SHA-256; never the token itself
    access: Access
    prefixes: tuple[str, ...] = EVERY_KEY

    def allows(self, access: Access, scope: str) -> bool:
        """Whether this grant covers `access` to the key, or the listing prefix, `scope`."""
        if access is Access.WRITE and self.access is not Access.WRITE:
            return False
        return scope.startswith(self.prefixes)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def hashed_token(token: str) -> str:
    """The form of a token the configuration may hold instead of the token: `sha256:<hex>`."""
    return HASH_SCHEME + token_digest(token).hex()


def _digest_of(configured: str, where: str) -> bytes:
    """The digest a configured token (plaintext or `sha256:<hex>`) stands for."""
    if configured.startswith(HASH_SCHEME):
        hex_digest = configured[len(HASH_SCHEME) :]
        if not _HEX_DIGEST.fullmatch(hex_digest):
            raise GrantError(f"{where}: a hashed token is 'sha256:' and 64 hexadecimal digits")
        return bytes.fromhex(hex_digest)
    if not configured or configured != configured.strip() or _CONTROL.search(configured):
        raise GrantError(
            f"{where}: a token must not be empty, nor hold white space at its ends "
            "or control characters"
        )
    return token_digest(configured)


def parse_grants(raw: str) -> tuple[Grant, ...]:
    """Read either form of the configuration; at least one grant, names unique.

    Raises:
        GrantError: saying what is wrong and where, never showing a token.
    """
    text = raw.strip()
    grants = _json_grants(text) if text.startswith("[") else _listed_grants(text)
    if not grants:
        raise GrantError("no API key is configured; leave the setting unset for an open API")
    names = [grant.name for grant in grants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise GrantError(f"grant names must be unique: {', '.join(map(repr, duplicates))}")
    return grants


def _listed_grants(text: str) -> tuple[Grant, ...]:
    """`TOKEN`, `TOKEN:rw`, `TOKEN:ro` (each also as `sha256:<hex>`), comma-separated.

    The entries have no names, so each is named by its position (`key-1`, ...): a name made
    from the token itself could help guess a weak one from the logs.
    """
    grants: list[Grant] = []
    entries = [entry.strip() for entry in text.split(",")]
    for position, entry in enumerate((e for e in entries if e), start=1):
        where = f"entry {position}"
        hashed = entry.startswith(HASH_SCHEME)
        token, _, mode = entry[len(HASH_SCHEME) if hashed else 0 :].partition(":")
        if not token or mode not in ("", "ro", "rw"):
            raise GrantError(f"{where}: entries must be TOKEN, TOKEN:rw or TOKEN:ro")
        digest = _digest_of(HASH_SCHEME + token if hashed else token, where)
        access = Access.READ if mode == "ro" else Access.WRITE
        grants.append(Grant(f"key-{position}", digest, access))
    return tuple(grants)


def _json_grants(text: str) -> tuple[Grant, ...]:
    try:
        document = strictjson.loads(text)
    except (ValueError, RecursionError) as exc:
        # The message of a JSON error quotes no text, only where it is.
        raise GrantError(f"not a valid JSON array of grants ({exc})") from None
    if not isinstance(document, list):
        raise GrantError("the JSON form is an array of grants")
    return tuple(_json_grant(index, raw) for index, raw in enumerate(document))


def _json_grant(index: int, raw: Any) -> Grant:
    where = f"grant {index}"
    if not isinstance(raw, Mapping):
        raise GrantError(f"{where}: must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise GrantError(f"{where}: name must be 1-64 printable ASCII characters")
    where = f"grant {index} ({name!r})"
    unknown = sorted(set(raw) - GRANT_MEMBERS)
    if unknown:
        raise GrantError(f"{where}: unknown member(s) {', '.join(unknown)}")
    missing = sorted({"token", "access"} - set(raw))
    if missing:
        raise GrantError(f"{where}: missing member(s) {', '.join(missing)}")
    token = raw["token"]
    if not isinstance(token, str):
        raise GrantError(f"{where}: token must be a string")
    access = raw["access"]
    if access not in (Access.READ, Access.WRITE):
        raise GrantError(f"{where}: access must be 'read' or 'write'")
    prefixes = raw.get("prefixes", list(EVERY_KEY))
    if (
        not isinstance(prefixes, list)
        or not prefixes
        or not all(isinstance(prefix, str) for prefix in prefixes)
    ):
        raise GrantError(
            f"{where}: prefixes must be a non-empty array of strings "
            '(leave it out, or [""], for every key)'
        )
    return Grant(name, _digest_of(token, where), Access(access), tuple(dict.fromkeys(prefixes)))


def grant_document(
    grant_name: str, token: str, access: Access, prefixes: tuple[str, ...]
) -> dict[str, Any]:
    """The JSON form of a grant holding only the token's hash (what `kvstore token new` prints)."""
    document: dict[str, Any] = {
        "name": grant_name,
        "token": hashed_token(token),
        "access": str(access),
    }
    if prefixes and prefixes != EVERY_KEY:
        document["prefixes"] = list(prefixes)
    return document
