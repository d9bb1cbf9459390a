"""The Transcribe page's session state: the staged files and the jobs this session started."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.identity.types import UserRecord
from core.jobs import api as jobs
from core.jobs.api import JobRecord
from core.workbench import Workbench

STAGED = "tx_staged"  # session_state: list[Staged] — files on disk waiting for "Transcribe"
JOBS = "tx_jobs"  # session_state: ids of the jobs this session started, newest first
SEEN_ACTIVE = "tx_seen_active"
PROBLEMS = "tx_problems"


@dataclass(frozen=True)
class Staged:
    """One upload or recording, already validated and on disk (or refused, with the reason)."""

    key: str
    name: str
    ok: bool
    reason: str | None = None
    path: str | None = None
    duration_s: float = 0.0
    size: int = 0


def session_jobs(wb: Workbench, user: UserRecord) -> list[JobRecord]:
    """The jobs this browser session started, as the job list reports them now."""
    ids = set(st.session_state.get(JOBS, []))
    if not ids:
        return []
    return [j for j in jobs.list_jobs(wb, user, limit=max(50, len(ids))) if j.id in ids]
