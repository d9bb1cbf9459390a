"""Background jobs: submit, watch, cancel and retry transcriptions and summaries; pages and the CLI call these."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import CursorResult, case, func, select, update
from sqlalchemy.orm import Session

from core.audio.store import store_upload
from core.billing import quotas
from core.db.models import Job, UsageEvent, User, utcnow
from core.errors import InputError, NotFoundError, StorageError
from core.identity.types import UserRecord
from core.jobs import broker as queue
from core.jobs.states import ACTIVE_STATES, REFUSED_STAGE
from core.transcripts import repository as repo
from core.transcripts.service import TranscribeOptions, check_options, estimate
from core.workbench import Workbench

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRecord:
    id: int
    owner: str
    kind: str  # "transcribe" or "summarize"
    state: str  # queued / running / done / failed / cancelled
    stage: str | None  # "transcode", "chunk 3 of 12", "summarize"
    progress: float  # 0–1
    error: str | None  # one sentence a user understands
    display_name: str | None
    transcript_id: int | None
    partial_text: str | None  # text of the chunks finished so far
    chunks_done: int
    chunks_total: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None  # 1 = next to start; None unless queued
    cancel_requested: bool
    cached: bool  # the transcript came from the cache
    cost_usd: float  # billed so far for this job (sum of its ledger rows)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def refused(self) -> bool:
        """Failed because a budget or rate limit refused it (ask an administrator), not because of a fault."""
        return self.state == "failed" and self.stage == REFUSED_STAGE


def submit_transcription(
    wb: Workbench,
    source: Path | BinaryIO,
    display_name: str,
    user: UserRecord,
    opts: TranscribeOptions,
) -> JobRecord:
    """Validate and store the audio now (bad input raises InputError, nothing is queued), then queue the job."""
    opts = check_options(opts)
    quotas.admit_job(wb, user)  # concurrent jobs and the per-minute rate, before anything is stored
    stored = store_upload(source, display_name, wb.settings)
    seconds = stored.info.duration_s
    usd = estimate(wb, seconds, opts.provider, opts.model, opts.prompt)
    quotas.check_budget(wb, user, usd=usd, minutes=seconds / 60)
    audio = {"sha256": stored.sha256, "bytes": stored.bytes, "info": dataclasses.asdict(stored.info)}
    payload = {"audio": audio, "options": dataclasses.asdict(opts)}
    return _create(wb, user, "transcribe", stored.display_name, payload, transcript_id=None)


def submit_summary(wb: Workbench, transcript_id: int, user: UserRecord, model: str | None = None) -> JobRecord:
    """Queue a (re-)summary of a stored transcript; it never re-transcribes."""
    record = repo.get_transcript(wb.Session, transcript_id, user)  # NotFoundError when not visible
    quotas.admit_job(wb, user, transcription=False)
    return _create(wb, user, "summarize", record.display_name, {"model": model}, transcript_id=record.id)


def list_jobs(wb: Workbench, user: UserRecord, *, active_only: bool = False, limit: int = 20) -> list[JobRecord]:
    """Newest first; admins see everyone's jobs, members their own."""
    stmt = select(Job, User.name).join(User, User.id == Job.owner_id)
    if not user.is_admin:
        stmt = stmt.where(Job.owner_id == user.id)
    if active_only:
        stmt = stmt.where(Job.state.in_(ACTIVE_STATES))
    with wb.Session() as s:
        rows = s.execute(stmt.order_by(Job.id.desc()).limit(max(1, limit))).all()
        return _records(s, [(job, name) for job, name in rows])


def get_job(wb: Workbench, job_id: int, user: UserRecord) -> JobRecord:
    """One job; NotFoundError when it is missing or not this user's (the same answer on purpose)."""
    record = _read(wb, job_id)
    if record is None or (not user.is_admin and record.owner != user.name):
        raise NotFoundError(f"job {job_id} not found")
    return record


def cancel_job(wb: Workbench, job_id: int, user: UserRecord) -> JobRecord:
    """A queued job is cancelled at once; a running one stops after its current chunk, keeping what is done."""
    current = get_job(wb, job_id, user)
    if current.state not in ACTIVE_STATES:
        return current
    now = utcnow()
    with wb.Session.begin() as s:
        # Conditional updates, so a worker claiming the job at this instant is never overwritten.
        result = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "queued")
            .values(state="cancelled", cancel_requested=True, finished_at=now,
                    error=f"Cancelled by {user.name} before it started")
        )  # fmt: skip
        if cast(CursorResult[Any], result).rowcount == 0:
            job = s.get(Job, job_id)
            if job is not None and job.state == "running":
                job.cancel_requested = True
                job.payload = {**(job.payload or {}), "cancelled_by": user.name}
    return get_job(wb, job_id, user)


