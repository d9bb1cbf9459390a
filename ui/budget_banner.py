"""The budget banner (80 % / 100 % of a monthly limit) for any page; the Admin page's team limit, alerts, audit log."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.billing import quotas
from core.billing.money import format_usd
from core.identity.audit import AuditRecord
from core.identity.types import UserRecord
from core.workbench import Workbench
from ui.admin_widgets import limit_text, parse_limit
from ui.context import friendly_errors
from ui.text import md

EPS = 1e-9  # a limit reached to float rounding counts as reached
_SHOW = {"error": st.error, "warning": st.warning}


def budget_banner(wb: Workbench, user: UserRecord) -> None:
    """A warning at 80 % and an error at 100 % of the user's or the team's monthly limits; nothing below."""
    for level, sentence in banner_lines(quotas.budget_status(wb, user)):
        _SHOW[level](md(sentence), icon=":material/savings:")


def banner_lines(status: quotas.BudgetStatus) -> list[tuple[str, str]]:
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
            if pct + EPS >= 100:
                refused = "Paid transcriptions are refused until next month or until an administrator raises the limit."
                lines.append(("error", f"{who} used all of this month's {what} ({amounts}). {refused}"))
            elif pct + EPS >= 80:
                lines.append(("warning", f"{who} used {pct:.0f} % of this month's {what} ({amounts})."))
    return lines


def alert_rows(alerts: list[quotas.AlertRecord]) -> list[dict[str, Any]]:
    """Budget alerts as table rows, newest first."""
    return [
        {
            "time (UTC)": a.ts,
            "month": a.period,
            "who": "team" if a.scope == "team" else a.user,
            "limit": "USD" if a.metric == "usd" else "audio minutes",
            "reached": f"{a.threshold} %",
            "used": format_usd(a.used) if a.metric == "usd" else f"{a.used:,.1f}",
            "of": format_usd(a.limit) if a.metric == "usd" else f"{a.limit:g}",
            "webhook": a.webhook or "not configured",
        }
        for a in alerts
    ]


def audit_rows(events: list[AuditRecord]) -> list[dict[str, Any]]:
    """Audit events as table rows (st.dataframe shows cell text as text, never markup)."""
    return [
        {"time (UTC)": e.ts, "who": e.actor, "action": e.action, "target": e.target, "detail": e.detail or ""}
        for e in events
    ]


def team_budget_form(wb: Workbench, actor: str) -> None:
    """The team-wide monthly limits (empty: no limit), saved with the acting admin's name in the audit log."""
    st.subheader("Team-wide limit")
    st.caption("Applies on top of each user's limit; the tighter one wins.")
    usd, minutes = quotas.team_budget(wb)
    with st.form("budget_team"):
        st.text_input("Team monthly budget (USD)", limit_text(usd), key="team_usd", placeholder="no limit")
        st.text_input("Team monthly audio minutes", limit_text(minutes), key="team_min", placeholder="no limit")
        saved = st.form_submit_button("Save team budget")
    if saved:
        with friendly_errors("Saving the team budget"):
            new_usd = parse_limit(st.session_state["team_usd"], "USD")
            new_minutes = parse_limit(st.session_state["team_min"], "minutes")
            quotas.set_team_budget(wb, new_usd, new_minutes, actor=actor)
            st.success("Saved the team budget.")
