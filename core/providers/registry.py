"""Provider registry: name -> factory. Modules import lazily so `mock` never loads a model or an SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    from core.config import Settings
    from core.providers.base import Provider

PROVIDERS = ("mock", "local", "openai")


def get_provider(name: str, settings: Settings) -> Provider:
    """Build the provider called `name` from settings."""
    if name == "mock":
        from core.providers.mock import MockProvider

        return MockProvider()
    if name == "local":
        from core.providers.local import LocalProvider

        return LocalProvider.shared(settings)
    if name == "openai":
        from core.providers.openai.provider import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    raise InputError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")
