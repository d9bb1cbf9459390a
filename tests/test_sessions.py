"""Sign-ins that can be ended, and failed sign-ins that back off (issue 10, item 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.db.models import AuditEvent
from core.identity import audit, auth, sessions
from core.workbench import Workbench

PASSWORD = "a long enough password"


@pytest.fixture
def dana(wb: Workbench) -> str:
    auth.ensure_admin(wb)
    auth.add_user(wb, "dana", "member", PASSWORD)
    return "dana"


@pytest.mark.parametrize(
    "change",
    [
        lambda wb: auth.set_password(wb, "dana", "another long password"),
        lambda wb: auth.set_role(wb, "dana", "admin"),
        lambda wb: auth.set_active(wb, "dana", False),
        lambda wb: sessions.end_sessions(wb, "dana"),
    ],
    ids=["password", "role", "deactivate", "sign-out-everywhere"],
)
def test_each_change_ends_the_sessions_signed_in_before_it(wb: Workbench, dana: str, change) -> None:
    before = sessions.current_version(wb, "Dana")  # case-insensitive, as the login form lowers names
    assert before is not None
    change(wb)
    assert sessions.current_version(wb, "dana") != before


def test_an_unknown_or_inactive_user_has_no_session_version(wb: Workbench, dana: str) -> None:
    assert sessions.current_version(wb, "nobody") is None
    auth.set_active(wb, "dana", False)
    assert sessions.current_version(wb, "dana") is None


def _fail(wb: Workbench, name: str, times: int, client: str = "10.0.0.9") -> None:
    for _ in range(times):
        audit.record_login(wb.Session, name, False, client=client)


def test_five_failures_are_free_then_the_wait_grows(wb: Workbench, dana: str) -> None:
    _fail(wb, "dana", 5)
    wait = sessions.login_wait_s(wb, "dana", "10.0.0.1")
    assert 0 < wait <= sessions.FIRST_WAIT_S
    _fail(wb, "dana", 1)
    assert sessions.login_wait_s(wb, "dana", "10.0.0.1") > sessions.FIRST_WAIT_S


def test_four_failures_do_not_lock_anyone_out(wb: Workbench, dana: str) -> None:
    _fail(wb, "dana", 4)
    assert sessions.login_wait_s(wb, "dana", "10.0.0.9") == 0


def test_a_success_resets_the_streak(wb: Workbench, dana: str) -> None:
    _fail(wb, "dana", 6)
    audit.record_login(wb.Session, "dana", True, client="10.0.0.9")
    assert sessions.login_wait_s(wb, "dana", None) == 0


def test_one_client_guessing_many_names_is_throttled(wb: Workbench, dana: str) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5"):
        _fail(wb, name, 1, client="10.6.6.6")
    assert sessions.login_wait_s(wb, "dana", "10.6.6.6") > 0
    assert sessions.login_wait_s(wb, "dana", "10.0.0.1") == 0


def test_the_wait_runs_out(wb: Workbench, dana: str) -> None:
    _fail(wb, "dana", 5)
    with wb.Session.begin() as s:
        s.execute(update(AuditEvent).values(ts=AuditEvent.ts - timedelta(seconds=sessions.FIRST_WAIT_S + 1)))
    assert sessions.login_wait_s(wb, "dana", None) == 0
