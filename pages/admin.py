"""Admin: users and roles, monthly budgets and alerts, provider settings and model shutdowns, failures, audit log."""

from __future__ import annotations

from datetime import date

import streamlit as st

from core.billing import quotas
from core.billing.analytics import UsageFilter
from core.billing.pricing import load_models
from core.identity import audit
from core.identity.directory import list_users
from core.identity.types import ROLES
from core.providers.key_check import NOTICES, OFFICIAL_URL, check_key
from ui.admin_widgets import (
    analytics,
    limit_text,
    models_frame,
    on_add_user,
    on_edit_user,
    on_save_budget,
    recent_failures,
    show_notice,
    users_frame,
)
from ui.budget_banner import alert_rows, audit_rows, team_budget_form
from ui.context import current_user, friendly_errors, workbench

KEY_LEVEL = {
    "valid": st.success,
    "invalid": st.error,
    "unconfirmed": st.warning,
    "unreachable": st.warning,
    "missing": st.info,
}

me = current_user()
if not me.is_admin:  # app.py registers this page for admins only; this guards a direct run
    st.error("This page is for administrators.")
    st.stop()
wb = workbench()
users = list_users(wb)
by_name = {u.name: u for u in users}
today = date.today()

st.title("Admin")
# Stateful tabs run only the open tab's code, so the ledger queries below run only when looked at.
users_tab, budgets_tab, providers_tab, failures_tab, audit_tab = st.tabs(
    ["Users", "Budgets", "Providers & models", "Recent failures", "Audit log"], key="admin_tab", on_change="rerun"
)

if users_tab.open:
    with users_tab:
        st.dataframe(users_frame(users), hide_index=True, column_order=["user", "role", "active"])
        add_col, edit_col = st.columns(2)
        with add_col:
            st.subheader("Add a user")
            with st.form("add_user"):
                st.text_input("User name", key="new_name", max_chars=64)
                st.selectbox("Role", ROLES, index=ROLES.index("member"), key="new_role")
                st.text_input("Password", type="password", key="new_password", help="At least 8 characters.")
                st.form_submit_button("Add user", on_click=on_add_user, args=(wb,), type="primary")
            show_notice("add")
        with edit_col:
            st.subheader("Change a user")
            name = st.selectbox("User", list(by_name), key="edit_user")
            if name:
                target, is_me = by_name[name], name == me.name
                with st.form(f"edit_{name}"):
                    own = "You cannot change this for your own account." if is_me else None
                    role_at = ROLES.index(target.role)
                    st.selectbox("Role", ROLES, role_at, key=f"role_{name}", disabled=is_me, help=own)
                    st.checkbox("Can sign in", target.active, key=f"active_{name}", disabled=is_me, help=own)
                    st.text_input("New password", type="password", key=f"password_{name}", help="Empty: unchanged.")
                    st.form_submit_button("Save changes", on_click=on_edit_user, args=(wb, name))
            show_notice("edit")

if budgets_tab.open:
    with budgets_tab:
        month = None
        with friendly_errors("Reading this month's usage"):
            month = analytics(wb.settings).minutes_per_user(UsageFilter(start=today.replace(day=1), end=today))
        st.caption("Monthly limits per user (empty: no limit), next to what each has used this calendar month.")
        st.dataframe(
            users_frame(users, month),
            hide_index=True,
            placeholder="no limit",
            column_order=["user", "budget_usd", "spent_usd", "budget_minutes", "used_minutes"],
            column_config={
                "budget_usd": st.column_config.NumberColumn("budget (USD)", format="dollar"),
                "spent_usd": st.column_config.NumberColumn("spent (USD)", format="dollar"),
                "budget_minutes": st.column_config.NumberColumn("budget (minutes)", format="%.0f"),
                "used_minutes": st.column_config.NumberColumn("used (minutes)", format="%.0f"),
            },
        )
        name = st.selectbox("User", list(by_name), key="budget_user")
        if name:
            target = by_name[name]
            with st.form(f"budget_{name}"):
                usd, minutes = limit_text(target.monthly_usd_budget), limit_text(target.monthly_minutes_budget)
                st.text_input("Monthly budget (USD)", usd, key=f"budget_usd_{name}", placeholder="no limit")
                st.text_input("Monthly audio minutes", minutes, key=f"budget_minutes_{name}", placeholder="no limit")
                st.form_submit_button("Save budget", on_click=on_save_budget, args=(wb, name))
        show_notice("budget")
        team_budget_form(wb, me.name)
        st.subheader("Budget alerts")
        alerts = quotas.list_alerts(wb)
        if alerts:
            st.dataframe(alert_rows(alerts), hide_index=True)
        else:
            st.caption("No budget has reached 80 % yet.")

if providers_tab.open:
    with providers_tab:
        settings = wb.settings
        has_key = "set" if settings.openai_api_key else "not set"  # whether one is set, never the key
        st.dataframe(
            {
                "setting": ["Default provider", "OpenAI base URL", "OpenAI API key"],
                "value": [settings.default_provider, settings.openai_base_url or f"{OFFICIAL_URL} (default)", has_key],
            },
            hide_index=True,
        )
        if st.button("Check the OpenAI key", icon=":material/key:"):
            with st.spinner("Asking the OpenAI API…"):
                status = check_key(settings)
            KEY_LEVEL[status](f"**{status}**: {NOTICES[status]}")
        st.subheader("Models and prices")
        st.caption("From core/models.toml. Models shut down, or shutting down within 90 days, are flagged.")
        st.dataframe(models_frame(load_models(), today), hide_index=True, placeholder="—")

if failures_tab.open:
    with failures_tab:
        failures = None
        with friendly_errors("Reading the failures"):
            failures = recent_failures(analytics(wb.settings), today)
        if failures is not None and failures.empty:
            st.info("No failed calls in the last 30 days.")
        elif failures is not None:
            st.caption("The most recent failed provider calls of the last 30 days, newest first.")
            st.dataframe(failures, hide_index=True, column_config={"ts": "time (UTC)", "file_name": "file"})

if audit_tab.open:
    with audit_tab:
        events = audit.list_events(wb.Session, limit=1000)
        st.caption("Sign-ins, edits, deletes, exports, shares, budget and role changes; the newest 1,000.")
        st.dataframe(audit_rows(events), hide_index=True)
        st.download_button(
            "Download CSV", audit.to_csv(events), "audit-log.csv", "text/csv", icon=":material/download:"
        )
