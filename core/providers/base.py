"""The provider contract: one Protocol, plain result types, and the per-call record the ledger stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from core.transcripts.types import TranscriptContent

Operation = Literal["transcribe", "summarize"]
CallStatus = Literal["ok", "error"]


@dataclass(frozen=True)
class CallRecord:
    """One billed (or attempted) provider call; the service writes it to the ledger at once."""

    operation: Operation
    model: str
    status: CallStatus = "ok"
    audio_seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # what was actually charged
    list_cost_usd: float = 0.0  # the list price of the same work (mock: what it would have cost)
    estimated: bool = False  # priced from measured duration because the response had no usage
    unpriced: bool = False  # model not in the price table (e.g. a self-hosted server)
    latency_ms: int = 0
    error: str | None = None
    request_id: str | None = None
    chunk_index: int | None = None


@dataclass(frozen=True)
class ChunkProgress:
    done: int
    total: int
    stage: str = "transcribe"
    # Progress within a chunk as well as across chunks: seconds of the file's audio recognised so far.
    audio_done_s: float | None = None
    audio_total_s: float | None = None
    partial_text: str = ""  # text recognised since the previous report (one segment), for the live preview


class ChunkStore(Protocol):
    """Persists per-chunk results so a retry or restart re-sends only the missing chunks."""

    def get(self, job_key: str, index: int) -> dict[str, Any] | None: ...

    def put(self, job_key: str, index: int, result: dict[str, Any]) -> None: ...


@dataclass
class TranscriptionRequest:
    audio_path: Path
    sha256: str
    duration_s: float
    model: str | None = None
    language: str | None = None  # ISO 639-1, None = detect
    prompt: str | None = None  # vocabulary / context
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"diarize": True}
    on_call: Callable[[CallRecord], None] = lambda _call: None
    on_progress: Callable[[ChunkProgress], None] = lambda _p: None
    should_cancel: Callable[[], bool] = lambda: False
    chunk_store: ChunkStore | None = None
    cache_key: str = ""  # stable key for chunk_store


@dataclass(frozen=True)
class TranscriptionResult(TranscriptContent):
    """What a provider returns: the transcript content and nothing the storage layer adds."""


@dataclass(frozen=True)
class SummaryResult:
    text: str
    model: str


class Provider(Protocol):
    """What every provider implements; adding one touches one file and the registry."""

    name: str

    def default_model(self) -> str: ...

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult: ...

    def summarize(
        self, text: str, *, model: str | None = None, on_call: Callable[[CallRecord], None] = ...
    ) -> SummaryResult: ...


class StreamingProvider(Provider, Protocol):
    """Providers whose model streams text deltas for a live preview."""

    def stream_text(self, request: TranscriptionRequest) -> Iterator[str]: ...
