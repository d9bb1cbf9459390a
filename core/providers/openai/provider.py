"""OpenAI (or any OpenAI-compatible server): long audio in concurrent chunks, one retry layer, a breaker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx2
import openai

from core.audio import chunks as chunking
from core.audio.chunks import Chunk, ChunkTranscript, PreparedAudio
from core.audio.leftovers import TRANSCODE_PREFIX
from core.billing.pricing import ModelInfo, check_model_allowed
from core.errors import Cancelled, InputError, ProviderError, log_unexpected
from core.providers.base import (
    CallRecord,
    ChunkProgress,
    Operation,
    SummaryResult,
    TranscriptionRequest,
    TranscriptionResult,
)
from core.providers.lanes import run_lanes
from core.providers.openai import io
from core.providers.openai.chat import summarize_text
from core.providers.resilience import CircuitBreaker, RetryPolicy, breaker_for, call_with_retries

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from core.config import Settings

OFFICIAL_URL = "https://api.openai.com/v1"
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
PROMPT_WORDS = 40  # closing words of the previous chunk, passed as the next chunk's prompt
OnCall = Callable[[CallRecord], None]


@dataclass
class _Job:
    request: TranscriptionRequest
    model: str
    info: ModelInfo | None
    fmt: str
    audio: PreparedAudio
    chunks: list[Chunk]
    tmp: Path
    done: dict[int, ChunkTranscript] = field(default_factory=dict)


class OpenAIProvider:
    """Transcribes and summarizes through the OpenAI API or an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        client: openai.OpenAI,
        settings: Settings,
        *,
        label: str = "OpenAI",
        custom_server: bool = False,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        target_chunk_s: float | None = 600.0,
        overlap_s: float = 1.0,
        summary_chunk_chars: int = 40_000,
        sleep: Callable[[float], None] = time.sleep,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._client = client
        self._settings = settings
        self._label = label  # who is not answering, in error sentences
        self._custom = custom_server  # unknown models are allowed (and unpriced) on a compatible server
        self._policy = policy or RetryPolicy(total_s=settings.retry_total_s)
        self._breaker = breaker or CircuitBreaker(
            label, failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        )
        self._target_chunk_s = target_chunk_s  # long files go out as parallel chunks of about this length
        self._overlap_s = overlap_s
        self._summary_chunk_chars = summary_chunk_chars
        self._sleep = sleep
        self._today = today

    @classmethod
    def from_settings(cls, settings: Settings, **tuning: Any) -> OpenAIProvider:
        """Build from settings; a self-hosted base URL may work without a key, api.openai.com does not."""
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        base_url = settings.openai_base_url
        if not key and not base_url:
            raise ProviderError(
                "No OpenAI API key is set; add OPENAI_API_KEY or use the local provider.", code="missing_key"
            )
        timeout = httpx2.Timeout(settings.request_timeout_s, connect=min(10.0, settings.request_timeout_s))
        # max_retries=0: tenacity (core.providers.resilience) is the one retry layer.
        client = openai.OpenAI(
            api_key=key or "no-key", base_url=base_url or OFFICIAL_URL, max_retries=0, timeout=timeout
        )
        label = f"The server at {urlparse(base_url).netloc}" if base_url else "OpenAI"
        if "breaker" not in tuning:
            tuning["breaker"] = breaker_for(
                "openai",
                base_url or OFFICIAL_URL,
                label=label,
                failures=settings.breaker_failures,
                cooldown_s=settings.breaker_cooldown_s,
            )
        return cls(client, settings, label=label, custom_server=bool(base_url), **tuning)

    def default_model(self) -> str:
        return self._settings.openai_model

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    # ---- transcription ------------------------------------------------------------------------------

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        """Transcribe a file of any length: chunks go out concurrently and each is persisted when done.

        With options {"stream": True, "on_delta": fn} the text deltas go to fn as they arrive.
        """
        if request.options.get("stream"):
            on_delta = request.options.get("on_delta")
            stream = self.stream_text(request)
            while True:
                try:
                    delta = next(stream)
                except StopIteration as finished:
                    result: TranscriptionResult = finished.value
                    return result
                if callable(on_delta):
                    on_delta(delta)
        with self._job(request) as job:
            missing = [c for c in job.chunks if c.index not in job.done]
            stopped = run_lanes(
                missing,
                lambda chunk, previous, post: self._send(job, chunk, previous, post),
                lanes=self._settings.openai_concurrency,
                first_previous=lambda chunk: job.done.get(chunk.index - 1),
                on_event=request.on_call,
                on_result=lambda _chunk, part: self._keep(job, part),
                should_stop=request.should_cancel,
            )
            if stopped and len(job.done) < len(job.chunks):
                raise self._cancelled(job)
            return self._result(job)

    def stream_text(self, request: TranscriptionRequest) -> Generator[str, None, TranscriptionResult]:
        """Yield text deltas for a live preview, chunk after chunk; the generator returns the full result."""
        with self._job(request, streaming=True) as job:
            for chunk in job.chunks:
                if chunk.index in job.done:
                    yield job.done[chunk.index].text
                elif request.should_cancel():
                    raise self._cancelled(job)
                else:
                    previous = job.done.get(chunk.index - 1)
                    self._keep(job, (yield from self._send_streaming(job, chunk, previous)))
                if chunk.index < len(job.chunks) - 1:
                    yield " "
            return self._result(job)

    def _model_for(self, request: TranscriptionRequest) -> tuple[str, ModelInfo | None]:
        diarize = bool(request.options.get("diarize"))
        model = request.model or (DIARIZE_MODEL if diarize else self._settings.openai_model)
        info = check_model_allowed(model, self._today(), allow_unknown=self._custom)
        if info is not None and info.kind != "transcribe":
            raise InputError(f"The model {model} does not transcribe audio.")
        if diarize and info is not None and not info.supports("diarize"):
            raise InputError(f"The model {model} does not label speakers; choose {DIARIZE_MODEL}.")
        return model, info

    @contextmanager
    def _job(self, request: TranscriptionRequest, *, streaming: bool = False) -> Iterator[_Job]:
        model, info = self._model_for(request)
        streams = streaming and (info is None or info.supports("stream"))
        fmt = "json" if streams else io.choose_format(model, info, request.options)
        tmp_root = self._settings.tmp_dir if self._settings.tmp_dir.is_dir() else None
        with TemporaryDirectory(prefix=TRANSCODE_PREFIX, dir=tmp_root) as tmp:
            # The measured, validated length bounds the decode, whatever the file's header claims.
            audio = chunking.prepare(
                request.audio_path, Path(tmp) / "audio.wav", max_s=chunking.decode_limit(request.duration_s)
            )
            splits_ok = info is None or not info.supports("diarize")  # speaker labels do not carry across chunks
            limit = chunking.max_chunk_seconds(
                model_limit_s=info.max_duration_s if info else None,
                target_s=self._target_chunk_s if splits_ok else None,
            )
            if splits_ok and not streaming:
                limit = chunking.balanced_chunk_seconds(audio.duration_s, limit, self._settings.openai_concurrency)
            chunks = chunking.plan_chunks(audio.duration_s, audio.silences, limit, self._overlap_s)
            job = _Job(request, model, info, fmt, audio, chunks, Path(tmp))
            if request.chunk_store is not None and request.cache_key:
                for chunk in chunks:
                    stored = request.chunk_store.get(request.cache_key, chunk.index)
                    if (part := io.transcript_from_dict(stored, chunk, model)) is not None:
                        job.done[chunk.index] = part
            request.on_progress(ChunkProgress(len(job.done), len(chunks)))
            yield job

    def _keep(self, job: _Job, part: ChunkTranscript) -> None:
        """Persist a finished chunk at once, so a retry or restart re-sends only the missing ones."""
        job.done[part.chunk.index] = part
        request = job.request
        if request.chunk_store is not None and request.cache_key:
            request.chunk_store.put(request.cache_key, part.chunk.index, io.transcript_to_dict(part, job.model))
        request.on_progress(ChunkProgress(len(job.done), len(job.chunks)))

    def _cancelled(self, job: _Job) -> Cancelled:
        done, total = len(job.done), len(job.chunks)
        return Cancelled(f"Transcription was cancelled; {done} of {total} parts are kept.")

    def _result(self, job: _Job) -> TranscriptionResult:
        parts = [job.done[c.index] for c in job.chunks]
        text, segments = chunking.merge_transcripts(parts, self._overlap_s)
        language = job.request.language or next((p.language for p in parts if p.language), None)
        return TranscriptionResult(text, segments, language, job.model, job.audio.duration_s)

    def _arguments(self, job: _Job, previous: ChunkTranscript | None) -> dict[str, Any]:
        prompt = job.request.prompt or ""
        if previous is not None:  # the previous chunk's closing words carry context across the seam
            prompt = f"{prompt} {' '.join(previous.text.split()[-PROMPT_WORDS:])}".strip()
        request = job.request
        return io.transcription_kwargs(
            job.model, job.info, job.fmt, language=request.language, prompt=prompt or None, options=request.options
        )

    def _call(self, model: str, operation: Operation, post: OnCall, send: Callable[[], Any], **record: Any) -> Any:
        """Send with retries: (result, latency ms). Each failed attempt is posted as a CallRecord at $0."""

        def attempt() -> tuple[Any, int]:
            started = time.monotonic()
            try:
                return send(), _ms(started)
            except Exception as exc:
                err = io.map_error(exc, label=self._label, secret=self._client.api_key)
                if err.code == "unexpected":  # our bug, not the server: keep the stack in the log
                    log_unexpected(log, exc, "%s %s call failed unexpectedly", self._label, operation)
                post(io.failed_record(operation, model, err, latency_ms=_ms(started), **record))
                raise err from None

        return call_with_retries(attempt, policy=self._policy, breaker=self._breaker, sleep=self._sleep)

    def _send(self, job: _Job, chunk: Chunk, previous: ChunkTranscript | None, post: OnCall) -> ChunkTranscript:
        """Encode (here, in the worker, in parallel with other uploads), send with retries, price, parse."""
        path = chunking.encode(job.audio.path, chunk, job.tmp / f"chunk-{chunk.index:04d}.ogg")
        kwargs = self._arguments(job, previous)

        def send() -> tuple[Any, ChunkTranscript]:
            with path.open("rb") as fh:
                response = self._client.audio.transcriptions.create(file=(path.name, fh, "audio/ogg"), **kwargs)
            return response, io.parse_transcription(response, chunk)  # a garbled body fails this attempt

        try:
            (response, part), ms = self._call(job.model, "transcribe", post, send, chunk_index=chunk.index)
        finally:
            path.unlink(missing_ok=True)
        post(io.ok_record("transcribe", job.model, response, chunk.duration, ms, chunk_index=chunk.index))
        result: ChunkTranscript = part
        return result

    def _send_streaming(
        self, job: _Job, chunk: Chunk, previous: ChunkTranscript | None
    ) -> Generator[str, None, ChunkTranscript]:
        if job.info is not None and not job.info.supports("stream"):  # this model does not stream: one delta
            part = self._send(job, chunk, previous, job.request.on_call)
            yield part.text
            return part
        path = chunking.encode(job.audio.path, chunk, job.tmp / f"chunk-{chunk.index:04d}.ogg")
        kwargs = self._arguments(job, previous) | {"stream": True}
        on_call = job.request.on_call

        def send() -> Any:
            with path.open("rb") as fh:  # the body is fully sent by the time the stream opens
                return self._client.audio.transcriptions.create(file=(path.name, fh, "audio/ogg"), **kwargs)

        try:
            stream, ms = self._call(job.model, "transcribe", on_call, send, chunk_index=chunk.index)
            done: Any = None
            try:
                for event in stream:  # a stream that breaks after deltas were shown is not retried
                    if event.type == "transcript.text.delta":
                        yield event.delta
                    elif event.type == "transcript.text.done":
                        done = event
                if done is None:
                    raise ProviderError(f"{self._label} ended the stream without a transcript.", code="malformed")
            except Exception as exc:
                err = io.map_error(exc, label=self._label, secret=self._client.api_key)
                if err.code == "unexpected":
                    log_unexpected(log, exc, "%s transcription stream failed unexpectedly", self._label)
                on_call(io.failed_record("transcribe", job.model, err, latency_ms=ms, chunk_index=chunk.index))
                raise err from None
            finally:
                stream.close()
        finally:
            path.unlink(missing_ok=True)
        request_id = stream.response.headers.get("x-request-id")
        on_call(io.ok_record("transcribe", job.model, done, chunk.duration, ms, request_id, chunk_index=chunk.index))
        return io.parse_transcription(done, chunk)

    # ---- summaries -----------------------------------------------------------------------------------

    def summarize(self, text: str, *, model: str | None = None, on_call: OnCall = lambda _c: None) -> SummaryResult:
        """Summarize with chat completions; text over the budget is summarized in parts, then combined."""
        model = model or self._settings.summary_model
        info = check_model_allowed(model, self._today(), allow_unknown=self._custom)
        if info is not None and info.kind != "chat":
            raise InputError(f"The model {model} cannot write summaries.")

        def chat(instructions: str, content: str) -> str:
            messages = [{"role": "developer", "content": instructions}, {"role": "user", "content": content}]

            def send() -> Any:
                completion = self._client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
                if not completion.choices or completion.choices[0].message.content is None:
                    raise ProviderError(f"{self._label} returned an empty summary.", code="empty")
                return completion

            completion, ms = self._call(model, "summarize", on_call, send)
            on_call(io.ok_record("summarize", model, completion, 0.0, ms))
            return str(completion.choices[0].message.content).strip()

        return SummaryResult(summarize_text(text, self._summary_chunk_chars, chat), model)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
