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


# Lines of the standard library's loggers (uvicorn, SQLAlchemy's pool, asyncio) as the
# same JSON: the message as `event`, the logger's name, a trace as `exception`.
_FOREIGN_FORMATTER: dict[str, Any] = {
    "()": structlog.stdlib.ProcessorFormatter,
    "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_PROCESSORS],
    "foreign_pre_chain": [structlog.stdlib.add_logger_name],
}


def _json_handler() -> logging.Handler:
    options = {k: v for k, v in _FOREIGN_FORMATTER.items() if k != "()"}
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(**options))
    return handler


def configure_logging(level: str = "INFO") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    # Every line on stdout is JSON, a library's too (a root logger without handlers
    # gets this one; a host that configured logging itself keeps its own).
    logging.basicConfig(level=numeric, handlers=[_json_handler()])
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
    formatter = _FOREIGN_FORMATTER
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
