"""The Usage & cost and Admin pages under AppTest, each page file run on its own.

The login gate lives in app.py; here the signed-in user is put in session state the way the gate leaves
it (ui.context.USER_KEY), and settings reach the pages through the environment, as in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.billing.analytics import Analytics, UsageFilter
from core.billing.pricing import ModelInfo, load_models
from core.config import Settings
from core.identity import audit, auth
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.ops.demo import seed_demo
from core.workbench import Workbench
from ui.admin_widgets import ledger_csv, model_price, model_status, parse_limit, recent_failures, users_frame
from ui.context import USER_KEY

ROOT = Path(__file__).resolve().parent.parent
USAGE, ADMIN = str(ROOT / "pages" / "usage.py"), str(ROOT / "pages" / "admin.py")
ADMIN_PASSWORD = "first-admin-pw"
SECRET_KEY = "sk-test-never-shown-0123456789"
CHART_KEYS = ("chart_spend", "chart_minutes", "chart_cache", "chart_health", "chart_files")


@pytest.fixture
def site(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    """The environment the pages read settings from, pointing at the test's data dir; the workbench opened."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WORKBENCH_PROVIDER", "mock")
    monkeypatch.setenv("WORKBENCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    st.cache_resource.clear()  # the pages' cached workbench and analytics belong to one test
    bench = Workbench.open(settings)
    auth.ensure_admin(bench)
    yield bench
    st.cache_resource.clear()
    bench.close()


@pytest.fixture
def demo(site: Workbench) -> Workbench:
    seed_demo(site.settings, events=400)
    return site


def page(path: str, user: str, **state: Any) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.session_state[USER_KEY] = user
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def charts_by_key(at: AppTest) -> dict[str, dict[str, Any]]:
    """The plotly figures on the page, as the JSON Streamlit sends, by widget key."""
    return {element.key: json.loads(element.proto.spec) for element in at.get("plotly_chart")}


def everything_sent(at: AppTest) -> str:
    """Every element's message to the browser, dataframes' Arrow bytes included, as one string."""
    return "\n".join(str(getattr(node, "proto", "")) for root in (at.main, at.sidebar) for node in root)


# ---- Usage & cost ---------------------------------------------------------------------------------------


def test_admin_sees_every_chart_and_headline_after_demo_data(demo: Workbench) -> None:
    at = page(USAGE, "admin")
    assert not at.exception
    assert set(charts_by_key(at)) == set(CHART_KEYS)
    assert [m.label for m in at.metric] == [
        "Spend",
        "Audio minutes",
        "Calls",
        "Cache hits",
        "Saved by the cache",
        "Error rate",
    ]
    assert all(m.value.startswith("$") for m in at.metric if m.label == "Spend")
    spend = charts_by_key(at)["chart_spend"]
    assert spend["layout"]["barmode"] == "stack"
    assert len(spend["data"]) > 1  # one trace per model
    assert at.get("download_button")


def test_member_sees_only_own_usage_and_cannot_widen_the_filter(demo: Workbench) -> None:
    # "ana" is a demo user; the page must ignore a user filter a member smuggles into session state.
    at = page(USAGE, "ana", usage_user="Everyone")
    assert not at.exception
    assert not at.selectbox  # no user selector for members
    minutes = charts_by_key(at)["chart_minutes"]
    assert [list(trace["y"]) for trace in minutes["data"]] == [["ana"]]
    assert set(at.dataframe[0].value["user"]) == {"ana"}  # the latest-calls table
    with Analytics(demo.settings) as engine:
        ana = engine.totals(UsageFilter(start=at.date_input[0].value[0], end=at.date_input[0].value[1], user="ana"))
    calls = next(m for m in at.metric if m.label == "Calls")
    assert calls.value == f"{ana['calls']:,}"


def test_admin_can_narrow_to_one_user(demo: Workbench) -> None:
    at = page(USAGE, "admin")
    at.selectbox(key="usage_user").set_value("ben").run()
    assert not at.exception
    assert [list(t["y"]) for t in charts_by_key(at)["chart_minutes"]["data"]] == [["ben"]]


def test_the_demo_toggle_hides_demo_rows(demo: Workbench) -> None:
    at = page(USAGE, "admin")
    at.toggle(key="usage_include_demo").set_value(False).run()
    assert not at.exception
    assert not charts_by_key(at)
    assert "No usage in this period" in at.info[0].value


def test_empty_state_offers_admins_demo_data_that_fills_every_chart(site: Workbench) -> None:
    at = page(USAGE, "admin")
    assert not at.exception, at.exception
    assert "No usage in this period" in at.info[0].value
    assert not charts_by_key(at)
    next(b for b in at.button if b.label == "Load demo data").click().run()
    assert not at.exception
    assert set(charts_by_key(at)) == set(CHART_KEYS)


def test_empty_state_for_a_member_has_no_demo_button(site: Workbench) -> None:
    auth.add_user(site, "carol", "member", "carol-password")
    at = page(USAGE, "carol")
    assert not at.exception
    assert at.info and not [b for b in at.button if b.label == "Load demo data"]


# ---- Admin ------------------------------------------------------------------------------------------------


def test_admin_page_refuses_members(site: Workbench) -> None:
    auth.add_user(site, "carol", "member", "carol-password")
    at = page(ADMIN, "carol")
    assert not at.exception
    assert at.error[0].value == "This page is for administrators."
    assert not at.tabs


def test_add_user_form_creates_a_user_who_can_sign_in(site: Workbench) -> None:
    at = page(ADMIN, "admin")
    at.text_input(key="new_name").input("carol")
    at.text_input(key="new_password").input("carol-password")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception
    assert "Added carol" in at.success[0].value
    user = get_user(site.Session, "carol")
    assert user is not None and user.role == "member"
    assert auth.check_password(site.settings, "carol", "carol-password")
    assert "carol" in list(at.dataframe[0].value["user"])  # the table already shows the new user
    assert at.text_input(key="new_password").value == ""
    added = audit.list_events(site.Session, action="user_add")
    assert [(e.actor, e.target) for e in added] == [("admin", "user carol")]


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("carol", "short", "the password is too short"),
        ("bad name!", "carol-password", "is not allowed"),
        ("admin", "carol-password", "already exists"),
    ],
)
def test_add_user_form_shows_the_reason_it_refused(site: Workbench, name: str, password: str, message: str) -> None:
    at = page(ADMIN, "admin")
    at.text_input(key="new_name").input(name)
    at.text_input(key="new_password").input(password)
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception
    assert message in at.error[0].value
    assert get_user(site.Session, "carol") is None


