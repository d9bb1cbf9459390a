"""Plain records that leave the storage layer; pages and the CLI see only these, never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.providers.base import Segment


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    role: str
    active: bool = True
    monthly_usd_budget: float | None = None
    monthly_minutes_budget: float | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class TranscriptRecord:
    id: int
    owner: str
    owner_id: int
    display_name: str
    provider: str
    model: str
    language: str | None
    text: str
    segments: list[Segment]
    summary: str | None
    summary_model: str | None
    duration_s: float
    revision: int
    created_at: datetime
    updated_at: datetime
    sha256: str | None = None
    audio_path: str | None = None
    prompt: str | None = None
    tags: list[str] = field(default_factory=list)
    speaker_names: dict[str, str] = field(default_factory=dict)
    is_demo: bool = False

    def speaker_label(self, speaker: str | None) -> str | None:
        """The display name for a raw speaker id, after any renames."""
        if speaker is None:
            return None
        return self.speaker_names.get(speaker, speaker)


@dataclass(frozen=True)
class RevisionRecord:
    number: int
    author: str | None
    text: str
    segments: list[Segment]
    speaker_names: dict[str, str]
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class SearchHit:
    transcript_id: int
    display_name: str
    owner: str
    snippet: str  # plain text; matches wrapped in the markers below, never HTML
    created_at: datetime


SNIPPET_OPEN = "\u27e6"  # ⟦ — chosen because user text almost never contains it
SNIPPET_CLOSE = "\u27e7"  # ⟧


def segments_from_json(raw: list[Any] | None) -> list[Segment]:
    return [Segment.from_dict(s) for s in raw or []]
