"""Content-hash cache keys: the same audio with the same output-changing options is never paid twice."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Options that do not change the transcript text and so must not split the cache.
_IGNORED_OPTIONS = frozenset({"stream", "concurrency"})


def cache_key(
    *,
    audio_sha256: str,
    provider: str,
    model: str,
    language: str | None,
    prompt: str | None,
    options: dict[str, Any] | None = None,
) -> str:
    """sha256 over the audio hash and every setting that changes the provider's output."""
    material = {
        "audio": audio_sha256,
        "provider": provider,
        "model": model,
        "language": (language or "").lower() or None,
        "prompt": (prompt or "").strip() or None,
        "options": {k: v for k, v in sorted((options or {}).items()) if k not in _IGNORED_OPTIONS},
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
