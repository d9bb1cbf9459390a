"""The OpenAI edge: SDK errors to our errors, per-model request arguments, responses to our types and prices."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import openai
import pydantic

from core.audio.chunks import Chunk, ChunkTranscript, shift_segments
from core.billing.pricing import ModelInfo, price_call, price_from_duration
from core.errors import InputError, ProviderError
from core.providers.base import CallRecord, Operation
from core.providers.resilience import TransientError, is_retryable_status, retry_after_seconds
from core.text import redact
from core.transcripts.types import Segment, Word

JSON_FORMATS = ("json", "verbose_json", "diarized_json")
MALFORMED = (json.JSONDecodeError, pydantic.ValidationError, openai.APIResponseValidationError)


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.message)[:300].rstrip(".")


def map_error(exc: BaseException, *, label: str, secret: str | None) -> ProviderError:
    """One sentence a non-engineer understands, with the request id, the retryable flag and the code."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return TransientError(f"{label} took too long to answer.", code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return TransientError(f"Could not connect to {label}; check the network connection.", code="connection")
    if isinstance(exc, MALFORMED):
        rid = getattr(getattr(exc, "response", None), "headers", {}).get("x-request-id")
        return TransientError(f"{label} sent an answer that could not be read.", code="malformed", request_id=rid)
    if not isinstance(exc, openai.APIStatusError):
        return ProviderError(f"{label} call failed unexpectedly ({type(exc).__name__}).", code="unexpected")
    status, rid, code = exc.status_code, exc.request_id, exc.code
    if status == 429 and code == "insufficient_quota":
        return ProviderError(
            "The OpenAI account has no credit left; add credit in the OpenAI billing settings.",
            status_code=status,
            request_id=rid,
            code=code,
        )
    if is_retryable_status(status):
        sentence = {
            408: f"{label} timed out while receiving the request.",
            409: f"{label} reported a conflict with another request.",
            429: f"{label} is limiting how fast we may send (rate limit); try again in a minute.",
        }.get(status, f"{label} had an internal error (HTTP {status}).")
        wait = retry_after_seconds(dict(exc.response.headers))
        return TransientError(sentence, status_code=status, request_id=rid, code=code, retry_after_s=wait)
    sentence = {
        401: f"{label} refused the API key; check OPENAI_API_KEY on the Admin page.",
        403: f"{label} does not allow this key to use this model (or from this region).",
        404: f"{label} does not know this model or address; check the model name and OPENAI_BASE_URL.",
        413: f"The audio upload is larger than {label} accepts.",
    }.get(status) or f"{label} refused the request: {redact(_detail(exc), [secret] if secret else ())}."
    return ProviderError(sentence, status_code=status, request_id=rid, code=code)


@dataclass(frozen=True)
class Usage:
    seconds: float | None = None
    input_tokens: int = 0
    audio_tokens: int = 0
    text_tokens: int = 0
    output_tokens: int = 0


def read_usage(response: object) -> Usage | None:
    """The usage a transcription or chat response reported, or None when it has none."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    if getattr(usage, "type", None) == "duration" or hasattr(usage, "seconds"):
        return Usage(seconds=float(usage.seconds))
    if hasattr(usage, "prompt_tokens"):  # chat completions
        return Usage(
            input_tokens=int(usage.prompt_tokens or 0),
            text_tokens=int(usage.prompt_tokens or 0),
            output_tokens=int(usage.completion_tokens or 0),
        )
    details = getattr(usage, "input_token_details", None)
    audio = getattr(details, "audio_tokens", None)
    text = getattr(details, "text_tokens", None)
    total_in = int(usage.input_tokens)
    if audio is None and text is None:
        audio, text = total_in, 0  # no breakdown: it was (almost all) audio
    return Usage(None, total_in, int(audio or 0), int(text or 0), int(usage.output_tokens))


def priced_record(operation: Operation, model: str, usage: Usage | None, measured_s: float, **extra: Any) -> CallRecord:
    """A successful call priced from its own usage, or from the measured duration (flagged estimated)."""
    if usage is None:
        price = price_from_duration(model, measured_s) if operation == "transcribe" else price_call(model)
        return CallRecord(
            operation,
            model,
            "ok",
            audio_seconds=measured_s,
            cost_usd=price.cost_usd,
            list_cost_usd=price.list_cost_usd,
            estimated=True,
            unpriced=price.unpriced,
            **extra,
        )
    price = price_call(
        model,
        audio_seconds=usage.seconds or 0.0,
        audio_tokens_in=usage.audio_tokens,
        text_tokens_in=usage.text_tokens,
        tokens_out=usage.output_tokens,
    )
    seconds = usage.seconds if usage.seconds is not None else measured_s
    return CallRecord(
        operation,
        model,
        "ok",
        audio_seconds=seconds,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=price.cost_usd,
        list_cost_usd=price.list_cost_usd,
        unpriced=price.unpriced,
        **extra,
    )


def ok_record(
    operation: Operation,
    model: str,
    response: Any,
    measured_s: float,
    latency_ms: int,
    request_id: str | None = None,
    **extra: Any,
) -> CallRecord:
    """The priced record of a successful call, from the response's own usage and request id."""
    request_id = request_id or getattr(response, "_request_id", None)
    usage = read_usage(response)
    return priced_record(operation, model, usage, measured_s, latency_ms=latency_ms, request_id=request_id, **extra)


