"""Use cases: validate → cache → provider → store → ledger. Pages, jobs and the CLI call only these."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from core.audio.store import StoredAudio, store_upload
from core.billing import quotas
from core.billing.ledger import LedgerContext, RunCosts, record_cache_hit
from core.billing.pricing import check_model_allowed, estimate_cost, model_info
from core.errors import InputError, ProviderError, QuotaError, WorkbenchError, log_unexpected
from core.identity import audit
from core.identity.types import UserRecord
from core.jobs.chunk_store import SqlChunkStore
from core.log import log_event
from core.providers.base import ChunkProgress, Provider, TranscriptionRequest, TranscriptionResult
from core.providers.registry import capabilities, get_provider, provider_names
from core.transcripts import repository as repo
from core.transcripts.cache import cache_key
from core.transcripts.export.docs import ExportFile, export_file
from core.transcripts.types import CachedTranscript, NewTranscript, TranscriptRecord
from core.workbench import Workbench

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MAX_PROMPT_CHARS = 1000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscribeOptions:
    provider: str | None = None  # None → settings.default_provider
    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    summarize: bool = False
    summary_model: str | None = None
    use_cache: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # provider options that change output


@dataclass(frozen=True)
class TranscribeOutcome:
    transcript: TranscriptRecord
    cached: bool
    cost_usd: float
    notices: list[str]
    # A summary refused after the transcript was made (a budget): the paid transcript is still returned.
    summary_refused: QuotaError | None = None


def check_options(opts: TranscribeOptions) -> TranscribeOptions:
    """Refuse bad option values with one clear sentence each."""
    names = provider_names()
    if opts.provider is not None and opts.provider not in names:
        raise InputError(f"provider {opts.provider!r} is unknown; choose one of {', '.join(names)}")
    language = (opts.language or "").strip().lower() or None
    if language in ("auto",):
        language = None
    if language is not None and not _LANGUAGE.match(language):
        raise InputError(f"language {opts.language!r} is not an ISO 639-1 code like 'en' or 'de' (or 'auto')")
    prompt = (opts.prompt or "").strip() or None
    if prompt and len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"the vocabulary/prompt is {len(prompt)} characters; at most {MAX_PROMPT_CHARS} allowed")
    return TranscribeOptions(
        opts.provider,
        opts.model,
        language,
        prompt,
        opts.summarize,
        opts.summary_model,
        opts.use_cache,
        dict(opts.extra),
    )


def resolve_provider(wb: Workbench, name: str | None) -> tuple[Provider, list[str]]:
    """The provider to use, falling back (with a notice) when it cannot be built, e.g. OpenAI without a key."""
    chosen = name or wb.settings.default_provider
    try:
        return get_provider(chosen, wb.settings), []
    except ProviderError as exc:
        fallback = capabilities(chosen).fallback
        if fallback is None:
            raise
        notice = f"{exc.message} Using the {fallback} model instead."
        return get_provider(fallback, wb.settings), [notice]


def estimate(
    wb: Workbench, duration_s: float, provider_name: str | None, model: str | None, prompt: str | None = None
) -> float:
    """Expected charge in USD for transcribing `duration_s` seconds, before anything is sent."""
    provider, _ = resolve_provider(wb, provider_name)
    return estimate_cost(model or provider.default_model(), duration_s, prompt=prompt)


def transcribe_file(
    wb: Workbench,
    source: Path | BinaryIO,
    display_name: str,
    user: UserRecord,
    opts: TranscribeOptions = TranscribeOptions(),
    *,
    provider: Provider | None = None,
    on_progress: Callable[[ChunkProgress], None] = lambda _p: None,
    should_cancel: Callable[[], bool] = lambda: False,
    job_id: int | None = None,
) -> TranscribeOutcome:
    """Validate and store the audio, then return a cached transcript or run the provider."""
    opts = check_options(opts)
    stored = store_upload(source, display_name, wb.settings)
    return transcribe_stored(
        wb,
        stored,
        user,
        opts,
        provider=provider,
        on_progress=on_progress,
        should_cancel=should_cancel,
        job_id=job_id,
    )


def transcribe_stored(
    wb: Workbench,
    stored: StoredAudio,
    user: UserRecord,
    opts: TranscribeOptions,
    *,
    provider: Provider | None = None,
    on_progress: Callable[[ChunkProgress], None] = lambda _p: None,
    should_cancel: Callable[[], bool] = lambda: False,
    job_id: int | None = None,
) -> TranscribeOutcome:
    """Transcribe audio already in the store (jobs resume from here)."""
    started = time.perf_counter()
    if job_id is None:  # a job was counted against the rate limit when it was submitted
        quotas.check_rate(wb, user)
    notices: list[str] = []
    if provider is None:
        provider, notices = resolve_provider(wb, opts.provider)
    model = opts.model or provider.default_model()
    check_model_allowed(model)  # a model past its shutdown date is refused, naming the replacement
    info = stored.info
    audio_id = repo.upsert_audio(
        wb.Session,
        sha256=stored.sha256,
        size=stored.bytes,
        duration_s=info.duration_s,
        container=info.container,
        codec=info.codec,
        sample_rate=info.sample_rate,
        channels=info.channels,
        ext=info.ext,
    )
    key = cache_key(
        audio_sha256=stored.sha256,
        provider=provider.name,
        model=model,
        language=opts.language,
        prompt=opts.prompt,
        options=opts.extra,
    )
    ctx = LedgerContext(user.id, provider.name, stored.display_name, job_id=job_id)

    if opts.use_cache:
        hit = _from_cache(wb, key, user, stored, audio_id, opts, ctx)
        if hit is not None:
            charged, refused = 0.0, None
            if opts.summarize and hit.summary is None:
                try:
                    charged = _summarize_charged(
                        wb, hit.id, user, provider, opts.summary_model, hit.display_name, job_id
                    )
                except QuotaError as exc:
                    refused = exc
                hit = repo.get_transcript(wb.Session, hit.id, user, audio_dir=str(wb.settings.audio_dir))
            _log_run(user, job_id, provider.name, model, info.duration_s, True, charged, started)
            return TranscribeOutcome(hit, True, charged, notices, refused)

    costs = RunCosts(wb.Session, ctx)
    request = TranscriptionRequest(
        audio_path=stored.path,
        sha256=stored.sha256,
        duration_s=info.duration_s,
        model=model,
        language=opts.language,
        prompt=opts.prompt,
        options=dict(opts.extra),
        on_call=costs,
        on_progress=on_progress,
        should_cancel=should_cancel,
        chunk_store=SqlChunkStore(wb.Session),
        cache_key=key,
    )
    try:
        # Checked and held before anything is sent; released once the charge is in the ledger.
        usd = estimate_cost(model, info.duration_s, prompt=opts.prompt)
        with quotas.hold(wb, user, usd=usd, minutes=info.duration_s / 60):
            result = provider.transcribe(request)
        transcript_id = _store_result(wb, stored, user, opts, provider.name, key, audio_id, result, costs)
    except WorkbenchError:
        raise
    except Exception as exc:
        # A bug on the paid path: keep the stack in the log; the caller words it for the user.
        log_unexpected(log, exc, "transcribing %s with %s failed unexpectedly", stored.display_name, provider.name)
        raise
    charged = costs.cost_usd
    summary_refused: QuotaError | None = None
    if opts.summarize:
        try:
            charged += _summarize_charged(
                wb, transcript_id, user, provider, opts.summary_model, stored.display_name, job_id
            )
        except QuotaError as exc:  # the transcript was paid for: hand it over, with the refusal beside it
            summary_refused = exc
    record = repo.get_transcript(wb.Session, transcript_id, user, audio_dir=str(wb.settings.audio_dir))
    _log_run(user, job_id, provider.name, result.model, info.duration_s, False, charged, started)
    return TranscribeOutcome(record, False, charged, notices, summary_refused)


def _store_result(
    wb: Workbench,
    stored: StoredAudio,
    user: UserRecord,
    opts: TranscribeOptions,
    provider_name: str,
    key: str,
    audio_id: int,
    result: TranscriptionResult,
    costs: RunCosts,
) -> int:
    """Store a fresh transcript and its cache entry; returns the transcript's id."""
    cached = CachedTranscript(
        key=key,
        provider=provider_name,
        model=result.model,
        language=result.language,
        text=result.text,
        segments=result.segments,
        duration_s=result.duration_s,
        cost_usd=costs.cost_usd,
        list_cost_usd=costs.list_cost_usd,
    )
    return repo.create_transcript(
        wb.Session,
        NewTranscript(
            owner_id=user.id,
            display_name=stored.display_name,
            provider=provider_name,
            model=result.model,
            language=result.language,
            text=result.text,
            segments=result.segments,
            duration_s=result.duration_s or stored.info.duration_s,
            audio_id=audio_id,
            cache_key=key,
            prompt=opts.prompt,
        ),
        cache=cached,
    )


