"""Swagger models shared by the v1 namespaces; they document, validation lives in the views."""

from __future__ import annotations

from typing import Any

from flask_restx import Model, fields


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
        "items": fields.List(fields.Nested(item_model), required=True),
        "next_cursor": NullableString(
            required=True, description="pass as ?cursor= for the next page; null at the end"
        ),
    },
)

create_model = Model(
    "CreateItem",
    {
        "key": fields.String(required=True, example="sports"),
        "value": AnyJSON(required=True, example=["baseball", "hockey", "football"]),
        "ttl": NullableInteger(
            min=1, max=31_536_000, description="seconds until it expires; null: never"
        ),
    },
)

put_model = Model(
    "PutValue",
    {
        "value": AnyJSON(required=True, example=["baseball", "hockey", "football"]),
        "ttl": NullableInteger(
            min=1, max=31_536_000, description="seconds until it expires; null: never"
        ),
    },
)

problem_model = Model(
    "Problem",
    {
        "type": fields.String(required=True),
        "title": fields.String(required=True),
        "status": fields.Integer(required=True),
        "detail": fields.String(required=True),
    },
)
