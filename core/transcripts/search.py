"""Full-text search over the transcripts a user may see, through the transcripts_fts index."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.identity.types import UserRecord
from core.transcripts.types import SNIPPET_CLOSE, SNIPPET_OPEN, SearchHit

SM = sessionmaker[Session]


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
    return [
        SearchHit(r[0], r[1], r[2], r[4], r[3] if isinstance(r[3], datetime) else datetime.fromisoformat(str(r[3])))
        for r in rows
    ]
