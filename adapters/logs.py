"""Logging: JSON lines in production, readable lines in development, a correlation id on every record.

The correlation id names one incoming message (or HTTP request) and everything logged while handling it;
:func:`adapters.metrics.handle_observed` and the web server set it. Nothing logged at INFO carries answer
text or personal data: the engine logs survey ids and platforms only, the web server logs paths without
their query strings, and uvicorn's per-connection lines (client address, query string) are dropped.
"""

from __future__ import annotations

import contextvars
import itertools
import json as jsonlib
import logging
import os
import re
import secrets
import sys
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.config import Config

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
"""The id of the message or request being handled; ``-`` outside of one."""

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "correlation_id"}


_PROCESS_TAG = secrets.token_hex(4)
_SEQUENCE = itertools.count(1)


def _new_process_tag() -> None:
    global _PROCESS_TAG, _SEQUENCE
    _PROCESS_TAG, _SEQUENCE = secrets.token_hex(4), itertools.count(1)


os.register_at_fork(after_in_child=_new_process_tag)  # a forked worker gets a tag of its own


def new_correlation_id() -> str:
    """Unique across processes and restarts: a random tag per process and a counter (a uuid4 per
    message cost a system call for randomness on every message)."""
    return f"{_PROCESS_TAG}{next(_SEQUENCE):08x}"


def wants_json(stream: IO[str] | None = None, environ: dict[str, str] | None = None) -> bool:
    """JSON when ``SURVEYBOT_LOG_FORMAT`` says ``json``, readable when it says ``text``, else JSON
    unless ``stream`` (stderr) is a terminal."""
    fmt = (os.environ if environ is None else environ).get("SURVEYBOT_LOG_FORMAT", "").lower()
    if fmt in ("json", "text"):
        return fmt == "json"
    stream = sys.stderr if stream is None else stream
    return not (hasattr(stream, "isatty") and stream.isatty())


class CorrelationFilter(logging.Filter):
    """Puts the current correlation id on every record as ``correlation_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class DropConnectionLines(logging.Filter):
    """Drops uvicorn's per-websocket lines: they carry the client's address and the query string
    (respondent id and name). The web chat logs its connections itself, without either."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket'))


MAX_MESSAGE = 2000
"""Characters of one log message; the rest is cut (slack-bolt logged a 300 MB request body whole)."""
_SECRETS: set[str] = set()
_TOKEN_SHAPES = re.compile(
    r"\b\d{5,15}:[A-Za-z0-9_-]{30,}"  # a Telegram bot token (python-telegram-bot logs it in API URLs)
    r"|\bx(?:ox[a-z]|app)-[A-Za-z0-9-]{10,}"  # Slack bot, user and app-level tokens
)
REDACTED = "[redacted]"


def keep_secret(*values: str | None) -> None:
    """Never let ``values`` (tokens, signing secrets) reach a log line, at any level, from any library."""
    _SECRETS.update(v for v in values if v and len(v) >= 8)


class Redact(logging.Filter):
    """On the handler, so it sees every library's records: known secrets and token shapes become
    ``[redacted]``, slack-bolt's refused-signature line loses the request body it quotes, and a
    message is cut at :data:`MAX_MESSAGE` characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("slack_bolt.") and str(record.msg).startswith("Invalid request signature"):
            record.msg, record.args = "Invalid request signature (request not logged)", None
            return True
        message = record.getMessage()
        cleaned = _TOKEN_SHAPES.sub(REDACTED, message)
        for secret in _SECRETS:
            cleaned = cleaned.replace(secret, REDACTED)
        if len(cleaned) > MAX_MESSAGE:
            cleaned = f"{cleaned[:MAX_MESSAGE]}… ({len(cleaned) - MAX_MESSAGE} characters cut)"
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return jsonlib.dumps(entry, ensure_ascii=False)


READABLE = "%(asctime)s %(levelname)-7s %(name)s [%(correlation_id)s] %(message)s"


def setup_logging(config: Config) -> None:
    """Logging as ``config`` says, with its secrets redacted: what every entry point (the CLI, each
    uvicorn worker) calls, so that none logs a secret the others would hide."""
    keep_config_secrets(config)
    configure_logging(config.log_level, wants_json())


def keep_config_secrets(config: Config) -> None:
    """Every secret of the configuration (what is derived from one, adapters keep themselves)."""
    secrets = [
        s.get_secret_value()
        for s in (
            config.telegram.bot_token,
            config.slack.bot_token,
            config.slack.app_token,
            config.slack.signing_secret,
            config.admin_api_token,
            config.respondent_secret,
        )
        if s is not None
    ]
    keep_secret(*secrets)


def configure_logging(level: str, json: bool, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr) at ``level``, as JSON lines or readable text.

    Replaces any handler configured before, so it may be called again (tests, a second command).
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(READABLE))
    handler.addFilter(CorrelationFilter())
    handler.addFilter(Redact())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Requests are logged by the web application itself (without query strings or client addresses).
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DropConnectionLines) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(DropConnectionLines())
    # Libraries that are chatty at INFO and say nothing an operator needs.
    for name in ("httpx", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
