"""The budget alert webhook: one JSON POST per alert, its outcome in a word."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from core.log import log_event

WEBHOOK_TIMEOUT_S = 5.0
log = logging.getLogger("core.billing.quotas")  # one logger for the package, as before the split


def post_webhook(url: str | None, payload: dict[str, Any]) -> str | None:
    """POST the alert as JSON; a one-word outcome to store, None when no URL is configured. Never raises."""
    if not url:
        return None
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "transcription-workbench"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310 - http(s) only
            return f"sent {response.status}"
    except urllib.error.HTTPError as exc:
        outcome = f"failed: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        outcome = f"failed: {type(exc).__name__}"
    # The URL itself is not logged: chat webhooks carry their secret in the path.
    log_event(log, "budget alert webhook failed", level=logging.WARNING, outcome=outcome)
    return outcome
