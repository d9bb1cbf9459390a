"""The chunk-result store on the database, so a long job's finished chunks are never paid for twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.db.models import ChunkResult

SM = sessionmaker[Session]


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
