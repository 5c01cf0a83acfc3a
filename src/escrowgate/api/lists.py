"""List envelope and cursor parameters shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ..wire import ListEnvelope, list_envelope

__all__ = ["Cursor", "Limit", "ListEnvelope", "list_envelope"]

Limit = Annotated[int, Query(ge=1, le=100, description="1 to 100, default 10")]
Cursor = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
