"""Model facts and prices from models.toml: cost of a call, estimates, shutdown dates."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

MODELS_FILE = Path(__file__).with_name("models.toml")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str
    kind: str  # "transcribe" | "chat"
    unit: str  # "minute" | "token" | "free"
    charged: bool = True
    usd_per_minute: float = 0.0
    usd_per_m_audio_in: float = 0.0
    usd_per_m_text_in: float = 0.0
    usd_per_m_out: float = 0.0
    est_usd_per_minute: float = 0.0
    formats: tuple[str, ...] = ()
    max_upload_mb: float | None = None
    max_duration_s: float | None = None
    shutdown: date | None = None
    replacement: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def is_shut_down(self, today: date) -> bool:
        return self.shutdown is not None and today >= self.shutdown


_KNOWN = set(ModelInfo.__dataclass_fields__) - {"name", "extra"}


@lru_cache(maxsize=4)
def load_models(path: Path = MODELS_FILE) -> dict[str, ModelInfo]:
    """Parse the price table once per path."""
    raw = tomllib.loads(path.read_text(encoding="utf-8")).get("models", {})
    models: dict[str, ModelInfo] = {}
    for name, spec in raw.items():
        known = {k: v for k, v in spec.items() if k in _KNOWN}
        if "formats" in known:
            known["formats"] = tuple(known["formats"])
        extra = {k: v for k, v in spec.items() if k not in _KNOWN}
        models[name] = ModelInfo(name=name, extra=extra, **known)
    return models


def model_info(name: str) -> ModelInfo | None:
    return load_models().get(name)


@dataclass(frozen=True)
class Price:
    cost_usd: float  # charged
    list_cost_usd: float  # at list rates
    unpriced: bool


def price_call(
    model: str,
    *,
    audio_seconds: float = 0.0,
    audio_tokens_in: int = 0,
    text_tokens_in: int = 0,
    tokens_out: int = 0,
) -> Price:
    """Price one call from the usage the provider reported."""
    info = model_info(model)
    if info is None:
        return Price(0.0, 0.0, unpriced=True)
    if info.unit == "minute":
        listed = audio_seconds / 60.0 * info.usd_per_minute
    elif info.unit == "token":
        listed = (
            audio_tokens_in * info.usd_per_m_audio_in
            + text_tokens_in * info.usd_per_m_text_in
            + tokens_out * info.usd_per_m_out
        ) / 1_000_000
    else:
        listed = 0.0
    return Price(listed if info.charged else 0.0, listed, unpriced=False)


def estimate_cost(model: str, duration_s: float) -> float:
    """What transcribing `duration_s` of audio with `model` is expected to charge, before sending."""
    info = model_info(model)
    if info is None or not info.charged:
        return 0.0
    per_minute = info.usd_per_minute if info.unit == "minute" else info.est_usd_per_minute
    return duration_s / 60.0 * per_minute
