"""Reads and writes of audio rows, cache entries, transcripts and revisions; transcript reads take the acting user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import AudioFile, CacheEntry, ChunkResult, Job, Share, Transcript, TranscriptRevision, User, utcnow
from core.errors import EditConflict, NotFoundError, NotPermitted
from core.identity.audit import add_event
from core.identity.types import UserRecord
from core.transcripts.types import (
    CachedTranscript,
    NewTranscript,
    RevisionRecord,
    Segment,
    TranscriptRecord,
    segments_from_json,
)

SM = sessionmaker[Session]


def upsert_audio(
    sm: SM,
    *,
    sha256: str,
    size: int,
    duration_s: float,
    container: str,
    codec: str | None,
    sample_rate: int | None,
    channels: int | None,
    ext: str,
) -> int:
    """The audio_files id for this content, inserting the row the first time it is seen."""
    with sm() as s:
        found = s.scalar(select(AudioFile.id).where(AudioFile.sha256 == sha256))
    if found is not None:
        return found
    row = AudioFile(
        sha256=sha256,
        bytes=size,
        duration_s=duration_s,
        container=container,
        codec=codec,
        sample_rate=sample_rate,
        channels=channels,
        ext=ext,
    )
    try:
        with sm.begin() as s:
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:  # the same content arrived through another worker at the same moment
        with sm() as s:
            existing = s.scalar(select(AudioFile.id).where(AudioFile.sha256 == sha256))
        assert existing is not None
        return existing


def get_cache_entry(sm: SM, key: str) -> CachedTranscript | None:
    """The cached transcript for this key, or None."""
    with sm() as s:
        e = s.get(CacheEntry, key)
        if e is None:
            return None
        return CachedTranscript(
            key=e.key,
            provider=e.provider,
            model=e.model,
            language=e.language,
            text=e.text,
            segments=segments_from_json(e.segments),
            duration_s=e.duration_s,
            cost_usd=e.cost_usd,
            list_cost_usd=e.list_cost_usd,
        )


def find_transcript_by_cache_key(sm: SM, owner_id: int, key: str) -> int | None:
    """The newest of this owner's transcripts made from this cache key, or None."""
    with sm() as s:
        return s.scalar(
            select(Transcript.id)
            .where(Transcript.owner_id == owner_id, Transcript.cache_key == key)
            .order_by(Transcript.id.desc())
            .limit(1)
        )


def _add_cache_entry(s: Session, new: NewTranscript, cache: CachedTranscript, seg_json: list[Any]) -> None:
    # A savepoint: another worker may store the same key at the same moment; theirs is as good as ours.
    try:
        with s.begin_nested():
            s.add(
                CacheEntry(
                    key=cache.key,
                    audio_sha256=_audio_sha(s, new.audio_id),
                    provider=cache.provider,
                    model=cache.model,
                    language=cache.language,
                    text=cache.text,
                    segments=seg_json,
                    duration_s=cache.duration_s,
                    cost_usd=cache.cost_usd,
                    list_cost_usd=cache.list_cost_usd,
                )
            )
    except IntegrityError:
        pass


def create_transcript(sm: SM, new: NewTranscript, *, cache: CachedTranscript | None = None) -> int:
    """Store a transcript with its first revision (and its cache entry) in one transaction."""
    seg_json = [seg.to_dict() for seg in new.segments]
    with sm.begin() as s:
        if cache is not None and s.get(CacheEntry, cache.key) is None:
            _add_cache_entry(s, new, cache, seg_json)
        t = Transcript(
            owner_id=new.owner_id,
            audio_id=new.audio_id,
            cache_key=new.cache_key,
            display_name=new.display_name,
            provider=new.provider,
            model=new.model,
            language=new.language,
            prompt=new.prompt,
            text=new.text,
            segments=seg_json,
            duration_s=new.duration_s,
            is_demo=new.is_demo,
            speaker_names={},
            tags=[],
        )
        s.add(t)
        s.flush()
        s.add(
            TranscriptRevision(
                transcript_id=t.id,
                number=1,
                author_id=new.owner_id,
                text=new.text,
                segments=seg_json,
                speaker_names={},
                note="original",
            )
        )
        return t.id


