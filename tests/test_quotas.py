"""Budgets (per user and team, USD and minutes), holds under concurrency, rate limits, alerts and the webhook."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from core.billing import quotas
from core.billing.ledger import LedgerContext, record_cache_hit, record_call
from core.billing.money import format_usd
from core.billing.pricing import estimate_cost
from core.config import load_settings
from core.db.models import AlertEvent, Job, QuotaReservation, UsageEvent, utcnow
from core.errors import QuotaError
from core.identity import audit
from core.identity.types import UserRecord
from core.jobs import api as jobs
from core.providers.base import CallRecord, TranscriptionRequest, TranscriptionResult
from core.providers.mock import MockProvider
from core.transcripts import repository as repo
from core.transcripts.service import TranscribeOptions, transcribe_file
from core.workbench import Workbench
from tests.conftest import REPO_ROOT, cli_env
from ui.budget_banner import banner_lines

PRICED = "gpt-transcribe"  # $0.0045 a minute; the mock provider prices calls with the model it is asked for
PRICED_OPTS = TranscribeOptions(model=PRICED, use_cache=False)


def make_wav(path: Path, seconds: float, seed: int = 0) -> Path:
    """Quiet noise of a given length; the seed makes the content (and so the cache key) unique."""
    rate = 8000
    rng = np.random.default_rng(seed)
    samples = (rng.normal(0, 0.05, int(rate * seconds)) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def spend(wb: Workbench, user: UserRecord, usd: float = 0.0, seconds: float = 0.0, **kw: Any) -> None:
    record_call(
        wb.Session,
        LedgerContext(user.id, "openai", "earlier.mp3"),
        CallRecord("transcribe", PRICED, audio_seconds=seconds, cost_usd=usd, **kw),
    )


def ledger_total(wb: Workbench) -> tuple[int, float]:
    with wb.Session() as s:
        count, total = s.execute(select(func.count(), func.coalesce(func.sum(UsageEvent.cost_usd), 0.0))).one()
        return int(count), float(total)


def active_holds(wb: Workbench) -> int:
    with wb.Session() as s:
        stmt = select(func.count()).where(QuotaReservation.released_at.is_(None), QuotaReservation.kind != "rate")
        return int(s.scalar(stmt) or 0)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_wav(tmp_path / "clip.wav", 60.0, seed=1)  # one minute: $0.0045 with PRICED


# ---- budgets ----------------------------------------------------------------------------------------------


def test_over_budget_is_refused_with_estimate_and_remainder_and_nothing_is_sent(wb, alice, clip):
    quotas.set_user_budget(wb, "alice", 0.01, None, actor="test")
    spend(wb, alice, usd=0.007)
    provider = MockProvider()
    before = ledger_total(wb)
    with pytest.raises(QuotaError) as info:
        transcribe_file(wb, clip, "clip.wav", alice, PRICED_OPTS, provider=provider)
    message = str(info.value)
    assert "$0.0045" in message and "$0.0030" in message and "alice's monthly budget of $0.01" in message
    assert "Nothing was sent or charged" in message and info.value.exit_code == 4
    assert provider.history == [] and ledger_total(wb) == before and active_holds(wb) == 0
    assert repo.list_transcripts(wb.Session, alice) == []


def test_a_call_that_fits_to_the_cent_passes_and_is_charged(wb, alice, clip):
    quotas.set_user_budget(wb, "alice", 0.0045, None, actor="test")  # exactly one minute of PRICED
    outcome = transcribe_file(wb, clip, "clip.wav", alice, PRICED_OPTS, provider=MockProvider())
    assert outcome.cost_usd == pytest.approx(0.0045)
    status = quotas.budget_status(wb, alice)
    assert status.user.spent_usd == pytest.approx(0.0045) and status.remaining_usd == pytest.approx(0.0)
    assert active_holds(wb) == 0
    with pytest.raises(QuotaError, match=r"only \$0.00 of alice's"):
        transcribe_file(wb, clip, "again.wav", alice, PRICED_OPTS, provider=MockProvider())


def test_team_limit_applies_on_top_and_the_tighter_wins(wb, alice, bob, clip):
    quotas.set_user_budget(wb, "alice", 5.0, None, actor="test")
    quotas.set_team_budget(wb, 0.01, None, actor="test")
    spend(wb, bob, usd=0.008)  # someone else's spend counts against the team
    with pytest.raises(QuotaError, match=r"only \$0.0020 of the team's monthly budget of \$0.01"):
        transcribe_file(wb, clip, "clip.wav", alice, PRICED_OPTS, provider=MockProvider())
    quotas.set_team_budget(wb, None, None, actor="test")
    assert transcribe_file(wb, clip, "clip.wav", alice, PRICED_OPTS, provider=MockProvider()).cost_usd > 0


def test_free_providers_still_count_audio_minutes(wb, alice, clip):
    quotas.set_user_budget(wb, "alice", 0.0, 1.5, actor="test")  # $0 is fine for a free call
    first = transcribe_file(wb, clip, "clip.wav", alice, TranscribeOptions(use_cache=False), provider=MockProvider())
    assert first.cost_usd == 0.0
    assert quotas.budget_status(wb, alice).user.used_minutes == pytest.approx(1.0)
    with pytest.raises(QuotaError, match=r"1.0 audio minutes .* only 0.5 of alice's 1.5 monthly audio minutes"):
        transcribe_file(wb, clip, "clip.wav", alice, TranscribeOptions(use_cache=False), provider=MockProvider())


def test_what_counts_is_this_months_ok_non_cached_rows(wb, alice):
    quotas.set_user_budget(wb, "alice", 1.0, 100, actor="test")
    spend(wb, alice, usd=0.25, seconds=120)
    spend(wb, alice, usd=0.50, seconds=600, status="error")  # a failed call charged nothing
    record_cache_hit(wb.Session, LedgerContext(alice.id, "openai"), model=PRICED, audio_seconds=900, saved_usd=1,
                     transcript_id=1)  # fmt: skip
    last_month = quotas.month_start(utcnow()) - timedelta(seconds=1)  # last month's spend is history
    with wb.Session.begin() as s:
        s.add(UsageEvent(user_id=alice.id, provider="openai", model=PRICED, operation="transcribe",
                         audio_seconds=3000, cost_usd=0.9, ts=last_month))  # fmt: skip
    status = quotas.budget_status(wb, alice)
    assert (status.user.spent_usd, status.user.used_minutes) == (pytest.approx(0.25), pytest.approx(2.0))
    assert (status.remaining_usd, status.remaining_minutes) == (pytest.approx(0.75), pytest.approx(98.0))
    next_month = quotas.budget_status(wb, alice, now=quotas.month_start(utcnow()) + timedelta(days=40))
    assert next_month.user.spent_usd == 0.0


def test_cache_hits_are_free_and_never_refused(wb, alice, clip):
    transcribe_file(wb, clip, "clip.wav", alice, TranscribeOptions(model=PRICED), provider=MockProvider())
    quotas.set_user_budget(wb, "alice", 0.0, 0.0, actor="test")
    provider = MockProvider()
    hit = transcribe_file(wb, clip, "clip.wav", alice, TranscribeOptions(model=PRICED), provider=provider)
    assert hit.cached and hit.cost_usd == 0.0 and provider.history == []


def test_a_stale_hold_of_a_dead_process_stops_counting(wb, alice):
    quotas.set_user_budget(wb, "alice", 1.0, None, actor="test")
    with wb.Session.begin() as s:
        s.add(QuotaReservation(user_id=alice.id, kind="transcribe", usd=0.9, minutes=0, counts_rate=False,
                               created_at=utcnow() - quotas.HOLD_TTL - timedelta(minutes=1)))  # fmt: skip
        s.add(QuotaReservation(user_id=alice.id, kind="transcribe", usd=0.5, minutes=0, counts_rate=False,
                               created_at=utcnow()))  # fmt: skip
    assert quotas.budget_status(wb, alice).remaining_usd == pytest.approx(0.5)


class SlowPricedProvider(MockProvider):
    """The mock, taking a while per call: concurrent requests overlap inside their holds."""

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        time.sleep(0.3)
        return super().transcribe(request)


def test_simultaneous_requests_never_both_pass_when_only_one_fits(wb, alice, tmp_path):
    quotas.set_user_budget(wb, "alice", 0.006, None, actor="test")  # room for one minute, not two
    clips = [make_wav(tmp_path / f"c{i}.wav", 60.0, seed=10 + i) for i in range(6)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(clips))

    def run(path: Path) -> None:
        barrier.wait()
        try:
            transcribe_file(wb, path, path.name, alice, PRICED_OPTS, provider=SlowPricedProvider())
            outcomes.append("ok")
        except QuotaError:
            outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(p,)) for p in clips]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ok"] + ["refused"] * (len(clips) - 1)
    assert ledger_total(wb)[1] == pytest.approx(0.0045) and active_holds(wb) == 0


def test_holds_serialise_check_and_reserve(wb, alice):
    quotas.set_user_budget(wb, "alice", 1.0, None, actor="test")
    passed: list[int] = []
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with quotas.hold(wb, alice, usd=0.4, minutes=0.0):
                passed.append(i)
                time.sleep(0.05)
                spend(wb, alice, usd=0.4)  # the charge lands before the hold is released, as in a real call
        except QuotaError:
            pass

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(passed) == 2 and active_holds(wb) == 0
    assert ledger_total(wb)[1] == pytest.approx(0.8)


# ---- jobs -------------------------------------------------------------------------------------------------


def test_job_submission_checks_the_budget_and_queues_nothing_over_it(wb, alice, clip):
    quotas.set_user_budget(wb, "alice", 0.001, None, actor="test")
    with pytest.raises(QuotaError, match=r"estimated at \$0.0045"):
        jobs.submit_transcription(wb, clip, "clip.wav", alice, PRICED_OPTS)
    assert jobs.list_jobs(wb, alice) == []


def test_a_job_that_no_longer_fits_when_it_runs_fails_with_the_sentence(wb, alice, clip):
    job = jobs.submit_transcription(wb, clip, "clip.wav", alice, TranscribeOptions(provider="mock", model=PRICED))
    quotas.set_user_budget(wb, "alice", 0.001, None, actor="test")
    done = jobs.run_job_inline(wb, job.id)
    assert done.state == "failed" and "estimated at $0.0045" in (done.error or "") and done.cost_usd == 0.0
    assert done.refused  # shown as a limit to raise, with no Retry that cannot succeed (issue 10, item 26)


def test_concurrent_jobs_limit_refuses_with_try_again(wb, alice, clip, tmp_path):
    limited = Workbench.open(wb.settings.model_copy(update={"rate_max_active_jobs": 2}))
    try:
        for i in range(2):
            jobs.submit_transcription(limited, clip, f"c{i}.wav", alice, TranscribeOptions())
        with pytest.raises(QuotaError, match=r"2 jobs queued or running; at most 2 .* Try again in \d+ s"):
            jobs.submit_transcription(limited, clip, "c3.wav", alice, TranscribeOptions())
        with limited.Session.begin() as s:  # one finishes: room again
            first = s.scalar(select(Job).order_by(Job.id).limit(1))
            assert first is not None
            first.state = "done"
        jobs.submit_transcription(limited, clip, "c4.wav", alice, TranscribeOptions())
    finally:
        limited.close()


def test_concurrent_submits_cannot_race_past_the_active_jobs_limit(wb, alice, clip):
    # Issue 10, item 8: limit 2, five submits at once used to leave five jobs active.
    limited = Workbench.open(wb.settings.model_copy(update={"rate_max_active_jobs": 2}))
    start, outcomes = threading.Barrier(5), []

    def submit(i: int) -> None:
        start.wait()
        try:
            outcomes.append(jobs.submit_transcription(limited, clip, f"r{i}.wav", alice, TranscribeOptions()).id)
        except QuotaError:
            outcomes.append("refused")

    try:
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with limited.Session() as s:
            active = s.scalar(select(func.count()).select_from(Job).where(Job.state.in_(("queued", "running"))))
    finally:
        limited.close()
    assert active == 2 and outcomes.count("refused") == 3


# ---- rate limits ------------------------------------------------------------------------------------------


def test_rate_limit_refuses_with_the_seconds_to_wait(wb, alice, clip):
    limited = Workbench.open(wb.settings.model_copy(update={"rate_transcriptions_per_minute": 2}))
    try:
        for _ in range(2):
            transcribe_file(limited, clip, "clip.wav", alice, TranscribeOptions())  # cache hits count too
        with pytest.raises(QuotaError, match=r"at most 2 a minute for each user\. Try again in (\d+) s") as info:
            transcribe_file(limited, clip, "clip.wav", alice, TranscribeOptions())
        wait = int(str(info.value).rsplit("in ", 1)[1].split()[0])
        assert 1 <= wait <= 60
        later = utcnow() + timedelta(seconds=61)
        quotas.check_rate(limited, alice, now=later)  # the window has moved on
    finally:
        limited.close()


def test_rate_limit_is_per_user_and_zero_means_none(wb, alice, bob):
    limited = Workbench.open(wb.settings.model_copy(update={"rate_transcriptions_per_minute": 1}))
    try:
        quotas.check_rate(limited, alice)
        quotas.check_rate(limited, bob)  # bob has his own window
        with pytest.raises(QuotaError):
            quotas.check_rate(limited, alice)
    finally:
        limited.close()
    unlimited = Workbench.open(wb.settings.model_copy(update={"rate_transcriptions_per_minute": 0}))
    try:
        for _ in range(50):
            quotas.check_rate(unlimited, alice)
    finally:
        unlimited.close()


# ---- alerts -----------------------------------------------------------------------------------------------


class Hook:
    """A tiny webhook receiver on 127.0.0.1."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with Hook() as server:
        yield server


