"""The served OpenAPI document types every answer and says what each route really
answers: typed 2xx bodies, the error statuses (no 422: validation is a 400; 429 and
503 everywhere), the security schemes on keyed routes, the Idempotency-Key header on
every POST, operation ids that read well, and an example on every JSON body that its
schema accepts. It passes openapi-spec-validator (Redocly's lint:
tests/api/test_typescript.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.support.driver import (
    ORDER_ALIAS,
    intent_url,
    intents_url,
    milestone_url,
    milestones_url,
    order_url,
    payment_url,
    public_intent_url,
)

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
        assert {"400", "429", "503", "default"} <= set(responses), (path, method)
        if _is_public(path):
            assert op["security"] == [], (path, method)  # keyless, said explicitly
            # The payer's routes take the client secret: 401 when it is missing or wrong.
            assert ("401" in responses) == _takes_client_secret(op), (path, method)
            assert "403" not in responses, (path, method)
        else:
            assert op["security"] == [{"ApiKey": []}, {"Bearer": []}], (path, method)
            assert {"400", "401", "403", "429"} <= set(responses), (path, method)


async def test_posts_document_idempotency_key_and_409(document):
    posts = [(path, op) for path, method, op in _operations(document) if method == "post"]
    assert len(posts) > 10
    for path, op in posts:
        headers = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        expected = {"Idempotency-Key"} | (
            {"X-Client-Secret"} if _takes_client_secret(op) else set()
        )
        assert set(headers) == expected, path  # (parameters have no order in OpenAPI)
        assert headers["Idempotency-Key"]["required"] is False
        assert headers["Idempotency-Key"]["schema"]["maxLength"] == 255
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
    assert set(create) == {
        "201", "400", "401", "403", "409", "413", "415", "429", "503", "default"
    }  # fmt: skip
    public = paths[public_intent_url(IID)]["get"]["responses"]
    assert set(public) == {"200", "400", "404", "429", "503", "default"}
    card = paths[payment_url(IID)]["post"]["responses"]
    assert set(card) == {"200", "400", "404", "409", "413", "415", "429", "503", "default"}
    milestone = paths[milestones_url(IID)]["post"]["responses"]
    assert "201" in milestone and "404" in milestone and "200" not in milestone


async def test_the_document_is_valid_openapi(document):
    validate(document)  # openapi-spec-validator: raises on any error
    broken = {**document, "paths": {"/v1/x": {"get": {"responses": {"200": {}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)  # (the validator does refuse a response without a description)


async def test_operation_ids_read_well_and_are_unique(document):
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", op_id), op_id  # camelCase words
    paths = document["paths"]
    assert paths[milestones_url(IID)]["post"]["operationId"] == "createMilestone"
    assert paths[milestones_url(IID)]["get"]["operationId"] == "listMilestones"
    assert paths[intent_url(IID)]["get"]["operationId"] == "getPaymentIntent"
    assert paths[intents_url()]["post"]["operationId"] == "createPaymentIntent"
    assert (
        paths[order_url(IID, spelling=ORDER_ALIAS)]["get"]["operationId"] == "getConditionalPayment"
    )
    assert paths[order_url(IID)]["get"]["operationId"] == "getEscrowOrder"
    complete = paths[milestone_url(IID, "{milestone_id}", "complete")]["post"]
    assert complete["operationId"] == "completeMilestone"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema` whose $refs point into the document's components."""
    root = {**schema, "components": document["components"]}
    return Draft202012Validator(root)


def _json_bodies(document):
    for _, _, op in _operations(document):
        request = op.get("requestBody", {}).get("content", {}).get("application/json")
        if request is not None:
            yield f"{op['operationId']} request", request
        for status, response in op["responses"].items():
            content = response.get("content", {}).get("application/json")
            if content is not None:
                yield f"{op['operationId']} {status}", content


async def test_every_json_body_has_an_example_its_schema_accepts(document):
    bodies = list(_json_bodies(document))
    assert len(bodies) > 300
    for where, content in bodies:
        assert "example" in content, where
        errors = sorted(
            _resolve(document, content["schema"]).iter_errors(content["example"]), key=str
        )
        assert not errors, (where, [e.message for e in errors[:3]])
    # the check can fail: an example missing a required field is refused
    create = document["paths"][intents_url()]["post"]["responses"]["201"]["content"]
    wrong = {k: v for k, v in create["application/json"]["example"].items() if k != "status"}
    assert list(_resolve(document, create["application/json"]["schema"]).iter_errors(wrong))


async def test_request_metadata_is_a_map_of_values(document):
    schema = document["components"]["schemas"]["CreatePaymentIntent"]["properties"]["metadata"]
    variants = schema.get("anyOf", [schema])
    objects = [v for v in variants if v.get("type") == "object"]
    assert objects and objects[0]["additionalProperties"] is True
