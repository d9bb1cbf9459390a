"""A deterministic, free provider for demos and tests: same file → same transcript."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.billing.pricing import price_call
from core.errors import Cancelled
from core.providers.base import CallRecord, ChunkProgress, SummaryResult, TranscriptionRequest, TranscriptionResult
from core.transcripts.types import Segment, Word

MODEL = "mock-1"
_SUBJECTS = [
    "The team",
    "Our customer",
    "The budget",
    "The new release",
    "Marketing",
    "The pilot",
    "Support",
    "The vendor",
    "Finance",
    "The roadmap",
]
_VERBS = [
    "needs",
    "reviewed",
    "will ship",
    "should include",
    "depends on",
    "moved",
    "approved",
    "flagged",
    "questioned",
    "delivered",
]
_OBJECTS = [
    "the quarterly report",
    "a faster onboarding flow",
    "two more interviews",
    "the pricing page",
    "next week's demo",
    "a clearer summary",
    "the migration plan",
    "the open invoices",
    "the hiring plan",
    "three follow-up actions",
]
_TAILS = [
    "before Friday.",
    "as agreed.",
    "with the design team.",
    "after the review.",
    "for the board meeting.",
    "if the numbers hold.",
    "this sprint.",
    "by the end of the month.",
]


def _sentence(rng: random.Random) -> str:
    return " ".join([rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)])


@dataclass
class MockProvider:
    """Fake text that spans the real duration; `enqueue` scripts results and `history` records requests."""

    name: str = "mock"
    history: list[TranscriptionRequest] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    _queue: list[str | Exception] = field(default_factory=list)

    def default_model(self) -> str:
        return MODEL

    def enqueue(self, text_or_error: str | Exception) -> None:
        """Make the next transcribe() return this text (or raise this error)."""
        self._queue.append(text_or_error)

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        self.history.append(request)
        started = time.perf_counter()
        model = request.model or MODEL
        scripted = self._queue.pop(0) if self._queue else None
        if isinstance(scripted, Exception):
            request.on_call(CallRecord("transcribe", model, status="error", error=str(scripted)))
            raise scripted
        if request.should_cancel():
            raise Cancelled("Cancelled before the mock provider started.")
        segments = self._segments(request, scripted)
        request.on_progress(ChunkProgress(1, 1))
        price = price_call(model, audio_seconds=request.duration_s)
        request.on_call(
            CallRecord(
                "transcribe",
                model,
                audio_seconds=request.duration_s,
                cost_usd=price.cost_usd,
                list_cost_usd=price.list_cost_usd,
                unpriced=price.unpriced,
                latency_ms=int((time.perf_counter() - started) * 1000),
            )
        )
        return TranscriptionResult(
            text=" ".join(s.text for s in segments),
            segments=segments,
            language=request.language or "en",
            model=model,
            duration_s=request.duration_s,
        )

    def _segments(self, request: TranscriptionRequest, scripted: str | None) -> list[Segment]:
        rng = random.Random(int(request.sha256[:16] or "0", 16))
        duration = max(request.duration_s, 0.5)
        if scripted is not None:
            sentences = [scripted]
        else:
            count = max(1, int(duration // 6))
            sentences = [_sentence(rng) for _ in range(min(count, 2000))]
        step = duration / len(sentences)
        segments = []
        for i, sentence in enumerate(sentences):
            start, end = i * step, min(duration, (i + 1) * step)
            words = sentence.split()
            wstep = (end - start) / len(words)
            segments.append(
                Segment(
                    start=start,
                    end=end,
                    text=sentence,
                    speaker=f"SPEAKER_{i % 2 + 1}",
                    confidence=round(rng.uniform(0.72, 0.99), 3),
                    words=tuple(
                        Word(start + j * wstep, start + (j + 1) * wstep, w, round(rng.uniform(0.6, 1.0), 3))
                        for j, w in enumerate(words)
                    ),
                )
            )
        return segments

    def summarize(
        self, text: str, *, model: str | None = None, on_call: Callable[[CallRecord], None] = lambda _c: None
    ) -> SummaryResult:
        from core.transcripts.summarize import summarize_extractive

        summary = summarize_extractive(text, max_sentences=3)
        self.summaries.append(text)
        on_call(
            CallRecord(
                "summarize",
                model or MODEL,
                input_tokens=len(text.split()),
                output_tokens=len(summary.split()),
            )
        )
        return SummaryResult(summary, model or MODEL)