def failed_record(operation: Operation, model: str, err: ProviderError, **extra: Any) -> CallRecord:
    return CallRecord(operation, model, "error", error=err.message, request_id=err.request_id, **extra)


def choose_format(model: str, info: ModelInfo | None, options: dict[str, Any]) -> str:
    """The response format to ask for: the option if the model allows it, else the model's JSON default."""
    wanted = options.get("response_format")
    allowed = info.formats if info and info.formats else None
    if wanted is None:
        return allowed[0] if allowed else "json"
    if allowed is not None and wanted not in allowed:
        raise InputError(f"The model {model} answers only in {', '.join(allowed)}, not {wanted}.")
    if allowed is not None and wanted not in JSON_FORMATS:
        raise InputError(f"The {wanted} format carries no usage to bill by; ask {model} for a JSON format.")
    return str(wanted)


def _supports(info: ModelInfo | None, feature: str, *, unknown: bool) -> bool:
    return info.supports(feature) if info else unknown


def transcription_kwargs(
    model: str,
    info: ModelInfo | None,
    fmt: str,
    *,
    language: str | None,
    prompt: str | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The create() arguments this model takes; an unknown (self-hosted) model gets the whisper-style ones."""
    kwargs: dict[str, Any] = {"model": model, "response_format": fmt}
    if language:
        if _supports(info, "languages", unknown=False):
            kwargs["languages"] = [language]
        else:
            kwargs["language"] = language
    if prompt and _supports(info, "prompt", unknown=True):
        kwargs["prompt"] = prompt
    keywords = options.get("keywords")
    if keywords and _supports(info, "keywords", unknown=False):
        kwargs["keywords"] = list(keywords)
    if fmt == "json" and _supports(info, "logprobs", unknown=False):
        kwargs["include"] = ["logprobs"]
    if _supports(info, "diarize", unknown=False):
        kwargs["chunking_strategy"] = "auto"  # required above 30 s
    if fmt == "verbose_json":
        kwargs["timestamp_granularities"] = ["word", "segment"]
    return kwargs


def _confidence(logprobs: list[Any] | None) -> float | None:
    values = [lp.logprob for lp in logprobs or () if getattr(lp, "logprob", None) is not None]
    return math.exp(sum(values) / len(values)) if values else None


def _language(response: object) -> str | None:
    languages = getattr(response, "languages", None)
    if languages:
        return str(languages[0].code)
    language = getattr(response, "language", None)
    return str(language) if language else None


def _verbose_segments(response: Any) -> list[Segment]:
    words = [Word(float(w.start), float(w.end), str(w.word).strip()) for w in response.words or ()]
    segments: list[Segment] = []
    raw = list(response.segments or ())
    for i, seg in enumerate(raw):
        last = i == len(raw) - 1
        inside = tuple(
            w for w in words if seg.start <= (w.start + w.end) / 2 < seg.end or (last and w.start >= seg.start)
        )
        conf = math.exp(seg.avg_logprob) if getattr(seg, "avg_logprob", None) is not None else None
        segments.append(Segment(float(seg.start), float(seg.end), str(seg.text).strip(), None, conf, inside))
    if not segments and words:
        segments = [Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), words=tuple(words))]
    return segments


def parse_transcription(response: object, chunk: Chunk) -> ChunkTranscript:
    """Turn any transcription response (json, verbose, diarized, text, stream-done) into a shifted chunk result."""
    if isinstance(response, str):
        text = response.strip()
        return ChunkTranscript(chunk, text, (Segment(chunk.start, chunk.end, text),), timed=False)
    text = str(getattr(response, "text", "")).strip()
    raw_segments = getattr(response, "segments", None)
    if raw_segments and hasattr(raw_segments[0], "speaker"):
        local = [Segment(float(s.start), float(s.end), str(s.text).strip(), str(s.speaker)) for s in raw_segments]
        timed = True
    elif raw_segments is not None or getattr(response, "words", None):
        local, timed = _verbose_segments(response), True
    else:
        conf = _confidence(getattr(response, "logprobs", None))
        local, timed = [Segment(0.0, chunk.duration, text, confidence=conf)], False
    segments = tuple(shift_segments(local, chunk.start))
    return ChunkTranscript(chunk, text, segments, timed, _language(response))


def transcript_to_dict(part: ChunkTranscript, model: str) -> dict[str, Any]:
    """What the chunk store keeps, so a restart re-sends only missing chunks."""
    return {
        "v": 1,
        "model": model,
        "start": part.chunk.start,
        "end": part.chunk.end,
        "text": part.text,
        "timed": part.timed,
        "language": part.language,
        "segments": [s.to_dict() for s in part.segments],
    }


def transcript_from_dict(data: dict[str, Any] | None, chunk: Chunk, model: str) -> ChunkTranscript | None:
    """A stored chunk result, if it is for this very chunk and model."""
    if not data or data.get("v") != 1 or data.get("model") != model:
        return None
    if abs(float(data["start"]) - chunk.start) > 1e-3 or abs(float(data["end"]) - chunk.end) > 1e-3:
        return None
    segments = tuple(Segment.from_dict(s) for s in data["segments"])
    return ChunkTranscript(chunk, str(data["text"]), segments, bool(data["timed"]), data.get("language"))
