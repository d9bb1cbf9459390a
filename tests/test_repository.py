"""Storage: revisions, visibility by user, full-text search that never errors."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import InputError, NotFoundError
from core.identity.users import get_or_create_user
from core.transcripts import repository as repo
from core.transcripts.search import search
from core.transcripts.service import transcribe_file
from core.transcripts.types import SNIPPET_CLOSE, SNIPPET_OPEN, CachedTranscript, NewTranscript
from tests.conftest import FIXTURES


@pytest.fixture
def doc(wb, alice, mock_provider):
    mock_provider.enqueue("Quarterly numbers look strong. The Kubernetes migration slipped a week.")
    return transcribe_file(wb, FIXTURES / "fmt_speech.mp3", "standup.mp3", alice, provider=mock_provider).transcript


def test_edit_creates_a_revision_and_restores(wb, alice, doc):
    seg = doc.segments[0]
    edited = [dataclasses.replace(seg, text="Quarterly numbers look stellar.")]
    number = repo.save_revision(wb.Session, doc.id, alice, edited, {"SPEAKER_1": "Dana"}, note="typo")
    assert number == 2
    now = repo.get_transcript(wb.Session, doc.id, alice)
    assert now.revision == 2 and "stellar" in now.text and now.speaker_label("SPEAKER_1") == "Dana"
    history = repo.list_revisions(wb.Session, doc.id, alice)
    assert [r.number for r in history] == [2, 1]
    assert history[0].author == "alice" and history[1].note == "original"
    repo.save_revision(wb.Session, doc.id, alice, history[1].segments, history[1].speaker_names, note="restore 1")
    assert repo.get_transcript(wb.Session, doc.id, alice).text == history[1].text


def test_members_cannot_see_each_other_but_admins_can(wb, alice, bob, admin, doc):
    with pytest.raises(NotFoundError) as other:
        repo.get_transcript(wb.Session, doc.id, bob)
    with pytest.raises(NotFoundError) as missing:
        repo.get_transcript(wb.Session, 99999, bob)
    assert str(other.value).replace(str(doc.id), "N") == str(missing.value).replace("99999", "N")
    assert repo.get_transcript(wb.Session, doc.id, admin).owner == "alice"
    assert repo.list_transcripts(wb.Session, bob) == []
    assert [t.id for t in repo.list_transcripts(wb.Session, admin, owner="alice")] == [doc.id]
    with pytest.raises(NotFoundError):
        repo.delete_transcript(wb.Session, doc.id, bob)
    assert search(wb.Session, bob, "Kubernetes") == []


def test_search_finds_edited_words_with_safe_snippets(wb, alice, doc):
    hits = search(wb.Session, alice, "kubernetes")
    assert [h.transcript_id for h in hits] == [doc.id]
    assert f"{SNIPPET_OPEN}Kubernetes{SNIPPET_CLOSE}" in hits[0].snippet
    repo.save_revision(wb.Session, doc.id, alice, [dataclasses.replace(doc.segments[0], text="Zebra crossing")])
    assert search(wb.Session, alice, "kubernetes") == []
    assert [h.transcript_id for h in search(wb.Session, alice, "zebr")] == [doc.id]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "a AND",
        "OR OR",
        "NEAR(",
        "*",
        "col:word",
        "'; DROP TABLE x; --",
        "(((",
        "^",
        "-",
        "\x00",
        "émigré",
        "",
    ],
)
def test_search_never_errors_on_operators_or_quotes(wb, alice, doc, query):
    assert isinstance(search(wb.Session, alice, query), list)


def test_delete_removes_transcript_and_search_entry(wb, alice, doc):
    repo.delete_transcript(wb.Session, doc.id, alice)
    with pytest.raises(NotFoundError):
        repo.get_transcript(wb.Session, doc.id, alice)
    assert search(wb.Session, alice, "Kubernetes") == []


@pytest.mark.parametrize("name", ["", " ", "../x", "a b", "x" * 65, "<script>", "-lead"])
def test_bad_user_names_are_refused(wb, name):
    with pytest.raises(InputError):
        get_or_create_user(wb.Session, name)


def test_concurrent_first_runs_of_the_same_content_do_not_collide(wb, alice):
    """Two workers storing the same new audio and the same cache key at once both succeed."""
    import threading

    from core.transcripts.types import Segment

    seg = [Segment(0.0, 1.0, "same words")]
    cache = CachedTranscript(
        key="k" * 64,
        provider="mock",
        model="mock-1",
        language="en",
        text="same words",
        segments=seg,
        duration_s=1.0,
        cost_usd=0.0,
        list_cost_usd=0.0,
    )
    ids: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            audio_id = repo.upsert_audio(
                wb.Session,
                sha256="c" * 64,
                size=10,
                duration_s=1.0,
                container="wav",
                codec="pcm_s16le",
                sample_rate=16000,
                channels=1,
                ext="wav",
            )
            new = NewTranscript(
                owner_id=alice.id,
                display_name="x.wav",
                provider="mock",
                model="mock-1",
                language="en",
                text="same words",
                segments=seg,
                duration_s=1.0,
                audio_id=audio_id,
                cache_key=cache.key,
            )
            ids.append(repo.create_transcript(wb.Session, new, cache=cache))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(ids)) == 4
    assert repo.get_cache_entry(wb.Session, cache.key) is not None
