"""The whole app under AppTest: sign-in, navigation per role, Transcribe (mock) and Library flows.

app.py runs as in production: settings from the environment, the real login form, the embedded job
consumer running jobs on its threads; a test re-runs the script until a job's result shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.billing import quotas
from core.config import Settings
from core.identity import audit, auth
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.providers.mock import MockProvider
from core.transcripts import repository as repo
from core.transcripts.service import TranscribeOptions, transcribe_file
from core.transcripts.types import TranscriptRecord
from core.workbench import Workbench

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
ADMIN_PW, ALICE_PW, BOB_PW = "admin-pass-123", "alice-pass-123", "bob-pass-12345"
PAGES = {
    "pages/transcribe.py": "Transcribe",
    "pages/library.py": "Library",
    "pages/usage.py": "Usage & cost",
    "pages/admin.py": "Admin",
}


@pytest.fixture
def site(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    """Environment for app.py on the test's data dir, with an admin, alice and bob who can sign in."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WORKBENCH_PROVIDER", "mock")
    monkeypatch.setenv("WORKBENCH_ADMIN_PASSWORD", ADMIN_PW)
    monkeypatch.setenv("WORKBENCH_COOKIE_KEY", "c" * 40)
    monkeypatch.setenv("WORKBENCH_JOB_POLL_S", "0.2")
    bench = Workbench.open(settings)
    auth.ensure_admin(bench)
    auth.set_password(bench, "admin", ADMIN_PW)
    auth.add_user(bench, "alice", "member", ALICE_PW)
    auth.add_user(bench, "bob", "member", BOB_PW)
    yield bench
    st.cache_resource.clear()  # stops the app's job consumer and closes its workbench
    bench.close()


def user(wb: Workbench, name: str) -> UserRecord:
    found = get_user(wb.Session, name)
    assert found is not None
    return found


