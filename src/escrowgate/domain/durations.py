"""Durations as real Finternet clients send them: integer seconds, a string of
digits, or a number with a unit ("3600s", "30m", "24h", "7d")."""

from __future__ import annotations

import re
from decimal import Decimal

_DURATION_RE = re.compile(r"^([0-9]{1,12})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DIGITS_RE = re.compile(r"^[0-9]{1,12}$")

ACCEPTED_FORMS = (
    'whole seconds (3600 or "3600") or a duration such as "3600s", "30m", "24h" or "7d"'
)


def parse_seconds(value: object) -> int | None:
    """The number of seconds, or None when `value` is none of the accepted forms."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        # 3600.0 is 3600 wherever it is sent (merchant metadata stores JSON numbers
        # that way too); 1.5 seconds is not a whole number of seconds.
        number = Decimal(value)
        if number.is_finite() and number == number.to_integral_value() and abs(number) < 10**12:
            return int(number)
        return None
    if not isinstance(value, str):
        return None
    if _DIGITS_RE.fullmatch(value):
        return int(value)
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def must_be(param: str) -> str:
    """The 400 message of a period field that is none of the accepted forms."""
    return f"{param} must be {ACCEPTED_FORMS}"
