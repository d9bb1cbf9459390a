"""Running one job: its stages, progress and partial text, heartbeat, cancel, and handing it back on a stop."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import CursorResult, and_, select, update

from core.audio.probe import AudioInfo
from core.audio.store import StoredAudio
from core.config import Settings
from core.db.models import Job, User, utcnow
from core.errors import Cancelled, ConfigError, QuotaError, StorageError, WorkbenchError, log_unexpected
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.jobs.chunk_store import SqlChunkStore
from core.jobs.states import REFUSED_STAGE
from core.providers.base import ChunkProgress, ChunkStore, Provider
from core.transcripts import repository as repo
from core.transcripts import service
from core.transcripts.cache import cache_key
from core.workbench import Workbench

log = logging.getLogger(__name__)
STALE_BEATS = 10  # a running job whose heartbeat is this many poll intervals old has lost its worker
MAX_ATTEMPTS = 5  # a job whose worker died this many times is given up (say, a file that crashes the model)
SUMMARY_SHARE = 0.1  # of the progress bar, when a summary follows the transcription


@dataclass
class WorkerContext:
    """What the threads of one consumer share: their workbench, the stop flag, the jobs in hand."""

    wb: Workbench
    stopping: threading.Event = field(default_factory=threading.Event)
    running: dict[int, int] = field(default_factory=dict)  # job id -> the claim it holds (its attempts)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stale_after_s(self) -> float:
        return STALE_BEATS * self.wb.settings.job_poll_s


# ---- stopping ------------------------------------------------------------------------------------------


def _held(job_id: int, claim: int) -> Any:
    """Rows still held by this claim: `attempts` grows with every claim, so it fences out a stale runner."""
    return and_(Job.id == job_id, Job.state == "running", Job.attempts == claim)


def release(wb: Workbench, claims: Iterable[tuple[int, int]], *, refund: bool) -> None:
    """Hand jobs this process holds back to the queue at once (a clean stop).

    `refund`: the run has ended, so the attempt does not count. Without it (a thread that may still be
    running) the claim number stays spent, so that thread stays fenced out after someone re-claims the job.
    """
    attempts = Job.attempts - 1 if refund else Job.attempts
    with wb.Session.begin() as s:
        for job_id, claim in claims:
            s.execute(update(Job).where(_held(job_id, claim))
                      .values(state="queued", stage=None, heartbeat_at=None, attempts=attempts))  # fmt: skip


# ---- running -------------------------------------------------------------------------------------------


def run_claimed(ctx: WorkerContext, job_id: int, claim: int) -> None:
    """Run a job this process has claimed to its end state; failures become the job's error sentence."""
    wb = ctx.wb
    with ctx.lock:
        ctx.running[job_id] = claim
    monitor = _Monitor(wb, job_id, claim, ctx.stopping)
    try:
        with monitor:
            _run_stages(wb, job_id, monitor)
        _finish(wb, job_id, claim, "done")
    except Cancelled as exc:
        if monitor.lost:
            log.warning("job %s was taken over by another worker; this run stops", job_id)
        elif monitor.cancel_requested(refresh=True):
            _finish(wb, job_id, claim, "cancelled", _cancel_sentence(wb, job_id))
        elif ctx.stopping.is_set():
            release(wb, [(job_id, claim)], refund=True)  # stopping: the next run resumes from stored chunks
        else:
            _finish(wb, job_id, claim, "failed", exc.message)
    except QuotaError as exc:  # a limit, not a fault: retrying cannot help until an administrator acts
        _finish(wb, job_id, claim, "failed", exc.message, stage=REFUSED_STAGE)
    except WorkbenchError as exc:
        _finish(wb, job_id, claim, "failed", exc.message)
    except Exception as exc:  # noqa: BLE001 - a worker thread must outlive any one job
        log_unexpected(log, exc, "job %s failed unexpectedly", job_id)
        message = f"Unexpected error ({type(exc).__name__}); the worker log has the details"
        _finish(wb, job_id, claim, "failed", message)
    finally:
        with ctx.lock:
            ctx.running.pop(job_id, None)


@dataclass(frozen=True)
class _Snapshot:
    kind: str
    payload: dict[str, Any]
    transcript_id: int | None
    display_name: str
    owner: UserRecord


