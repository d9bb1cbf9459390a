"""Plain transcript records: segments, one content lineage, and what storage hands out (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    confidence: float | None = None
    speaker: str | None = None  # per word: speaker turns fall inside segments, not only between them


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    confidence: float | None = None
    words: tuple[Word, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "speaker": self.speaker,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "words": [
                {
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "text": w.text,
                    "confidence": None if w.confidence is None else round(w.confidence, 4),
                    "speaker": w.speaker,
                }
                for w in self.words
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data["text"]),
            speaker=data.get("speaker"),
            confidence=data.get("confidence"),
            words=tuple(
                Word(float(w["start"]), float(w["end"]), str(w["text"]), w.get("confidence"), w.get("speaker"))
                for w in data.get("words") or ()
            ),
        )


@dataclass(frozen=True)
class TranscriptContent:
    """What a transcription produced; every other transcript shape extends this, so a field is written once."""

    text: str
    segments: list[Segment]
    language: str | None
    model: str
    duration_s: float


# kw_only: a subclass's fields follow the base's in __init__, and keywords keep that order from mattering.
@dataclass(frozen=True, kw_only=True)
class ProviderTranscript(TranscriptContent):
    """Content together with the provider that made it: the common part of everything stored."""

    provider: str


@dataclass(frozen=True, kw_only=True)
class CachedTranscript(ProviderTranscript):
    """A cache entry: content any user's identical request may reuse without paying again."""

    key: str
    cost_usd: float
    list_cost_usd: float


@dataclass(frozen=True, kw_only=True)
class NewTranscript(ProviderTranscript):
    """A transcript about to be stored for its owner."""

    owner_id: int
    display_name: str
    audio_id: int | None = None
    cache_key: str | None = None
    prompt: str | None = None
    is_demo: bool = False


@dataclass(frozen=True, kw_only=True)
class TranscriptRecord(ProviderTranscript):
    """A stored transcript as a user who may see it gets it."""

    id: int
    owner: str
    owner_id: int
    display_name: str
    summary: str | None
    summary_model: str | None
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
    """Segments from their stored JSON form."""
    return [Segment.from_dict(s) for s in raw or []]
