"""The one error envelope for every failure (API.md §1 Errors, Amounts)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from escrowgate.payments import schemas
from tests.support.driver import (
    API_ALIAS,
    assert_error,
    cancel_url,
    create_intent,
    events_url,
    intent_body,
    intent_url,
    intents_url,
    ledger_url,
    milestone_url,
    milestones_url,
    order_url,
    post_milestone,
    public_intent_url,
)

JSON = {"Content-Type": "application/json"}
MAX_BODY = 64 * 1024


def assert_envelope(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    """Exactly {"error": {code, message, type, param?}} with a known type."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"code", "message", "type"} <= set(err) <= {"code", "message", "type", "param"}, err
    assert err["type"] in (
        "authentication_error",
        "invalid_request_error",
        "idempotency_error",
        "rate_limit_error",
        "api_error",
    )
    assert isinstance(err["message"], str) and err["message"]
    assert r.headers["request-id"].startswith("req_")
    return dict(err)


async def raw_post(client, m, path, content: bytes, headers=None):  # type: ignore[no-untyped-def]
    return await client.post(
        path, content=content, headers={**m.headers, **JSON, **(headers or {})}
    )


# --- routing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/nope", "/api/v1/payment-intents/x/y/z/w", "/v2/payment-intents", "/", "/v1"]
)
async def test_unknown_route_is_404_in_the_envelope(client, merchant, path):
    r = await client.get(path, headers=merchant.headers)
    err = assert_envelope(r, 404)
    assert err["code"] == "resource_missing"
    assert err["type"] == "invalid_request_error"
    assert err["message"] == f"Unrecognized request URL (GET: {path})"


@pytest.mark.parametrize(
    "method, path",
    [
        ("DELETE", intents_url()),
        ("PUT", intents_url()),
        ("PATCH", intents_url(prefix=API_ALIAS)),
        ("GET", cancel_url("intent_abc")),
        ("DELETE", milestones_url("intent_abc")),
    ],
)
async def test_wrong_method_is_405_in_the_envelope(client, merchant, method, path):
    r = await client.request(method, path, headers=merchant.headers)
    err = assert_envelope(r, 405)
    assert err["code"] == "method_not_allowed"
    assert err["type"] == "invalid_request_error"
    assert method in err["message"]


# --- body shape ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad json",
        b'{"amount": "1.00",}',
        b"{'amount': '1.00'}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"\xff\xfe\x00",
        b'{"amount": "1.00"',
    ],
)
async def test_malformed_json_is_400(client, merchant, raw):
    err = assert_envelope(await raw_post(client, merchant, intents_url(), raw), 400)
    assert err["code"] == "invalid_request"
    assert err["message"] == "Request body is not valid JSON"
    assert "param" not in err


@pytest.mark.parametrize(
    "raw", [b"[]", b'[{"amount": "1.00"}]', b'"text"', b"123", b"null", b"true"]
)
async def test_body_that_is_not_an_object_is_400(client, merchant, raw):
    for path in (intents_url(), milestones_url("intent_x")):
        err = assert_envelope(await raw_post(client, merchant, path, raw), 400)
        assert err["code"] == "invalid_request"
        assert err["message"] == "Request body must be a JSON object"


async def test_json_array_body_creates_nothing(client, make_merchant):
    m = await make_merchant()
    r = await raw_post(client, m, intents_url(), json.dumps([intent_body()]).encode())
    assert_envelope(r, 400)
    listed = await client.get(intents_url(), headers=m.headers)
    assert listed.json()["data"] == []


async def test_oversized_body_is_413(client, merchant):
    big = json.dumps(intent_body(description="x" * MAX_BODY)).encode()
    assert len(big) > MAX_BODY
    err = assert_envelope(await raw_post(client, merchant, intents_url(), big), 413)
    assert err["code"] == "request_too_large"
    assert err["type"] == "invalid_request_error"
    assert err["message"] == f"Request body exceeds the maximum of {MAX_BODY} bytes"


