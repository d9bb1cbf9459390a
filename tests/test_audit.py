"""The audit log (who, what, when; never content) and the JSON event log (job id, user, duration; never text)."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.billing import quotas
from core.db.models import AuditEvent, utcnow
from core.identity import audit, sharing
from core.jobs import api as jobs
from core.providers.mock import MockProvider
from core.transcripts import repository as repo
from core.transcripts.service import TranscribeOptions, export_transcript, transcribe_file
from core.transcripts.types import Segment
from core.workbench import Workbench
from tests.conftest import FIXTURES

SECRET_TEXT = "TOPSECRET-BOARD-MINUTES"


@pytest.fixture
def doc(wb: Workbench, alice):
    provider = MockProvider()
    provider.enqueue(f"The {SECRET_TEXT} were read aloud.")
    return transcribe_file(wb, FIXTURES / "fmt_speech.mp3", "minutes.mp3", alice, provider=provider).transcript


def test_edits_deletes_exports_and_shares_are_recorded_with_who_what_when(wb, alice, bob, doc):
    started = utcnow() - timedelta(seconds=1)
    repo.save_revision(wb.Session, doc.id, alice, [Segment(0, 1, f"{SECRET_TEXT} edited")], note="typo")
    export_transcript(wb, doc.id, alice, "pdf")
    sharing.share_transcript(wb, doc.id, alice, "bob")
    export_transcript(wb, doc.id, bob, "srt")
    sharing.unshare_transcript(wb, doc.id, alice, "bob")
    repo.delete_transcript(wb.Session, doc.id, alice)
    events = list(reversed(audit.list_events(wb.Session)))
    target = f"transcript {doc.id}"
    assert [(e.actor, e.action, e.target, e.detail) for e in events] == [
        ("alice", "edit", target, "revision 2: typo"),
        ("alice", "export", target, "pdf"),
        ("alice", "share", target, "with bob"),
        ("bob", "export", target, "srt"),
        ("alice", "unshare", target, "with bob"),
        ("alice", "delete", target, "minutes.mp3"),
    ]
    assert all(e.ts >= started for e in events)
    assert [e.action for e in audit.list_events(wb.Session, actor="bob")] == ["export"]
    assert len(audit.list_events(wb.Session, action="export")) == 2


def test_refused_actions_leave_no_audit_row(wb, alice, bob, doc):
    for attempt in (
        lambda: repo.save_revision(wb.Session, doc.id, bob, [Segment(0, 1, "x")]),
        lambda: repo.delete_transcript(wb.Session, doc.id, bob),
        lambda: export_transcript(wb, doc.id, bob, "txt"),
    ):
        with pytest.raises(Exception):  # noqa: B017 - NotFoundError; the point is what is left behind
            attempt()
    assert audit.list_events(wb.Session) == []


def test_logins_budget_and_role_changes(wb, alice):
    audit.record_login(wb.Session, "alice", ok=True)
    audit.record_login(wb.Session, "mallory\x00\u202e<script>", ok=False)
    quotas.set_user_budget(wb, "alice", 10, None, actor="root")
    events = list(reversed(audit.list_events(wb.Session)))
    assert [(e.actor, e.action) for e in events] == [("alice", "login"), ("mallory <script>", "login_failed"),
                                                     ("root", "budget")]  # fmt: skip
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(wb.Session, "x", "launch_missiles", "y")


def test_audit_rows_hold_no_transcript_text(wb, alice, doc):
    repo.save_revision(wb.Session, doc.id, alice, [Segment(0, 1, f"{SECRET_TEXT} again")])
    export_transcript(wb, doc.id, alice, "txt")
    with wb.Session() as s:
        rows = s.scalars(select(AuditEvent)).all()
    assert rows and not any(SECRET_TEXT in f"{r.actor}{r.target}{r.detail}" for r in rows)


def test_csv_has_a_header_and_defuses_formulas(wb):
    audit.record(wb.Session, "=cmd|' /C calc'!A0", "login_failed", 'user =HYPERLINK("x")', 'line\nbreak, "quoted"')
    audit.record(wb.Session, "root", "role", "user bob", "member -> admin")
    rows = list(csv.reader(io.StringIO(audit.to_csv(audit.list_events(wb.Session)).decode("utf-8"))))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert rows[1][1:] == ["root", "role", "user bob", "member -> admin"]
    assert rows[2][1] == "'=cmd|' /C calc'!A0" and rows[2][3] == 'user =HYPERLINK("x")'
    assert rows[2][4] == 'line break, "quoted"' and len(rows) == 3


# ---- the JSON event log ------------------------------------------------------------------------------------


def test_one_json_line_per_transcription_with_job_user_and_duration(wb, alice, caplog, tmp_path: Path):
    from core.log import configure_logging

    out = io.StringIO()
    handler = configure_logging(wb.settings, out)
    caplog.set_level(logging.DEBUG)
    try:
        provider = MockProvider()
        provider.enqueue(f"Say {SECRET_TEXT} now.")
        transcribe_file(wb, FIXTURES / "fmt_speech.wav", "talk.wav", alice, TranscribeOptions(), provider=provider)
        transcribe_file(wb, FIXTURES / "fmt_speech.wav", "talk.wav", alice, TranscribeOptions(), provider=provider)
        job = jobs.submit_transcription(wb, FIXTURES / "fmt_speech.ogg", "memo.ogg", alice, TranscribeOptions())
        jobs.run_job_inline(wb, job.id)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    runs = [line for line in lines if line["event"] == "transcribe"]
    assert [(r["user"], r["cached"], r["job_id"]) for r in runs] == [("alice", False, None), ("alice", True, None),
                                                                     ("alice", False, job.id)]  # fmt: skip
    for r in runs:
        assert set(r) >= {"ts", "level", "logger", "duration_ms", "provider", "model", "audio_s", "cost_usd"}
        assert isinstance(r["duration_ms"], int) and r["ts"].endswith("Z")
    everything = out.getvalue() + "".join(rec.getMessage() + str(rec.__dict__) for rec in caplog.records)
    assert SECRET_TEXT not in everything and "Say " not in everything


def test_text_format_is_available_for_people(wb, tmp_path):
    from core.log import configure_logging, log_event

    out = io.StringIO()
    handler = configure_logging(wb.settings.model_copy(update={"log_format": "text"}), out)
    try:
        log_event(logging.getLogger("core.x"), "quota refused", user="alice", job_id=7, name="clash", msg="clash")
    finally:
        logging.getLogger().removeHandler(handler)
    line = out.getvalue().strip()
    assert "quota refused" in line and "user=alice" in line and "job_id=7" in line and "name_=clash" in line


def test_admin_page_shows_the_audit_log_and_offers_the_csv(wb, alice, doc, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.identity import auth
    from tests.conftest import REPO_ROOT
    from ui.context import USER_KEY

    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(wb.settings.data_dir))
    monkeypatch.setenv("WORKBENCH_ADMIN_PASSWORD", "first-admin-pw")
    st.cache_resource.clear()
    auth.ensure_admin(wb)
    repo.save_revision(wb.Session, doc.id, alice, [Segment(0, 1, "<b>edited</b>")])
    audit.record_login(wb.Session, "=evil()", ok=False)
    try:
        at = AppTest.from_file(str(REPO_ROOT / "pages" / "admin.py"), default_timeout=60)
        at.session_state[USER_KEY] = "admin"
        at.session_state["admin_tab"] = "Audit log"
        at.run()
        assert not at.exception
        table = at.dataframe[0].value
        assert list(table["action"]) == ["login_failed", "edit"] and list(table["who"]) == ["=evil()", "alice"]
        assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    finally:
        st.cache_resource.clear()
