"""Usage & cost: spend, minutes, cache savings and provider health from the ledger; members see only their own."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial

import streamlit as st

from core.billing.analytics import Analytics, UsageFilter
from core.billing.money import format_usd
from core.config import Settings
from core.identity.directory import list_users
from core.ops.demo import seed_demo
from ui import charts
from ui.admin_widgets import analytics, ledger_csv
from ui.context import current_user, friendly_errors, workbench

EVERYONE = "Everyone"
DEFAULT_DAYS = 30
DEMO_EVENTS = 3000
DEMO_KEY = "usage_include_demo"


def _ledger_csv(engine: Analytics, usage_filter: UsageFilter) -> bytes:
    return ledger_csv(engine.ledger(usage_filter))


def _load_demo(settings: Settings) -> None:
    with friendly_errors("Loading demo data"):
        seed_demo(settings, events=DEMO_EVENTS)
        st.session_state[DEMO_KEY] = True  # callbacks run before the toggle is drawn, so this may set it


me = current_user()
wb = workbench()
engine = analytics(wb.settings)

st.title("Usage & cost")

today = date.today()
period_col, user_col, demo_col = st.columns([2, 2, 1], vertical_alignment="bottom")
picked = period_col.date_input(
    "Period", value=(today - timedelta(days=DEFAULT_DAYS - 1), today), max_value=today, key="usage_period"
)
days = list(picked) if isinstance(picked, tuple | list) else [picked]
start = days[0] if days else None
end = days[-1] if days else None  # while the second date is being picked, the first day alone

if me.is_admin:
    names = [u.name for u in list_users(wb)]
    who = user_col.selectbox("User", [EVERYONE, *names], key="usage_user")
    user = None if who == EVERYONE else who
    include_demo = demo_col.toggle("Include demo data", value=True, key=DEMO_KEY)
else:
    user, include_demo = me.name, True  # a member's filter is fixed here, whatever the session state holds
    user_col.caption("Your own usage.")

frames = None
with friendly_errors("Loading usage"):
    usage_filter = UsageFilter(start=start, end=end, user=user, include_demo=include_demo)
    frames = engine.page_queries(usage_filter)
if frames is None:
    st.stop()

totals = frames["totals"].iloc[0]
if not totals["calls"]:
    st.info(
        "No usage in this period yet. Every transcription and summary is recorded here with what it cost, "
        "so this page fills in as the workbench is used. Try a wider date range"
        + (", or switch on demo data." if me.is_admin and not include_demo else ".")
    )
    if me.is_admin:
        st.button(
            "Load demo data",
            on_click=_load_demo,
            args=(wb.settings,),
            help=f"Adds {DEMO_EVENTS:,} synthetic calls by demo users over the last 90 days. Demo rows are "
            "marked as such and never mix with real ones: the toggle above hides them.",
        )
    st.stop()

spend_col, minutes_col, calls_col, hits_col, saved_col, error_col = st.columns(6)
spend_col.metric("Spend", format_usd(totals["cost_usd"]), border=True)
minutes = totals["audio_seconds"] / 60
minutes_col.metric("Audio minutes", f"{minutes:,.1f}" if minutes < 10 else f"{minutes:,.0f}", border=True)
calls_col.metric("Calls", f"{int(totals['calls']):,}", border=True)
hits_col.metric("Cache hits", f"{int(totals['cache_hits']):,}", border=True)
saved_col.metric("Saved by the cache", format_usd(totals["saved_usd"]), border=True)
error_col.metric("Error rate", f"{totals['error_rate']:.1%}", border=True)

st.plotly_chart(charts.spend_per_day(frames["spend_per_day"]), key="chart_spend")
left, right = st.columns(2)
left.plotly_chart(charts.minutes_per_user(frames["minutes_per_user"]), key="chart_minutes")
right.plotly_chart(charts.cache_savings(frames["cache_savings"]), key="chart_cache")
left.plotly_chart(charts.provider_health(frames["provider_health"]), key="chart_health")
right.plotly_chart(charts.costliest_files(frames["costliest_files"]), key="chart_files")

with st.expander("Latest calls"):
    st.dataframe(
        frames["recent"],
        hide_index=True,
        column_order=["ts", "user", "model", "operation", "audio_seconds", "cost_usd", "cached", "status", "error"],
        column_config={"ts": "time (UTC)", "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f")},
    )
st.download_button(
    "Download the ledger (CSV)",
    data=partial(_ledger_csv, engine, usage_filter),  # built only when clicked
    file_name=f"usage-{start}-to-{end}.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
    help="Every call in this period" + ("" if me.is_admin else " of yours") + ", one row each.",
)