def _audio_sha(s: Session, audio_id: int | None) -> str:
    if audio_id is None:
        return ""
    a = s.get(AudioFile, audio_id)
    return a.sha256 if a else ""


def _visible(stmt: Any, user: UserRecord) -> Any:
    """Admins see every transcript; members their own and the ones shared with them."""
    if user.is_admin:
        return stmt
    shared = select(Share.transcript_id).where(Share.user_id == user.id)
    return stmt.where(or_(Transcript.owner_id == user.id, Transcript.id.in_(shared)))


def _load_visible(s: Session, transcript_id: int, user: UserRecord) -> Transcript:
    t: Transcript | None = s.scalar(_visible(select(Transcript).where(Transcript.id == transcript_id), user))
    if t is None:
        # The same answer whether it is missing or someone else's: ids must not leak.
        raise NotFoundError(f"transcript {transcript_id} not found")
    return t


def load_writable(s: Session, transcript_id: int, user: UserRecord) -> Transcript:
    """The transcript if this user may change it (its owner or an admin); a reader of a share is refused."""
    t = _load_visible(s, transcript_id, user)
    if not user.is_admin and t.owner_id != user.id:
        raise NotPermitted(
            f"transcript {transcript_id} is shared with you to read; only its owner or an administrator can change it"
        )
    return t


def _record(s: Session, t: Transcript, audio_dir: str | None = None) -> TranscriptRecord:
    owner = s.get(User, t.owner_id)
    audio = s.get(AudioFile, t.audio_id) if t.audio_id else None
    path = f"{audio_dir}/{audio.sha256}.{audio.ext}" if audio and audio_dir else None
    return TranscriptRecord(
        id=t.id,
        owner=owner.name if owner else "?",
        owner_id=t.owner_id,
        display_name=t.display_name,
        provider=t.provider,
        model=t.model,
        language=t.language,
        text=t.text,
        segments=segments_from_json(t.segments),
        summary=t.summary,
        summary_model=t.summary_model,
        duration_s=t.duration_s,
        revision=t.revision,
        created_at=t.created_at,
        updated_at=t.updated_at,
        sha256=audio.sha256 if audio else None,
        audio_path=path,
        prompt=t.prompt,
        tags=list(t.tags or []),
        speaker_names=dict(t.speaker_names or {}),
        is_demo=t.is_demo,
    )


def get_transcript(sm: SM, transcript_id: int, user: UserRecord, *, audio_dir: str | None = None) -> TranscriptRecord:
    """The transcript if this user may see it; NotFoundError otherwise."""
    with sm() as s:
        return _record(s, _load_visible(s, transcript_id, user), audio_dir)


def get_writable_transcript(sm: SM, transcript_id: int, user: UserRecord) -> TranscriptRecord:
    """The transcript, checked first that this user may change it."""
    with sm() as s:
        return _record(s, load_writable(s, transcript_id, user))


def list_transcripts(sm: SM, user: UserRecord, *, owner: str | None = None, limit: int = 500) -> list[TranscriptRecord]:
    """Transcripts this user may see, newest first, optionally only one owner's."""
    with sm() as s:
        stmt = _visible(select(Transcript), user)
        if owner:
            stmt = stmt.join(User, User.id == Transcript.owner_id).where(User.name == owner)
        stmt = stmt.order_by(Transcript.created_at.desc(), Transcript.id.desc()).limit(limit)
        return [_record(s, t) for t in s.scalars(stmt)]


def set_summary(sm: SM, transcript_id: int, user: UserRecord, summary: str, model: str) -> None:
    """Store a summary on a transcript this user may change."""
    with sm.begin() as s:
        t = load_writable(s, transcript_id, user)
        t.summary, t.summary_model = summary, model


