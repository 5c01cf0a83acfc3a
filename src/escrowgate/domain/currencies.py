"""The currencies escrowgate accepts, in one place: the stablecoins (any funding
rail) and the ISO 4217 fiat currencies a card can pay (the Web2 flow: card, then
the sandbox on-ramp to USDC), each with its minor units, and the sandbox on-ramp's
fixed rates. Amounts are integer micro-units (10^-6) for every currency; a fiat
amount may not be finer than its currency's minor unit.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

MICRO_DECIMALS = 6

STABLECOINS = ("USDC", "USDT", "DAI")

# ISO 4217 code -> minor units (digits after the decimal point).
FIAT_MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "INR": 2,
    "JPY": 0,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "AED": 2,
    "KWD": 3,
}
FIAT = tuple(FIAT_MINOR_UNITS)
CURRENCIES = (*STABLECOINS, *FIAT)

# The stablecoin the sandbox on-ramp buys with a card payment in fiat.
ON_RAMP_CURRENCY = "USDC"
# Fixed sandbox rates: 1 unit of the fiat currency buys this many USDC. Exact
# decimals; the result is rounded DOWN to the micro-unit (the on-ramp never
# credits more than the fiat bought).
SANDBOX_USDC_RATES: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "INR": Decimal("0.012"),
    "JPY": Decimal("0.0067"),
    "SGD": Decimal("0.74"),
    "AUD": Decimal("0.66"),
    "CAD": Decimal("0.73"),
    "CHF": Decimal("1.13"),
    "AED": Decimal("0.2723"),
    "KWD": Decimal("3.25"),
}
assert set(SANDBOX_USDC_RATES) == set(FIAT_MINOR_UNITS)

INVALID_CURRENCY_MESSAGE = (
    "Invalid currency. Must be USDC, USDT, DAI or a supported fiat currency ("
    + ", ".join(FIAT)
    + ")"
)


def normalize(value: object) -> str | None:
    """The currency code, upper-cased, or None when it is not one we accept."""
    if not isinstance(value, str):
        return None
    code = value.upper()
    return code if code in CURRENCIES else None


def is_fiat(currency: str) -> bool:
    return currency in FIAT_MINOR_UNITS


def decimals(currency: str) -> int:
    """The finest amount a currency takes: its minor units (fiat), 6 (stablecoins)."""
    return FIAT_MINOR_UNITS.get(currency, MICRO_DECIMALS)


def precision_error(micro: int, currency: str) -> str | None:
    """Why `micro` is finer than the currency's minor unit, or None when it is not."""
    places = decimals(currency)
    if micro % 10 ** (MICRO_DECIMALS - places) == 0:
        return None
    if places == 0:
        return f"Amount must be a whole number for {currency}"
    return f"Amount must have at most {places} decimal places for {currency}"


def on_ramp(micro: int, currency: str) -> int:
    """Micro-units of USDC the sandbox on-ramp buys for `micro` of a fiat currency."""
    rate = SANDBOX_USDC_RATES[currency]
    return int((Decimal(micro) * rate).to_integral_value(rounding=ROUND_DOWN))
