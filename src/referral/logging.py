"""structlog setup. Events are past-tense names with ids, never personal data."""

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from referral.config import Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            scrub_unprintable,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


# C0 and C1 controls and DEL: a NUL, an escape sequence or a line break taken from a
# request (a path, a header) must not reach a terminal or forge a second log line.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Tracebacks are ours, not the request's: their line breaks are kept.
_FORMATTED = frozenset({"exception", "exc_info", "stack"})


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def scrub_unprintable(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Every string value of an event, unprintable characters written as \\xNN escapes."""
    for key, value in event_dict.items():
        if isinstance(value, str) and key not in _FORMATTED:
            event_dict[key] = _UNPRINTABLE.sub(_escape, value)
    return event_dict


class NoQueryString(logging.Filter):
    """The server's access log line without the query string: a search or a filter form
    puts what a person typed (a name, a case number) there. uvicorn logs
    `client - "METHOD PATH?QUERY HTTP/x" status` with the path as its third argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, mark, _ = args[2].partition("?")
            if mark:
                record.args = (*args[:2], path + "?-", *args[3:])
        return True


ACCESS_LOGGER = "uvicorn.access"


def keep_queries_out_of_access_log() -> None:
    """Filter the server's access log (once per process, whoever calls)."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, NoQueryString) for f in access.filters):
        access.addFilter(NoQueryString())


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
