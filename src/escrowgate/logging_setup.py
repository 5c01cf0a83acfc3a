"""Structured JSON logs (structlog), ours and uvicorn's alike. Keys and card data are
never passed to a logger. Server errors are logged whatever LOG_LEVEL says: an
operator who turned logging down still needs every 5xx with its trace."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_PROCESSORS: list[Any] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
    structlog.processors.JSONRenderer(),
]


def configure_logging(level: str = "INFO") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stdout, level=numeric, format="%(message)s")
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )


def unfiltered_logger(name: str) -> Any:
    """A logger that ignores LOG_LEVEL (for server errors only)."""
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=sys.stdout),
        processors=_PROCESSORS,
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
    )
    return logger.bind(logger=name)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own lines (startup, shutdown, its errors) as JSON lines like ours."""
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_PROCESSORS,
        ],
        "foreign_pre_chain": [structlog.stdlib.add_logger_name],
    }
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
