"""Monthly budgets (per user and team-wide, in USD and audio minutes), per-user rate limits, budget alerts.

A period is the calendar month in UTC. What is left = limit − (this month's ledger rows with status ok that
were not cache hits) − (holds of paid calls still running). The user's and the team's limits both apply;
the tighter wins. Check + hold run in one transaction that first bumps the team budget row: that write
serialises every check across threads and processes (SQLite's writer lock, a row lock elsewhere), so two
requests can never both pass when only one fits. A hold is released once the call's charge is in the ledger.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core.db.models import AlertEvent, Budget, Job, QuotaReservation, UsageEvent, User, utcnow
from core.errors import QuotaError
from core.identity import audit, auth
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.log import log_event
from core.workbench import Workbench

TEAM = "team"
THRESHOLDS = (80, 100)  # percent of a limit at which an alert fires, once per month
HOLD_TTL = timedelta(hours=6)  # an older unreleased hold belongs to a process that died: it stops counting
RATE_WINDOW = timedelta(seconds=60)
KEEP_MARKS = timedelta(days=1)  # released holds and rate marks older than this are deleted
ACTIVE_JOBS_RETRY_S = 30
WEBHOOK_TIMEOUT_S = 5.0
_EPS = 1e-9
log = logging.getLogger(__name__)


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month (naive UTC, like every timestamp in the database)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def format_usd(value: float) -> str:
    """Dollars to the cent, or to a hundredth of a cent when the amount is not whole cents ($0.0042)."""
    return f"${value:,.2f}" if abs(value * 100 - round(value * 100)) < 1e-6 else f"${value:,.4f}"


@dataclass(frozen=True)
class Allowance:
    """One scope's monthly limits (None: no limit) and what this month has used of them."""

    scope: str  # "user" or "team"
    name: str  # the user's name, or "team"
    usd_limit: float | None
    minutes_limit: float | None
    spent_usd: float
    used_minutes: float
    held_usd: float = 0.0
    held_minutes: float = 0.0

    @property
    def remaining_usd(self) -> float | None:
        return None if self.usd_limit is None else max(0.0, self.usd_limit - self.spent_usd - self.held_usd)

    @property
    def remaining_minutes(self) -> float | None:
        if self.minutes_limit is None:
            return None
        return max(0.0, self.minutes_limit - self.used_minutes - self.held_minutes)

    @property
    def whose(self) -> str:
        return "the team's" if self.scope == "team" else f"{self.name}'s"


@dataclass(frozen=True)
class BudgetStatus:
    user: Allowance
    team: Allowance

    def _tightest(self, metric: str) -> tuple[float, Allowance] | None:
        left = [(getattr(a, f"remaining_{metric}"), a) for a in (self.user, self.team)]
        known = [(value, a) for value, a in left if value is not None]
        return min(known, key=lambda pair: pair[0]) if known else None

    @property
    def remaining_usd(self) -> float | None:
        tight = self._tightest("usd")
        return None if tight is None else tight[0]

    @property
    def remaining_minutes(self) -> float | None:
        tight = self._tightest("minutes")
        return None if tight is None else tight[0]

    def refusal(self, usd: float, minutes: float, what: str) -> str | None:
        """Why a call estimated at `usd` and `minutes` does not fit (naming the tighter scope), or None."""
        tight = self._tightest("usd")
        if tight is not None and usd > tight[0] + _EPS:
            left, a = tight
            return (
                f"{what} is estimated at {format_usd(usd)}, but only {format_usd(left)} of {a.whose} monthly "
                f"budget of {format_usd(a.usd_limit or 0.0)} is left. Nothing was sent or charged."
            )
        tight = self._tightest("minutes")
        if tight is not None and minutes > tight[0] + _EPS:
            left, a = tight
            return (
                f"{what} is {minutes:,.1f} audio minutes (estimated {format_usd(usd)}), but only {left:,.1f} of "
                f"{a.whose} {a.minutes_limit or 0:g} monthly audio minutes are left. Nothing was sent or charged."
            )
        return None


# ---- reading what was used --------------------------------------------------------------------------------


def _spent(s: Session, since: datetime, user_id: int | None) -> tuple[float, float]:
    """(USD, audio minutes) of this period's ok, non-cached ledger rows; one user's, or everyone's."""
    minutes = case((UsageEvent.operation == "transcribe", UsageEvent.audio_seconds), else_=0.0)
    stmt = select(func.coalesce(func.sum(UsageEvent.cost_usd), 0.0), func.coalesce(func.sum(minutes), 0.0)).where(
        UsageEvent.ts >= since,
        UsageEvent.status == "ok",
        UsageEvent.cached.is_(False),
        UsageEvent.is_demo.is_(False),  # synthetic demo rows never spend real budget
    )
    if user_id is not None:
        stmt = stmt.where(UsageEvent.user_id == user_id)
    usd, seconds = s.execute(stmt).one()
    return float(usd), float(seconds) / 60.0


