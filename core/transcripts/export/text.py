"""Text exports of a transcript (TXT, SRT, VTT, JSON), with speaker renames applied."""

from __future__ import annotations

import json
from typing import Any

from core.text import format_clock, format_timecode, is_unsafe, one_line, scrub
from core.transcripts.types import TranscriptRecord

TEXT_FORMATS = ("txt", "json", "srt", "vtt")


def _inert_cue(text: str) -> str:
    # Subtitle players interpret <b>, <font>, <c.x>...; user text must never become markup there.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _srt_inert(text: str) -> str:
    # SRT has no escape syntax; a zero-width space after "<" keeps the text readable and never a tag.
    return text.replace("<", "<\u200b").replace("{", "{\u200b").replace("-->", "--\u200b>")


def _inert_json(raw: str) -> str:
    # JSON output keeps the exact text (the CLI's contract) but writes unsafe characters as \u escapes,
    # so no bidi override or raw surrogate reaches the file while json.loads still returns the original.
    return "".join(json.dumps(ch)[1:-1] if is_unsafe(ch) else ch for ch in raw)


def _line(record: TranscriptRecord, speaker: str | None, text: str) -> str:
    label = record.speaker_label(speaker)
    return f"{label}: {text}" if label else text


def to_txt(record: TranscriptRecord, *, timestamps: bool = False) -> str:
    """One line per segment ("Speaker: text"); line breaks and tabs inside user text are plain text here."""
    lines = []
    for seg in record.segments:
        body = scrub(_line(record, seg.speaker, seg.text.strip()), keep="\n\t")
        lines.append(f"[{format_clock(seg.start)}] {body}" if timestamps else body)
    return "\n".join(lines) + ("\n" if lines else "")


def to_srt(record: TranscriptRecord) -> str:
    """SubRip cues; user text on one line (a line break could end the cue and start a forged one)."""
    blocks = []
    for i, seg in enumerate(record.segments, start=1):
        text = _srt_inert(one_line(_line(record, seg.speaker, seg.text.strip())))
        blocks.append(f"{i}\n{format_timecode(seg.start, ',')} --> {format_timecode(seg.end, ',')}\n{text}\n")
    return "\n".join(blocks)


def to_vtt(record: TranscriptRecord) -> str:
    """WebVTT cues with <v Speaker> voice tags; user text on one line and escaped."""
    blocks = ["WEBVTT\n"]
    for seg in record.segments:
        label = record.speaker_label(seg.speaker)
        body = _inert_cue(one_line(seg.text))
        if label:
            body = f"<v {_inert_cue(one_line(label))}>{body}"
        blocks.append(f"{format_timecode(seg.start, '.')} --> {format_timecode(seg.end, '.')}\n{body}\n")
    return "\n".join(blocks)


def to_dict(record: TranscriptRecord, *, cost_usd: float = 0.0, cached: bool = False) -> dict[str, Any]:
    """The CLI's JSON contract for one transcript."""
    return {
        "id": record.id,
        "sha256": record.sha256,
        "filename": record.display_name,
        "duration_s": round(record.duration_s, 3),
        "language": record.language,
        "provider": record.provider,
        "model": record.model,
        "text": record.text,
        "segments": [
            {
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "speaker": record.speaker_label(s.speaker),
                "confidence": s.confidence,
            }
            for s in record.segments
        ],
        "summary": record.summary,
        "cost_usd": round(cost_usd, 6),
        "cached": cached,
    }


def to_json(record: TranscriptRecord, **kwargs: Any) -> str:
    """to_dict as one line of JSON, readable UTF-8 except for escaped unsafe characters."""
    return _inert_json(json.dumps(to_dict(record, **kwargs), ensure_ascii=False))


def render(record: TranscriptRecord, fmt: str, **kwargs: Any) -> str:
    """One transcript in one of TEXT_FORMATS."""
    if fmt == "txt":
        return to_txt(record)
    if fmt == "srt":
        return to_srt(record)
    if fmt == "vtt":
        return to_vtt(record)
    if fmt == "json":
        return to_json(record, **kwargs)
    raise ValueError(f"unknown export format {fmt!r}")
