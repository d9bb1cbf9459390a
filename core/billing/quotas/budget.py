"""Budget checks before a paid call, the hold that reserves its estimate, and setting the monthly limits."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select, update

from core.billing.quotas.alerts import check_alerts
from core.billing.quotas.status import TEAM, budget_status, lock, refused, status_in, team_row
from core.db.models import QuotaReservation, User, utcnow
from core.errors import InputError, NotFoundError
from core.identity import audit
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.workbench import Workbench

log = logging.getLogger("core.billing.quotas")  # one logger for the package, as before the split


def check_budget(
    wb: Workbench, user: UserRecord, *, usd: float, minutes: float, what: str = "This transcription"
) -> None:
    """QuotaError (with the estimate and what is left) when a call would not fit; reserves nothing."""
    refusal = budget_status(wb, user).refusal(usd, minutes, what)
    if refusal is not None:
        refused(user, "budget", refusal, usd=usd, minutes=minutes)


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
        lock(s)
        refusal = status_in(s, user.id, now).refusal(usd, minutes, what)
        if refusal is None:
            row = QuotaReservation(user_id=user.id, kind=kind, usd=usd, minutes=minutes, counts_rate=False,
                                   created_at=now)  # fmt: skip
            s.add(row)
            s.flush()
            hold_id = row.id
    if refusal is not None:
        refused(user, "budget", refusal, usd=round(usd, 6), minutes=round(minutes, 3), operation=kind)
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


def budget_limit(value: float | None, what: str) -> float | None:
    """A monthly limit as stored: None (no limit) or a finite number of 0 or more; InputError otherwise."""
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"the monthly {what} budget must be a number of 0 or more (or empty for no limit)")
    return float(value)


def _store_user_budget(wb: Workbench, name: str, usd: float | None, minutes: float | None) -> None:
    """Write a user's monthly limits after validating both; NotFoundError for an unknown name."""
    usd, minutes = budget_limit(usd, "USD"), budget_limit(minutes, "minutes")
    with wb.Session.begin() as s:
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFoundError(f"user {name!r} not found")
        row.monthly_usd_budget, row.monthly_minutes_budget = usd, minutes


def _describe(usd: float | None, minutes: float | None) -> str:
    return f"USD {'none' if usd is None else f'{usd:g}'}, minutes {'none' if minutes is None else f'{minutes:g}'}"


def team_budget(wb: Workbench) -> tuple[float | None, float | None]:
    """The team-wide monthly (USD, minutes) limits; None: no limit."""
    with wb.Session() as s:
        row = team_row(s)
        return (row.monthly_usd, row.monthly_minutes) if row else (None, None)


def set_team_budget(wb: Workbench, usd: float | None, minutes: float | None, *, actor: str) -> None:
    """Set (None: remove) the team-wide monthly limits; audited."""
    usd, minutes = budget_limit(usd, "USD"), budget_limit(minutes, "minutes")
    with wb.Session.begin() as s:
        lock(s)
        row = team_row(s)
        assert row is not None  # lock created it if it was missing
        before = _describe(row.monthly_usd, row.monthly_minutes)
        row.monthly_usd, row.monthly_minutes = usd, minutes
        row.updated_at, row.updated_by = utcnow(), actor[:64]
        audit.add_event(s, actor, "budget", TEAM, f"{before} -> {_describe(usd, minutes)}")


def set_user_budget(wb: Workbench, name: str, usd: float | None, minutes: float | None, *, actor: str) -> None:
    """Set (None: remove) a user's monthly limits; audited."""
    before = get_user(wb.Session, name)
    _store_user_budget(wb, name, usd, minutes)  # NotFoundError / InputError before anything changes
    was = _describe(before.monthly_usd_budget, before.monthly_minutes_budget) if before else "?"
    audit.record(wb.Session, actor, "budget", f"user {name}", f"{was} -> {_describe(usd, minutes)}")
