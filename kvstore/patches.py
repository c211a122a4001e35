"""Patch documents: JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902, by `jsonpatch`).

A document is checked once, where it enters (the PATCH route, a batch or transaction
operation), and becomes a `Change`: a function from the current value to the new one that
never alters its argument, which the datastore applies to whatever value is current when its
conditional write goes through, and again on a retry. A document that can never apply is
`InvalidPatch` (422); one that cannot apply to this value (a failing `test`, a path that is
not there) is `PatchFailed` (409, RFC 5789's "conflicting state"). Both name the operation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import jsonpatch
from jsonpointer import JsonPointer, JsonPointerException

from kvstore.datastores.base import MAX_VALUE_DEPTH, Change, JSONValue, deeper_than
from kvstore.datastores.errors import InvalidPatch, PatchFailed
from kvstore.media import DEFAULT_PATCH_FORMAT, PATCH_FORMATS

#: The members each JSON Patch operation needs (others are ignored, as RFC 6902 says).
OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "add": ("path", "value"),
    "remove": ("path",),
    "replace": ("path", "value"),
    "move": ("from", "path"),
    "copy": ("from", "path"),
    "test": ("path", "value"),
}
#: How much of the library's message a problem's detail quotes (it may quote the value).
MAX_REASON_CHARS = 160


def parse_patch(document: JSONValue, format: str = DEFAULT_PATCH_FORMAT) -> Change:
    """The change a patch document describes, checked whole before it is ever applied.

    Raises:
        InvalidPatch: an unknown format, a document nested too deeply, or a JSON Patch that is
            not an array of well-formed operations (naming the first bad one).
    """
    if format not in PATCH_FORMATS:
        raise InvalidPatch(f"format must be one of {', '.join(map(repr, PATCH_FORMATS))}")
    # Room for the array and operation objects around a value of the deepest allowed nesting.
    if deeper_than(document, MAX_VALUE_DEPTH + 2):
        raise InvalidPatch(f"the patch is nested deeper than {MAX_VALUE_DEPTH} arrays/objects")
    if format == "merge":
        return MergePatch(document)
    return JsonPatch(document)


class MergePatch:
    """RFC 7396: objects merge member by member, `null` removes one, anything else replaces."""

    def __init__(self, document: JSONValue) -> None:
        self.document = document

    def __call__(self, value: JSONValue) -> JSONValue:
        return merge(value, self.document)


def merge(target: JSONValue, patch: JSONValue) -> JSONValue:
    """RFC 7396 section 2's MergePatch, building new objects rather than changing either."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, member in patch.items():
        if member is None:
            result.pop(name, None)
        else:
            result[name] = merge(result.get(name), member)
    return result


class JsonPatch:
    """RFC 6902: operations applied in order to a copy of the value; all of them, or none."""

    def __init__(self, document: JSONValue) -> None:
        if not isinstance(document, list):
            raise InvalidPatch("a JSON Patch is an array of operations")
        # One library patch per operation, so that a failure names its operation.
        self.operations = [_operation(index, op) for index, op in enumerate(document)]
        self.document: list[dict[str, JSONValue]] = document

    def __call__(self, value: JSONValue) -> JSONValue:
        document = copy.deepcopy(value)  # the stored value may be shared: never change it
        for index, operation in enumerate(self.operations):
            try:
                document = operation.apply(document, in_place=True)
            except (jsonpatch.JsonPatchException, JsonPointerException) as exc:
                raise PatchFailed(index, _reason(self.document[index], exc)) from None
        return document


def _reason(op: Mapping[str, JSONValue], exc: Exception) -> str:
    """Why an operation failed, in words of its own members (the library's messages may
    quote the whole value, as Python sees it)."""
    name, path = op["op"], op["path"]
    if isinstance(exc, jsonpatch.JsonPatchTestFailed):
        return f"test: the value at {path!r} is not the one tested"
    source = op.get("from")
    if isinstance(exc, jsonpatch.JsonPatchPathNotFound):
        return f"{name}: there is no value at {source if name in ('move', 'copy') else path!r}"
    if isinstance(exc, jsonpatch.JsonPatchConflict):
        return f"{name} at {path!r}: {str(exc)[:MAX_REASON_CHARS]}"
    where = f"{source!r} or {path!r}" if name in ("move", "copy") else repr(path)
    return f"{name}: {where} does not lead into the value"


def _operation(index: int, op: JSONValue) -> jsonpatch.JsonPatch:
    """One operation as the library applies it, once its shape is known to be right."""
    if not isinstance(op, dict):
        raise InvalidPatch("must be a JSON object", index)
    name = op.get("op")
    if not isinstance(name, str) or name not in OPERATIONS:
        raise InvalidPatch(f"'op' must be one of {', '.join(map(repr, OPERATIONS))}", index)
    for member in OPERATIONS[name]:
        if member not in op:
            raise InvalidPatch(f"{name!r} needs a {member!r} member", index)
        if member in ("path", "from"):
            pointer = op[member]
            if not isinstance(pointer, str):
                raise InvalidPatch(f"{member!r} must be a JSON Pointer string", index)
            try:
                JsonPointer(pointer)
            except JsonPointerException as exc:
                raise InvalidPatch(f"{member!r} is not a JSON Pointer: {exc}", index) from None
    try:
        return jsonpatch.JsonPatch([op])
    except (jsonpatch.JsonPatchException, JsonPointerException) as exc:
        raise InvalidPatch(str(exc)[:MAX_REASON_CHARS], index) from None
