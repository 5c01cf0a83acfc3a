"""The release terms of a DELIVERY_VS_PAYMENT intent, validated at creation so a
bad value is a 400 then and never a failure later. Pure, like the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain import durations
from ..domain.errors import InvalidRequest
from ..domain.formats import ADDRESS_RE, BYTES32_RE, DIGITS_RE
from .model import ReleaseType

RELEASE_TYPES = tuple(ReleaseType)
# The metadata keys that are release terms (of a DELIVERY_VS_PAYMENT intent only).
RELEASE_TERMS = (
    "releaseType",
    "timeLockUntil",
    "disputeWindow",
    "deliveryPeriod",
    "autoRelease",
    "expectedDeliveryHash",
    "deliveryOracle",
)

DEFAULT_DISPUTE_WINDOW = 604_800  # 7 days
DEFAULT_DELIVERY_PERIOD = 2_592_000  # 30 days
MAX_SECONDS = 10 * 365 * 86_400
MAX_UNIX_TIME = 32_503_680_000  # year 3000


@dataclass(frozen=True)
class ReleaseConfig:
    release_type: ReleaseType
    auto_release: bool
    time_lock_until: int | None
    dispute_window: int
    delivery_period: int
    expected_delivery_hash: str | None
    delivery_oracle: str | None


def _period(value: Any, param: str, *, maximum: int = MAX_SECONDS) -> int:
    """A period: seconds as a JSON integer or a string of digits, or a duration with a
    unit ("3600s", "30m", "24h", "7d"), as real Finternet clients send it."""
    number = durations.parse_seconds(value)
    if number is None:
        raise InvalidRequest(durations.must_be(param), param=param)
    if number < 0 or number > maximum:
        raise InvalidRequest(f"{param} must be between 0 and {maximum}", param=param)
    return number


def _seconds(value: Any, param: str, *, maximum: int = MAX_SECONDS) -> int:
    """Seconds given as a JSON integer or a string of digits."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{param} must be a whole number of seconds", param=param)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and DIGITS_RE.fullmatch(value):
        number = int(value)
    else:
        raise InvalidRequest(f"{param} must be a whole number of seconds", param=param)
    if number < 0 or number > maximum:
        raise InvalidRequest(f"{param} must be between 0 and {maximum}", param=param)
    return number


def _pick(top: dict[str, Any], metadata: dict[str, Any], name: str) -> tuple[Any, str]:
    """Top-level DvP fields win; the docs also accept them inside metadata."""
    if top.get(name) is not None:
        return top[name], name
    return metadata.get(name), f"metadata.{name}"


def parse_release_config(top: dict[str, Any], metadata: dict[str, Any]) -> ReleaseConfig:
    auto_raw, auto_param = _pick(top, metadata, "autoRelease")
    if auto_raw is not None and not isinstance(auto_raw, bool):
        raise InvalidRequest(f"{auto_param} must be a boolean", param=auto_param)
    auto_release = bool(auto_raw)

    release_type = metadata.get("releaseType")
    if release_type is None:
        release_type = ReleaseType.AUTO_RELEASE if auto_release else ReleaseType.DELIVERY_PROOF
    elif release_type not in RELEASE_TYPES:
        raise InvalidRequest(
            "Invalid release type. Must be one of " + ", ".join(RELEASE_TYPES),
            param="metadata.releaseType",
        )
    if release_type == ReleaseType.AUTO_RELEASE:
        auto_release = True

    time_lock_until = None
    if release_type == ReleaseType.TIME_LOCKED:
        raw = metadata.get("timeLockUntil")
        if raw is None:
            raise InvalidRequest(
                "metadata.timeLockUntil is required for release type TIME_LOCKED",
                param="metadata.timeLockUntil",
            )
        time_lock_until = _seconds(raw, "metadata.timeLockUntil", maximum=MAX_UNIX_TIME)
    elif metadata.get("timeLockUntil") is not None:
        _seconds(metadata["timeLockUntil"], "metadata.timeLockUntil", maximum=MAX_UNIX_TIME)

    window_raw = metadata.get("disputeWindow")
    dispute_window = (
        DEFAULT_DISPUTE_WINDOW
        if window_raw is None
        else _period(window_raw, "metadata.disputeWindow")
    )
    if dispute_window == 0:
        raise InvalidRequest(
            "metadata.disputeWindow must be greater than 0", param="metadata.disputeWindow"
        )
    period_raw, period_param = _pick(top, metadata, "deliveryPeriod")
    delivery_period = (
        DEFAULT_DELIVERY_PERIOD if period_raw is None else _period(period_raw, period_param)
    )
    if delivery_period == 0:
        raise InvalidRequest(f"{period_param} must be greater than 0", param=period_param)

    hash_raw, hash_param = _pick(top, metadata, "expectedDeliveryHash")
    if hash_raw is not None and not (isinstance(hash_raw, str) and BYTES32_RE.fullmatch(hash_raw)):
        raise InvalidRequest(f"{hash_param} must be a valid bytes32 hex string", param=hash_param)
    oracle_raw, oracle_param = _pick(top, metadata, "deliveryOracle")
    if oracle_raw is not None and not (
        isinstance(oracle_raw, str) and ADDRESS_RE.fullmatch(oracle_raw)
    ):
        raise InvalidRequest(f"{oracle_param} must be an Ethereum address", param=oracle_param)

    return ReleaseConfig(
        release_type=ReleaseType(release_type),
        auto_release=auto_release,
        time_lock_until=time_lock_until,
        dispute_window=dispute_window,
        delivery_period=delivery_period,
        expected_delivery_hash=hash_raw.lower() if hash_raw else None,
        delivery_oracle=oracle_raw,
    )
