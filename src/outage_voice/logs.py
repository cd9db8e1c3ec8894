"""Log lines as text for a terminal or as JSON for a log pipeline, each carrying the id of the
web request it was written for.

The request id lives in a context variable (services/request_context.py) that the web
middleware sets around each request (web/request_ids.py); a filter on the handler copies it
onto every record, so a line written anywhere while a webhook is handled (services, adapters,
the carrier's client) carries it without its call site knowing. Work not started by a
request (the dialer, the automation, the leader's jobs) has none, nor has work a request
started for everyone (see services.request_context.detached_context).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from datetime import UTC, datetime
from typing import IO, Any

from outage_voice.config import LOG_FORMATS
from outage_voice.services.request_context import current_call_sid, current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TEXT_FORMAT_WITH_REQUEST = "%(asctime)s %(levelname)s %(name)s: [%(request_id)s] %(message)s"
REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID_CHARS = 64
# What a proxy's X-Request-Id may be to be kept: anything else (spaces, quotes, a line break
# that would forge a log line) is replaced by an id of our own.
_SANE_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID_CHARS}}}")
GENERATED_ID_BYTES = 8  # 16 hex digits: unique enough to find one request in a day of logs

# What every LogRecord has: anything else on a record was passed as `extra=` and goes into the
# JSON object as a field of its own.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "call_sid",
    "taskName",
}


def sane_request_id(value: str | None) -> str | None:
    """The proxy's id when it is one we can log as is, else None."""
    if value is None or not _SANE_ID.fullmatch(value):
        return None
    return value


def new_request_id() -> str:
    return secrets.token_hex(GENERATED_ID_BYTES)


class RequestContextFilter(logging.Filter):
    """Puts the request id (and a webhook's CallSid) on every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        if not hasattr(record, "call_sid"):
            record.call_sid = current_call_sid()
        return True


class TextFormatter(logging.Formatter):
    """The classic line; a line written for a request starts with `[request id]`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._with_request = logging.PercentStyle(TEXT_FORMAT_WITH_REQUEST)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None):
            return self._with_request.format(record)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO-8601, UTC), level, logger, message, request_id and
    call_sid when the line was written for a request, the record's extras, and an exception
    or stack as a string field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("request_id", "call_sid"):
            value = getattr(record, field, None)
            if value:
                entry[field] = value
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII only: a stray surrogate in a caller's speech must not break the line's write.
        return json.dumps(entry, default=str, ensure_ascii=True)


def log_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `log_format` lines (text or json) with the request context on."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}: {log_format!r}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    return handler


def configure_logging(level: int, log_format: str, stream: IO[str] | None = None) -> None:
    """As logging.basicConfig: a process whose logging is already set up (a test runner, an
    embedding program) keeps its own handlers."""
    handler = log_handler(log_format, stream)
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(handler)
    root.setLevel(level)
    # A library's warning is a line of the log like any other, in its format, not a bare
    # line on stderr that a JSON collector cannot read.
    logging.captureWarnings(True)
