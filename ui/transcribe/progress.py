"""Live progress of this session's jobs: cancel while running, retry when failed or cancelled."""

from __future__ import annotations

import streamlit as st

from core.identity.types import UserRecord
from core.jobs import api as jobs
from core.jobs.api import JobRecord
from core.workbench import Workbench
from ui.context import friendly_errors
from ui.text import md
from ui.transcribe.state import SEEN_ACTIVE, session_jobs


def _status_line(job: JobRecord) -> str:
    if job.state == "queued":
        place = f" — number {job.queue_position} in line" if job.queue_position else ""
        return f"Waiting to start{place}"
    if job.cancel_requested:
        return "Stopping after the current part…"
    return (job.stage or "Starting").capitalize()


def _active_job(wb: Workbench, user: UserRecord, job: JobRecord) -> None:
    with st.container(border=True):
        top, button = st.columns([6, 1], vertical_alignment="center")
        top.markdown(f":material/progress_activity: **{md(job.display_name or 'Recording')}**")
        if button.button("Cancel", key=f"tx_cancel_{job.id}", disabled=job.cancel_requested):
            with friendly_errors("Cancelling"):
                jobs.cancel_job(wb, job.id, user)
        st.progress(job.progress, text=_status_line(job))
        if job.partial_text:
            st.caption("Text so far")
            st.text(job.partial_text[-1500:])


def _finished_job(wb: Workbench, user: UserRecord, job: JobRecord) -> None:
    name = md(job.display_name or "Recording")
    if job.state == "done":
        return  # shown with its result below
    if job.refused:  # a limit, not a fault: a Retry could not succeed
        st.warning(
            f"**{name}** was not transcribed: {md(job.error or 'a limit was reached')} "
            "Ask an administrator to raise the limit, then add the file again.",
            icon=":material/savings:",
        )
        return
    with st.container(border=True):
        text, button = st.columns([6, 1], vertical_alignment="center")
        icon = ":material/error:" if job.state == "failed" else ":material/cancel:"
        text.markdown(
            f"{icon} **{name}** — {'failed' if job.state == 'failed' else 'cancelled'}  \n:gray[{md(job.error or '')}]"
        )
        if button.button("Retry", key=f"tx_retry_{job.id}", icon=":material/refresh:"):
            with friendly_errors("Retrying"):
                jobs.retry_job(wb, job.id, user)
                st.rerun()


def progress_panel(wb: Workbench, user: UserRecord) -> None:
    """Live progress of this session's jobs, refreshed by a fragment while any is queued or running."""
    active_now = any(j.active for j in session_jobs(wb, user))
    interval = wb.settings.job_poll_s if active_now else None

    @st.fragment(run_every=interval)
    def panel() -> None:
        current = session_jobs(wb, user)
        active_ids = {j.id for j in current if j.active}
        finished = st.session_state.get(SEEN_ACTIVE, set()) - active_ids
        st.session_state[SEEN_ACTIVE] = active_ids
        if finished:
            st.rerun(scope="app")  # something finished: redraw the whole page so its result shows
        for job in current:
            if job.active:
                _active_job(wb, user, job)
            else:
                _finished_job(wb, user, job)

    panel()