def retry_job(wb: Workbench, job_id: int, user: UserRecord) -> JobRecord:
    """Put a failed or cancelled job back in the queue; finished chunks and a stored transcript are reused."""
    current = get_job(wb, job_id, user)
    if current.state not in ("failed", "cancelled"):
        raise InputError(f"job {job_id} is {current.state}; only failed or cancelled jobs can be retried")
    with wb.Session.begin() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.state, job.error, job.stage, job.finished_at = "queued", None, None, None
        job.cancel_requested, job.heartbeat_at, job.attempts = False, None, 0
        job.payload = {k: v for k, v in (job.payload or {}).items() if k != "cancelled_by"}
    _enqueue(wb, job_id)
    return get_job(wb, job_id, user)


def start_embedded_consumer(wb: Workbench, workers: int | None = None) -> queue.EmbeddedConsumer:
    """Run jobs on daemon threads in this process; idempotent per process and database, safe on every page run.

    With WORKBENCH_REDIS_URL set, jobs run in `python -m core worker` processes, so no threads start
    unless `workers` is given.
    """
    return queue.start_embedded(wb.settings, workers)


def run_job_inline(wb: Workbench, job_id: int) -> JobRecord:
    """Execute one queued job synchronously in this thread (tests, and a fallback); limits do not apply."""
    queue.run_inline(wb, job_id)
    record = _read(wb, job_id)
    if record is None:
        raise NotFoundError(f"job {job_id} not found")
    return record


# ---- rows -----------------------------------------------------------------------------------------------


def _create(wb: Workbench, user: UserRecord, kind: str, display_name: str, payload: dict[str, Any],
            *, transcript_id: int | None) -> JobRecord:  # fmt: skip
    with wb.Session.begin() as s:
        # Count and insert under the quota lock: five submits at once must not all see room for one more.
        quotas.lock(s)
        quotas.check_active_jobs_in(s, wb, user)
        job = Job(owner_id=user.id, kind=kind, state="queued", display_name=display_name, payload=payload,
                  transcript_id=transcript_id, progress=0.0, cancel_requested=False)  # fmt: skip
        s.add(job)
        s.flush()
        job_id = job.id
    _enqueue(wb, job_id)
    return get_job(wb, job_id, user)


def _enqueue(wb: Workbench, job_id: int) -> None:
    try:
        queue.enqueue(wb.settings, job_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the job must not sit queued forever
        log.exception("could not enqueue job %s", job_id)
        message = f"The job queue could not be reached ({type(exc).__name__}); the job was not started."
        with wb.Session.begin() as s:
            s.execute(update(Job).where(Job.id == job_id)
                      .values(state="failed", error=message, finished_at=utcnow()))  # fmt: skip
        raise StorageError(message) from exc


def _read(wb: Workbench, job_id: int) -> JobRecord | None:
    with wb.Session() as s:
        row = s.execute(select(Job, User.name).join(User, User.id == Job.owner_id).where(Job.id == job_id)).first()
        return _records(s, [(row[0], row[1])])[0] if row else None


def _records(s: Session, rows: Sequence[tuple[Job, str]]) -> list[JobRecord]:
    if not rows:
        return []
    ids = [job.id for job, _ in rows]
    billed = {
        job_id: (float(cost or 0.0), bool(hits))
        for job_id, cost, hits in s.execute(
            select(
                UsageEvent.job_id,
                func.sum(UsageEvent.cost_usd),
                func.sum(case((UsageEvent.cached.is_(True), 1), else_=0)),
            )
            .where(UsageEvent.job_id.in_(ids))
            .group_by(UsageEvent.job_id)
        )  # fmt: skip
    }
    positions: dict[int, int] = {}
    if any(job.state == "queued" for job, _ in rows):
        order = s.scalars(select(Job.id).where(Job.state == "queued").order_by(Job.id))
        positions = {job_id: i + 1 for i, job_id in enumerate(order)}
    return [_record(job, owner, billed.get(job.id, (0.0, False)), positions.get(job.id)) for job, owner in rows]


def _record(job: Job, owner: str, billed: tuple[float, bool], position: int | None) -> JobRecord:
    return JobRecord(
        id=job.id,
        owner=owner,
        kind=job.kind,
        state=job.state,
        stage=job.stage,
        progress=1.0 if job.state == "done" else round(min(max(job.progress, 0.0), 1.0), 4),
        error=job.error,
        display_name=job.display_name,
        transcript_id=job.transcript_id,
        partial_text=job.partial_text,
        chunks_done=job.chunks_done,
        chunks_total=job.chunks_total,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        queue_position=position,
        cancel_requested=job.cancel_requested,
        cached=billed[1],
        cost_usd=round(billed[0], 6),
    )