def test_edit_user_deactivates_changes_role_and_resets_password(site: Workbench) -> None:
    auth.add_user(site, "carol", "member", "carol-password")
    at = page(ADMIN, "admin", edit_user="carol")
    at.checkbox(key="active_carol").uncheck()
    at.selectbox(key="role_carol").set_value("admin")
    at.text_input(key="password_carol").input("new-carol-password")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception
    assert "deactivated" in at.success[0].value
    carol = get_user(site.Session, "carol")
    assert carol is not None and not carol.active and carol.role == "admin"
    assert auth.check_password(site.settings, "carol", "new-carol-password")
    logged = {(e.actor, e.action, e.target) for e in audit.list_events(site.Session, actor="admin")}
    assert {("admin", "role", "user carol"), ("admin", "user_deactivate", "user carol"),
            ("admin", "password", "user carol")} <= logged  # fmt: skip


def test_edit_user_refuses_a_bad_password_before_changing_anything(site: Workbench) -> None:
    auth.add_user(site, "carol", "member", "carol-password")
    at = page(ADMIN, "admin", edit_user="carol")
    at.selectbox(key="role_carol").set_value("admin")
    at.text_input(key="password_carol").input("short")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert "the password is too short" in at.error[0].value
    carol = get_user(site.Session, "carol")
    assert carol is not None and carol.role == "member"


def test_admin_cannot_lock_themselves_out_from_the_form(site: Workbench) -> None:
    at = page(ADMIN, "admin", edit_user="admin")
    assert at.checkbox(key="active_admin").disabled
    assert at.selectbox(key="role_admin").disabled


def test_budget_save_persists_and_empty_removes_it(site: Workbench) -> None:
    auth.add_user(site, "carol", "member", "carol-password")
    at = page(ADMIN, "admin", admin_tab="Budgets", budget_user="carol")
    assert not at.exception
    at.text_input(key="budget_usd_carol").input("$25")
    at.text_input(key="budget_minutes_carol").input("600")
    next(b for b in at.button if b.label == "Save budget").click().run()
    assert not at.exception
    assert "Saved the monthly budget of carol" in at.success[0].value
    carol = get_user(site.Session, "carol")
    assert carol is not None and (carol.monthly_usd_budget, carol.monthly_minutes_budget) == (25.0, 600.0)
    assert [(e.actor, e.target) for e in audit.list_events(site.Session, action="budget")] == [("admin", "user carol")]
    row = at.dataframe[0].value.set_index("user").loc["carol"]
    assert (row["budget_usd"], row["budget_minutes"]) == (25.0, 600.0)

    at.text_input(key="budget_usd_carol").input("")
    next(b for b in at.button if b.label == "Save budget").click().run()
    carol = get_user(site.Session, "carol")
    assert carol is not None and carol.monthly_usd_budget is None and carol.monthly_minutes_budget == 600.0