async def test_oversized_chunked_body_without_length_is_413(client, merchant):
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"description": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'"}'

    r = await client.post(intents_url(), content=chunks(), headers={**merchant.headers, **JSON})
    assert "content-length" not in r.request.headers
    err = assert_envelope(r, 413)
    assert err["code"] == "request_too_large"


async def test_body_at_the_limit_is_read(client, merchant):
    body = intent_body()
    base = len(json.dumps(body).encode())
    # pad with JSON whitespace up to exactly the limit: parsed, and created
    raw = json.dumps(body).encode() + b" " * (MAX_BODY - base)
    assert len(raw) == MAX_BODY
    r = await raw_post(client, merchant, intents_url(), raw)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["description"] == body["description"]
    assert r.json()["metadata"] == body["metadata"]


@pytest.mark.parametrize(
    "ctype",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "",
    ],
)
async def test_wrong_content_type_is_415(client, merchant, ctype):
    r = await client.post(
        intents_url(),
        content=json.dumps(intent_body()).encode(),
        headers={**merchant.headers, "Content-Type": ctype},
    )
    err = assert_envelope(r, 415)
    assert err["code"] == "unsupported_media_type"
    assert err["message"] == "Content-Type must be application/json"


@pytest.mark.parametrize(
    "ctype", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json"]
)
async def test_json_content_types_are_accepted(client, merchant, ctype):
    r = await client.post(
        intents_url(),
        content=json.dumps(intent_body()).encode(),
        headers={**merchant.headers, "Content-Type": ctype},
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["merchantId"] == merchant.id
    assert r.json()["data"]["amount"] == "1000.00"


@pytest.mark.parametrize("depth", [33, 200, 10_000])
async def test_deeply_nested_json_is_a_clean_400(client, merchant, depth):
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    plain = {k: v for k, v in intent_body().items() if k != "metadata"}  # one metadata key
    body = json.dumps(plain).encode()[:-1] + b', "metadata": ' + nested + b"}"
    r = await raw_post(client, merchant, intents_url(), body)
    err = assert_envelope(r, 400)
    assert err["code"] == "invalid_request"
    arrays = b"[" * depth + b"]" * depth
    err = assert_envelope(await raw_post(client, merchant, intents_url(), arrays), 400)
    assert err["code"] == "invalid_request"


async def test_moderately_nested_metadata_is_fine(client, merchant):
    nested: dict = {"leaf": "ok"}
    for _ in range(20):
        nested = {"n": nested}
    intent = await create_intent(
        client, merchant, metadata={"releaseType": "MILESTONE_LOCKED", "deep": nested}
    )
    assert intent["metadata"]["deep"] == nested


# --- fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["foo", "intentId", "merchantId", "status", "Amount"])
async def test_unknown_field_is_rejected_by_name(client, merchant, field):
    r = await client.post(intents_url(), json=intent_body(**{field: "x"}), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", f"Received unknown parameter: {field}", param=field)


async def test_unknown_milestone_field_is_rejected_by_name(client, merchant):
    intent = await create_intent(client, merchant)
    r = await post_milestone(
        client,
        merchant,
        intent["id"],
        {"milestoneIndex": 0, "amount": "1.00", "dueDate": "tomorrow"},
    )
    assert_error(r, 400, "invalid_request", "Received unknown parameter: dueDate", param="dueDate")
    listed = await client.get(milestones_url(intent["id"]), headers=merchant.headers)
    assert listed.json()["data"] == []


# settlementMethod / settlementDestination are optional (tests/api/compat).
@pytest.mark.parametrize("missing", ["amount", "currency", "type"])
async def test_missing_required_field_is_named(client, merchant, missing):
    body = intent_body()
    del body[missing]
    r = await client.post(intents_url(), json=body, headers=merchant.headers)
    assert_error(r, 400, "invalid_request", f"Missing required parameter: {missing}", param=missing)


@pytest.mark.parametrize("missing", ["milestoneIndex", "amount"])
async def test_missing_required_milestone_field_is_named(client, merchant, missing):
    intent = await create_intent(client, merchant)
    body = {"milestoneIndex": 0, "amount": "100.00"}
    del body[missing]
    r = await post_milestone(client, merchant, intent["id"], body)
    assert_error(r, 400, "invalid_request", f"Missing required parameter: {missing}", param=missing)


BAD_AMOUNTS = [
    1000,
    1000.5,
    0,
    -1,
    "1e3",
    "1E3",
    "-1",
    "0",
    "0.00",
    " 1",
    "1 ",
    "NaN",
    "Infinity",
    "1.1234567",
    "0.0000001",
    "1000000000001",
    "1000000000000.000001",
    "",
    "1,000.00",
    "+5",
    ".5",
    "5.",
    "0x10",
    None,
    True,
    ["1"],
    {"v": "1"},
    "١٠٠",
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_bad_intent_amounts_are_400_with_param_amount(client, merchant, amount):
    r = await client.post(intents_url(), json=intent_body(amount=amount), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", param="amount")


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_bad_milestone_amounts_are_400_with_param_amount(client, merchant, amount):
    intent = await create_intent(client, merchant)
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": amount}
    )
    assert_error(r, 400, "invalid_request", param="amount")


@pytest.mark.parametrize(
    "raw",
    [
        b"1e3",
        b"1000",
        b"1000.00",
        b"1e400",
        b"-1e400",
        b"9" * 4000,
        b"0.1" + b"0" * 3000,
        b"123456789012345678901234567890.123456789",
    ],
)
async def test_amount_as_json_number_of_any_size_is_400(client, merchant, raw):
    body = json.dumps(intent_body(amount="__A__")).encode().replace(b'"__A__"', raw)
    r = await raw_post(client, merchant, intents_url(), body)
    assert_error(r, 400, "invalid_request", param="amount")


@pytest.mark.parametrize("raw", [b"9" * 5000, b"1" + b"0" * 10000])
async def test_huge_integers_anywhere_are_a_clean_400(client, merchant, raw):
    intent = await create_intent(client, merchant)
    body = b'{"milestoneIndex": ' + raw + b', "amount": "1.00"}'
    r = await raw_post(client, merchant, milestones_url(intent["id"]), body)
    err = assert_envelope(r, 400)
    assert err["code"] == "invalid_request"
    body = b'{"milestoneIndex": 0, "amount": "1.00", "percentage": ' + raw + b"}"
    r = await raw_post(client, merchant, milestones_url(intent["id"]), body)
    assert_envelope(r, 400)


@pytest.mark.parametrize(
    "raw", [b"1e300000", b"-1e300000", b"1e309", b"1e-400", b"[1, 2, 1e300000]"]
)
async def test_absurd_metadata_numbers_are_refused_before_any_conversion(
    client, make_merchant, monkeypatch, raw
):
    """A few bytes of exponent must not make the server build a huge integer: that work
    blocks the event loop, so every other request waits (1e300000 took ~4 s, 1e10000000
    hours). The number stays the parser's Decimal until the range check refuses it: the
    serializer, where a Decimal would become an integer's digits, never sees it (a spy,
    not a stopwatch: the suite asserts no speed)."""
    seen: list[object] = []
    real = schemas.json_dumps

    def spy(value: object) -> str:
        seen.append(value)
        return real(value)

    monkeypatch.setattr(schemas, "json_dumps", spy)
    m = await make_merchant()
    body = json.dumps(intent_body(metadata={"releaseType": "MILESTONE_LOCKED", "n": "__N__"}))
    r = await raw_post(client, m, intents_url(), body.encode().replace(b'"__N__"', raw))
    assert_error(
        r,
        400,
        "invalid_request",
        "metadata numbers must be between 1e-308 and 1e308 in magnitude",
        param="metadata",
    )
    assert seen == []
    listed = await client.get(intents_url(), headers=m.headers)
    assert listed.json()["data"] == []
    # The spy is on the path a valid metadata takes: it would see the number.
    r = await raw_post(client, m, intents_url(), body.encode().replace(b'"__N__"', b"1e300"))
    assert r.status_code == 201, r.text
    assert seen and seen[-1]["n"] == Decimal("1e300")


@pytest.mark.parametrize(
    "amount, shown",
    [
        ("300", "300.00"),
        ("0.125", "0.125"),
        ("1000000000000", "1000000000000.00"),
        ("0.000001", "0.000001"),
        ("00042.500000", "42.50"),
        ("7.10", "7.10"),
    ],
)
async def test_valid_amounts_are_stored_exactly_and_rendered(client, merchant, amount, shown):
    intent = await create_intent(client, merchant, amount=amount)
    assert intent["data"]["amount"] == shown
    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["data"]["amount"] == shown
    escrow = await client.get(order_url(intent["id"]), headers=merchant.headers)
    assert escrow.json()["data"]["amount"] == shown


# --- text -------------------------------------------------------------------------------

UNICODE = "Ünïcødé — 日本語 — emoji 🚀🎉 — RTL עברית — combining é — zero-width\u200b"


async def test_unicode_is_accepted_and_echoed_exactly(client, merchant):
    intent = await create_intent(
        client,
        merchant,
        description=UNICODE,
        settlementDestination="コード-" + UNICODE[:10],
        metadata={"releaseType": "MILESTONE_LOCKED", "note": UNICODE, "ключ": "значение"},
    )
    assert intent["data"]["description"] == UNICODE
    assert intent["data"]["settlementDestination"] == "コード-" + UNICODE[:10]
    assert intent["metadata"]["note"] == UNICODE
    assert intent["metadata"]["ключ"] == "значение"
    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["data"]["description"] == UNICODE
    assert got.json()["data"]["metadata"]["ключ"] == "значение"

    r = await post_milestone(
        client,
        merchant,
        intent["id"],
        {"milestoneIndex": 0, "amount": "1.00", "description": UNICODE},
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["description"] == UNICODE
    listed = await client.get(milestones_url(intent["id"]), headers=merchant.headers)
    assert listed.json()["data"][0]["description"] == UNICODE
    public = await client.get(public_intent_url(intent["id"]))
    assert public.json()["data"]["description"] == UNICODE


async def test_escaped_unicode_is_the_same_as_literal(client, merchant):
    raw = json.dumps(intent_body(description=UNICODE), ensure_ascii=True).encode()
    assert b"\\u" in raw
    r = await raw_post(client, merchant, intents_url(), raw)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["description"] == UNICODE


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"x\\ud83dy"])
async def test_lone_surrogate_escape_is_a_clean_400_not_500(client, merchant, escape):
    intent = await create_intent(client, merchant)
    for path, template in [
        (intents_url(), json.dumps(intent_body(description="__S__")).encode()),
        (intents_url(), json.dumps(intent_body(metadata={"__S__": 1})).encode()),
        (
            milestones_url(intent["id"]),
            json.dumps({"milestoneIndex": 0, "amount": "1.00", "description": "__S__"}).encode(),
        ),
    ]:
        r = await raw_post(client, merchant, path, template.replace(b"__S__", escape))
        err = assert_envelope(r, 400)
        assert err["code"] == "invalid_request"


async def test_raw_utf8_encoded_surrogates_are_a_clean_400(client, merchant):
    # CESU-style bytes for U+D800: not UTF-8, whatever a lenient decoder makes of them
    raw = (
        json.dumps(intent_body(description="__S__")).encode().replace(b'"__S__"', b'"\xed\xa0\x80"')
    )
    err = assert_envelope(await raw_post(client, merchant, intents_url(), raw), 400)
    assert err["code"] == "invalid_request"


async def test_nul_character_in_text_fields_is_400(client, merchant):
    r = await client.post(
        intents_url(), json=intent_body(description="a\x00b"), headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", param="description")


# --- path ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    [
        "intent_%00",
        "intent_abc%00def",
        "%00",
        "intent_" + "a" * 300,
        "intent_%F0%9F%9A%80",
        "intent_%27%20OR%201%3D1",
        "intent_%25",
        "intent_%C3%28",
    ],
)
async def test_nul_and_odd_bytes_in_path_ids_are_400_not_500(client, merchant, bad_id):
    """A malformed id is the documented 400; one with a control character (NUL) cannot
    exist anywhere and is a 404 like an unknown id. Neither reaches the database."""
    nul = "%00" in bad_id
    status, code = (404, "resource_missing") if nul else (400, "invalid_request")
    bad = None if nul else "Invalid payment intent ID format"
    for suffix in ("", "/escrow", "/conditional-payment", "/escrow/milestones"):
        r = await client.get(intent_url(bad_id, suffix), headers=merchant.headers)
        err = assert_error(r, status, code, bad, param="intentId")
        assert "\x00" not in err["message"]
    r = await client.get(public_intent_url(bad_id))
    assert_error(r, status, code, bad, param="intentId")
    r = await client.post(
        milestones_url(bad_id),
        json={"milestoneIndex": 0, "amount": "1.00"},
        headers=merchant.headers,
    )
    assert_error(r, status, code, bad, param="intentId")
    r = await client.post(cancel_url(bad_id), headers=merchant.headers)
    assert_error(r, status, code, bad, param="intentId")


@pytest.mark.parametrize("bad_id", ["milestone_%00", "x%00y", "m" * 200])
async def test_nul_in_milestone_id_is_404_and_a_malformed_one_400(client, merchant, bad_id):
    intent = await create_intent(client, merchant)
    r = await client.get(milestone_url(intent["id"], bad_id), headers=merchant.headers)
    if "%00" in bad_id:
        assert_error(r, 404, "resource_missing", "Milestone not found", param="milestoneId")
    else:
        assert_error(
            r, 400, "invalid_request", "Invalid milestone ID format", param="milestoneId"
        )


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "status=DONE",
        "type=CONSENTED",
        "starting_after=a%00b",
        "ending_before=" + "x" * 100,
    ],
)
async def test_bad_list_parameters_are_400_naming_the_parameter(client, merchant, query):
    r = await client.get(f"{intents_url()}?{query}", headers=merchant.headers)
    assert_error(r, 400, "invalid_request", param=query.split("=")[0])