def _held(s: Session, now: datetime, user_id: int | None) -> tuple[float, float]:
    stmt = select(
        func.coalesce(func.sum(QuotaReservation.usd), 0.0), func.coalesce(func.sum(QuotaReservation.minutes), 0.0)
    ).where(QuotaReservation.released_at.is_(None), QuotaReservation.created_at >= now - HOLD_TTL)
    if user_id is not None:
        stmt = stmt.where(QuotaReservation.user_id == user_id)
    usd, minutes = s.execute(stmt).one()
    return float(usd), float(minutes)


def _team_row(s: Session) -> Budget | None:
    return s.scalar(select(Budget).where(Budget.scope == TEAM))


def _status(s: Session, user_id: int, now: datetime, *, holds: bool = True) -> BudgetStatus:
    since = month_start(now)
    row = s.get(User, user_id)
    team = _team_row(s)
    user_spent, team_spent = _spent(s, since, user_id), _spent(s, since, None)
    user_held = _held(s, now, user_id) if holds else (0.0, 0.0)
    team_held = _held(s, now, None) if holds else (0.0, 0.0)
    return BudgetStatus(
        Allowance(
            "user",
            row.name if row else "?",
            row.monthly_usd_budget if row else None,
            row.monthly_minutes_budget if row else None,
            *user_spent,
            *user_held,
        ),
        Allowance(
            "team",
            TEAM,
            team.monthly_usd if team else None,
            team.monthly_minutes if team else None,
            *team_spent,
            *team_held,
        ),
    )


def budget_status(wb: Workbench, user: UserRecord, *, now: datetime | None = None) -> BudgetStatus:
    """This month's use of the user's and the team's limits, running calls' holds included."""
    with wb.Session() as s:
        return _status(s, user.id, now or utcnow())


def _lock(s: Session) -> None:
    """Take the quota lock for the rest of this transaction: a write to the team budget row."""
    bumped = s.execute(
        update(Budget).where(Budget.scope == TEAM).values(lock_version=Budget.lock_version + 1),
        execution_options={"synchronize_session": False},
    )
    if cast(CursorResult[Any], bumped).rowcount == 0:  # a database created without migration 0004's row
        s.add(Budget(scope=TEAM, lock_version=1, updated_at=utcnow()))
        s.flush()


# ---- checks ----------------------------------------------------------------------------------------------


def check_budget(
    wb: Workbench, user: UserRecord, *, usd: float, minutes: float, what: str = "This transcription"
) -> None:
    """QuotaError (with the estimate and what is left) when a call would not fit; reserves nothing."""
    refusal = budget_status(wb, user).refusal(usd, minutes, what)
    if refusal is not None:
        _refused(user, "budget", refusal, usd=usd, minutes=minutes)


def _refused(user: UserRecord, kind: str, message: str, **fields: Any) -> None:
    log_event(log, "quota refused", level=logging.WARNING, user=user.name, kind=kind, **fields)
    raise QuotaError(message)


@contextmanager
def hold(
    wb: Workbench,
    user: UserRecord,
    *,
    usd: float,
    minutes: float,
    kind: str = "transcribe",
    what: str = "This transcription",
) -> Iterator[None]:
    """Check and reserve the estimate atomically, run the paid call, then release and fire any alerts.

    Refused (QuotaError) before the block runs when the estimate does not fit: nothing is sent or charged.
    """
    now = utcnow()
    refusal: str | None = None
    hold_id = 0
    with wb.Session.begin() as s:
        _lock(s)
        refusal = _status(s, user.id, now).refusal(usd, minutes, what)
        if refusal is None:
            row = QuotaReservation(user_id=user.id, kind=kind, usd=usd, minutes=minutes, counts_rate=False,
                                   created_at=now)  # fmt: skip
            s.add(row)
            s.flush()
            hold_id = row.id
    if refusal is not None:
        _refused(user, "budget", refusal, usd=round(usd, 6), minutes=round(minutes, 3), operation=kind)
    try:
        yield
    finally:
        with wb.Session.begin() as s:
            s.execute(
                update(QuotaReservation).where(QuotaReservation.id == hold_id).values(released_at=utcnow()),
                execution_options={"synchronize_session": False},
            )
        try:
            check_alerts(wb, user)
        except Exception:  # noqa: BLE001 - an alert that cannot be stored or sent must not fail the call
            log.exception("budget alert check failed")


