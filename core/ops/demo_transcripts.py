"""The demo's transcripts: a few short scripted conversations, written as is_demo transcripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, insert, select

from core.billing.pricing import ModelInfo
from core.db.models import Transcript

_SCRIPTS = (
    (
        "Weekly standup",
        [
            ("A", "Morning everyone, let's go round quickly."),
            ("B", "I finished the export to Word and PDF yesterday."),
            ("C", "The upload limit bug is fixed, it was the proxy body size."),
            ("A", "Great. Anything blocking?"),
            ("B", "Only the review on the pricing change."),
        ],
    ),
    (
        "Customer call - onboarding",
        [
            ("A", "Thanks for joining. Did the invite link work?"),
            ("B", "Yes, and the first transcript came back in under a minute."),
            ("A", "Good. You can rename the speakers from the editor."),
            ("B", "Can we export subtitles too?"),
            ("A", "SRT and VTT are both in the export menu."),
        ],
    ),
    (
        "Interview - field researcher",
        [
            ("A", "How long have you been recording interviews in the field?"),
            ("B", "About six years, mostly on a handheld recorder."),
            ("A", "What is the hardest part of transcribing them?"),
            ("B", "Background noise, and people talking over each other."),
        ],
    ),
    (
        "Lecture notes - week 3",
        [
            ("A", "Today we look at sampling rates and why sixteen kilohertz is enough for speech."),
            ("A", "Most of the energy of the voice sits below eight kilohertz."),
            ("A", "By Nyquist, sampling at sixteen captures everything up to eight."),
        ],
    ),
    (
        "Voice memo",
        [("A", "Reminder to send the quarterly report and book the room for Thursday.")],
    ),
    (
        "Podcast episode 12",
        [
            ("A", "Welcome back to the show."),
            ("B", "Glad to be here. Let's talk about remote teams."),
            ("A", "What changed for you in the last year?"),
            ("B", "We write everything down now, meetings included."),
        ],
    ),
)


def _segments(rng: np.random.Generator, lines: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], float]:
    segments: list[dict[str, Any]] = []
    clock = 0.0
    for speaker, text in lines:
        length = round(len(text.split()) * float(rng.uniform(0.3, 0.45)) + 0.4, 3)
        segments.append(
            {
                "start": round(clock, 3),
                "end": round(clock + length, 3),
                "text": text,
                "speaker": speaker,
                "confidence": round(float(rng.uniform(0.82, 0.99)), 4),
                "words": [],
            }
        )
        clock += length + float(rng.uniform(0.2, 0.9))
    return segments, round(clock, 3)


def insert_transcripts(
    engine: Engine,
    rng: np.random.Generator,
    user_ids: Sequence[int],
    anchor: datetime,
    models: dict[str, ModelInfo],
    t_names: Sequence[str],
    days: int,
) -> int:
    """Write the demo transcripts, spread over the last `days` days with the given models; return how many."""
    rows: list[dict[str, Any]] = []
    for i, (title, lines) in enumerate(_SCRIPTS):
        segments, duration = _segments(rng, lines)
        model = t_names[i % len(t_names)]
        info = models.get(model)
        created = anchor - timedelta(days=int(rng.integers(0, days)), minutes=int(rng.integers(0, 600)))
        rows.append(
            {
                "owner_id": user_ids[i % len(user_ids)],
                "audio_id": None,
                "display_name": title,
                "provider": info.provider if info else "mock",
                "model": model,
                "language": "en",
                "text": " ".join(s["text"] for s in segments),
                "segments": segments,
                "speaker_names": {},
                "tags": ["demo"],
                "duration_s": duration,
                "revision": 1,
                "is_demo": True,
                "created_at": created,
                "updated_at": created,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Transcript), rows)
        count = conn.execute(select(func.count()).where(Transcript.is_demo.is_(True))).scalar_one()
    return int(count)