def test_alerts_fire_once_at_80_and_100_percent_log_and_post(wb, alice, hook, caplog):
    hooked = Workbench.open(wb.settings.model_copy(update={"alert_webhook_url": hook.url}))
    try:
        quotas.set_user_budget(hooked, "alice", 1.0, None, actor="test")
        caplog.set_level(logging.WARNING, logger="core.billing.quotas")
        spend(hooked, alice, usd=0.5)
        assert quotas.check_alerts(hooked, alice) == []
        spend(hooked, alice, usd=0.3)
        fired = quotas.check_alerts(hooked, alice)
        assert [(a.scope, a.metric, a.threshold, a.webhook) for a in fired] == [("user", "usd", 80, "sent 204")]
        assert quotas.check_alerts(hooked, alice) == []  # once per threshold per month
        spend(hooked, alice, usd=0.25)
        assert [a.threshold for a in quotas.check_alerts(hooked, alice)] == [100]
        assert [(b["threshold_percent"], b["user"], b["metric"]) for b in hook.bodies] == [
            (80, "alice", "usd"),
            (100, "alice", "usd"),
        ]
        logged = [r for r in caplog.records if r.getMessage() == "budget alert"]
        assert [(r.__dict__["threshold"], r.__dict__["user"]) for r in logged] == [(80, "alice"), (100, "alice")]
        listed = quotas.list_alerts(hooked)
        assert [(a.threshold, a.user) for a in listed] == [(100, "alice"), (80, "alice")]
        assert "reached 100 %" in listed[0].sentence()
    finally:
        hooked.close()