def save_revision(
    sm: SM,
    transcript_id: int,
    user: UserRecord,
    segments: list[Segment],
    speaker_names: dict[str, str] | None = None,
    note: str | None = None,
    base_revision: int | None = None,
) -> int:
    """Store edited segments (and speaker names) as a new revision; returns its number.

    With `base_revision` (the revision the edit started from) a save over a newer revision is refused with
    EditConflict, inside the same write transaction, so of two concurrent saves exactly one lands.
    """
    seg_json = [seg.to_dict() for seg in segments]
    body = " ".join(seg.text.strip() for seg in segments if seg.text.strip())
    with sm.begin() as s:
        t = load_writable(s, transcript_id, user)
        if base_revision is not None and t.revision != base_revision:
            raise EditConflict(base_revision, t.revision)
        names = dict(t.speaker_names or {}) if speaker_names is None else dict(speaker_names)
        number = (
            s.scalar(select(func.max(TranscriptRevision.number)).where(TranscriptRevision.transcript_id == t.id)) or 0
        ) + 1
        s.add(
            TranscriptRevision(
                transcript_id=t.id,
                number=number,
                author_id=user.id,
                text=body,
                segments=seg_json,
                speaker_names=names,
                note=note,
            )
        )
        t.text, t.segments, t.speaker_names, t.revision, t.updated_at = (
            body,
            seg_json,
            names,
            number,
            utcnow(),
        )
        add_event(s, user.name, "edit", f"transcript {t.id}", f"revision {number}" + (f": {note}" if note else ""))
        return number


def list_revisions(sm: SM, transcript_id: int, user: UserRecord) -> list[RevisionRecord]:
    """The revisions of a transcript this user may see, newest first."""
    with sm() as s:
        t = _load_visible(s, transcript_id, user)
        rows = s.scalars(
            select(TranscriptRevision)
            .where(TranscriptRevision.transcript_id == t.id)
            .order_by(TranscriptRevision.number.desc())
        )
        out = []
        for r in rows:
            author = s.get(User, r.author_id) if r.author_id else None
            out.append(
                RevisionRecord(
                    r.number,
                    author.name if author else None,
                    r.text,
                    segments_from_json(r.segments),
                    dict(r.speaker_names or {}),
                    r.note,
                    r.created_at,
                )
            )
        return out


def delete_transcript(sm: SM, transcript_id: int, user: UserRecord) -> str | None:
    """Delete a transcript and everything that holds its text; only its owner or an admin may.

    Revisions, shares, the cache entry and chunk results (unless another transcript still uses them) and
    jobs' partial text go with it, so re-uploading the same file is no cache hit. Returns the audio file's
    name (sha256.ext) when no other transcript or active job uses it: the caller removes the file.
    """
    with sm.begin() as s:
        t = load_writable(s, transcript_id, user)
        s.execute(delete(TranscriptRevision).where(TranscriptRevision.transcript_id == t.id))
        s.execute(delete(Share).where(Share.transcript_id == t.id))
        s.execute(update(Job).where(Job.transcript_id == t.id).values(partial_text=None))
        others = select(func.count()).select_from(Transcript).where(Transcript.id != t.id)
        if t.cache_key and not s.scalar(others.where(Transcript.cache_key == t.cache_key)):
            s.execute(delete(CacheEntry).where(CacheEntry.key == t.cache_key))
            s.execute(delete(ChunkResult).where(ChunkResult.key == t.cache_key))
        audio = s.get(AudioFile, t.audio_id) if t.audio_id is not None else None
        if audio is not None and (s.scalar(others.where(Transcript.audio_id == audio.id)) or _queued_with(s, audio)):
            audio = None  # still needed
        add_event(s, user.name, "delete", f"transcript {t.id}", t.display_name)
        s.delete(t)
        if audio is None:
            return None
        s.flush()
        s.execute(delete(CacheEntry).where(CacheEntry.audio_sha256 == audio.sha256))
        s.delete(audio)
        return f"{audio.sha256}.{audio.ext}"


def _queued_with(s: Session, audio: AudioFile) -> bool:
    """Whether a queued or running job will still read this audio."""
    payloads = s.scalars(select(Job.payload).where(Job.state.in_(("queued", "running"))))
    return any((p or {}).get("audio", {}).get("sha256") == audio.sha256 for p in payloads)
