"""Wire formats shared by the edge's field types and the domain's own checks."""

from __future__ import annotations

import re

from .errors import InvalidRequest

BYTES32_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
DIGITS_RE = re.compile(r"^[0-9]{1,12}$")
# Ids are short and alphanumeric; anything else cannot exist (and never reaches
# the database, where a NUL byte would be an error, not a miss).
ID_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# The real Finternet sandbox's ids: a prefix and a dashed UUID
# (intent_c4721336-8e51-45a3-a507-9eff916b63a8), or a bare UUID. Well-formed ids of
# objects that do not exist here: 404 with the id, never a format error.
SANDBOX_ID_RE = re.compile(
    r"^([a-z]+_)*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def impossible_id(value: str) -> bool:
    """An id with a control character (a NUL byte, ...) cannot exist anywhere: it is
    answered like an unknown id (404), and never reaches the database (where a NUL is
    an error on PostgreSQL, not a miss)."""
    return CONTROL_RE.search(value) is not None


def shown_id(value: str) -> str:
    """An id as an error message repeats it: whole when well-formed (at most 64
    characters), else escaped and short."""
    if well_formed_id(value):
        return value
    return clip(value.encode("unicode_escape").decode("ascii"))


def check_id(value: str, kind: str, param: str, not_found: Exception) -> None:
    """The one id rule of every route: an impossible id (a NUL byte) is `not_found`
    (404) and a malformed one the documented 400 `Invalid <kind> ID format`; neither
    reaches the database. A well-formed id that does not exist is the route's 404."""
    if impossible_id(value):
        raise not_found
    if not well_formed_id(value):
        raise InvalidRequest(f"Invalid {kind} ID format", param=param)


def well_formed_id(value: str) -> bool:
    """An id of ours or of the sandbox's shape; anything else is malformed (400)."""
    return len(value) <= 64 and bool(ID_RE.fullmatch(value) or SANDBOX_ID_RE.fullmatch(value))

ECHO_LIMIT = 40  # how much of a caller's input an error message repeats


def clip(text: object, limit: int = ECHO_LIMIT) -> str:
    """A caller's input as an error message may echo it: a short prefix at most."""
    shown = str(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."
