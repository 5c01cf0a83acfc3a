"""ASGI entry point for uvicorn: `uvicorn escrowgate.asgi:app`."""

import sys

from .app import create_app
from .config import SettingsError

try:
    app = create_app()
except SettingsError as exc:  # one line naming the variable, not a traceback
    print(f"escrowgate: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
