"""Exact money: decimal strings at the edge, integer micro-units (10^-6) inside.

Never a float: parsing is done on the string with a regex and integer arithmetic.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from .currencies import FIAT_MINOR_UNITS

MICRO = 1_000_000
MAX_DECIMALS = 6
MAX_AMOUNT_MICRO = 10**12 * MICRO  # at most 1e12 units
_AMOUNT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_MAX_WHOLE_DIGITS = len(str(MAX_AMOUNT_MICRO // MICRO))  # 13: "1000000000000"


class AmountError(ValueError):
    """The text is not an acceptable amount; the message says why."""


def parse_amount(text: object) -> int:
    """Parse a decimal string into micro-units, or raise AmountError."""
    if not isinstance(text, str):
        raise AmountError('Amount must be a decimal string, e.g. "300.00"')
    if not _AMOUNT_RE.fullmatch(text):
        raise AmountError('Amount must be a decimal string, e.g. "300.00"')
    whole, _, frac = text.partition(".")
    if len(frac) > MAX_DECIMALS:
        raise AmountError(f"Amount must have at most {MAX_DECIMALS} decimal places")
    # Leading zeros are valid ("007.50"); only significant digits can make it too large
    # (and are bounded before int() sees them).
    whole = whole.lstrip("0") or "0"
    if len(whole) > _MAX_WHOLE_DIGITS:
        raise AmountError("Amount must be at most 1000000000000")
    micro = int(whole) * MICRO + int(frac.ljust(MAX_DECIMALS, "0") or "0")
    if micro <= 0:
        raise AmountError("Amount must be greater than 0")
    if micro > MAX_AMOUNT_MICRO:
        raise AmountError("Amount must be at most 1000000000000")
    return micro


def format_amount(micro: int, currency: str | None = None) -> str:
    """Render micro-units: a fiat currency with exactly its minor units (JPY "1000",
    USD "10.00", KWD "1.500"); a stablecoin (or no currency) with at least two
    decimals, trailing zeros beyond dropped: 300000000 -> "300.00", 125000 -> "0.125"."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    places = FIAT_MINOR_UNITS.get(currency or "")
    if places is not None and frac % 10 ** (MAX_DECIMALS - places) == 0:
        if places == 0:
            return f"{sign}{whole}"
        return f"{sign}{whole}.{f'{frac:06d}'[:places]}"
    frac_text = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{frac_text}"


def percentage_of(part_micro: int, total_micro: int) -> Decimal:
    """part / total * 100, rounded half-up to 2 decimals (exact decimal arithmetic)."""
    return (Decimal(part_micro) * 100 / Decimal(total_micro)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def percentage_agrees(given: Decimal, part_micro: int, total_micro: int) -> bool:
    """True when `given` is within 0.01 points of the exact share."""
    exact = Decimal(part_micro) * 100 / Decimal(total_micro)
    return abs(exact - given) <= Decimal("0.01")


def to_micro_units_string(micro: int) -> str:
    """On-chain amount (token with 6 decimals) as a decimal string."""
    return str(micro)