def _log_run(user: UserRecord, job_id: int | None, provider: str, model: str, audio_s: float, cached: bool,
             cost_usd: float, started: float) -> None:  # fmt: skip
    # Facts only: never the transcript text or the audio.
    log_event(log, "transcribe", user=user.name, job_id=job_id, provider=provider, model=model,
              audio_s=round(audio_s, 3), cached=cached, cost_usd=round(cost_usd, 6),
              duration_ms=int((time.perf_counter() - started) * 1000))  # fmt: skip


def _from_cache(
    wb: Workbench,
    key: str,
    user: UserRecord,
    stored: StoredAudio,
    audio_id: int,
    opts: TranscribeOptions,
    ctx: LedgerContext,
) -> TranscriptRecord | None:
    entry = repo.get_cache_entry(wb.Session, key)
    if entry is None:
        return None
    transcript_id = repo.find_transcript_by_cache_key(wb.Session, user.id, key)
    if transcript_id is None:
        transcript_id = repo.create_transcript(
            wb.Session,
            NewTranscript(
                owner_id=user.id,
                display_name=stored.display_name,
                provider=entry.provider,
                model=entry.model,
                language=entry.language,
                text=entry.text,
                segments=entry.segments,
                duration_s=entry.duration_s,
                audio_id=audio_id,
                cache_key=key,
                prompt=opts.prompt,
            ),
        )
    record_cache_hit(
        wb.Session,
        ctx,
        model=entry.model,
        audio_seconds=entry.duration_s,
        saved_usd=entry.list_cost_usd,
        transcript_id=transcript_id,
    )
    return repo.get_transcript(wb.Session, transcript_id, user, audio_dir=str(wb.settings.audio_dir))


