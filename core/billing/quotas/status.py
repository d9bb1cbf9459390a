"""What this month has used of each monthly limit, and the lock every quota check takes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, func, select, update
from sqlalchemy.orm import Session

from core.billing.money import format_usd
from core.db.models import Budget, QuotaReservation, UsageEvent, User, utcnow
from core.errors import QuotaError
from core.identity.types import UserRecord
from core.log import log_event
from core.workbench import Workbench

TEAM = "team"
HOLD_TTL = timedelta(hours=6)  # an older unreleased hold belongs to a process that died: it stops counting
EPS = 1e-9
log = logging.getLogger("core.billing.quotas")  # one logger for the package, as before the split


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month (naive UTC, like every timestamp in the database)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_of(now: datetime) -> str:
    """The month `now` falls in, as stored on alerts: "2026-12"."""
    return f"{now:%Y-%m}"


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
        if tight is not None and usd > tight[0] + EPS:
            left, a = tight
            return (
                f"{what} is estimated at {format_usd(usd)}, but only {format_usd(left)} of {a.whose} monthly "
                f"budget of {format_usd(a.usd_limit or 0.0)} is left. Nothing was sent or charged."
            )
        tight = self._tightest("minutes")
        if tight is not None and minutes > tight[0] + EPS:
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


def team_row(s: Session) -> Budget | None:
    return s.scalar(select(Budget).where(Budget.scope == TEAM))


def status_in(s: Session, user_id: int, now: datetime, *, holds: bool = True) -> BudgetStatus:
    since = month_start(now)
    row = s.get(User, user_id)
    team = team_row(s)
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
        return status_in(s, user.id, now or utcnow())


def lock(s: Session) -> None:
    """Take the quota lock for the rest of this transaction: a write to the team budget row."""
    bumped = s.execute(
        update(Budget).where(Budget.scope == TEAM).values(lock_version=Budget.lock_version + 1),
        execution_options={"synchronize_session": False},
    )
    if cast(CursorResult[Any], bumped).rowcount == 0:  # a database created without migration 0004's row
        s.add(Budget(scope=TEAM, lock_version=1, updated_at=utcnow()))
        s.flush()


def refused(user: UserRecord, kind: str, message: str, **fields: Any) -> None:
    log_event(log, "quota refused", level=logging.WARNING, user=user.name, kind=kind, **fields)
    raise QuotaError(message)
