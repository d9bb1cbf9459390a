"""Text helpers every domain shares: clocks for people and subtitle files, one scrubber, one secret redactor."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable

REDACTED = "[redacted]"
# Characters user text may never carry into a row, a name, an export or a log line: controls (Cc), format
# characters (Cf: bidi overrides and isolates, zero-width marks), lone surrogates (Cs), line/paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# ZWNJ and ZWJ are format characters, but Persian, Indic scripts and emoji sequences are spelled with them.
_JOINERS = frozenset("\u200c\u200d")
# Controls and separators split words, so they become spaces; invisible format marks and surrogates just go.
_SPACED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# OpenAI-style keys (sk-..., sk-proj-..., masked sk-abc***xyz) and bearer tokens, wherever they appear.
# The token class stops at quotes and commas so a JSON log line stays valid JSON after redaction.
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")
_BEARER_PATTERN = re.compile(r"(?i)\b(bearer\s+)[^\s\"'<>,;]+")
MIN_SECRET_CHARS = 6  # shorter configured values would redact ordinary words


def format_clock(seconds: float) -> str:
    """Whole seconds for people: "2:03" under an hour, "1:02:03" from an hour on."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_timecode(seconds: float, sep: str) -> str:
    """A subtitle timestamp, "00:02:03,000" (SRT, sep ",") or "00:02:03.000" (VTT, sep "."), as the formats require."""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_mb(size: int) -> str:
    """Bytes as megabytes with one decimal, rounded up so a file just over a limit never reads as equal."""
    return f"{math.ceil(size * 10 / (1024 * 1024)) / 10:g} MB"


def is_unsafe(ch: str) -> bool:
    """Whether the scrubber removes or replaces this character."""
    return unicodedata.category(ch) in UNSAFE_CATEGORIES and ch not in _JOINERS


def scrub(text: str, keep: str = "") -> str:
    """User text without unsafe characters: controls become spaces, format marks vanish; `keep` survives as is."""
    out = []
    for ch in text:
        if ch in keep or not is_unsafe(ch):
            out.append(ch)
        elif unicodedata.category(ch) in _SPACED_CATEGORIES:
            out.append(" ")
    return "".join(out)


def one_line(text: str) -> str:
    """Scrubbed user text on one line, runs of whitespace collapsed to one space."""
    return " ".join(scrub(text).split())


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Text with the given secrets, and anything shaped like an API key or bearer token, replaced by [redacted]."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)  # longest first, so a secret containing another goes whole
    text = _KEY_PATTERN.sub(REDACTED, text)
    return _BEARER_PATTERN.sub(lambda m: m.group(1) + REDACTED, text)
