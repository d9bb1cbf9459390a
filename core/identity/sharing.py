"""Sharing a transcript with another user to read: only its owner or an admin shares, and every change is audited."""

from __future__ import annotations

from sqlalchemy import delete, select

from core.db.models import Share, User, utcnow
from core.errors import InputError, NotFoundError
from core.identity.audit import add_event
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.transcripts import repository as repo
from core.workbench import Workbench


def _reader(wb: Workbench, name: str) -> UserRecord:
    reader = get_user(wb.Session, name.strip())
    if reader is None or not reader.active:
        raise NotFoundError(f"user {name.strip()[:64]!r} not found")
    return reader


def share_transcript(wb: Workbench, transcript_id: int, user: UserRecord, with_name: str) -> None:
    """Let the user called `with_name` read the transcript (idempotent)."""
    reader = _reader(wb, with_name)
    with wb.Session.begin() as s:
        t = repo.load_writable(s, transcript_id, user)  # NotFoundError when not visible, InputError for a reader
        if reader.id == t.owner_id:
            raise InputError(f"{reader.name} owns transcript {transcript_id} already")
        exists = s.scalar(select(Share.id).where(Share.transcript_id == t.id, Share.user_id == reader.id))
        if exists is None:
            s.add(Share(transcript_id=t.id, user_id=reader.id, created_by=user.id, created_at=utcnow()))
            add_event(s, user.name, "share", f"transcript {t.id}", f"with {reader.name}")


def unshare_transcript(wb: Workbench, transcript_id: int, user: UserRecord, with_name: str) -> None:
    """Stop sharing the transcript with `with_name` (nothing happens when it was not shared)."""
    reader = _reader(wb, with_name)
    with wb.Session.begin() as s:
        t = repo.load_writable(s, transcript_id, user)
        gone = s.execute(delete(Share).where(Share.transcript_id == t.id, Share.user_id == reader.id))
        if getattr(gone, "rowcount", 0):
            add_event(s, user.name, "unshare", f"transcript {t.id}", f"with {reader.name}")


def shared_with(wb: Workbench, transcript_id: int, user: UserRecord) -> list[str]:
    """Names of the users a transcript is shared with (visible to anyone who can see the transcript)."""
    record = repo.get_transcript(wb.Session, transcript_id, user)  # NotFoundError when not visible
    stmt = select(User.name).join(Share, Share.user_id == User.id).where(Share.transcript_id == record.id)
    with wb.Session() as s:
        return list(s.scalars(stmt.order_by(User.name)))