def _snapshot(wb: Workbench, job_id: int) -> _Snapshot:
    with wb.Session() as s:
        job = s.get(Job, job_id)
        owner = s.get(User, job.owner_id) if job else None
        if job is None or owner is None:
            raise StorageError(f"job {job_id} disappeared while it was starting")
        snap = (job.kind, dict(job.payload or {}), job.transcript_id, job.display_name or "", owner.name)
    user = get_user(wb.Session, snap[4])
    assert user is not None
    return _Snapshot(snap[0], snap[1], snap[2], snap[3], user)


def _run_stages(wb: Workbench, job_id: int, monitor: _Monitor) -> None:
    job = _snapshot(wb, job_id)
    if job.kind == "summarize":
        assert job.transcript_id is not None
        _summarize(wb, job_id, job.transcript_id, job.owner, job.payload.get("model"))
        return
    opts = service.TranscribeOptions(**job.payload["options"])
    share = 1.0 - SUMMARY_SHARE if opts.summarize else 1.0
    transcript_id = job.transcript_id
    if transcript_id is None:
        transcript_id = _transcribe(wb, job_id, job, opts, monitor, share)
    if opts.summarize:
        if monitor.should_cancel():
            raise Cancelled("Cancelled before the summary.")
        monitor.stage("summarize", share)
        record = repo.get_transcript(wb.Session, transcript_id, job.owner)
        if record.summary is None or (opts.summary_model and opts.summary_model != record.summary_model):
            _summarize(wb, job_id, transcript_id, job.owner, opts.summary_model)


def _transcribe(wb: Workbench, job_id: int, job: _Snapshot, opts: service.TranscribeOptions, monitor: _Monitor,
                share: float) -> int:  # fmt: skip
    audio = job.payload["audio"]
    info = AudioInfo(**audio["info"])
    path = wb.settings.audio_dir / f"{audio['sha256']}.{info.ext}"
    if not path.is_file():
        raise StorageError(f"The audio of {job.display_name} is no longer stored; upload the file again.")
    stored = StoredAudio(audio["sha256"], path, int(audio["bytes"]), job.display_name, info)
    provider = plugged_provider(wb.settings, opts.provider or wb.settings.default_provider)
    if provider is None:
        provider, notices = service.resolve_provider(wb, opts.provider)
        for notice in notices:
            log.warning("job %s: %s", job_id, notice)
    # The provider stores finished chunks under this key; the monitor reads them back as the partial text.
    key = cache_key(audio_sha256=stored.sha256, provider=provider.name, model=opts.model or provider.default_model(),
                    language=opts.language, prompt=opts.prompt, options=opts.extra)  # fmt: skip
    monitor.follow_chunks(SqlChunkStore(wb.Session), key, share)
    outcome = service.transcribe_stored(wb, stored, job.owner, replace(opts, summarize=False), provider=provider,
                                        on_progress=monitor.on_progress, should_cancel=monitor.should_cancel,
                                        job_id=job_id)  # fmt: skip
    with wb.Session.begin() as s:  # linked before any summary starts: a failed summary never loses it
        s.execute(update(Job).where(Job.id == job_id).values(transcript_id=outcome.transcript.id))
    if outcome.summary_refused is not None:  # the transcript is kept and linked; the job says why no summary
        raise outcome.summary_refused
    return outcome.transcript.id


def _summarize(wb: Workbench, job_id: int, transcript_id: int, owner: UserRecord, model: str | None) -> None:
    record = repo.get_transcript(wb.Session, transcript_id, owner)
    provider = plugged_provider(wb.settings, record.provider)
    service.summarize_transcript(wb, transcript_id, owner, model=model, provider=provider, job_id=job_id)


def plugged_provider(settings: Settings, name: str) -> Provider | None:
    """The provider from settings.provider_factory ("module:callable"), or None to use the registry."""
    if not settings.provider_factory:
        return None
    module_name, attr = settings.provider_factory.split(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"WORKBENCH_PROVIDER_FACTORY {settings.provider_factory!r} cannot be loaded: {exc}") from exc
    return cast(Provider, factory(name, settings))