def summarize_transcript(
    wb: Workbench,
    transcript_id: int,
    user: UserRecord,
    *,
    model: str | None = None,
    provider: Provider | None = None,
    job_id: int | None = None,
) -> TranscriptRecord:
    """(Re)write the summary of a stored transcript; never re-transcribes."""
    record = repo.get_transcript(wb.Session, transcript_id, user)
    if provider is None:
        provider, _ = resolve_provider(wb, record.provider)
    _summarize_charged(wb, transcript_id, user, provider, model, record.display_name, job_id)
    return repo.get_transcript(wb.Session, transcript_id, user, audio_dir=str(wb.settings.audio_dir))


def _summarize_charged(
    wb: Workbench,
    transcript_id: int,
    user: UserRecord,
    provider: Provider,
    model: str | None,
    file_name: str,
    job_id: int | None,
) -> float:
    """Write the summary, each call in the ledger at once; returns what it charged."""
    costs = RunCosts(
        wb.Session, LedgerContext(user.id, provider.name, file_name, transcript_id=transcript_id, job_id=job_id)
    )
    record = repo.get_writable_transcript(wb.Session, transcript_id, user)  # refused before anything is paid
    usd = _summary_estimate(wb, provider, model, record.text)
    try:
        with quotas.hold(wb, user, usd=usd, minutes=0.0, kind="summarize", what="This summary"):
            result = provider.summarize(record.text, model=model, on_call=costs)
        repo.set_summary(wb.Session, transcript_id, user, result.text, result.model)
    except WorkbenchError:
        raise
    except Exception as exc:
        log_unexpected(log, exc, "summarizing transcript %s with %s failed unexpectedly", transcript_id, provider.name)
        raise
    return costs.cost_usd


def _summary_estimate(wb: Workbench, provider: Provider, model: str | None, text: str) -> float:
    """A generous estimate of a chat summary's charge: ~3 characters a token in, a tenth of that out."""
    if not capabilities(provider.name).charged:  # mock and local summarise for free
        return 0.0
    info = model_info(model or wb.settings.summary_model)
    if info is None or not info.charged or info.unit != "token":
        return 0.0
    tokens_in = len(text) / 3 + 500
    tokens_out = 1000 + tokens_in / 10
    return (tokens_in * info.usd_per_m_text_in + tokens_out * info.usd_per_m_out) / 1_000_000


def export_transcript(wb: Workbench, transcript_id: int, user: UserRecord, fmt: str) -> ExportFile:
    """One transcript as a download in any export format, through the visibility check; audited."""
    record = repo.get_transcript(wb.Session, transcript_id, user)
    exported = export_file(record, fmt)
    audit.record(wb.Session, user.name, "export", f"transcript {record.id}", fmt)
    return exported
