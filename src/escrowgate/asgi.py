"""ASGI entry point for uvicorn: `uvicorn escrowgate.asgi:app`."""

from .app import create_app

app = create_app()