def test_alerts_after_a_paid_call_and_no_webhook_unless_configured(wb, alice, clip, hook):
    quotas.set_user_budget(wb, "alice", None, 1.2, actor="test")
    quotas.set_team_budget(wb, 0.005, None, actor="test")
    transcribe_file(wb, clip, "clip.wav", alice, PRICED_OPTS, provider=MockProvider())
    with wb.Session() as s:
        rows = s.execute(select(AlertEvent.subject, AlertEvent.metric, AlertEvent.threshold, AlertEvent.webhook)).all()
    assert sorted(rows) == [("team", "usd", 80, None), (f"user:{alice.id}", "minutes", 80, None)]
    assert hook.bodies == []
    lines = banner_lines(quotas.budget_status(wb, alice))
    assert [level for level, _ in lines] == ["warning", "warning"]
    assert "You have used 83 % of this month's audio minutes" in lines[0][1]
    assert "The team has used 90 % of this month's budget ($0.0045 of $0.0050)" in lines[1][1]
    assert {a.scope for a in quotas.user_alerts(wb, alice)} == {"user", "team"}


def test_a_failing_webhook_is_recorded_and_never_fails_the_call(wb, alice):
    broken = Workbench.open(wb.settings.model_copy(update={"alert_webhook_url": "http://127.0.0.1:9/nothing"}))
    try:
        quotas.set_user_budget(broken, "alice", 1.0, None, actor="test")
        spend(broken, alice, usd=1.0)
        fired = quotas.check_alerts(broken, alice)
        assert [a.webhook.split(":")[0] for a in fired if a.webhook] == ["failed", "failed"]
    finally:
        broken.close()


