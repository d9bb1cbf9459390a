"""The audit log: who did what to what, and when — sign-ins, edits, deletes, exports, shares, budgets, roles.

Rows hold names, ids and short facts only: never transcript text, audio or secrets.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import AuditEvent, utcnow
from core.text import one_line

ACTIONS = (
    "login",
    "login_failed",
    "login_throttled",
    "edit",
    "delete",
    "export",
    "share",
    "unshare",
    "budget",
    "role",
    "user_add",
    "user_activate",
    "user_deactivate",
    "password",
)
CSV_COLUMNS = ("ts", "actor", "action", "target", "detail")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SM = sessionmaker[Session]


@dataclass(frozen=True)
class AuditRecord:
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    detail: str | None


def _clip(text: str, limit: int) -> str:
    """One scrubbed line of at most `limit` characters."""
    flat = one_line(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def add_event(s: Session, actor: str, action: str, target: str, detail: str | None = None) -> None:
    """Add one audit row inside the caller's transaction, so the change and its record commit together."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    s.add(
        AuditEvent(
            ts=utcnow(),
            actor=_clip(actor, 64) or "?",
            action=action,
            target=_clip(target, 200),
            detail=_clip(detail, 500) if detail else None,
        )
    )


def record(sm: SM, actor: str, action: str, target: str, detail: str | None = None) -> None:
    """Write one audit row in its own transaction."""
    with sm.begin() as s:
        add_event(s, actor, action, target, detail)


def clip_name(login_name: str) -> str:
    """A typed sign-in name as the audit log keeps it."""
    return _clip(login_name.strip().lower(), 64) or "(empty)"


def client_detail(client: str) -> str:
    """The audit detail that names the client (its address) of a sign-in attempt."""
    return f"client {_clip(client, 64)}"


def record_login(sm: SM, login_name: str, ok: bool, *, client: str | None = None, throttled: bool = False) -> None:
    """A sign-in, a failed or a throttled attempt under the name that was typed (never the password)."""
    name = clip_name(login_name)
    action = "login_throttled" if throttled else ("login" if ok else "login_failed")
    record(sm, name, action, f"user {name}", client_detail(client) if client else None)


def list_events(
    sm: SM,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditRecord]:
    """Audit rows, newest first, optionally of one action or actor and from a time on."""
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if since is not None:
        stmt = stmt.where(AuditEvent.ts >= since)
    stmt = stmt.order_by(AuditEvent.ts.desc(), AuditEvent.id.desc()).limit(max(1, limit))
    with sm() as s:
        return [AuditRecord(e.id, e.ts, e.actor, e.action, e.target, e.detail) for e in s.scalars(stmt)]


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheets: names and targets are user text.
    return "'" + value if value[:1] in _FORMULA_START else value


def to_csv(events: list[AuditRecord]) -> bytes:
    """Audit rows as UTF-8 CSV with a header, every text cell defused against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        ts = e.ts.isoformat(timespec="seconds")
        writer.writerow([ts, _cell(e.actor), e.action, _cell(e.target), _cell(e.detail or "")])
    return out.getvalue().encode("utf-8")