# --- internal faults ------------------------------------------------------------------------


async def test_an_internal_fault_is_a_500_api_error_that_says_nothing_internal():
    """The edge's last resort: whatever escapes the app leaves in the one envelope."""
    import httpx

    from escrowgate.api.edge import EdgeMiddleware
    from escrowgate.api.rate_limit import RateLimiter

    async def broken_app(scope, receive, send):  # type: ignore[no-untyped-def]
        raise RuntimeError("db password is hunter2 at /srv/secret.py line 42")

    edge = EdgeMiddleware(
        broken_app,
        session_factory=lambda: None,  # type: ignore[arg-type]
        max_body_bytes=MAX_BODY,
        rate_limiter=RateLimiter(test_limit=0, live_limit=0, enabled=False),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=edge), base_url="http://edge"
    ) as c:
        r = await c.get("/health")
    err = assert_envelope(r, 500)
    assert err == {
        "code": "internal_error",
        "type": "api_error",
        "message": "An internal error occurred. It has been logged with the Request-Id.",
    }
    for leak in ("hunter2", "secret", "RuntimeError", "Traceback"):
        assert leak not in r.text


HUGE = "9" * 5000  # past Python's 4300-digit limit for str -> int


@pytest.mark.parametrize(
    ("path", "raw", "param", "message"),
    [
        (
            intents_url(),
            '{"amount": HUGE, "currency": "USDC", "type": "CONSENTED_PULL", '
            '"settlementMethod": "OFF_RAMP_MOCK", "settlementDestination": "x"}',
            "amount",
            'Amount must be a decimal string, e.g. "300.00"',
        ),
        (
            intents_url(),
            '{"amount": "1.00", "currency": "USDC", "type": "DELIVERY_VS_PAYMENT", '
            '"settlementMethod": "OFF_RAMP_MOCK", "settlementDestination": "x", '
            '"metadata": {"n": HUGE}}',
            "metadata",
            "metadata numbers must be between 1e-308 and 1e308 in magnitude",
        ),
        (
            milestones_url("intent_x"),
            '{"milestoneIndex": HUGE, "amount": "1.00"}',
            "milestoneIndex",
            "milestoneIndex must be an integer from 0 to 999",
        ),
    ],
)
async def test_integer_with_thousands_of_digits_names_the_field(
    client, make_merchant, path, raw, param, message
):
    """A 5000-digit integer is valid JSON: the field it is in gets its own clear 400
    (not a parser's generic message), and nothing is created."""
    m = await make_merchant()
    body = raw.replace("HUGE", HUGE).encode()
    err = assert_envelope(await raw_post(client, m, path, body), 400)
    assert err["code"] == "invalid_request"
    assert err["message"] == message and err["param"] == param
    listed = await client.get(intents_url(), headers=m.headers)
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    ("path", "param", "message"),
    [
        (f"{intents_url()}?limit=500", "limit", "limit must be at most 100"),
        (f"{intents_url()}?limit=0", "limit", "limit must be at least 1"),
        (f"{intents_url()}?limit=ten", "limit", "limit must be an integer"),
        (
            f"{intents_url()}?status=FOO",
            "status",
            "status must be one of INITIATED, REQUIRES_SIGNATURE, PROCESSING, SUCCEEDED, "
            "SETTLED, CANCELED, REQUIRES_ACTION",
        ),
        (
            f"{intents_url()}?type=x",
            "type",
            "type must be one of DELIVERY_VS_PAYMENT, CONDITIONAL",
        ),
        (
            f"{ledger_url()}?transactionType=X",
            "transactionType",
            "transactionType must be one of FUND, RELEASE, SETTLE, REFUND",
        ),
        (f"{events_url()}?type=A!", "type", "type has an invalid format"),
        (
            f"{events_url()}?starting_after=a-b",
            "starting_after",
            "starting_after has an invalid format",
        ),
    ],
)
async def test_bad_query_values_name_the_parameter_and_the_rule(
    client, merchant, path, param, message
):
    """Query parameters get the same plain messages as body fields: the rule, not a
    validator's wording or a regular expression."""
    r = await client.get(path, headers=merchant.headers)
    assert_error(r, 400, "invalid_request", message, param=param)


async def test_every_error_body_is_the_same_compact_json(client, merchant):
    """Errors answered by the edge (401, 413, 415) and by the app (400, 404) are
    serialized alike, byte for byte the same style."""
    answers = [
        await client.get(intents_url()),  # 401 from the edge
        await raw_post(client, merchant, intents_url(), b"x" * (MAX_BODY + 1)),  # 413
        await client.post(
            intents_url(),
            content=b"{}",
            headers={**merchant.headers, "Content-Type": "text/plain"},
        ),  # 415
        await raw_post(client, merchant, intents_url(), b"{bad"),  # 400 from the app
        await client.get("/v1/nope", headers=merchant.headers),  # 404 from the app
    ]
    assert [r.status_code for r in answers] == [401, 413, 415, 400, 404]
    for r in answers:
        assert r.content == json.dumps(r.json(), separators=(",", ":")).encode(), r.content
