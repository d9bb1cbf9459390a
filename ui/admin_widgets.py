"""Helpers for the Usage and Admin pages: the shared analytics engine, tables, a safe CSV, admin form actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from core.billing import quotas
from core.billing.analytics import Analytics, UsageFilter
from core.billing.money import format_usd
from core.billing.pricing import ModelInfo
from core.config import Settings
from core.errors import InputError, NotFoundError, WorkbenchError
from core.identity import audit, auth
from core.identity.directory import get_user
from core.identity.types import UserRecord
from core.workbench import Workbench
from ui.text import md

SHUTDOWN_WARNING_DAYS = 90
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _close(engine: Analytics) -> None:
    engine.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _open_analytics(db_url: str, _settings: Settings) -> Analytics:
    # db_url is the cache key (hashed); _settings, like any leading-underscore argument, is not.
    return Analytics(_settings)


def analytics(settings: Settings) -> Analytics:
    """One analytics engine (and its in-memory ledger mirror) per process and database, shared by pages."""
    return _open_analytics(settings.db_url, settings)


def recent_failures(engine: Analytics, today: date, *, days: int = 30, limit: int = 50) -> pd.DataFrame:
    """Failed calls of the last `days` days (demo rows included), newest first: time, user, model, error."""
    # The analytics API has no status filter, so rows are fetched and filtered here; widening the window
    # step by step keeps a busy ledger cheap (a day usually holds enough failures), a quiet one complete.
    failed = pd.DataFrame()
    for window in sorted({min(1, days), min(7, days), days}):
        rows = engine.ledger(UsageFilter(start=today - timedelta(days=window - 1), end=today))
        failed = rows[rows["status"] != "ok"]
        if len(failed) >= limit:
            break
    columns = ["ts", "user", "provider", "model", "error", "file_name"]
    return failed.head(limit).reindex(columns=columns).reset_index(drop=True)


def ledger_csv(ledger: pd.DataFrame) -> bytes:
    """The ledger as UTF-8 CSV, with text that a spreadsheet would run as a formula defused."""
    safe = ledger.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_defuse_formula)
    text: str = safe.to_csv(index=False)
    return text.encode("utf-8")


def _defuse_formula(value: object) -> object:
    # A cell starting with = + - @ (or tab/CR) is a formula to Excel and LibreOffice: file names are user text.
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


def model_price(info: ModelInfo) -> str:
    """The list price in words: "$0.0060 / min", "$6.00 audio in · $10.00 out / 1M tokens", "free"."""
    if info.unit == "minute":
        price = f"{format_usd(info.usd_per_minute)} / min"
    elif info.unit == "token":
        parts = [
            f"{format_usd(rate)} {label}"
            for rate, label in (
                (info.usd_per_m_audio_in, "audio in"),
                (info.usd_per_m_text_in, "text in"),
                (info.usd_per_m_out, "out"),
            )
            if rate
        ]
        price = " · ".join(parts) + " / 1M tokens"
    else:
        price = "free"
    return price if info.charged or info.unit == "free" else f"{price} (not charged)"


def model_status(info: ModelInfo, today: date) -> str:
    """ "" for a model with no shutdown in sight, else a short warning naming the replacement."""
    if info.shutdown is None:
        return ""
    instead = f"; use {info.replacement}" if info.replacement else ""
    if info.is_shut_down(today):
        return f"⛔ shut down since {info.shutdown.isoformat()}{instead}"
    days = (info.shutdown - today).days
    if days <= SHUTDOWN_WARNING_DAYS:
        return f"⚠️ shuts down in {days} day{'s' if days != 1 else ''}{instead}"
    return ""


def models_frame(models: Mapping[str, ModelInfo], today: date) -> pd.DataFrame:
    """One row per model in the price table, with its price and shutdown status."""
    return pd.DataFrame(
        [
            {
                "model": info.name,
                "provider": info.provider,
                "kind": info.kind,
                "price": model_price(info),
                "shutdown": info.shutdown,
                "status": model_status(info, today),
            }
            for info in models.values()
        ],
        columns=["model", "provider", "kind", "price", "shutdown", "status"],
    )


def users_frame(users: Iterable[UserRecord], month_usage: pd.DataFrame | None = None) -> pd.DataFrame:
    """Users with their budgets and, when given, this month's spend and minutes."""
    frame = pd.DataFrame(
        [
            {
                "user": u.name,
                "role": u.role,
                "active": u.active,
                "budget_usd": u.monthly_usd_budget,
                "budget_minutes": u.monthly_minutes_budget,
            }
            for u in users
        ],
        columns=["user", "role", "active", "budget_usd", "budget_minutes"],
    )
    if month_usage is None:
        return frame
    usage = month_usage.rename(columns={"cost_usd": "spent_usd", "audio_minutes": "used_minutes"})
    merged = frame.merge(usage[["user", "spent_usd", "used_minutes"]], on="user", how="left")
    return merged.fillna({"spent_usd": 0.0, "used_minutes": 0.0})


