"""A transcript on screen: the audio player synced to a segments table, the summary, the cost line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.text import format_clock
from core.transcripts.types import TranscriptRecord
from ui.text import md

AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mpeg": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "mov": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "webm": "audio/webm",
    "flac": "audio/flac",
}


def has_confidence(record: TranscriptRecord) -> bool:
    return any(s.confidence is not None for s in record.segments)


def segments_frame(record: TranscriptRecord) -> pd.DataFrame:
    """One row per segment: start, end, speaker (after renames), text, confidence."""
    rows = [
        {
            "Start": format_clock(s.start),
            "End": format_clock(s.end),
            "Speaker": record.speaker_label(s.speaker) or "",
            "Text": s.text.strip(),
            "Confidence": s.confidence,
        }
        for s in record.segments
    ]
    frame = pd.DataFrame(rows, columns=["Start", "End", "Speaker", "Text", "Confidence"])
    if not has_confidence(record):
        frame = frame.drop(columns="Confidence")
    if not any(row["Speaker"] for row in rows):
        frame = frame.drop(columns="Speaker")
    return frame


CONFIDENCE_COLUMN = st.column_config.ProgressColumn(
    "Confidence", help="How sure the model was about this segment", min_value=0.0, max_value=1.0, format="percent"
)
COLUMNS = {
    "Start": st.column_config.TextColumn("Start", width="small"),
    "End": st.column_config.TextColumn("End", width="small"),
    "Speaker": st.column_config.TextColumn("Speaker", width="small"),
    "Text": st.column_config.TextColumn("Text", width="large"),
    "Confidence": CONFIDENCE_COLUMN,
}


def audio_player(record: TranscriptRecord, start_s: float = 0.0, *, autoplay: bool = False) -> None:
    """The stored audio, starting at `start_s` (whole seconds: the player takes no finer start)."""
    path = Path(record.audio_path) if record.audio_path else None
    if path is None or not path.is_file():
        st.caption(":material/volume_off: The audio of this transcript is not stored on this server.")
        return
    mime = AUDIO_MIME.get(path.suffix.lstrip(".").lower(), "audio/wav")
    st.audio(str(path), format=mime, start_time=int(start_s), autoplay=autoplay)


def player_with_segments(record: TranscriptRecord, key: str) -> None:
    """Audio above a segments table; choosing a row plays the audio from that segment."""
    table_key = f"{key}_segments"
    picked = st.session_state.get(table_key)
    rows = list(getattr(getattr(picked, "selection", None), "rows", []) or []) if picked else []
    if not rows and isinstance(picked, dict):
        rows = list(picked.get("selection", {}).get("rows", []))
    start = record.segments[rows[0]].start if rows and rows[0] < len(record.segments) else 0.0
    audio_player(record, start, autoplay=bool(rows))
    if not record.segments:
        st.info("No speech was found in this recording.", icon=":material/hearing_disabled:")
        return
    st.caption("Choose a row to play the audio from that point.")
    st.dataframe(
        segments_frame(record),
        key=table_key,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config=COLUMNS,
        height=min(420, 38 + 35 * len(record.segments)),
    )


def reading_view(record: TranscriptRecord, *, height: int = 260) -> None:
    """The transcript as text to read: one paragraph per segment with its time and speaker."""
    if not record.segments:
        return
    paragraphs = []
    for seg in record.segments:
        label = record.speaker_label(seg.speaker)
        who = f" **{md(label)}**" if label else ""
        paragraphs.append(f":gray[{format_clock(seg.start)}]{who} {md(seg.text.strip())}")
    st.markdown("**Full text**")
    with st.container(border=True, height=height if len(paragraphs) > 5 else "content"):
        st.markdown("\n\n".join(paragraphs))


def summary_block(record: TranscriptRecord) -> None:
    if record.summary:
        with st.container(border=True):
            st.markdown("**Summary**")
            for para in record.summary.splitlines():
                if para.strip():
                    st.markdown(md(para))
            if record.summary_model:
                st.caption(f"Written by {md(record.summary_model)}")
