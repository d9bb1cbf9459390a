"""Choices for the Transcribe options (providers, models, languages), worded for people; no Streamlit here."""

from __future__ import annotations

from datetime import date

from core.billing.pricing import ModelInfo, load_models, model_info
from core.config import Settings
from core.errors import WorkbenchError
from core.providers.registry import capabilities, get_provider

PROVIDER_LABELS = {
    "local": "Local Whisper · free, runs on this server",
    "openai": "OpenAI · paid, most accurate",
    "mock": "Mock · demo text, not a real transcription",
}
SUMMARY_LABELS = {
    "local": "key sentences picked from the transcript",
    "mock": "key sentences picked from the transcript",
}
LANGUAGES = {
    "auto": "Detect automatically",
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "fi": "Finnish",
    "cs": "Czech",
    "el": "Greek",
    "ru": "Russian",
    "uk": "Ukrainian",
    "tr": "Turkish",
    "ar": "Arabic",
    "he": "Hebrew",
    "hi": "Hindi",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
}


def real_providers(settings: Settings) -> list[str]:
    """The real providers a user can pick: local always, OpenAI once a key is configured."""
    return ["local", "openai"] if settings.openai_api_key else ["local"]


def _usable(info: ModelInfo, provider: str, today: date) -> bool:
    return info.provider == provider and info.kind == "transcribe" and not info.is_shut_down(today)


def transcribe_models(provider: str, settings: Settings) -> list[str]:
    """Models for `provider`, its default first; [] when the provider cannot be built."""
    try:
        default = get_provider(provider, settings).default_model()
    except WorkbenchError:
        return []
    if not capabilities(provider).model_catalog:
        return [default]
    today = date.today()
    names = [name for name, info in load_models().items() if _usable(info, provider, today)]
    return [default, *[n for n in names if n != default]]


def model_label(name: str) -> str:
    """A model with its price and what it adds: "whisper-1 · $0.0060/min", "… · tells speakers apart"."""
    info = model_info(name)
    if info is None:
        return name
    if not info.charged:
        price = "free"
    elif info.unit == "minute":
        price = f"${info.usd_per_minute:.4f}/min"
    else:
        price = f"≈ ${info.est_usd_per_minute:.4f}/min"
    extras = []
    if info.supports("diarize"):
        extras.append("tells speakers apart")
    if info.shutdown is not None:
        extras.append(f"retires {info.shutdown:%Y-%m-%d}")
    return " · ".join([name, price, *extras])


def takes_prompt(model: str | None) -> bool:
    """Whether a model uses a vocabulary/prompt (local Whisper does; OpenAI models per the price table)."""
    info = model_info(model) if model else None
    return info is None or not capabilities(info.provider).model_catalog or info.supports("prompt")


def diarizes(model: str | None) -> bool:
    info = model_info(model) if model else None
    return info is not None and info.supports("diarize")


def english_only(model: str | None) -> bool:
    return bool(model and model.endswith(".en"))
