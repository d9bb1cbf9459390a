"""Is the OpenAI key usable? One cheap call (list models) for `doctor` and the Admin page; never logs the key.

A provider-health use case the Admin page may call, so it sits beside the registry, not inside openai/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import httpx2
import openai

if TYPE_CHECKING:
    from core.config import Settings

KeyStatus = Literal["valid", "invalid", "unconfirmed", "unreachable", "missing"]
OFFICIAL_URL = "https://api.openai.com/v1"

NOTICES: dict[KeyStatus, str] = {
    "valid": "The OpenAI key works.",
    "invalid": "The OpenAI key was refused; transcription uses the local model until it is fixed.",
    "unconfirmed": (
        "The server answered the key check without confirming the key (no success from its model list); "
        "transcription uses the local model until the key is confirmed."
    ),
    "unreachable": "OpenAI could not be reached; transcription uses the local model for now.",
    "missing": "No OpenAI key is set; transcription uses the local model.",
}


def check_key(settings: Settings, *, timeout_s: float = 10.0) -> KeyStatus:
    """valid / invalid / unconfirmed / unreachable / missing, from one models.list call without retries.

    Only a 2xx from the documented model list means the key works: a 404 (no such endpoint), a 400 or a 429
    (quota or rate) answers without confirming it.
    """
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key and not settings.openai_base_url:
        return "missing"
    timeout = min(timeout_s, settings.request_timeout_s)
    client = openai.OpenAI(
        api_key=key or "no-key",
        base_url=settings.openai_base_url or OFFICIAL_URL,
        max_retries=0,
        timeout=httpx2.Timeout(timeout, connect=timeout),
    )
    try:
        client.models.list()
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        return "invalid"
    except (openai.APIConnectionError, openai.InternalServerError):
        return "unreachable"
    except openai.APIStatusError:
        return "unconfirmed"
    except openai.APIError:
        return "unreachable"  # an answer we could not read
    finally:
        client.close()
    return "valid"


def fallback_notice(settings: Settings, status: KeyStatus) -> tuple[str, str | None]:
    """The provider to use and the notice to show: `openai` when the key works, else `local` with a reason."""
    if settings.provider not in (None, "openai"):
        return settings.provider or "local", None
    if status == "valid":
        return "openai", None
    return "local", NOTICES[status]