@pytest.mark.parametrize(("usd", "message"), [("lots", "is not a number"), ("-5", "must be a number of 0 or more")])
def test_budget_form_explains_a_bad_value(site: Workbench, usd: str, message: str) -> None:
    at = page(ADMIN, "admin", admin_tab="Budgets", budget_user="admin")
    at.text_input(key="budget_usd_admin").input(usd)
    next(b for b in at.button if b.label == "Save budget").click().run()
    assert not at.exception
    assert message in at.error[0].value
    admin = get_user(site.Session, "admin")
    assert admin is not None and admin.monthly_usd_budget is None


def test_providers_tab_flags_shutdowns_and_never_shows_the_key(
    site: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("WORKBENCH_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens: unreachable
    at = page(ADMIN, "admin", admin_tab="Providers & models")
    assert not at.exception
    settings_table = at.dataframe[0].value.set_index("setting")["value"]
    assert settings_table["OpenAI API key"] == "set"
    models = at.dataframe[1].value.set_index("model")
    assert "whisper-1" in models.index and models.loc["gpt-transcribe", "status"] == ""
    next(b for b in at.button if b.label == "Check the OpenAI key").click().run()
    assert not at.exception
    assert "unreachable" in at.warning[0].value
    sent = everything_sent(at)
    assert "OpenAI API key" in sent  # the walk does reach the tables
    assert SECRET_KEY not in sent


def test_recent_failures_lists_error_rows_newest_first(demo: Workbench) -> None:
    at = page(ADMIN, "admin", admin_tab="Recent failures")
    assert not at.exception
    table = at.dataframe[0].value
    assert not table.empty
    assert list(table.columns) == ["ts", "user", "provider", "model", "error", "file_name"]
    assert table["error"].notna().all()
    assert table["ts"].is_monotonic_decreasing


# ---- Helpers behind the pages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shutdown", "replacement", "expected"),
    [
        (None, None, ""),
        (date(2026, 6, 1), None, ""),
        (date(2026, 3, 31), "gpt-transcribe", "⚠️ shuts down in 30 days; use gpt-transcribe"),
        (date(2026, 3, 2), None, "⚠️ shuts down in 1 day"),
        (date(2026, 3, 1), "gpt-transcribe", "⛔ shut down since 2026-03-01; use gpt-transcribe"),
    ],
)
def test_model_status_flags_past_and_near_shutdowns(
    shutdown: date | None, replacement: str | None, expected: str
) -> None:
    info = ModelInfo("m", "openai", "transcribe", "minute", shutdown=shutdown, replacement=replacement)
    assert model_status(info, date(2026, 3, 1)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-transcribe", "$0.0045 / min"),
        ("gpt-4o-transcribe", "$6.00 audio in · $2.50 text in · $10.00 out / 1M tokens"),
        ("tiny.en", "free"),
        ("mock-1", "$0.0060 / min (not charged)"),
    ],
)
def test_model_price_in_words(name: str, expected: str) -> None:
    assert model_price(load_models()[name]) == expected


def test_ledger_csv_defuses_spreadsheet_formulas() -> None:
    frame = pd.DataFrame({"file_name": ["=HYPERLINK(1)", "ok.mp3", None], "cost_usd": [-1.0, 0.5, 0.0]})
    text = ledger_csv(frame).decode("utf-8")
    assert "'=HYPERLINK(1)" in text
    assert ",-1.0" in text  # numbers are left alone


@pytest.mark.parametrize(("typed", "value"), [("", None), ("  ", None), ("25", 25.0), ("$1,200.50", 1200.5)])
def test_parse_limit(typed: str, value: float | None) -> None:
    assert parse_limit(typed, "USD") == value


def test_users_frame_adds_this_months_usage() -> None:
    users = [UserRecord(1, "ana", "member", monthly_usd_budget=10.0), UserRecord(2, "ben", "admin")]
    month = pd.DataFrame({"user": ["ana"], "audio_minutes": [12.5], "cost_usd": [0.75]})
    frame = users_frame(users, month).set_index("user")
    assert frame.loc["ana", "spent_usd"] == 0.75 and frame.loc["ben", "used_minutes"] == 0.0
    assert pd.isna(frame.loc["ben", "budget_usd"])


def test_recent_failures_match_the_ledger_whatever_the_window(demo: Workbench) -> None:
    today = date.today()
    with Analytics(demo.settings) as engine:
        ledger = engine.ledger(UsageFilter(start=today.replace(day=1) - timedelta(days=62), end=today))
        for limit in (1, 3, 1000):
            expected = ledger[ledger["status"] != "ok"]
            expected = expected[expected["ts"] >= pd.Timestamp(today - timedelta(days=29))].head(limit)
            got = recent_failures(engine, today, limit=limit)
            assert list(got["ts"]) == list(expected["ts"])
            assert list(got["error"]) == list(expected["error"])
