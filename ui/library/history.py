"""One transcript's history tab: every revision, a diff with the current text, and restore."""

from __future__ import annotations

import streamlit as st

from core.identity.types import UserRecord
from core.transcripts import library
from core.transcripts.types import TranscriptRecord
from core.workbench import Workbench
from ui.context import friendly_errors
from ui.library.state import NOTICE, can_change
from ui.text import revision_diff


def history_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """Every revision with author and time; compare one with the current text, or restore it."""
    revisions = library.list_revisions(wb, record.id, user)
    st.dataframe(
        [
            {"Revision": r.number, "By": r.author or "?", "When (UTC)": r.created_at, "Note": r.note or ""}
            for r in revisions
        ],
        hide_index=True,
        column_config={"When (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
    older = [r for r in revisions if r.number != record.revision]
    if not older:
        st.caption("This is the first revision: edits you save appear here.")
        return
    chosen = st.selectbox(
        "Compare with the current text",
        older,
        key=f"lib_hist_{record.id}_{record.revision}",
        format_func=lambda r: f"Revision {r.number} — {r.author or '?'}, {r.created_at:%Y-%m-%d %H:%M}",
    )
    diff = revision_diff(chosen.segments, record.segments, f"revision {chosen.number}", f"revision {record.revision}")
    st.code(diff or "No differences in the text (speaker names may differ).", language="diff")
    if can_change(user, record) and st.button(
        f"Restore revision {chosen.number}", icon=":material/restore:", key=f"lib_restore_{record.id}"
    ):
        with friendly_errors("Restoring"):
            number = library.save_revision(
                wb,
                record.id,
                user,
                chosen.segments,
                chosen.speaker_names,
                note=f"restored revision {chosen.number}",
                base_revision=record.revision,
            )
            st.session_state[NOTICE] = f"Revision {chosen.number} restored as revision {number}."
            st.rerun()
