"""Wire formats shared by the edge's field types and the domain's own checks."""

from __future__ import annotations

import re

BYTES32_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
DIGITS_RE = re.compile(r"^[0-9]{1,12}$")
# Ids are short and alphanumeric; anything else cannot exist (and never reaches
# the database, where a NUL byte would be an error, not a miss).
ID_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")

ECHO_LIMIT = 40  # how much of a caller's input an error message repeats


def clip(text: object, limit: int = ECHO_LIMIT) -> str:
    """A caller's input as an error message may echo it: a short prefix at most."""
    shown = str(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."
