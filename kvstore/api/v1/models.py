"""The Swagger models of every v1 route, by name; they document, validation lives in the views.

Imported only when the spec is built (`kvstore.api.v1.spec`): the route modules name the
models their documentation refers to (`kvstore.api.v1.documentation`), and flask-restx is
not imported to answer a request.
"""

from __future__ import annotations

from typing import Any

import flask_restx
from flask_restx import fields

from kvstore.datastores.base import MAX_OPERATIONS, MAX_TTL_SECONDS
from kvstore.media import PATCH_FORMATS


class _Shared:
    """A model the docs hold itself, never a copy of it.

    Each `@ns.response`, `@ns.expect` and `@ns.doc` merges its documentation into what the
    view already has by deep-copying all of it, models included: over a thousand field copies
    each time the docs app is built. The models are documentation, built once and never
    changed, so every copy may be the model itself.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


class Model(_Shared, flask_restx.Model):  # type: ignore[misc]
    """flask-restx's Model, shared rather than copied (`_Shared`)."""


class SchemaModel(_Shared, flask_restx.SchemaModel):  # type: ignore[misc]
    """flask-restx's SchemaModel, shared rather than copied (`_Shared`)."""


class _Nullable:
    """Mark a field `x-nullable` (Swagger 2.0 has no null type; Schemathesis honours this)."""

    @property
    def __schema__(self) -> dict[str, Any]:
        schema: dict[str, Any] = super().__schema__  # type: ignore[misc]
        schema["x-nullable"] = True
        return schema


class AnyJSON(_Nullable, fields.Raw):  # type: ignore[misc]
    """Any JSON value: object, array, string, number, boolean or null."""

    __schema_type__ = None


class NullableDateTime(_Nullable, fields.DateTime):  # type: ignore[misc]
    pass


class NullableString(_Nullable, fields.String):  # type: ignore[misc]
    pass


class NullableInteger(_Nullable, fields.Integer):  # type: ignore[misc]
    """An optional number the API also takes as null, meaning "not given" (ttl, if_version)."""


item_model = Model(
    "Item",
    {
        "key": fields.String(required=True, example="sports"),
        "value": AnyJSON(required=True, example=["baseball", "hockey", "football"]),
        "version": fields.Integer(required=True, min=1, example=1),
        "updated_at": fields.DateTime(required=True, description="RFC 3339 UTC"),
        "expires_at": NullableDateTime(required=True, description="RFC 3339 UTC, or null"),
    },
)

page_model = Model(
    "Page",
    {
        "items": fields.List(fields.Nested(item_model), description="the items (not keys=true)"),
        "keys": fields.List(fields.String, description="keys=true: the names"),
        "prefixes": fields.List(
            fields.String,
            description="keys=true with a delimiter: the folders, each ending in the delimiter",
        ),
        "next_cursor": NullableString(
            required=True, description="pass as ?cursor= for the next page; null at the end"
        ),
    },
)

deletion_model = Model(
    "PrefixDeletion",
    {
        "deleted": fields.Integer(required=True, min=0, description="keys deleted by this call"),
        "next_cursor": NullableString(
            required=True,
            description="keys may be left: repeat with ?cursor= this; null when done",
        ),
    },
)

#: Any JSON: Swagger 2.0 has one body schema per operation, whatever its media type.
patch_document_model = SchemaModel(
    "PatchDocument",
    {
        "description": (
            "application/merge-patch+json: any JSON, merged into the value (null removes a "
            "member). application/json-patch+json: an array of operations such as "
            '{"op": "add", "path": "/-", "value": "soccer"}.'
        ),
        "example": [{"op": "add", "path": "/-", "value": "soccer"}],
        "x-nullable": True,
    },
)

create_model = Model(
    "CreateItem",
    {
        "key": fields.String(required=True, example="sports"),
        "value": AnyJSON(required=True, example=["baseball", "hockey", "football"]),
        "ttl": NullableInteger(
            min=1, max=MAX_TTL_SECONDS, description="seconds until it expires; null: never"
        ),
    },
)

put_model = Model(
    "PutValue",
    {
        "value": AnyJSON(required=True, example=["baseball", "hockey", "football"]),
        "ttl": NullableInteger(
            min=1, max=MAX_TTL_SECONDS, description="seconds until it expires; null: never"
        ),
    },
)


