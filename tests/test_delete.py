"""Delete means delete (issue 10, item 17): no copy of the text survives, and the audio goes once unused."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db.models import AudioFile, CacheEntry, ChunkResult, Job, Transcript
from core.transcripts import library
from core.transcripts.service import transcribe_file
from tests.conftest import FIXTURES

SPEECH = FIXTURES / "fmt_speech.mp3"
SECRET = "The merger with Globex closes on Friday."


def _count(wb, model) -> int:
    with wb.Session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_deleted_text_does_not_come_back_as_a_cache_hit(wb, alice, bob, mock_provider):
    mock_provider.enqueue(SECRET)
    made = transcribe_file(wb, SPEECH, "board.mp3", alice, provider=mock_provider).transcript
    with wb.Session.begin() as s:  # what a finished chunked run and its job leave behind
        key = s.scalar(select(Transcript.cache_key).where(Transcript.id == made.id))
        s.add(ChunkResult(key=key, idx=0, result={"text": SECRET}))
        s.add(Job(owner_id=alice.id, state="done", transcript_id=made.id, partial_text=SECRET, payload={}))
    audio = wb.settings.audio_dir / f"{made.sha256}.mp3"
    assert audio.is_file() and _count(wb, CacheEntry) == 1

    library.delete_transcript(wb, made.id, alice)

    assert (_count(wb, CacheEntry), _count(wb, ChunkResult), _count(wb, AudioFile)) == (0, 0, 0)
    with wb.Session() as s:
        assert s.scalar(select(Job.partial_text)) is None
    assert not audio.exists()
    mock_provider.enqueue("Fresh words.")
    again = transcribe_file(wb, SPEECH, "board.mp3", bob, provider=mock_provider)
    assert not again.cached and SECRET not in again.transcript.text


def test_shared_audio_stays_while_another_transcript_uses_it(wb, alice, bob, mock_provider):
    mock_provider.enqueue(SECRET)
    first = transcribe_file(wb, SPEECH, "a.mp3", alice, provider=mock_provider).transcript
    second = transcribe_file(wb, SPEECH, "b.mp3", bob, provider=mock_provider)
    assert second.cached
    library.delete_transcript(wb, first.id, alice)
    assert (wb.settings.audio_dir / f"{first.sha256}.mp3").is_file()
    assert library.open_transcript(wb, second.transcript.id, bob).text == first.text
    assert _count(wb, CacheEntry) == 1  # bob's transcript still stands on it
