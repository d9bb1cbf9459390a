"""Sign-in sessions that can be ended, and throttled password guessing.

A login cookie carries its user's session version; every page run compares it with the database, so a
password change, deactivation, role change or sign-out ends every session of that user at once — a copied
cookie included. Failed sign-ins back off per user name and per client after five in a row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from core.db.models import AuditEvent, User, utcnow
from core.identity import audit
from core.workbench import Workbench

FREE_FAILURES = 5  # failed sign-ins allowed before the back-off starts
FIRST_WAIT_S = 30
MAX_WAIT_S = 900
WINDOW = timedelta(minutes=30)  # failures older than this are forgotten


def current_version(wb: Workbench, login_name: str) -> int | None:
    """The session version of the active user with this (case-insensitive) name, or None."""
    with wb.ReadSession() as s:
        row = s.execute(
            select(User.session_version, User.active).where(func.lower(User.name) == login_name.strip().lower())
        ).first()
    if row is None or not row.active:
        return None
    return int(row.session_version)


def end_sessions(wb: Workbench, name: str) -> None:
    """Sign the user out everywhere: every cookie and open session issued before now stops working."""
    with wb.Session.begin() as s:
        s.execute(
            update(User).where(func.lower(User.name) == name.lower()).values(session_version=User.session_version + 1)
        )


def _failures(wb: Workbench, column: InstrumentedAttribute[Any], value: str) -> tuple[int, float]:
    """Failed sign-ins in a row (since the last success) for a name or a client, and seconds since the last."""
    since = utcnow() - WINDOW
    with wb.ReadSession() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.ts)
            .where(column == value, AuditEvent.action.in_(("login", "login_failed")), AuditEvent.ts >= since)
            .order_by(AuditEvent.id.desc())
            .limit(FREE_FAILURES + 12)
        ).all()
    streak = 0
    for action, _ts in rows:
        if action == "login":
            break
        streak += 1
    age = (utcnow() - rows[0].ts).total_seconds() if rows else float("inf")
    return streak, age


def login_wait_s(wb: Workbench, login_name: str, client: str | None) -> int:
    """Seconds before another password may be tried for this name or from this client (0: go ahead)."""
    checks: list[tuple[InstrumentedAttribute[Any], str]] = [(AuditEvent.target, f"user {audit.clip_name(login_name)}")]
    if client:
        checks.append((AuditEvent.detail, audit.client_detail(client)))
    wait = 0.0
    for column, value in checks:
        streak, age = _failures(wb, column, value)
        if streak >= FREE_FAILURES:
            backoff = min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** (streak - FREE_FAILURES))
            wait = max(wait, backoff - age)
    return max(0, int(wait + 0.999))
