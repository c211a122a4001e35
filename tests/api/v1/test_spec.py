"""flask-restx builds the spec and the docs page, and only when one is asked for.

Importing flask-restx (with jsonschema and `referencing`) is about a tenth of a Lambda cold
start, so the API answers without it; the spec is built on the first request for it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from flask.testing import FlaskClient

from kvstore.api.v1 import batch, key, txn
from kvstore.api.v1.documentation import records_of
from kvstore.api.v1.spec import namespace_of

LAZY = ("flask_restx", "jsonschema", "referencing")


def test_the_api_answers_without_importing_flask_restx() -> None:
    program = textwrap.dedent(
        f"""
        import sys
        from kvstore.app import create_app
        from kvstore.settings import Settings

        client = create_app(Settings(datastore="memory")).test_client()
        lazy = {LAZY!r}
        get, check = {{"op": "get", "key": "a"}}, {{"op": "check", "key": "sports", "exists": True}}

        def imported():
            return sorted({{m.split(".")[0] for m in sys.modules}} & set(lazy))

        answers = [
            client.put("/v1/key/sports", json={{"value": ["baseball"]}}).status_code,
            client.get("/v1/key/sports").status_code,
            client.patch(
                "/v1/key/sports",
                json={{"value": 1}},
                headers={{"Content-Type": "application/merge-patch+json"}},
            ).status_code,
            client.get("/v1/key").status_code,
            client.post("/v1/batch", json={{"operations": [get]}}).status_code,
            client.post("/v1/txn", json={{"operations": [check]}}).status_code,
            client.delete("/v1/key/sports").status_code,
            client.get("/v1/no-such-route").status_code,
        ]
        print("answers", answers, imported())
        print("spec", client.get("/v1/swagger.json").status_code, imported())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    before, after = [
        line for line in result.stdout.splitlines() if line.startswith(("answers", "spec"))
    ]
    assert before == "answers [201, 200, 200, 200, 200, 200, 204, 404] []"
    assert after == f"spec 200 {sorted(LAZY)!r}"


def test_every_route_and_method_is_documented() -> None:
    """A view method without documentation would be an operation without responses."""
    for docs in (key.docs, batch.docs, txn.docs):
        for route in docs.routes:
            assert records_of(route.view), route.endpoint
            for method in route.view.methods or ():
                handler = getattr(route.view, method.lower())
                assert handler.__doc__, (route.endpoint, method)
                assert any(r.name == "response" for r in records_of(handler)), route.endpoint


def test_the_documented_methods_are_the_views_own(client: FlaskClient) -> None:
    """The Resource flask-restx documents calls the served view's method: one implementation."""
    namespace = namespace_of(key.docs)
    documented = {route.resource.__name__: route.resource for route in namespace.resources}
    assert set(documented) == {"KeyList", "KeyItem"}
    assert documented["KeyItem"].get.__wrapped__ is key.KeyItem.get
    assert documented["KeyItem"].get.__doc__ == key.KeyItem.get.__doc__


def test_the_spec_is_built_once_and_served_to_every_app(client: FlaskClient) -> None:
    from kvstore.api.v1.spec import docs_app

    first = client.get("/v1/swagger.json").get_json()
    assert docs_app() is docs_app()
    assert client.get("/v1/swagger.json").get_json() == first
