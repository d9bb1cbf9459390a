"""Reads and writes of users, audio, transcripts and revisions; every read of a transcript takes the acting user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import AudioFile, CacheEntry, ChunkResult, Share, Transcript, TranscriptRevision, User, utcnow
from core.errors import InputError, NotFoundError
from core.identity.audit import add_event
from core.providers.base import Segment
from core.transcripts.types import (
    SNIPPET_CLOSE,
    SNIPPET_OPEN,
    RevisionRecord,
    SearchHit,
    TranscriptRecord,
    UserRecord,
    segments_from_json,
)

SM = sessionmaker[Session]
ROLES = ("admin", "member")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def _user_record(u: User) -> UserRecord:
    return UserRecord(u.id, u.name, u.role, u.active, u.monthly_usd_budget, u.monthly_minutes_budget)


def validate_user_name(name: str) -> str:
    name = name.strip()
    if not _USER_NAME.match(name):
        raise InputError(
            f"user name {name[:40]!r} is not allowed: use 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return name


def get_user(sm: SM, name: str) -> UserRecord | None:
    with sm() as s:
        u = s.scalar(select(User).where(User.name == name))
        return _user_record(u) if u else None


def get_or_create_user(sm: SM, name: str, role: str = "member") -> UserRecord:
    """The user called `name`, created with `role` on first use."""
    name = validate_user_name(name)
    if role not in ROLES:
        raise InputError(f"role {role!r} is not allowed: use admin or member")
    existing = get_user(sm, name)
    if existing:
        return existing
    try:
        with sm.begin() as s:
            u = User(name=name, role=role)
            s.add(u)
            s.flush()
            return _user_record(u)
    except IntegrityError:  # created concurrently by another worker
        found = get_user(sm, name)
        assert found is not None
        return found


def list_users(sm: SM) -> list[UserRecord]:
    with sm() as s:
        return [_user_record(u) for u in s.scalars(select(User).order_by(User.name))]


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


@dataclass(frozen=True)
class CachedTranscript:
    key: str
    provider: str
    model: str
    language: str | None
    text: str
    segments: list[Segment]
    duration_s: float
    cost_usd: float
    list_cost_usd: float


def get_cache_entry(sm: SM, key: str) -> CachedTranscript | None:
    with sm() as s:
        e = s.get(CacheEntry, key)
        if e is None:
            return None
        return CachedTranscript(
            e.key,
            e.provider,
            e.model,
            e.language,
            e.text,
            segments_from_json(e.segments),
            e.duration_s,
            e.cost_usd,
            e.list_cost_usd,
        )


def find_transcript_by_cache_key(sm: SM, owner_id: int, key: str) -> int | None:
    with sm() as s:
        return s.scalar(
            select(Transcript.id)
            .where(Transcript.owner_id == owner_id, Transcript.cache_key == key)
            .order_by(Transcript.id.desc())
            .limit(1)
        )


@dataclass(frozen=True)
class NewTranscript:
    owner_id: int
    display_name: str
    provider: str
    model: str
    language: str | None
    text: str
    segments: list[Segment]
    duration_s: float
    audio_id: int | None = None
    cache_key: str | None = None
    prompt: str | None = None
    is_demo: bool = False


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
        raise InputError(
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
) -> int:
    """Store edited segments (and speaker names) as a new revision; returns its number."""
    seg_json = [seg.to_dict() for seg in segments]
    body = " ".join(seg.text.strip() for seg in segments if seg.text.strip())
    with sm.begin() as s:
        t = load_writable(s, transcript_id, user)
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


def delete_transcript(sm: SM, transcript_id: int, user: UserRecord) -> None:
    """Delete a transcript and its revisions; only its owner or an admin may."""
    with sm.begin() as s:
        t = load_writable(s, transcript_id, user)
        s.execute(delete(TranscriptRevision).where(TranscriptRevision.transcript_id == t.id))
        s.execute(delete(Share).where(Share.transcript_id == t.id))
        add_event(s, user.name, "delete", f"transcript {t.id}", t.display_name)
        s.delete(t)


def fts_query(raw: str) -> str:
    """Turn whatever a user typed into a safe FTS5 query: every word quoted, the last one a prefix."""
    words = [w for w in re.findall(r"\w+", raw, flags=re.UNICODE)][:16]
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def search(sm: SM, user: UserRecord, query: str, *, limit: int = 50) -> list[SearchHit]:
    """Full-text search over transcripts this user may see, with plain-text snippets."""
    match = fts_query(query)
    if not match:
        return []
    sql = text(
        "SELECT t.id, t.display_name, u.name, t.created_at, "
        "snippet(transcripts_fts, 0, :o, :c, '…', 14) "
        "FROM transcripts_fts JOIN transcripts t ON t.id = transcripts_fts.rowid "
        "JOIN users u ON u.id = t.owner_id "
        "WHERE transcripts_fts MATCH :q AND (:admin OR t.owner_id = :uid "
        "OR t.id IN (SELECT transcript_id FROM shares WHERE user_id = :uid)) "
        "ORDER BY bm25(transcripts_fts) LIMIT :lim"
    )
    with sm() as s:
        rows = s.execute(
            sql,
            {
                "o": SNIPPET_OPEN,
                "c": SNIPPET_CLOSE,
                "q": match,
                "admin": user.is_admin,
                "uid": user.id,
                "lim": limit,
            },
        ).all()
    from datetime import datetime

    return [
        SearchHit(r[0], r[1], r[2], r[4], r[3] if isinstance(r[3], datetime) else datetime.fromisoformat(str(r[3])))
        for r in rows
    ]


class SqlChunkStore:
    """ChunkStore on the chunk_results table: finished chunks survive a retry or a restart."""

    def __init__(self, sm: SM) -> None:
        self._sm = sm

    def get(self, job_key: str, index: int) -> dict[str, Any] | None:
        with self._sm() as s:
            row = s.get(ChunkResult, (job_key, index))
            return dict(row.result) if row else None

    def put(self, job_key: str, index: int, result: dict[str, Any]) -> None:
        with self._sm.begin() as s:
            row = s.get(ChunkResult, (job_key, index))
            if row is None:
                s.add(ChunkResult(key=job_key, idx=index, result=result))
            else:
                row.result = result
