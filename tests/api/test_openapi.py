"""The served OpenAPI document types every answer and says what each route really
answers: typed 2xx bodies, the error statuses (no 422: validation is a 400), the
security schemes on keyed routes, and the Idempotency-Key header on every POST."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.driver import intents_url, milestones_url, payment_url, public_intent_url

# The two documented free-form objects: merchant-defined metadata, and the object
# an event is about (one of several shapes).
FREE_FORM = {("IntentData", "metadata"), ("IntentEnvelope", "metadata"), ("EventData", "object")}
# ...and the request side of the same metadata.
REQUEST_FREE_FORM = {"CreatePaymentIntent.metadata"}
METHODS = ("get", "post", "put", "patch", "delete")
IID = "{intent_id}"  # the path parameter, as the document spells it


@pytest.fixture
async def document(client) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _is_public(path: str) -> bool:
    return path.startswith(public_intent_url(""))


def _free_form_objects(schema: Any, where: str) -> list[str]:
    """Places in `schema` that are `{}` or an object without properties."""
    found: list[str] = []
    if isinstance(schema, dict):
        if schema == {} or (schema.get("type") == "object" and "properties" not in schema):
            found.append(where)
        for key, value in schema.items():
            if key == "properties":
                for name, sub in value.items():
                    found += _free_form_objects(sub, f"{where}.{name}")
            elif key in ("examples", "example", "default", "enum", "const"):
                continue
            else:
                found += _free_form_objects(value, where)
    elif isinstance(schema, list):
        for item in schema:
            found += _free_form_objects(item, where)
    return found


async def test_every_success_body_is_typed(document):
    schemas = document["components"]["schemas"]
    for path, method, op in _operations(document):
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert ok, (path, method)
        for status in ok:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), (path, method)
    loose = []
    for name, schema in schemas.items():
        loose += _free_form_objects(schema, name)
    allowed = {f"{model}.{field}" for model, field in FREE_FORM} | REQUEST_FREE_FORM
    assert sorted(set(loose) - allowed) == []
    for model, field in FREE_FORM:
        assert schemas[model]["properties"][field].get("description"), (model, field)


async def test_no_422_and_no_validation_schemas(document):
    for path, method, op in _operations(document):
        assert "422" not in op["responses"], (path, method)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ValidationError" not in document["components"]["schemas"]


async def test_errors_use_the_one_envelope(document):
    for path, method, op in _operations(document):
        for status, response in op["responses"].items():
            if status.startswith("2"):
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)


def _takes_client_secret(op):
    names = {p["name"] for p in op.get("parameters", [])}
    return {"client_secret", "X-Client-Secret"} <= names


async def test_security_schemes_on_keyed_routes_only(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"
    for path, method, op in _operations(document):
        responses = op["responses"]
        if _is_public(path):
            assert "security" not in op, (path, method)
            # The payer's routes take the client secret: 401 when it is missing or wrong.
            assert ("401" in responses) == _takes_client_secret(op), (path, method)
            assert "429" not in responses, (path, method)
        else:
            assert op["security"] == [{"ApiKey": []}, {"Bearer": []}], (path, method)
            assert {"400", "401", "403", "429"} <= set(responses), (path, method)


async def test_posts_document_idempotency_key_and_409(document):
    posts = [(path, op) for path, method, op in _operations(document) if method == "post"]
    assert len(posts) > 10
    for path, op in posts:
        headers = [p for p in op.get("parameters", []) if p["in"] == "header"]
        expected = ["Idempotency-Key"] + (["X-Client-Secret"] if _takes_client_secret(op) else [])
        assert [h["name"] for h in headers] == expected, path
        assert headers[0]["required"] is False
        assert {"409", "413", "415"} <= set(op["responses"]), path
    for path, method, op in _operations(document):
        if method == "get":
            assert "409" not in op["responses"], path
            params = op.get("parameters", [])
            assert all(p["name"] != "Idempotency-Key" for p in params), path


async def test_documented_statuses(document):
    """Spot checks: what some routes answer."""
    paths = document["paths"]
    create = paths[intents_url()]["post"]["responses"]
    assert set(create) == {"201", "400", "401", "403", "409", "413", "415", "429", "default"}
    public = paths[public_intent_url(IID)]["get"]["responses"]
    assert set(public) == {"200", "400", "404", "default"}
    card = paths[payment_url(IID)]["post"]["responses"]
    assert set(card) == {"200", "400", "404", "409", "413", "415", "default"}
    milestone = paths[milestones_url(IID)]["post"]["responses"]
    assert "201" in milestone and "404" in milestone and "200" not in milestone