# ---- setting limits: validation, audit, CLI ---------------------------------------------------------------


def test_budget_changes_are_validated_and_audited(wb, alice):
    quotas.set_user_budget(wb, "alice", 12.5, 90, actor="root")
    quotas.set_team_budget(wb, 100, None, actor="root")
    assert quotas.team_budget(wb) == (100.0, None)
    with pytest.raises(Exception, match="0 or more"):
        quotas.set_team_budget(wb, -1, None, actor="root")
    events = audit.list_events(wb.Session, action="budget")
    assert [(e.actor, e.target, e.detail) for e in events] == [
        ("root", "team", "USD none, minutes none -> USD 100, minutes none"),
        ("root", "user alice", "USD none, minutes none -> USD 12.5, minutes 90"),
    ]


def run_cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, input=stdin,
                          env=cli_env(data_dir, WORKBENCH_PROVIDER="mock"), cwd=REPO_ROOT, timeout=120)  # fmt: skip


def test_cli_budget_set_and_refusal_exit_4(tmp_path, clip):
    data = tmp_path / "data"
    added = run_cli(data, "users", "add", "carol", "--role", "member", "--password-stdin", stdin="carol-secret-1\n")
    assert added.returncode == 0, added.stderr
    set_user = run_cli(data, "budget", "set", "--user", "carol", "--monthly-usd", "0.001")
    assert set_user.returncode == 0, set_user.stderr
    assert json.loads(set_user.stdout) == {"scope": "user", "user": "carol", "monthly_usd": 0.001,
                                           "monthly_minutes": None}  # fmt: skip
    refused = run_cli(data, "transcribe", str(clip), "--user", "carol", "--model", PRICED)
    assert refused.returncode == 4 and refused.stdout == ""
    assert "estimated at $0.0045, but only $0.0010 of carol's monthly budget" in refused.stderr
    team = run_cli(data, "budget", "set", "--team", "--monthly-minutes", "600")
    assert team.returncode == 0, team.stderr
    shown = json.loads(run_cli(data, "budget", "show", "--json").stdout)
    assert shown["team"]["monthly_minutes"] == 600 and shown["users"]["carol"]["monthly_usd"] == 0.001
    cleared = run_cli(data, "budget", "set", "--user", "carol", "--monthly-usd", "none")
    assert json.loads(cleared.stdout)["monthly_usd"] is None
    bad = run_cli(data, "budget", "set", "--user", "carol", "--monthly-usd", "-3")
    assert bad.returncode == 2 and "must be 0 or more" in bad.stderr
    missing = run_cli(data, "budget", "set", "--user", "nobody", "--monthly-usd", "3")
    assert missing.returncode == 5
    wb = Workbench.open(load_settings(secrets_file=None, data_dir=data))
    try:
        actions = [e.action for e in audit.list_events(wb.Session)]
        assert actions.count("budget") == 3 and "user_add" in actions
    finally:
        wb.close()


