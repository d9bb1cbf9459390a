"""The Library's use cases: a user's transcripts read, searched, edited and deleted, each as the acting user.

Reads go through read-only sessions, so browsing never waits behind a job that is writing.
"""

from __future__ import annotations

import re

from core.identity.types import UserRecord
from core.transcripts import repository as repo
from core.transcripts.search import search
from core.transcripts.types import SNIPPET_CLOSE, SNIPPET_OPEN, RevisionRecord, SearchHit, Segment, TranscriptRecord
from core.workbench import Workbench


def open_transcript(wb: Workbench, transcript_id: int, user: UserRecord) -> TranscriptRecord:
    """The transcript with its audio path, if this user may see it; NotFoundError otherwise."""
    return repo.get_transcript(wb.ReadSession, transcript_id, user, audio_dir=str(wb.settings.audio_dir))


def list_transcripts(wb: Workbench, user: UserRecord, *, owner: str | None = None) -> list[TranscriptRecord]:
    """Transcripts this user may see, newest first, optionally only one owner's."""
    return repo.list_transcripts(wb.ReadSession, user, owner=owner)


def search_transcripts(wb: Workbench, user: UserRecord, query: str) -> list[SearchHit]:
    """Full-text search over the transcripts this user may see."""
    return search(wb.ReadSession, user, query)


def hit_start_s(record: TranscriptRecord, hit: SearchHit) -> float:
    """Where in the audio a search hit is: the first word (else segment) holding a matched term."""
    terms = [m.lower() for m in re.findall(f"{SNIPPET_OPEN}(.*?){SNIPPET_CLOSE}", hit.snippet) if m.strip()]
    for seg in record.segments:
        text = seg.text.lower()
        if not any(term in text for term in terms):
            continue
        for word in seg.words:
            if any(term in word.text.lower() for term in terms):
                return word.start
        return seg.start
    return 0.0


def save_revision(
    wb: Workbench,
    transcript_id: int,
    user: UserRecord,
    segments: list[Segment],
    speaker_names: dict[str, str] | None = None,
    *,
    note: str | None = None,
    base_revision: int | None = None,
) -> int:
    """Store edited segments (and speaker names) as a new revision; returns its number.

    An edit started from `base_revision` is refused (EditConflict) when someone saved a newer one since.
    """
    return repo.save_revision(
        wb.Session, transcript_id, user, segments, speaker_names, note=note, base_revision=base_revision
    )


def list_revisions(wb: Workbench, transcript_id: int, user: UserRecord) -> list[RevisionRecord]:
    """The revisions of a transcript this user may see, newest first."""
    return repo.list_revisions(wb.ReadSession, transcript_id, user)


def delete_transcript(wb: Workbench, transcript_id: int, user: UserRecord) -> None:
    """Delete a transcript, its revisions, cached text and (once nothing else uses it) its audio."""
    orphan = repo.delete_transcript(wb.Session, transcript_id, user)
    if orphan:
        (wb.settings.audio_dir / orphan).unlink(missing_ok=True)