def check_rate(wb: Workbench, user: UserRecord, *, now: datetime | None = None) -> None:
    """Count one transcription against the per-minute limit, or QuotaError saying when to try again."""
    limit = wb.settings.rate_transcriptions_per_minute
    if limit <= 0:
        return
    now = now or utcnow()
    with wb.Session.begin() as s:
        _lock(s)
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
            _refused(user, "rate", message, retry_s=wait)
        s.add(QuotaReservation(user_id=user.id, kind="rate", usd=0.0, minutes=0.0, counts_rate=True,
                               created_at=now, released_at=now))  # fmt: skip


def check_active_jobs(wb: Workbench, user: UserRecord) -> None:
    """QuotaError when the user already has the most jobs allowed queued or running."""
    limit = wb.settings.rate_max_active_jobs
    if limit <= 0:
        return
    with wb.Session() as s:
        active = s.scalar(select(func.count()).where(Job.owner_id == user.id, Job.state.in_(("queued", "running"))))
    if (active or 0) >= limit:
        message = (
            f"You already have {active} jobs queued or running; at most {limit} are allowed at once. "
            f"Try again in {ACTIVE_JOBS_RETRY_S} s, when one has finished."
        )
        _refused(user, "jobs", message, active=active)


def admit_job(wb: Workbench, user: UserRecord, *, transcription: bool = True) -> None:
    """The checks at job submission: concurrent jobs, then (for a transcription) the per-minute rate."""
    check_active_jobs(wb, user)
    if transcription:
        check_rate(wb, user)


# ---- alerts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRecord:
    ts: datetime
    period: str
    scope: str  # "user" | "team"
    user: str | None
    metric: str  # "usd" | "minutes"
    threshold: int
    used: float
    limit: float
    webhook: str | None

    def sentence(self) -> str:
        whose = "The team" if self.scope == "team" else f"User {self.user}"
        if self.metric == "usd":
            amounts = f"{format_usd(self.used)} of {format_usd(self.limit)}"
        else:
            amounts = f"{self.used:,.1f} of {self.limit:g} audio minutes"
        return f"{whose} reached {self.threshold} % of the monthly budget in {self.period} ({amounts})."

    def payload(self) -> dict[str, Any]:
        return {
            "type": "budget_alert",
            "ts": self.ts.isoformat(timespec="seconds") + "Z",
            "period": self.period,
            "scope": self.scope,
            "user": self.user,
            "metric": self.metric,
            "threshold_percent": self.threshold,
            "used": round(self.used, 6),
            "limit": self.limit,
            "text": self.sentence(),
        }


def _alert_record(row: AlertEvent, user_name: str | None) -> AlertRecord:
    scope = TEAM if row.subject == TEAM else "user"
    return AlertRecord(row.ts, row.period, scope, user_name, row.metric, row.threshold, row.used, row.limit_value,
                       row.webhook)  # fmt: skip


def check_alerts(wb: Workbench, user: UserRecord, *, now: datetime | None = None) -> list[AlertRecord]:
    """Store, log and (with a webhook URL set) POST every threshold newly crossed this month; once each."""
    now = now or utcnow()
    period = period_of(now)
    fired: list[tuple[int, AlertRecord]] = []
    with wb.Session.begin() as s:
        _lock(s)  # serialises the once-only check with other workers
        status = _status(s, user.id, now, holds=False)
        for allowance, subject, owner in ((status.user, f"user:{user.id}", user), (status.team, TEAM, None)):
            metrics = (("usd", allowance.spent_usd, allowance.usd_limit),
                       ("minutes", allowance.used_minutes, allowance.minutes_limit))  # fmt: skip
            for metric, used, limit in metrics:
                if limit is None or limit <= 0:
                    continue
                for threshold in THRESHOLDS:
                    if used + _EPS < limit * threshold / 100:
                        continue
                    seen = s.scalar(
                        select(AlertEvent.id).where(AlertEvent.subject == subject, AlertEvent.metric == metric,
                                                    AlertEvent.threshold == threshold, AlertEvent.period == period)
                    )  # fmt: skip
                    if seen is not None:
                        continue
                    row = AlertEvent(ts=now, period=period, subject=subject, user_id=owner.id if owner else None,
                                     metric=metric, threshold=threshold, used=used, limit_value=limit)  # fmt: skip
                    s.add(row)
                    s.flush()
                    fired.append((row.id, _alert_record(row, owner.name if owner else None)))
    out = []
    for alert_id, alert in fired:
        log_event(log, "budget alert", level=logging.WARNING, scope=alert.scope, user=alert.user,
                  metric=alert.metric, threshold=alert.threshold, used=round(alert.used, 6), limit=alert.limit,
                  period=alert.period)  # fmt: skip
        sent = _post_webhook(wb.settings.alert_webhook_url, alert.payload())
        if sent is not None:
            with wb.Session.begin() as s:
                s.execute(update(AlertEvent).where(AlertEvent.id == alert_id).values(webhook=sent))
        out.append(AlertRecord(**{**alert.__dict__, "webhook": sent}))
    return out


