"""api/routing.py's parse_json: exact numbers, and a clean error for what no database
or answer can hold, whether or not the body needs the full walk of its value."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from escrowgate.api.routing import MAX_JSON_DEPTH, parse_json


def nested(depth: int) -> bytes:
    """A value `depth` deep: depth - 1 lists around a number."""
    return b"[" * (depth - 1) + b"1" + b"]" * (depth - 1)


def test_the_deepest_allowed_value_parses_and_one_more_is_refused():
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        parse_json(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        parse_json(b'{"a": ' + nested(MAX_JSON_DEPTH) + b"}")


def test_brackets_inside_strings_do_not_change_the_answer():
    body = json.dumps({"note": "[" * 100, "amount": "1.00"}).encode()
    assert parse_json(body) == {"note": "[" * 100, "amount": "1.00"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"d": "\\ud800"}',  # an escape
        b'{"d": "\xed\xa0\x80"}',  # UTF-8 bytes of a surrogate (decoded with surrogatepass)
        '{"d": "x"}'.encode("utf-16-le").replace(b"x\x00", b"\x00\xd8"),  # UTF-16, raw
        '{"\\udfff": 1}'.encode("utf-32"),  # UTF-32, an escaped key
    ],
)
def test_a_lone_surrogate_is_refused_in_every_encoding(raw):
    with pytest.raises(json.JSONDecodeError, match="not valid Unicode"):
        parse_json(raw)


def test_numbers_stay_exact():
    assert parse_json(b'{"a": 0.1, "b": 7}') == {"a": Decimal("0.1"), "b": 7}