# ---- Admin form actions ------------------------------------------------------------------------------
# Callbacks run before the page is drawn, so the tables show a change at once; the outcome is kept in
# session state and shown once under the form it belongs to.

NOTICE_KEY = "admin_notice"


def _notice(section: str, ok: bool, text: str) -> None:
    st.session_state[NOTICE_KEY] = (section, ok, text)


def show_notice(section: str) -> None:
    """Show, once, the outcome of the last form action of this section."""
    stored = st.session_state.get(NOTICE_KEY)
    if stored and stored[0] == section:
        del st.session_state[NOTICE_KEY]
        (st.success if stored[1] else st.error)(md(stored[2]))


def _actor() -> str:
    """The signed-in admin, for the audit log."""
    from ui.context import USER_KEY

    return str(st.session_state.get(USER_KEY) or "?")


def on_add_user(wb: Workbench) -> None:
    """The "Add a user" form's callback."""
    ss = st.session_state
    try:
        user = auth.add_user(wb, ss["new_name"], ss["new_role"], ss["new_password"])
    except WorkbenchError as exc:
        return _notice("add", False, str(exc))
    audit.record(wb.Session, _actor(), "user_add", f"user {user.name}", f"role {user.role}")
    ss["new_name"] = ss["new_password"] = ""
    _notice("add", True, f"Added {user.name} ({user.role}).")


def on_edit_user(wb: Workbench, name: str) -> None:
    """The "Change a user" form's callback: role, sign-in and password, a bad password refused first."""
    ss = st.session_state
    role, active, password = ss[f"role_{name}"], ss[f"active_{name}"], ss[f"password_{name}"]
    done = []
    try:
        before = get_user(wb, name)
        if before is None:
            raise NotFoundError(f"user {name!r} not found")
        if password:
            auth.check_password_rules(password)  # refuse a bad password before changing anything
        if role != before.role:
            auth.set_role(wb, name, role)
            audit.record(wb.Session, _actor(), "role", f"user {name}", f"{before.role} -> {role}")
            done.append(f"role set to {role}")
        if active != before.active:
            auth.set_active(wb, name, active)
            audit.record(wb.Session, _actor(), "user_activate" if active else "user_deactivate", f"user {name}")
            done.append("can sign in again" if active else "deactivated")
        if password:
            auth.set_password(wb, name, password)
            audit.record(wb.Session, _actor(), "password", f"user {name}", "reset by an administrator")
            ss[f"password_{name}"] = ""
            done.append("password reset")
    except WorkbenchError as exc:
        so_far = f"{name}: {', '.join(done)}; but then " if done else ""  # say what did change before it
        return _notice("edit", False, so_far + str(exc))
    _notice("edit", True, f"{name}: {', '.join(done)}." if done else "Nothing was changed.")


def parse_limit(text: str, what: str) -> float | None:
    """A budget field as typed ("25", "$1,200.50", "" for no limit) as a number, or InputError."""
    cleaned = text.strip().replace(",", "").removeprefix("$").strip()
    if not cleaned:
        return None
    try:
        return float(cleaned)
    except ValueError:
        raise InputError(f"the monthly {what} budget {text.strip()[:20]!r} is not a number") from None


def limit_text(value: float | None) -> str:
    """A stored budget as the budget field shows it: "" for no limit, no trailing ".0"."""
    return "" if value is None else f"{value:g}" if value == int(value) else f"{value:.2f}"


def on_save_budget(wb: Workbench, name: str) -> None:
    """The budget form's callback; an empty field removes that limit."""
    ss = st.session_state
    try:
        usd = parse_limit(ss[f"budget_usd_{name}"], "USD")
        minutes = parse_limit(ss[f"budget_minutes_{name}"], "minutes")
        quotas.set_user_budget(wb, name, usd, minutes, actor=_actor())
    except WorkbenchError as exc:
        return _notice("budget", False, str(exc))
    _notice("budget", True, f"Saved the monthly budget of {name}.")
