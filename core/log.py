"""Logging: one JSON line per event (job id, user, duration as fields), secrets scrubbed from every line.

By rule no call site logs audio or transcript text; the formatter adds a second line of defence for keys.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from core.config import Settings
from core.text import redact, scrub

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_OURS = "_workbench_handler"


class Redactor:
    """Replaces configured secrets and anything shaped like an API key with [redacted]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(secrets)

    def __call__(self, text: str) -> str:
        return redact(text, self._secrets)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "event", ...extra fields, "error"?} on one line."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line: dict[str, Any] = {
            "ts": ts,
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = _jsonable(value)
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            line["traceback"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 controls only; bidi marks and U+2028 would still reach a terminal raw.
        return self._redact(scrub(json.dumps(line, ensure_ascii=False)))


class TextFormatter(logging.Formatter):
    """The classic one-line format, with extra fields appended as key=value and secrets scrubbed."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(
            f"{k}={_jsonable(v)}" for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")
        )
        text = super().format(record)
        # Newlines stay for tracebacks; a carriage return or bidi mark could disguise a line.
        return self._redact(scrub(f"{text} {extra}" if extra else text, keep="\n\t"))


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record to `stream` (stderr) in settings.log_format; idempotent (replaces our handler)."""
    secrets = [settings.openai_api_key.get_secret_value()] if settings.openai_api_key else []
    if settings.admin_password:
        secrets.append(settings.admin_password.get_secret_value())
    if settings.cookie_key:
        secrets.append(settings.cookie_key.get_secret_value())
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if settings.log_format == "json" else TextFormatter(redact))
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (job_id, user, duration_ms, ...) as separate JSON keys; never pass text."""
    extra = {(f"{k}_" if k in _RECORD_FIELDS else k): v for k, v in fields.items()}
    logger.log(level, event, extra=extra)