def sign_in(name: str, password: str) -> AppTest:
    """The app after typing a name and password into the real login form."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click().run()  # the form's submit button
    return at.run()  # in a browser the cookie component reruns the app once the cookie is set


def texts(at: AppTest) -> str:
    kinds = ("title", "subheader", "markdown", "caption", "error", "success", "info", "warning")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def wait_for(at: AppTest, ready: Callable[[AppTest], bool], timeout: float = 40.0) -> AppTest:
    """Re-run the app (as the page's polling fragment would) until `ready` holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if ready(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; the page says:\n{texts(at)}")
        time.sleep(0.2)


def transcript(
    wb: Workbench, owner: str, text: str | None = None, name: str = "speech_1.wav", audio: str = "speech_1.wav"
) -> TranscriptRecord:
    provider = MockProvider()
    if text is not None:
        provider.enqueue(text)
    opts = TranscribeOptions(provider="mock", use_cache=False)
    return transcribe_file(wb, FIXTURES / audio, name, user(wb, owner), opts, provider=provider).transcript


def open_in_library(at: AppTest, transcript_id: int) -> AppTest:
    at.query_params["id"] = str(transcript_id)
    at.switch_page("pages/library.py")
    return at.run()


# ---- sign-in and navigation ------------------------------------------------------------------------------


def test_signed_out_visitors_see_only_the_sign_in_form(site: Workbench) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert "Transcribe" not in [t.value for t in at.title]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/library.py")  # not registered before sign-in


def test_a_wrong_password_is_refused_and_audited(site: Workbench) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.text_input[0].input("alice")
    at.text_input[1].input("not-her-password")
    at.button[0].click().run()
    assert "do not match" in texts(at)
    assert "Transcribe" not in [t.value for t in at.title]
    at = sign_in("Alice", ALICE_PW)  # names ignore case, as they are created
    assert [t.value for t in at.title] == ["Transcribe"]
    events = [(e.actor, e.action) for e in reversed(audit.list_events(site.Session))]
    assert events == [("alice", "login_failed"), ("alice", "login")]


def test_the_first_admin_can_sign_in_with_the_configured_password(site: Workbench) -> None:
    at = sign_in("admin", ADMIN_PW)
    assert [t.value for t in at.title] == ["Transcribe"]
    assert "admin" in texts(at) and "Administrator" in texts(at)


@pytest.mark.parametrize(
    ("name", "password", "page"),
    [("admin", ADMIN_PW, p) for p in PAGES] + [("alice", ALICE_PW, p) for p in PAGES if p != "pages/admin.py"],
)
def test_every_page_runs_for_each_role(site: Workbench, name: str, password: str, page: str) -> None:
    transcript(site, "alice")
    at = sign_in(name, password)
    at.switch_page(page).run()
    assert not at.exception
    assert PAGES[page] in [t.value for t in at.title]


def test_a_member_cannot_switch_to_admin(site: Workbench) -> None:
    at = sign_in("alice", ALICE_PW)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/admin.py")  # not registered at all for a member
    at.switch_page("pages/usage.py").run()
    assert not at.exception and "Usage & cost" in [t.value for t in at.title]


def test_a_deactivated_user_is_signed_out(site: Workbench) -> None:
    at = sign_in("alice", ALICE_PW)
    auth.set_active(site, "alice", False)
    at.run()
    assert not at.exception
    assert "This account is not active any more." in texts(at)
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_sign_out_returns_to_the_form(site: Workbench) -> None:
    at = sign_in("alice", ALICE_PW)
    at.button(key="sign_out").click().run()
    assert not at.exception
    assert not at.session_state["authentication_status"]
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert "Transcribe" not in [t.value for t in at.title]


# ---- Transcribe ------------------------------------------------------------------------------------------


def test_upload_check_transcribe_and_see_the_result(site: Workbench) -> None:
    at = sign_in("alice", ALICE_PW)
    wav = (FIXTURES / "speech_1.wav").read_bytes()
    at.file_uploader[0].set_value(
        [("speech_1.wav", wav, "audio/wav"), ("notes.mp3", b"just some text, not audio", "audio/mpeg")]
    ).run()
    assert not at.exception
    page = texts(at)
    assert "Ready" in page and "speech\\_1.wav" in page
    assert "Refused" in page and "text file" in page  # a clear reason, shown before anything runs
    assert "Free" in [m.value for m in at.metric]  # the mock is never charged
    assert not site.settings.tmp_dir.exists() or not list(site.settings.tmp_dir.iterdir())
    # The bytes went to disk at once; the uploader was replaced, so its copy in session memory is gone.
    assert at.file_uploader[0].key == "tx_upload_1" and not at.file_uploader[0].value
    run = at.button(key="tx_run")
    assert run.label == "Transcribe 1 file" and not run.disabled
    run.click().run()
    at = wait_for(at, lambda a: any(s.value == "speech\\_1.wav" for s in a.subheader))
    assert at.dataframe, "the segments table"
    frame = at.dataframe[0].value
    assert {"Start", "End", "Speaker", "Text", "Confidence"} <= set(frame.columns)
    stored = repo.list_transcripts(site.Session, user(site, "alice"))
    assert len(stored) == 1 and stored[0].text

    # The same file again is a cache hit: no charge, and the page says so.
    at.file_uploader[0].set_value(("speech_1.wav", wav, "audio/wav")).run()
    at.button(key="tx_run").click().run()
    wait_for(at, lambda a: "Reused from cache — $0" in texts(a))


def test_a_microphone_recording_is_checked_and_transcribed_with_a_summary(site: Workbench) -> None:
    at = sign_in("alice", ALICE_PW)
    at.audio_input[0].set_value(("clip.wav", (FIXTURES / "bad_corrupt.wav").read_bytes(), "audio/wav")).run()
    assert "Refused" in texts(at)  # a broken recording is refused with its reason, nothing is stored
    at.button(key=f"tx_drop_{at.session_state['tx_staged'][0].key}").click().run()
    at.audio_input[0].set_value(("clip.wav", (FIXTURES / "speech_1.wav").read_bytes(), "audio/wav")).run()
    assert "Recording " in texts(at) and "Ready" in texts(at)
    at.checkbox(key="tx_summarize").check().run()
    at.button(key="tx_run").click().run()
    at = wait_for(at, lambda a: "**Summary**" in texts(a))
    (record,) = repo.list_transcripts(site.Session, user(site, "alice"))
    assert record.display_name.startswith("Recording ") and record.summary


def test_the_budget_left_is_shown_and_an_overrun_is_refused(site: Workbench) -> None:
    quotas.set_user_budget(site, "alice", 5.0, 0.05, actor="test")  # 3 seconds of audio a month
    at = sign_in("alice", ALICE_PW)
    assert "$5.00" in [m.value for m in at.metric]
    at.file_uploader[0].set_value(("speech_1.wav", (FIXTURES / "speech_1.wav").read_bytes(), "audio/wav")).run()
    assert "monthly audio minutes are left" in texts(at)
    assert at.button(key="tx_run").disabled


def test_choosing_a_segment_plays_from_there(site: Workbench) -> None:
    record = transcript(site, "alice", audio="speech_2.mp3")  # 24 s: the mock makes four segments
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    assert at.get("audio")[0].proto.start_time == 0
    second = record.segments[1]
    at.session_state[f"lib_{record.id}_1_segments"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.get("audio")[0].proto.start_time == int(second.start)


# ---- Library ---------------------------------------------------------------------------------------------


def test_edit_saves_a_new_revision_and_search_finds_the_new_word(site: Workbench) -> None:
    record = transcript(site, "alice")
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    assert [t.value for t in at.title] == ["speech\\_1.wav"]
    at.session_state[f"lib_edit_{record.id}_1"] = {
        "edited_rows": {0: {"Text": "The zebrafish quartet met on Tuesday."}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.text_input(key=f"lib_spk_{record.id}_1_SPEAKER_1").input("Anna")
    at.run()
    at.button(key=f"lib_save_{record.id}_1").click().run()
    assert not at.exception
    assert "Saved as revision 2." in texts(at)
    revisions = repo.list_revisions(site.Session, record.id, user(site, "alice"))
    assert [r.number for r in revisions] == [2, 1] and revisions[0].author == "alice"
    fresh = repo.get_transcript(site.Session, record.id, user(site, "alice"))
    assert fresh.segments[0].text == "The zebrafish quartet met on Tuesday."
    assert fresh.speaker_names == {"SPEAKER_1": "Anna"}

    at.button(key="lib_back").click().run()
    at.text_input(key="lib_query").input("zebrafish").run()
    assert not at.exception
    assert any(":orange-background[**zebrafish**]" in m.value for m in at.markdown)


def test_history_shows_a_diff_and_restores(site: Workbench) -> None:
    record = transcript(site, "alice")
    alice = user(site, "alice")
    changed = [s if i else s.__class__(s.start, s.end, "Changed words here.") for i, s in enumerate(record.segments)]
    repo.save_revision(site.Session, record.id, alice, changed, note="typo")
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    diff = at.code[0].value
    assert "+[0:00] Changed words here." in diff and "-[0:00] " in diff
    at.button(key=f"lib_restore_{record.id}").click().run()
    assert not at.exception
    assert "restored as revision 3" in texts(at)
    assert repo.get_transcript(site.Session, record.id, alice).text == record.text


def test_user_text_renders_inert_in_search_results(site: Workbench) -> None:
    hostile = "hello <script>alert(1)</script> [click](http://evil.example) ![img](http://evil.example/i.png) $x$"
    transcript(site, "alice", text=hostile, name="<b>evil</b>.wav")
    at = sign_in("alice", ALICE_PW)
    at.switch_page("pages/library.py").run()
    at.text_input(key="lib_query").input("hello").run()
    assert not at.exception
    snippets = [m.value for m in at.markdown if "orange-background" in m.value]
    assert snippets and "\\<script\\>" in snippets[0] and "\\[click\\]\\(http\\://evil.example\\)" in snippets[0]
    for element in at.markdown:
        if element.proto.allow_html:
            assert "evil" not in element.value and "script>alert" not in element.value
        assert "](http" not in element.value and "<script>" not in element.value


def test_members_see_only_their_own_transcripts(site: Workbench) -> None:
    mine = transcript(site, "alice", name="alice-notes.wav")
    theirs = transcript(site, "bob", name="bob-notes.wav")
    at = sign_in("alice", ALICE_PW)
    at.switch_page("pages/library.py").run()
    names = list(at.dataframe[0].value["Name"])
    assert names == ["alice-notes.wav"]
    open_in_library(at, theirs.id)
    assert "does not exist" in texts(at)
    assert mine.id != theirs.id


def test_an_owner_shares_and_the_reader_cannot_change_it(site: Workbench) -> None:
    record = transcript(site, "alice", name="alice-notes.wav")
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    at.selectbox(key=f"lib_share_{record.id}").select("bob").run()
    at.button(key=f"lib_share_go_{record.id}").click().run()
    assert not at.exception
    assert "is now shared with bob" in texts(at)

    bob_at = sign_in("bob", BOB_PW)
    bob_at.switch_page("pages/library.py").run()
    frame = bob_at.dataframe[0].value
    assert list(frame["Name"]) == ["alice-notes.wav"] and list(frame["Owner"]) == ["alice"]
    open_in_library(bob_at, record.id)
    assert not bob_at.exception
    page = texts(bob_at)
    assert "Shared with you by alice" in page and "Only they or an administrator can change it" in page
    keys = {b.key for b in bob_at.button}
    assert f"lib_delete_{record.id}" not in keys and f"lib_save_{record.id}_1" not in keys
    assert len(bob_at.get("download_button")) == 7  # a reader may export

    at.button(key=f"lib_unshare_{record.id}_bob").click().run()
    assert "no longer shared with bob" in texts(at)
    assert repo.list_transcripts(site.Session, user(site, "bob")) == []


def test_admin_filters_by_owner(site: Workbench) -> None:
    transcript(site, "alice", name="alice-notes.wav")
    transcript(site, "bob", name="bob-notes.wav")
    at = sign_in("admin", ADMIN_PW)
    at.switch_page("pages/library.py").run()
    assert set(at.dataframe[0].value["Name"]) == {"alice-notes.wav", "bob-notes.wav"}
    at.selectbox(key="lib_owner").select("bob").run()
    assert list(at.dataframe[0].value["Name"]) == ["bob-notes.wav"]


def test_export_offers_every_format(site: Workbench) -> None:
    record = transcript(site, "alice")
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    labels = sorted(b.label for b in at.get("download_button"))
    assert labels == sorted(
        [
            "Plain text (.txt)",
            "Markdown (.md)",
            "Subtitles (.srt)",
            "Web subtitles (.vtt)",
            "JSON (.json)",
            "Word (.docx)",
            "PDF (.pdf)",
        ]
    )


def test_delete_asks_first(site: Workbench) -> None:
    record = transcript(site, "alice")
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    at.button(key=f"lib_delete_{record.id}").click().run()
    assert "cannot be undone" in texts(at)
    assert repo.list_transcripts(site.Session, user(site, "alice"))  # nothing deleted yet
    at.button(key=f"lib_delete_yes_{record.id}").click().run()
    assert not at.exception
    assert "was deleted" in texts(at)
    assert repo.list_transcripts(site.Session, user(site, "alice")) == []


def test_review_lists_low_confidence_segments(site: Workbench) -> None:
    record = transcript(site, "alice")
    at = open_in_library(sign_in("alice", ALICE_PW), record.id)
    at.slider(key=f"lib_review_{record.id}").set_value(0.99).run()
    assert not at.exception
    assert "**Segments** (" in texts(at) and "**Words** (" in texts(at)


# ---- the pages' plain helpers ----------------------------------------------------------------------------


def test_snippet_highlighting_escapes_user_text() -> None:
    from core.transcripts.types import SNIPPET_CLOSE as C
    from core.transcripts.types import SNIPPET_OPEN as O
    from ui.text import highlight_snippet

    out = highlight_snippet(f"…see {O}[x](http://evil){C} and <img src=x> :red[y] $z$ {O}done{C}")
    assert out.count(":orange-background[**") == 2
    assert "\\[x\\]\\(http\\://evil\\)" in out and "\\<img src=x\\>" in out
    assert "\\:red\\[y\\]" in out and "\\$z\\$" in out
    assert highlight_snippet(f"{O}unclosed match") == ":orange-background[**unclosed match**]"


def test_library_filters_and_edits(site: Workbench) -> None:
    from datetime import date, timedelta

    from ui.library import data

    record = transcript(site, "alice", audio="speech_2.mp3")
    today = record.created_at.date()
    assert data.apply_filter([record], data.LibraryFilter(start=today, end=today)) == [record]
    assert data.apply_filter([record], data.LibraryFilter(end=today - timedelta(days=1))) == []
    assert data.apply_filter([record], data.LibraryFilter(start=date.max)) == []
    assert data.apply_filter([record], data.LibraryFilter(languages=("en",), providers=("mock",))) == [record]
    assert data.apply_filter([record], data.LibraryFilter(tags=("board",))) == []
    assert data.apply_filter([record], data.LibraryFilter(owner="bob")) == []

    texts_now = [s.text for s in record.segments]
    edited = data.edited_segments(record, ["  Changed   text  ", *texts_now[1:]])
    assert edited[0].text == "Changed text" and edited[0].words == () and edited[0].confidence is None
    assert edited[1:] == record.segments[1:]  # untouched segments keep their words and confidence
    assert data.renamed_speakers(record, {"SPEAKER_1": " Anna ", "SPEAKER_2": "SPEAKER_2"}) == {"SPEAKER_1": "Anna"}
    assert data.has_changes(record, edited, {}) and not data.has_changes(record, record.segments, {})
    segs, words = data.low_confidence(record, 1.0)
    assert len(segs) == len(record.segments) and len(words) > 0


@pytest.mark.parametrize("bad", ["\u00b2", "1" * 23, "-3", "1e3"])
def test_a_bad_id_in_the_link_opens_the_list_instead_of_crashing(site: Workbench, bad: str) -> None:
    # Issue 10, item 15: `?id=²` and a 23-digit id crashed the Library with a traceback.
    at = sign_in("alice", ALICE_PW)
    at.query_params["id"] = bad
    at.switch_page("pages/library.py")
    at = at.run()
    assert not at.exception
    assert "Library" in [t.value for t in at.title]