def test_estimate_matches_what_the_ledger_charges(wb, alice, clip):
    outcome = transcribe_file(wb, clip, "clip.wav", alice, PRICED_OPTS, provider=MockProvider())
    assert outcome.cost_usd == pytest.approx(estimate_cost(PRICED, 60.0))


def test_month_boundaries_are_utc_calendar_months():
    assert quotas.month_start(datetime(2026, 3, 31, 23, 59, 59)) == datetime(2026, 3, 1)
    assert quotas.period_of(datetime(2026, 12, 1)) == "2026-12"
    assert format_usd(0.0045) == "$0.0045" and format_usd(5) == "$5.00"


# ---- the pages: banner, team limit form, alert list --------------------------------------------------------


@pytest.fixture
def site(wb: Workbench, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    """Settings for the pages through the environment, as in production; an admin called `admin`."""
    import streamlit as st

    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(wb.settings.data_dir))
    monkeypatch.setenv("WORKBENCH_PROVIDER", "mock")
    monkeypatch.setenv("WORKBENCH_ADMIN_PASSWORD", "first-admin-pw")
    st.cache_resource.clear()
    from core.identity import auth

    auth.ensure_admin(wb)
    yield wb
    st.cache_resource.clear()


def _banner_page() -> None:
    from core.config import load_settings
    from core.identity import directory
    from core.workbench import Workbench
    from ui.budget_banner import budget_banner

    bench = Workbench.open(load_settings())
    user = directory.get_user(bench, "alice")
    assert user is not None
    budget_banner(bench, user)
    bench.close()


