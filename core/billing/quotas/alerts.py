"""Budget alerts: each threshold of a monthly limit crossed fires once a month, stored and optionally POSTed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from core.billing.money import format_usd
from core.billing.quotas.status import EPS, TEAM, lock, period_of, status_in
from core.billing.quotas.webhook import post_webhook
from core.db.models import AlertEvent, User, utcnow
from core.identity.types import UserRecord
from core.log import log_event
from core.workbench import Workbench

THRESHOLDS = (80, 100)  # percent of a limit at which an alert fires, once per month
log = logging.getLogger("core.billing.quotas")  # one logger for the package, as before the split


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
        lock(s)  # serialises the once-only check with other workers
        status = status_in(s, user.id, now, holds=False)
        for allowance, subject, owner in ((status.user, f"user:{user.id}", user), (status.team, TEAM, None)):
            metrics = (("usd", allowance.spent_usd, allowance.usd_limit),
                       ("minutes", allowance.used_minutes, allowance.minutes_limit))  # fmt: skip
            for metric, used, limit in metrics:
                if limit is None or limit <= 0:
                    continue
                for threshold in THRESHOLDS:
                    if used + EPS < limit * threshold / 100:
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
        sent = post_webhook(wb.settings.alert_webhook_url, alert.payload())
        if sent is not None:
            with wb.Session.begin() as s:
                s.execute(update(AlertEvent).where(AlertEvent.id == alert_id).values(webhook=sent))
        out.append(AlertRecord(**{**alert.__dict__, "webhook": sent}))
    return out


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
