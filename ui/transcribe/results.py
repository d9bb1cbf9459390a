"""The finished transcripts of this session, each with its cost, summary, player and text."""

from __future__ import annotations

import streamlit as st

from core.errors import WorkbenchError
from core.identity.types import UserRecord
from core.text import format_clock
from core.transcripts import library
from core.workbench import Workbench
from ui.text import md
from ui.transcribe.state import JOBS, session_jobs
from ui.transcript_view import player_with_segments, reading_view, summary_block


def results(wb: Workbench, user: UserRecord) -> None:
    """The finished transcripts of this session, newest first."""
    finished = [j for j in session_jobs(wb, user) if j.state == "done" and j.transcript_id]
    if not finished:
        return
    title, clear = st.columns([5, 1], vertical_alignment="bottom")
    title.markdown("##### Results")
    if clear.button(
        "Clear",
        icon=":material/clear_all:",
        key="tx_clear",
        type="tertiary",
        help="Hide these results here; they stay in the Library.",
    ):
        done_ids = {j.id for j in finished}
        st.session_state[JOBS] = [i for i in st.session_state.get(JOBS, []) if i not in done_ids]
        st.rerun()
    shown: set[int] = set()
    for job in finished:
        if job.state != "done" or not job.transcript_id or job.transcript_id in shown:
            continue  # the same transcript again (a cache hit) shows once, with its newest job
        shown.add(job.transcript_id)
        try:
            record = library.open_transcript(wb, job.transcript_id or 0, user)
        except WorkbenchError:
            continue  # deleted meanwhile
        with st.container(border=True):
            st.subheader(md(record.display_name), anchor=False)
            facts = [
                format_clock(record.duration_s),
                record.language or "language not detected",
                f"{record.provider} · {record.model}",
            ]
            st.caption(" · ".join(md(f) for f in facts))
            if job.cached:
                st.badge("Reused from cache — $0", icon=":material/bolt:", color="green")
            elif job.cost_usd:
                st.badge(f"Cost ${job.cost_usd:,.4f}", icon=":material/payments:", color="blue")
            else:
                st.badge("Free", icon=":material/payments:", color="gray")
            summary_block(record)
            player_with_segments(record, key=f"tx_result_{job.id}")
            reading_view(record)
            st.page_link(
                "pages/library.py",
                label="Open in Library to edit, export or share",
                icon=":material/library_books:",
                query_params={"id": str(record.id)},
            )