def _post_webhook(url: str | None, payload: dict[str, Any]) -> str | None:
    """POST the alert as JSON; a one-word outcome to store, None when no URL is configured. Never raises."""
    if not url:
        return None
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "transcription-workbench"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310 - http(s) only
            return f"sent {response.status}"
    except urllib.error.HTTPError as exc:
        outcome = f"failed: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        outcome = f"failed: {type(exc).__name__}"
    # The URL itself is not logged: chat webhooks carry their secret in the path.
    log_event(log, "budget alert webhook failed", level=logging.WARNING, outcome=outcome)
    return outcome


def list_alerts(wb: Workbench, *, period: str | None = None, limit: int = 200) -> list[AlertRecord]:
    """Stored alerts, newest first (for the Admin page)."""
    stmt = select(AlertEvent, User.name).outerjoin(User, User.id == AlertEvent.user_id)
    if period:
        stmt = stmt.where(AlertEvent.period == period)
    stmt = stmt.order_by(AlertEvent.ts.desc(), AlertEvent.id.desc()).limit(max(1, limit))
    with wb.Session() as s:
        return [_alert_record(row, name) for row, name in s.execute(stmt).all()]


def user_alerts(wb: Workbench, user: UserRecord, *, now: datetime | None = None) -> list[AlertRecord]:
    """This month's alerts about the user's own budget or the team's."""
    period = period_of(now or utcnow())
    stmt = (
        select(AlertEvent, User.name)
        .outerjoin(User, User.id == AlertEvent.user_id)
        .where(AlertEvent.period == period, or_(AlertEvent.subject == f"user:{user.id}", AlertEvent.subject == TEAM))
        .order_by(AlertEvent.ts.desc())
    )
    with wb.Session() as s:
        return [_alert_record(row, name) for row, name in s.execute(stmt).all()]


def banner_lines(status: BudgetStatus) -> list[tuple[str, str]]:
    """("error" | "warning", sentence) for each limit at 100 % or at 80 % this month; [] when all are below."""
    lines: list[tuple[str, str]] = []
    for a in (status.user, status.team):
        who = "You have" if a.scope == "user" else "The team has"
        for used, limit, unit in ((a.spent_usd, a.usd_limit, "usd"), (a.used_minutes, a.minutes_limit, "minutes")):
            if limit is None or limit <= 0:
                continue
            pct = used / limit * 100
            amounts = (f"{format_usd(used)} of {format_usd(limit)}" if unit == "usd"
                       else f"{used:,.1f} of {limit:g} audio minutes")  # fmt: skip
            what = "budget" if unit == "usd" else "audio minutes"
            if pct + _EPS >= 100:
                refused = "Paid transcriptions are refused until next month or until an administrator raises the limit."
                lines.append(("error", f"{who} used all of this month's {what} ({amounts}). {refused}"))
            elif pct + _EPS >= 80:
                lines.append(("warning", f"{who} used {pct:.0f} % of this month's {what} ({amounts})."))
    return lines


# ---- setting limits ------------------------------------------------------------------------------------


def _describe(usd: float | None, minutes: float | None) -> str:
    return f"USD {'none' if usd is None else f'{usd:g}'}, minutes {'none' if minutes is None else f'{minutes:g}'}"


def team_budget(wb: Workbench) -> tuple[float | None, float | None]:
    """The team-wide monthly (USD, minutes) limits; None: no limit."""
    with wb.Session() as s:
        row = _team_row(s)
        return (row.monthly_usd, row.monthly_minutes) if row else (None, None)


def set_team_budget(wb: Workbench, usd: float | None, minutes: float | None, *, actor: str) -> None:
    """Set (None: remove) the team-wide monthly limits; audited."""
    usd, minutes = auth.budget_limit(usd, "USD"), auth.budget_limit(minutes, "minutes")
    with wb.Session.begin() as s:
        _lock(s)
        row = _team_row(s)
        assert row is not None  # _lock created it if it was missing
        before = _describe(row.monthly_usd, row.monthly_minutes)
        row.monthly_usd, row.monthly_minutes = usd, minutes
        row.updated_at, row.updated_by = utcnow(), actor[:64]
        audit.add_event(s, actor, "budget", TEAM, f"{before} -> {_describe(usd, minutes)}")


def set_user_budget(wb: Workbench, name: str, usd: float | None, minutes: float | None, *, actor: str) -> None:
    """Set (None: remove) a user's monthly limits; audited."""
    before = get_user(wb.Session, name)
    auth.set_budget(wb, name, usd, minutes)  # NotFoundError / InputError before anything changes
    was = _describe(before.monthly_usd_budget, before.monthly_minutes_budget) if before else "?"
    audit.record(wb.Session, actor, "budget", f"user {name}", f"{was} -> {_describe(usd, minutes)}")
