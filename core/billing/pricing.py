"""Model facts and prices from models.toml: cost of a call, estimates, shutdown dates."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import InputError

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
    formats: tuple[str, ...] = ()  # allowed response formats; the first is the one we ask for
    features: tuple[str, ...] = ()  # prompt, languages, keywords, stream, logprobs, diarize, ...
    max_upload_mb: float | None = None
    max_duration_s: float | None = None
    shutdown: date | None = None
    replacement: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def is_shut_down(self, today: date) -> bool:
        return self.shutdown is not None and today >= self.shutdown

    def supports(self, feature: str) -> bool:
        return feature in self.features


_KNOWN = set(ModelInfo.__dataclass_fields__) - {"name", "extra"}


@lru_cache(maxsize=4)
def load_models(path: Path = MODELS_FILE) -> dict[str, ModelInfo]:
    """Parse the price table once per path."""
    raw = tomllib.loads(path.read_text(encoding="utf-8")).get("models", {})
    models: dict[str, ModelInfo] = {}
    for name, spec in raw.items():
        known = {k: v for k, v in spec.items() if k in _KNOWN}
        for listed in ("formats", "features"):
            if listed in known:
                known[listed] = tuple(known[listed])
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


# A generous bound for token-billed transcription: speech runs ~150 words a minute, ~1.3 tokens a word; the
# prompt goes with every request (one per chunk of up to CHUNK_S), at ~3 characters a token.
OUT_TOKENS_PER_MINUTE = 250
CHARS_PER_TOKEN = 3
CHUNK_S = 600


def estimate_cost(model: str, duration_s: float, *, prompt: str | None = None) -> float:
    """What transcribing `duration_s` of audio with `model` is expected to charge, before sending.

    Token-billed models count the audio in, the text out and the prompt sent with each request: an estimate
    that left out the last two let a 997-character prompt bill twice what the budget was checked against.
    """
    info = model_info(model)
    if info is None or not info.charged:
        return 0.0
    cost = estimate_list_cost(info, duration_s)
    if info.unit == "token":
        minutes = duration_s / 60.0
        requests = max(1, math.ceil(duration_s / CHUNK_S))
        prompt_tokens = math.ceil(len(prompt or "") / CHARS_PER_TOKEN) * requests
        out_tokens = OUT_TOKENS_PER_MINUTE * minutes
        cost += (prompt_tokens * info.usd_per_m_text_in + out_tokens * info.usd_per_m_out) / 1_000_000
    return cost


def price_from_duration(model: str, audio_seconds: float) -> Price:
    """Price a call whose response carried no usage, from the measured audio duration."""
    info = model_info(model)
    if info is None:
        return Price(0.0, 0.0, unpriced=True)
    listed = estimate_list_cost(info, audio_seconds)
    return Price(listed if info.charged else 0.0, listed, unpriced=False)


def estimate_list_cost(info: ModelInfo, duration_s: float) -> float:
    per_minute = info.usd_per_minute if info.unit == "minute" else info.est_usd_per_minute
    return duration_s / 60.0 * per_minute


def check_model_allowed(model: str, today: date | None = None, *, allow_unknown: bool = True) -> ModelInfo | None:
    """The model's facts, or InputError if it is shut down (naming the replacement) or unknown where not allowed."""
    info = model_info(model)
    if info is None:
        if allow_unknown:
            return None
        raise InputError(
            f"The model {model!r} is not in the price table (core/models.toml); an administrator can add it there."
        )
    if info.shutdown is not None and info.is_shut_down(today or date.today()):
        instead = f"; use {info.replacement} instead" if info.replacement else ""
        raise InputError(f"The model {model!r} was shut down on {info.shutdown.isoformat()}{instead}.")
    return info


@dataclass(frozen=True)
class CostEstimate:
    model: str
    duration_s: float
    cost_usd: float
    unpriced: bool  # not in the price table: shown as $0, flagged


def estimate_file_cost(path: Path, model: str) -> CostEstimate:
    """The expected charge for transcribing the file at `path` with `model`, before anything is sent."""
    from core.audio.chunks import probe_duration  # lazy: keeps this module free of the audio stack

    duration = probe_duration(path)
    info = model_info(model)
    return CostEstimate(model, duration, estimate_cost(model, duration), unpriced=info is None)
