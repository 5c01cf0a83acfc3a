"""Payment intent state machine."""

from __future__ import annotations

from ..errors import InvalidStateTransition

INITIATED = "INITIATED"
REQUIRES_SIGNATURE = "REQUIRES_SIGNATURE"
PROCESSING = "PROCESSING"
SUCCEEDED = "SUCCEEDED"
SETTLED = "SETTLED"
CANCELED = "CANCELED"
REQUIRES_ACTION = "REQUIRES_ACTION"
STATUSES = (
    INITIATED,
    REQUIRES_SIGNATURE,
    PROCESSING,
    SUCCEEDED,
    SETTLED,
    CANCELED,
    REQUIRES_ACTION,
)

DVP = "DELIVERY_VS_PAYMENT"
CONDITIONAL = "CONDITIONAL"
TYPE_ALIASES = {"CONSENTED_PULL": CONDITIONAL}
TYPES = (DVP, CONDITIONAL)

CURRENCIES = ("USDC", "USDT", "DAI")
SETTLEMENT_METHODS = ("OFF_RAMP_MOCK", "OFF_RAMP_TO_RTP", "OFF_RAMP_TO_BANK")

_ALLOWED: dict[str, set[str]] = {
    INITIATED: {PROCESSING, CANCELED, REQUIRES_ACTION},
    PROCESSING: {SUCCEEDED, REQUIRES_ACTION},
    SUCCEEDED: {SETTLED, REQUIRES_ACTION},
    REQUIRES_ACTION: {PROCESSING, CANCELED, SETTLED},
    SETTLED: set(),
    CANCELED: set(),
}


def can_transition(current: str, target: str) -> bool:
    return target in _ALLOWED.get(current, set())


def check_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise InvalidStateTransition(current, target)
