"""Changing one transcript: the edit tab (a save makes a new revision) and deleting it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.identity.types import UserRecord
from core.text import format_clock
from core.transcripts import library
from core.transcripts.types import Segment, TranscriptRecord
from core.workbench import Workbench
from ui.context import friendly_errors
from ui.library import data
from ui.library.state import NOTICE, can_change, open_transcript
from ui.text import md


def edit_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """Edit segment texts and speaker names; saving makes a new revision with author and time."""
    if not can_change(user, record):
        st.info(
            f"{md(record.owner)} shared this transcript with you to read. Only they or an administrator can change it.",
            icon=":material/visibility:",
        )
        return
    if not record.segments:
        st.info("There is nothing to edit: no speech was found.")
        return
    # The editor belongs to the revision it was opened on, not to whatever is stored now: a save by someone
    # else must not silently reset it (their save makes ours a conflict, which keeps both texts).
    base = st.session_state.setdefault(_base_key(record), record.revision)
    version = f"{record.id}_{base}"
    raw_speakers = data.speaker_ids(record)
    names: dict[str, str] = {}
    if raw_speakers:
        st.markdown("**Speaker names** — used on screen and in every export")
        cols = st.columns(4)
        for i, raw in enumerate(raw_speakers):
            names[raw] = cols[i % len(cols)].text_input(
                raw, value=record.speaker_names.get(raw, raw), key=f"lib_spk_{version}_{raw}", max_chars=60
            )
    st.markdown("**Text** — double-click a cell to correct it")
    frame = _segments_for_editing(record)
    edited = st.data_editor(
        frame,
        key=f"lib_edit_{version}",
        hide_index=True,
        disabled=[c for c in frame.columns if c != "Text"],
        column_config={"Text": st.column_config.TextColumn("Text", width="large", required=True)},
        height=min(460, 38 + 35 * len(frame)),
    )
    note = st.text_input(
        "What changed? (optional)",
        key=f"lib_note_{version}",
        max_chars=200,
        placeholder="e.g. fixed names in the introduction",
    )
    if st.button("Save as a new revision", type="primary", icon=":material/save:", key=f"lib_save_{version}"):
        segments = data.edited_segments(record, list(edited["Text"]))
        renames = data.renamed_speakers(record, names)
        if not data.has_changes(record, segments, renames):
            st.info("Nothing has changed yet.")
            return
        try:
            with friendly_errors("Saving"):
                number = library.save_revision(
                    wb, record.id, user, segments, renames, note=note.strip() or "edited", base_revision=base
                )
                st.session_state.pop(_base_key(record), None)
                st.session_state[NOTICE] = f"Saved as revision {number}."
                st.rerun()
        finally:
            _show_conflict(record, segments, base)


def _base_key(record: TranscriptRecord) -> str:
    return f"lib_edit_base_{record.id}"


def _show_conflict(record: TranscriptRecord, segments: list[Segment], base: int) -> None:
    """Both texts side by side when someone else saved first: nothing the user typed is lost."""
    if record.revision == base:
        return
    mine, theirs = st.columns(2)
    mine.text_area(
        f"Your edit (from revision {base}, not saved)",
        "\n\n".join(s.text.strip() for s in segments),
        height=240,
        key=f"lib_conflict_mine_{record.id}",
    )
    theirs.text_area(
        f"Saved meanwhile (revision {record.revision})",
        "\n\n".join(s.text.strip() for s in record.segments),
        height=240,
        key=f"lib_conflict_theirs_{record.id}",
        disabled=True,
    )
    if st.button("Edit the newest revision", icon=":material/refresh:", key=f"lib_conflict_reload_{record.id}"):
        st.session_state.pop(_base_key(record), None)
        st.rerun()


def _segments_for_editing(record: TranscriptRecord) -> pd.DataFrame:
    rows = [
        {"Start": format_clock(s.start), "Speaker": record.speaker_label(s.speaker) or "", "Text": s.text.strip()}
        for s in record.segments
    ]
    frame = pd.DataFrame(rows, columns=["Start", "Speaker", "Text"])
    return frame if any(r["Speaker"] for r in rows) else frame.drop(columns="Speaker")


def delete_area(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """Delete with a confirmation step; only the owner or an admin sees it."""
    if not can_change(user, record):
        return
    confirm_key = f"lib_confirm_delete_{record.id}"
    if not st.session_state.get(confirm_key):
        if st.button("Delete this transcript…", icon=":material/delete:", key=f"lib_delete_{record.id}"):
            st.session_state[confirm_key] = True
            st.rerun()
        return
    with st.container(border=True):
        st.warning(f"Delete “{md(record.display_name)}” and all its revisions? This cannot be undone.")
        yes, no, _ = st.columns([1.3, 1, 3])
        if yes.button(
            "Delete permanently", type="primary", icon=":material/delete_forever:", key=f"lib_delete_yes_{record.id}"
        ):
            with friendly_errors("Deleting"):
                library.delete_transcript(wb, record.id, user)
                st.session_state.pop(confirm_key, None)
                st.session_state[NOTICE] = f"“{md(record.display_name)}” was deleted."
                open_transcript(None)
                st.rerun()
        if no.button("Keep it", key=f"lib_delete_no_{record.id}"):
            st.session_state.pop(confirm_key, None)
            st.rerun()
