"""Who is calling: what an API key resolves to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    key_id: str
    merchant_id: str | None  # None for an operator key
    mode: str
    is_operator: bool
