"""The Library's page state: which transcript is open, the one-shot notice, and who may change it."""

from __future__ import annotations

import streamlit as st

from core.identity.types import UserRecord
from core.transcripts.types import TranscriptRecord

OPEN = "id"  # query parameter: the open transcript, so a link or a refresh keeps it open
NOTICE = "lib_notice"
SUMMARY_JOB = "lib_summary_job"


def open_transcript(transcript_id: int | None) -> None:
    """Open this transcript (None: back to the list) through the query parameter."""
    if transcript_id is None:
        st.query_params.pop(OPEN, None)
    else:
        st.query_params[OPEN] = str(transcript_id)


def opened_id() -> int | None:
    """The id of the open transcript from the query parameter, or None."""
    raw = st.query_params.get(OPEN)
    # ASCII digits only ("²".isdigit() is true) and no more than an id can hold (23 digits overflowed SQLite):
    # anything else counts as no id at all.
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


def notice() -> None:
    """A message left by the previous run (e.g. "Saved as revision 3"), shown once."""
    message = st.session_state.pop(NOTICE, None)
    if message:
        st.success(message, icon=":material/check_circle:")


def can_change(user: UserRecord, record: TranscriptRecord) -> bool:
    """Its owner or an admin may edit, restore, summarise, share and delete; a reader of a share may not."""
    return user.is_admin or record.owner_id == user.id