def _finish(
    wb: Workbench, job_id: int, claim: int, state: str, error: str | None = None, *, stage: str | None = None
) -> None:
    values: dict[str, Any] = {"state": state, "error": error, "finished_at": utcnow(), "heartbeat_at": None}
    if state == "done":
        values.update(progress=1.0, stage=None)
    elif stage is not None:
        values.update(stage=stage)
    with wb.Session.begin() as s:
        s.execute(update(Job).where(_held(job_id, claim)).values(**values))


def _cancel_sentence(wb: Workbench, job_id: int) -> str:
    with wb.Session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        who = (job.payload or {}).get("cancelled_by") or "a user"
        if job.transcript_id is not None:
            return f"Cancelled by {who}; the transcript is kept, the summary was not written"
        if job.chunks_total:
            return f"Cancelled by {who}; {job.chunks_done} of {job.chunks_total} chunks kept"
        return f"Cancelled by {who} before any audio was sent"


class _Monitor:
    """One running job's heartbeat, progress and cancel checks, each in its own short DB session."""

    def __init__(self, wb: Workbench, job_id: int, claim: int, stopping: threading.Event) -> None:
        self._wb, self._id, self._claim, self._stopping = wb, job_id, claim, stopping
        self.lost = False  # another worker re-claimed the job (this one was presumed dead): stop
        self._poll = wb.settings.job_poll_s
        self._checked, self._cancel = float("-inf"), False
        self._done = threading.Event()
        self._beat = threading.Thread(target=self._beat_loop, name=f"job-{job_id}-heartbeat", daemon=True)
        self._store: ChunkStore | None = None
        self._key, self._share = "", 1.0
        self._texts: list[str] = []

    def __enter__(self) -> _Monitor:
        self._beat.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._beat.join(timeout=5)

    def _update(self, **values: Any) -> None:
        with self._wb.Session.begin() as s:
            result = s.execute(update(Job).where(_held(self._id, self._claim)).values(**values))
            if cast(CursorResult[Any], result).rowcount == 0:
                self.lost = True

    def _beat_loop(self) -> None:
        while not self._done.wait(self._poll):
            try:
                self._update(heartbeat_at=utcnow())
            except Exception:  # noqa: BLE001 - a missed beat is retried next interval
                log.warning("heartbeat of job %s failed", self._id, exc_info=True)

    def cancel_requested(self, *, refresh: bool = False) -> bool:
        if refresh:
            with self._wb.Session() as s:
                self._cancel = bool(s.scalar(select(Job.cancel_requested).where(Job.id == self._id)))
            self._checked = time.monotonic()
        return self._cancel

    def should_cancel(self) -> bool:
        """True once a user asked to cancel (read at most once a second) or the consumer is stopping."""
        if self._stopping.is_set() or self.lost:
            return True
        due = time.monotonic() - self._checked >= min(1.0, self._poll)
        return self.cancel_requested(refresh=due)

    def follow_chunks(self, store: ChunkStore, key: str, share: float) -> None:
        self._store, self._key, self._share = store, key, share

    def stage(self, name: str, progress: float) -> None:
        self._update(stage=name, progress=progress, heartbeat_at=utcnow())

    def on_progress(self, p: ChunkProgress) -> None:
        total = max(p.total, p.done, 1)
        stage = f"chunk {min(p.done + 1, total)} of {total}" if p.stage == "transcribe" else p.stage
        values: dict[str, Any] = {"chunks_done": p.done, "chunks_total": total, "stage": stage,
                                  "progress": self._share * p.done / total, "heartbeat_at": utcnow()}  # fmt: skip
        text = self._partial_text()
        if text is not None:
            values["partial_text"] = text
        self._update(**values)

    def _partial_text(self) -> str | None:
        """The text of the finished chunks in order, when new ones have arrived."""
        if self._store is None:
            return None
        grew = False
        while (result := self._store.get(self._key, len(self._texts))) is not None:
            self._texts.append(_chunk_text(result))
            grew = True
        return " ".join(t for t in self._texts if t) if grew else None


def _chunk_text(result: dict[str, Any]) -> str:
    text = result.get("text")
    if isinstance(text, str):
        return text.strip()
    return " ".join(str(s.get("text", "")).strip() for s in result.get("segments") or [] if isinstance(s, dict))
