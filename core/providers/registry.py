"""Provider registry: name -> factory + capabilities. Built-ins register like a plugin, importing lazily.

Factories import their module only when called, so listing providers (or using `mock`) never loads a
model or an SDK. Facts about single models (prices, which model diarizes) stay in core/billing/models.toml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    from core.config import Settings
    from core.providers.base import Provider

Factory = Callable[["Settings"], "Provider"]


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; callers ask these instead of comparing provider names."""

    diarize: bool = False  # some model tells speakers apart
    stream: bool = False  # text deltas for a live preview
    word_timestamps: bool = False
    prompt: bool = True  # takes a vocabulary/prompt (a model in the catalogue may still say no)
    charged: bool = False  # calls cost money, summaries included
    model_catalog: bool = False  # many models to choose from, listed with prices in models.toml
    fallback: str | None = None  # the provider used instead, with a notice, when this one cannot be built


@dataclass(frozen=True)
class _Entry:
    factory: Factory
    capabilities: Capabilities


_REGISTRY: dict[str, _Entry] = {}
_UNKNOWN = Capabilities()  # a provider plugged in by settings.provider_factory and never registered


def register(name: str, factory: Factory, capabilities: Capabilities = _UNKNOWN) -> None:
    """Make `name` buildable by `factory(settings)`; registering a name again replaces it."""
    _REGISTRY[name] = _Entry(factory, capabilities)


def provider_names() -> tuple[str, ...]:
    """Every registered provider, in registration order."""
    return tuple(_REGISTRY)


def capabilities(name: str) -> Capabilities:
    """The declared capabilities of `name`; an unregistered name can do only the basics."""
    entry = _REGISTRY.get(name)
    return entry.capabilities if entry else _UNKNOWN


def get_provider(name: str, settings: Settings) -> Provider:
    """Build the provider called `name` from settings."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise InputError(f"unknown provider {name!r}; choose one of {', '.join(provider_names())}")
    return entry.factory(settings)


# ---- built-ins: registered the way a plugin would be ---------------------------------------------------


def _mock(_settings: Settings) -> Provider:
    from core.providers.mock import MockProvider

    return MockProvider()


def _local(settings: Settings) -> Provider:
    from core.providers.local import LocalProvider

    return LocalProvider.shared(settings)


def _openai(settings: Settings) -> Provider:
    from core.providers.openai.provider import OpenAIProvider

    return OpenAIProvider.from_settings(settings)


register("mock", _mock, Capabilities(word_timestamps=True))
register("local", _local, Capabilities(word_timestamps=True))
register(
    "openai",
    _openai,
    Capabilities(diarize=True, stream=True, word_timestamps=True, charged=True, model_catalog=True, fallback="local"),
)

PROVIDERS = provider_names()  # the built-ins, for the CLI's --provider choices