def operation_fields(ops: list[str], *, example: str, conditions: dict[str, str]) -> dict[str, Any]:
    """The members of a batch or transaction operation; `conditions` words each condition
    member (`if_version`, `if_absent`, `if_present`) as the route applies it."""
    return {
        "op": fields.String(required=True, enum=ops, example=example),
        "key": fields.String(required=True, example="sports"),
        "value": AnyJSON(description="put only: the value to store"),
        **patch_operation_fields(),
        "ttl": NullableInteger(
            min=1, max=MAX_TTL_SECONDS, description="put/patch: seconds (patch: else kept)"
        ),
        **{
            name: (
                NullableInteger(min=1, description=text)
                if name == "if_version"
                else fields.Boolean(description=text)
            )
            for name, text in conditions.items()
        },
    }


def operations_list(model: Model, description: str) -> Any:
    """The `operations` member of a batch or transaction request."""
    return fields.List(
        fields.Nested(model), required=True, max_items=MAX_OPERATIONS, description=description
    )


def patch_operation_fields() -> dict[str, Any]:
    """The members a `patch` operation of a batch or transaction adds."""
    return {
        "patch": AnyJSON(description="patch only: the patch document"),
        "format": fields.String(
            enum=list(PATCH_FORMATS),
            description="patch only: RFC 7396 merge patch (default) or RFC 6902 JSON Patch",
        ),
    }


problem_model = Model(
    "Problem",
    {
        "type": fields.String(required=True),
        "title": fields.String(required=True),
        "status": fields.Integer(required=True),
        "detail": fields.String(required=True),
    },
)

patch_failed_model = Model.inherit(
    "PatchConflict",
    problem_model,
    {
        "patch_index": fields.Integer(
            description="the patch operation that cannot apply (absent: the key kept changing)"
        )
    },
)


# -- /v1/batch -----------------------------------------------------------------------------

batch_operation_model = Model(
    "BatchOperation",
    operation_fields(
        ["get", "put", "delete", "patch"],
        example="get",
        conditions={
            "if_version": "put/delete/patch: only at this version",
            "if_absent": "put only: only if the key does not exist",
            "if_present": "put only: only if the key exists",
        },
    ),
)
batch_request_model = Model(
    "BatchRequest",
    {"operations": operations_list(batch_operation_model, f"at most {MAX_OPERATIONS}")},
)
batch_result_model = Model(
    "BatchResult",
    {
        "status": fields.Integer(
            required=True,
            description=(
                "what the single-key request would answer: 200, 201, 204, 404, 409, 412, 422, 503"
            ),
            example=200,
        ),
        "item": fields.Nested(item_model, description="get and put: the item"),
        "error": fields.Nested(problem_model, description="when the operation failed"),
    },
)
batch_response_model = Model(
    "BatchResponse",
    {
        "results": fields.List(
            fields.Nested(batch_result_model),
            required=True,
            description="one per operation, in request order",
        )
    },
)


# -- /v1/txn -------------------------------------------------------------------------------


class NullableNested(fields.Nested):  # type: ignore[misc]
    """A nested model that may be null. Swagger 2.0 ignores siblings of `$ref`, hence allOf."""

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = super().schema()
        ref = schema.pop("$ref", None)
        if ref is not None:
            schema["allOf"] = [{"$ref": ref}]
        schema["x-nullable"] = True
        return schema


# The same helper as BatchOperation's: each route words its conditions as it applies them.
txn_operation_model = Model(
    "TxnOperation",
    {
        **operation_fields(
            ["put", "delete", "patch", "check"],
            example="check",
            conditions={
                "if_version": "the key must be at this version",
                "if_absent": "put only: the key must not exist",
                "if_present": "put only: the key must exist",
            },
        ),
        "exists": fields.Boolean(description="check only: the key must (not) exist"),
    },
)
txn_request_model = Model(
    "TxnRequest",
    {
        "operations": operations_list(
            txn_operation_model, f"at most {MAX_OPERATIONS}, each key at most once"
        )
    },
)
txn_response_model = Model(
    "TxnResponse",
    {
        "results": fields.List(
            NullableNested(item_model),
            required=True,
            description=(
                "per operation: put and patch -> the item, delete -> null, check -> item or null"
            ),
        )
    },
)
txn_failed_model = Model.inherit(
    "TxnFailed",
    problem_model,
    {
        "failed_index": fields.Integer(required=True, description="the first failing operation"),
        "patch_index": fields.Integer(
            description="when that operation is a patch that cannot apply: its failing operation"
        ),
    },
)

#: Every model, by the name the route modules' documentation gives it.
MODELS: dict[str, Model | SchemaModel] = {
    model.name: model
    for model in (
        item_model,
        page_model,
        deletion_model,
        patch_document_model,
        create_model,
        put_model,
        problem_model,
        patch_failed_model,
        batch_operation_model,
        batch_request_model,
        batch_result_model,
        batch_response_model,
        txn_operation_model,
        txn_request_model,
        txn_response_model,
        txn_failed_model,
    )
}
