"""The Library's plain logic (no Streamlit): filters, tables, edits as new segments, the low-confidence review."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from core.text import format_clock
from core.transcripts.types import SearchHit, Segment, TranscriptRecord


@dataclass(frozen=True)
class LibraryFilter:
    owner: str | None = None
    start: date | None = None
    end: date | None = None
    languages: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


NO_LANGUAGE = "unknown"


def _language(record: TranscriptRecord) -> str:
    return record.language or NO_LANGUAGE


def matches(record: TranscriptRecord, f: LibraryFilter) -> bool:
    """Whether a transcript passes every filter that is set (tags: any of the chosen ones)."""
    day = record.created_at.date()
    return (
        (f.owner is None or record.owner == f.owner)
        and (f.start is None or day >= f.start)
        and (f.end is None or day <= f.end)
        and (not f.languages or _language(record) in f.languages)
        and (not f.providers or record.provider in f.providers)
        and (not f.tags or bool(set(record.tags) & set(f.tags)))
    )


def apply_filter(records: Iterable[TranscriptRecord], f: LibraryFilter) -> list[TranscriptRecord]:
    return [r for r in records if matches(r, f)]


def filter_hits(hits: Iterable[SearchHit], allowed: Iterable[TranscriptRecord]) -> list[SearchHit]:
    """Search hits limited to the transcripts that pass the filters."""
    ids = {r.id for r in allowed}
    return [h for h in hits if h.transcript_id in ids]


@dataclass(frozen=True)
class Facets:
    owners: list[str]
    languages: list[str]
    providers: list[str]
    tags: list[str]


def facets(records: Sequence[TranscriptRecord]) -> Facets:
    """The values present, for the filter widgets."""
    return Facets(
        owners=sorted({r.owner for r in records}),
        languages=sorted({_language(r) for r in records}),
        providers=sorted({r.provider for r in records}),
        tags=sorted({t for r in records for t in r.tags}),
    )


def library_frame(records: Sequence[TranscriptRecord], *, with_owner: bool) -> pd.DataFrame:
    """The list view: one row per transcript, newest first (as given)."""
    rows = [
        {
            "Name": r.display_name,
            "Owner": r.owner,
            "Created": r.created_at,
            "Length": format_clock(r.duration_s),
            "Language": _language(r),
            "Provider": r.provider,
            "Revision": r.revision,
            "Tags": ", ".join(r.tags),
        }
        for r in records
    ]
    columns = ["Name", "Owner", "Created", "Length", "Language", "Provider", "Revision", "Tags"]
    frame = pd.DataFrame(rows, columns=columns)
    if not with_owner:
        frame = frame.drop(columns="Owner")
    return frame if any(r.tags for r in records) else frame.drop(columns="Tags")


def speaker_ids(record: TranscriptRecord) -> list[str]:
    """The raw speaker ids in order of first appearance."""
    seen: dict[str, None] = {}
    for seg in record.segments:
        if seg.speaker:
            seen.setdefault(seg.speaker, None)
    return list(seen)


def edited_segments(record: TranscriptRecord, texts: Sequence[str]) -> list[Segment]:
    """The segments with new texts; an edited segment loses its word timings and confidence (a person checked it)."""
    if len(texts) != len(record.segments):
        raise ValueError("one text per segment is needed")
    out = []
    for seg, text in zip(record.segments, texts, strict=True):
        text = " ".join(str(text or "").split())
        out.append(seg if text == seg.text.strip() else replace(seg, text=text, words=(), confidence=None))
    return out


def renamed_speakers(record: TranscriptRecord, names: dict[str, str]) -> dict[str, str]:
    """Speaker renames to store: blank or unchanged names mean "keep the raw id"."""
    out = {}
    for raw, name in names.items():
        name = " ".join(name.split())[:60]
        if name and name != raw:
            out[raw] = name
    return out


def has_changes(record: TranscriptRecord, segments: Sequence[Segment], names: dict[str, str]) -> bool:
    texts_changed = any(a.text != b.text for a, b in zip(record.segments, segments, strict=True))
    return texts_changed or names != dict(record.speaker_names)


def low_confidence(record: TranscriptRecord, threshold: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segments and words the model was less sure of than `threshold` (0–1), for a person to check."""
    segs, words = [], []
    for i, seg in enumerate(record.segments):
        if seg.confidence is not None and seg.confidence < threshold:
            segs.append(
                {"#": i + 1, "At": format_clock(seg.start), "Confidence": seg.confidence, "Text": seg.text.strip()}
            )
        for w in seg.words:
            if w.confidence is not None and w.confidence < threshold:
                words.append(
                    {
                        "#": i + 1,
                        "At": format_clock(w.start),
                        "Word": w.text.strip(),
                        "Confidence": w.confidence,
                        "In segment": seg.text.strip(),
                    }
                )
    seg_frame = pd.DataFrame(segs, columns=["#", "At", "Confidence", "Text"])
    word_frame = pd.DataFrame(words, columns=["#", "At", "Word", "Confidence", "In segment"])
    return seg_frame, word_frame


def has_confidence(record: TranscriptRecord) -> bool:
    return any(s.confidence is not None or any(w.confidence is not None for w in s.words) for s in record.segments)
