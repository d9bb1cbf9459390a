"""One transcript's reading tabs: the header, listen & read with its summary, review and export."""

from __future__ import annotations

import streamlit as st

from core.identity.types import UserRecord
from core.jobs import api as jobs
from core.text import format_clock
from core.transcripts.export.docs import ALL_FORMATS, FORMAT_LABELS, MIME_TYPES, file_stem
from core.transcripts.service import export_transcript
from core.transcripts.types import TranscriptRecord
from core.workbench import Workbench
from ui.context import friendly_errors
from ui.library import data
from ui.library.state import SUMMARY_JOB, can_change, open_transcript
from ui.text import md
from ui.transcript_view import player_with_segments, reading_view, summary_block


def header(user: UserRecord, record: TranscriptRecord) -> None:
    """The back button, the title and the facts line, with a read-only badge for a share."""
    back, _ = st.columns([1, 5])
    if back.button("All transcripts", icon=":material/arrow_back:", key="lib_back"):
        open_transcript(None)
        st.rerun()
    st.title(md(record.display_name), anchor=False)
    facts = [
        record.owner,
        f"{record.created_at:%Y-%m-%d %H:%M} UTC",
        format_clock(record.duration_s),
        record.language or "language not detected",
        f"{record.provider} · {record.model}",
        f"revision {record.revision}",
    ]
    st.caption(" · ".join(md(f) for f in facts))
    if not can_change(user, record):
        st.badge(f"Shared with you by {record.owner} — read only", icon=":material/visibility:", color="violet")


def read_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """The summary (or a button to write one), the player with its segments, and the text."""
    summary_block(record)
    if not record.summary and can_change(user, record):
        summary_job_status(wb, user, record)
    player_with_segments(record, key=f"lib_{record.id}_{record.revision}")
    reading_view(record, height=360)


def summary_job_status(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """A "write a summary" button, and the job's progress once asked (polled by a fragment)."""
    job_id = st.session_state.get(SUMMARY_JOB, {}).get(record.id)
    if job_id is None:
        if st.button("Write a summary", icon=":material/summarize:", key=f"lib_summarize_{record.id}"):
            with friendly_errors("Starting the summary"):
                job = jobs.submit_summary(wb, record.id, user)
                st.session_state.setdefault(SUMMARY_JOB, {})[record.id] = job.id
                st.rerun()
        return

    @st.fragment(run_every=wb.settings.job_poll_s)
    def poll() -> None:
        job = jobs.get_job(wb, job_id, user)
        if job.active:
            st.progress(job.progress, text="Writing the summary…")
            return
        st.session_state[SUMMARY_JOB].pop(record.id, None)
        if job.state != "done":
            st.error(f"The summary was not written: {md(job.error or job.state)}")
            return
        st.rerun(scope="app")

    poll()


def review_tab(record: TranscriptRecord) -> None:
    """Segments and words the model was unsure of, to check first."""
    if not data.has_confidence(record):
        st.info(
            "There are no confidence figures to review: the model did not report them, "
            "or every segment has been corrected since."
        )
        return
    threshold = st.slider(
        "Show what the model was less sure of than", 0.3, 0.99, 0.75, 0.01, format="%.2f", key=f"lib_review_{record.id}"
    )
    segs, words = data.low_confidence(record, threshold)
    percent = st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="percent")
    st.markdown(f"**Segments** ({len(segs)})")
    if len(segs):
        st.dataframe(segs, hide_index=True, column_config={"Confidence": percent})
    else:
        st.caption("None below this level.")
    st.markdown(f"**Words** ({len(words)})")
    if len(words):
        st.dataframe(words, hide_index=True, column_config={"Confidence": percent})
    else:
        st.caption("None below this level.")
    st.caption("Segments you corrected no longer carry a confidence, so they leave this list.")


def export_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """One download button per format; each file is made when clicked, through the audited export use case."""
    st.caption("Every format carries timestamps and speakers, with your speaker names.")
    cols = st.columns(4)
    for i, fmt in enumerate(ALL_FORMATS):
        cols[i % 4].download_button(
            FORMAT_LABELS[fmt],
            data=lambda fmt=fmt: export_transcript(wb, record.id, user, fmt).data,
            file_name=f"{file_stem(record.display_name)}.{fmt}",
            mime=MIME_TYPES[fmt],
            key=f"lib_export_{fmt}_{record.id}",
            icon=":material/download:",
            on_click="ignore",
            width="stretch",
        )