def test_the_banner_warns_at_80_and_stops_at_100_percent(site, alice):
    from streamlit.testing.v1 import AppTest

    quotas.set_user_budget(site, "alice", 1.0, None, actor="test")
    spend(site, alice, usd=0.5)
    at = AppTest.from_function(_banner_page, default_timeout=60).run()
    assert not at.exception and not at.warning and not at.error
    spend(site, alice, usd=0.35)
    at = AppTest.from_function(_banner_page, default_timeout=60).run()
    assert [w.value for w in at.warning] == [r"You have used 85 % of this month's budget \(\$0.85 of \$1.00\)."]
    spend(site, alice, usd=0.15)
    at = AppTest.from_function(_banner_page, default_timeout=60).run()
    assert len(at.error) == 1 and "used all of this month's budget" in at.error[0].value


def test_admin_sets_the_team_limit_and_sees_the_alerts(site, alice):
    from streamlit.testing.v1 import AppTest

    from ui.context import USER_KEY

    at = AppTest.from_file(str(REPO_ROOT / "pages" / "admin.py"), default_timeout=60)
    at.session_state[USER_KEY] = "admin"
    at.session_state["admin_tab"] = "Budgets"
    at.run()
    assert not at.exception and "No budget has reached 80 % yet." in [c.value for c in at.caption]
    at.text_input(key="team_usd").input("$2")
    at.text_input(key="team_min").input("")
    next(b for b in at.button if b.label == "Save team budget").click().run()
    assert not at.exception and "Saved the team budget." in [s.value for s in at.success]
    assert quotas.team_budget(site) == (2.0, None)
    assert [(e.actor, e.target) for e in audit.list_events(site.Session, action="budget")] == [("admin", "team")]
    at.text_input(key="team_usd").input("lots")
    next(b for b in at.button if b.label == "Save team budget").click().run()
    assert any("is not a number" in e.value for e in at.error) and quotas.team_budget(site) == (2.0, None)
    spend(site, alice, usd=2.0)
    quotas.check_alerts(site, alice)
    at.run()
    alerts = at.dataframe[-1].value
    assert list(alerts["reached"]) == ["100 %", "80 %"] and set(alerts["who"]) == {"team"}


def test_a_summary_refused_after_a_paid_transcript_still_hands_over_the_transcript(wb, alice, clip, monkeypatch):
    # Issue 10, item 11: the refusal used to raise past the transcript that had just been paid for.
    from core.transcripts import service

    quotas.set_user_budget(wb, "alice", 1.0, None, actor="test")
    monkeypatch.setattr(service, "_summary_estimate", lambda *_a, **_k: 5.0)  # a paid chat model's estimate
    outcome = transcribe_file(wb, clip, "clip.wav", alice, TranscribeOptions(provider="mock", summarize=True))
    assert outcome.transcript.id and outcome.transcript.text
    assert outcome.transcript.summary is None
    assert isinstance(outcome.summary_refused, QuotaError)
    assert "This summary" in str(outcome.summary_refused)
