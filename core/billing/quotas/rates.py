"""Per-user rate limits: transcriptions a minute and jobs queued or running at once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.billing.quotas.status import lock, refused
from core.db.models import Job, QuotaReservation, utcnow
from core.identity.types import UserRecord
from core.workbench import Workbench

RATE_WINDOW = timedelta(seconds=60)
KEEP_MARKS = timedelta(days=1)  # released holds and rate marks older than this are deleted
ACTIVE_JOBS_RETRY_S = 30


def check_rate(wb: Workbench, user: UserRecord, *, now: datetime | None = None) -> None:
    """Count one transcription against the per-minute limit, or QuotaError saying when to try again."""
    limit = wb.settings.rate_transcriptions_per_minute
    if limit <= 0:
        return
    now = now or utcnow()
    with wb.Session.begin() as s:
        lock(s)
        s.execute(delete(QuotaReservation).where(QuotaReservation.created_at < now - KEEP_MARKS))
        recent = list(
            s.scalars(
                select(QuotaReservation.created_at)
                .where(
                    QuotaReservation.user_id == user.id,
                    QuotaReservation.counts_rate.is_(True),
                    QuotaReservation.created_at > now - RATE_WINDOW,
                )
                .order_by(QuotaReservation.created_at)
            )
        )
        if len(recent) >= limit:
            frees_at = recent[len(recent) - limit] + RATE_WINDOW
            wait = max(1, math.ceil((frees_at - now).total_seconds()))
            message = f"Too many transcriptions: at most {limit} a minute for each user. Try again in {wait} s."
            refused(user, "rate", message, retry_s=wait)
        s.add(QuotaReservation(user_id=user.id, kind="rate", usd=0.0, minutes=0.0, counts_rate=True,
                               created_at=now, released_at=now))  # fmt: skip


def check_active_jobs(wb: Workbench, user: UserRecord) -> None:
    """QuotaError when the user already has the most jobs allowed queued or running."""
    with wb.ReadSession() as s:
        check_active_jobs_in(s, wb, user)


def check_active_jobs_in(s: Session, wb: Workbench, user: UserRecord) -> None:
    """The same check inside the caller's transaction; under the quota lock, check and insert are one step."""
    limit = wb.settings.rate_max_active_jobs
    if limit <= 0:
        return
    active = s.scalar(select(func.count()).where(Job.owner_id == user.id, Job.state.in_(("queued", "running"))))
    if (active or 0) >= limit:
        message = (
            f"You already have {active} jobs queued or running; at most {limit} are allowed at once. "
            f"Try again in {ACTIVE_JOBS_RETRY_S} s, when one has finished."
        )
        refused(user, "jobs", message, active=active)


def admit_job(wb: Workbench, user: UserRecord, *, transcription: bool = True) -> None:
    """The checks at job submission: concurrent jobs, then (for a transcription) the per-minute rate."""
    check_active_jobs(wb, user)
    if transcription:
        check_rate(wb, user)
