"""Logging: one JSON line per event (job id, user, duration as fields), secrets scrubbed from every line.

By rule no call site logs audio or transcript text; the formatter adds a second line of defence for keys.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from core.config import Settings

REDACTED = "[redacted]"
# OpenAI-style keys (sk-..., sk-proj-...), and bearer tokens, wherever they appear in a line.
_KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-]{8,}"),
)
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_OURS = "_workbench_handler"


class Redactor:
    """Replaces configured secrets and anything shaped like an API key with [redacted]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _KEY_PATTERNS[0].sub(REDACTED, text)
        return _KEY_PATTERNS[1].sub(lambda m: m.group(1) + REDACTED, text)


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
        return self._redact(json.dumps(line, ensure_ascii=False))


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
        return self._redact(f"{text} {extra}" if extra else text)


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
