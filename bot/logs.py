"""Log lines: plain text (the default) or one JSON object per line, secrets never written.

``THREADBOT_LOG_FORMAT=json`` is for log collectors: each line carries ``time``, ``level``,
``logger`` and ``message``, and where a turn is known its ``thread_key`` and ``message_id``
(from ``bind``: set once where a turn comes in, then on every line logged while it is
handled, in the tasks it starts too) and what the log site passes as ``extra=`` (``outcome``,
``latency_ms``, ``error_kind``). Each reply's end is one INFO line on ``TURNS_LOGGER``,
written in JSON (and in text only at DEBUG, so a terminal's output stays as it was).

Both formats pass every finished line (the exception's trace included) through the same
redaction: the values of the settings' secrets, of environment (and `.env`) variables named
like secrets, and the password of any ``scheme://user:password@`` URL are replaced by
``***``. A log site can then never leak a token by formatting an SDK's exception.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, SecretStr

# a reply's end, one line each: for collectors (JSON), not for a terminal (text stays as it was)
TURNS_LOGGER = "threadbot.turns"
CONTEXT: ContextVar[Mapping[str, str]] = ContextVar(
    "threadbot_log_context", default=MappingProxyType({})
)
EXTRA_FIELDS = ("outcome", "latency_ms", "error_kind", "first_text_ms")
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|_KEY)$", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)
MIN_SECRET = 6  # shorter values would redact ordinary words


def bind(**fields: str) -> None:
    """Attach ``fields`` (thread_key, message_id) to every line logged from here on in this
    task and the tasks it starts."""
    CONTEXT.set({**CONTEXT.get(), **fields})


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        # longest first: a secret that contains another is replaced whole
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return URL_PASSWORD.sub(r"\1***@", text)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class TextFormatter(_Redacting):
    """``time LEVEL logger: message`` (as always), redacted."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(secrets, "%(asctime)s %(levelname)s %(name)s: %(message)s")


class JsonFormatter(_Redacting):
    """One JSON object per line (see the module docstring), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= CONTEXT.get()
        line |= {name: getattr(record, name) for name in EXTRA_FIELDS if hasattr(record, name)}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return self.redact(json.dumps(line, ensure_ascii=False, default=str))


def secrets_of(settings: BaseModel | None, environ: Mapping[str, str | None]) -> list[str]:
    """The secret values to keep out of the logs: ``settings``' SecretStr fields, and the
    variables in ``environ`` named like secrets (…_TOKEN, …_SECRET, …_KEY, …PASSWORD)."""
    fields = settings.__dict__.values() if settings is not None else ()
    found = [value.get_secret_value() for value in fields if isinstance(value, SecretStr)]
    found += [value for name, value in environ.items() if value and SECRET_NAME.search(name)]
    return found


def environment() -> dict[str, str | None]:
    """The process environment plus the `.env` files (where the settings read secrets too)."""
    from dotenv import dotenv_values

    from bot import config

    found: dict[str, str | None] = {}
    for path in config.ENV_FILES:
        if path.is_file():
            found.update(dotenv_values(path))
    return {**found, **os.environ}


def configure(level: str, fmt: str, secrets: Iterable[str], log_file: str = "") -> None:
    """Log to stderr (or ``log_file``) at ``level`` in ``fmt`` ("text" or "json"), redacting
    ``secrets``. Raises OSError when the file cannot be written."""
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    quiet = fmt != "json" and level.upper() != "DEBUG"
    logging.getLogger(TURNS_LOGGER).setLevel(logging.WARNING if quiet else logging.NOTSET)
