"""The views' documentation holds the models themselves, never copies of them.

flask-restx's documentation decorators deep-copy everything a view's docs already hold; the
models share themselves instead (`kvstore.api.v1.models`), which keeps building the app cheap
on a Lambda cold start. Should a flask-restx release copy them some other way, this fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from flask_restx import Namespace
from flask_restx.model import ModelBase

from kvstore.api.v1 import batch, key, txn
from kvstore.api.v1.models import MODELS
from kvstore.api.v1.spec import namespace_of

NAMESPACES = tuple(namespace_of(docs) for docs in (key.docs, batch.docs, txn.docs))


def models_in(doc: Any) -> Iterator[ModelBase]:
    """Every model a view's `__apidoc__` refers to, however deeply."""
    if isinstance(doc, ModelBase):
        yield doc
    elif isinstance(doc, dict):
        for value in doc.values():
            yield from models_in(value)
    elif isinstance(doc, list | tuple):
        for value in doc:
            yield from models_in(value)


def documented(ns: Namespace) -> Iterator[Any]:
    """A namespace's resource classes and their methods: what its decorators document."""
    for route in ns.resources:
        yield route.resource
        for method in route.resource.methods:
            yield getattr(route.resource, method.lower())


def test_every_model_in_the_docs_is_a_declared_model_itself() -> None:
    declared = {id(model) for model in MODELS.values()}
    seen = 0
    for ns in NAMESPACES:
        for target in documented(ns):
            for model in models_in(target.__dict__.get("__apidoc__", {})):
                assert id(model) in declared, (target, model.name)
                seen += 1
    assert seen > 50  # the responses and bodies of every route, not a vacuous pass


def test_a_copy_of_a_model_is_the_model() -> None:
    for model in MODELS.values():
        assert copy.deepcopy(model) is model
        assert copy.deepcopy({"responses": {"200": ("ok", model, {})}})["responses"]["200"][1] is (
            model
        )
