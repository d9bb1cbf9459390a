"""The Library's widgets: filters and search, the list, and one transcript's tabs (read, edit, history,
review, export, delete)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from core.identity import sharing
from core.identity.types import UserRecord
from core.identity.users import list_users
from core.jobs import api as jobs
from core.transcripts import repository as repo
from core.transcripts.export.docs import ALL_FORMATS, FORMAT_LABELS, MIME_TYPES, file_stem, stamp
from core.transcripts.service import export_transcript
from core.transcripts.types import SearchHit, TranscriptRecord
from core.workbench import Workbench
from ui import library_data as data
from ui.context import friendly_errors
from ui.text import highlight_snippet, md, revision_diff
from ui.transcript_view import player_with_segments, reading_view, summary_block

OPEN = "id"  # query parameter: the open transcript, so a link or a refresh keeps it open
NOTICE = "lib_notice"
SUMMARY_JOB = "lib_summary_job"


def open_transcript(transcript_id: int | None) -> None:
    if transcript_id is None:
        st.query_params.pop(OPEN, None)
    else:
        st.query_params[OPEN] = str(transcript_id)


def opened_id() -> int | None:
    raw = st.query_params.get(OPEN)
    return int(raw) if raw and raw.isdigit() else None


def notice() -> None:
    """A message left by the previous run (e.g. "Saved as revision 3"), shown once."""
    message = st.session_state.pop(NOTICE, None)
    if message:
        st.success(message, icon=":material/check_circle:")


def filter_bar(user: UserRecord, records: list[TranscriptRecord]) -> tuple[str, data.LibraryFilter]:
    """The search box and the filters; returns (query, filter)."""
    query = st.text_input(
        "Search",
        key="lib_query",
        placeholder="Search the words of every transcript…",
        label_visibility="collapsed",
        icon=":material/search:",
    )
    found = data.facets(records)
    with st.expander("Filters", icon=":material/filter_list:"):
        cols = st.columns(5 if user.is_admin else 4)
        owner = None
        if user.is_admin:
            picked = cols.pop(0).selectbox("Owner", ["Everyone", *found.owners], key="lib_owner")
            owner = None if picked == "Everyone" else picked
        days = cols[0].date_input("Created between", value=(), key="lib_dates", max_value=date.today())
        picked_days = list(days) if isinstance(days, list | tuple) else [days]
        languages = cols[1].multiselect("Language", found.languages, key="lib_languages")
        providers = cols[2].multiselect("Provider", found.providers, key="lib_providers")
        tags = cols[3].multiselect(
            "Tags",
            found.tags,
            key="lib_tags",
            placeholder="No tags yet" if not found.tags else "Any tag",
            disabled=not found.tags,
        )
    return query.strip(), data.LibraryFilter(
        owner=owner,
        start=picked_days[0] if picked_days else None,
        end=picked_days[-1] if picked_days else None,
        languages=tuple(languages),
        providers=tuple(providers),
        tags=tuple(tags),
    )


def search_results(hits: list[SearchHit], query: str) -> None:
    """Matches with snippets; user text is escaped, matches are highlighted with Markdown, never HTML."""
    if not hits:
        st.info(f"No transcript contains “{md(query)}”. Try fewer or different words.", icon=":material/search_off:")
        return
    st.caption(f"{len(hits)} transcript{'s' if len(hits) != 1 else ''} found")
    for hit in hits:
        with st.container(border=True):
            text, button = st.columns([8, 1], vertical_alignment="center")
            text.markdown(f"**{md(hit.display_name)}** :gray[· {md(hit.owner)} · {hit.created_at:%Y-%m-%d}]")
            text.markdown(highlight_snippet(hit.snippet))
            if button.button("Open", key=f"lib_hit_{hit.transcript_id}"):
                open_transcript(hit.transcript_id)
                st.rerun()


def transcript_list(records: list[TranscriptRecord], user: UserRecord) -> None:
    """The table of transcripts; choosing a row opens it."""
    st.caption(f"{len(records)} transcript{'s' if len(records) != 1 else ''} · choose one to open it")
    event = st.dataframe(
        data.library_frame(records, with_owner=user.is_admin or any(r.owner_id != user.id for r in records)),
        key="lib_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config={
            "Created": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm"),
            "Revision": st.column_config.NumberColumn("Rev.", width="small"),
        },
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        open_transcript(records[rows[0]].id)
        st.session_state.pop("lib_table", None)
        st.rerun()


def can_change(user: UserRecord, record: TranscriptRecord) -> bool:
    """Its owner or an admin may edit, restore, summarise, share and delete; a reader of a share may not."""
    return user.is_admin or record.owner_id == user.id


def header(user: UserRecord, record: TranscriptRecord) -> None:
    back, _ = st.columns([1, 5])
    if back.button("All transcripts", icon=":material/arrow_back:", key="lib_back"):
        open_transcript(None)
        st.rerun()
    st.title(md(record.display_name), anchor=False)
    facts = [
        record.owner,
        f"{record.created_at:%Y-%m-%d %H:%M} UTC",
        stamp(record.duration_s),
        record.language or "language not detected",
        f"{record.provider} · {record.model}",
        f"revision {record.revision}",
    ]
    st.caption(" · ".join(md(f) for f in facts))
    if not can_change(user, record):
        st.badge(f"Shared with you by {record.owner} — read only", icon=":material/visibility:", color="violet")


def read_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
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
    version = f"{record.id}_{record.revision}"  # a new revision starts a fresh editor
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
        with friendly_errors("Saving"):
            number = repo.save_revision(wb.Session, record.id, user, segments, renames, note=note.strip() or "edited")
            st.session_state[NOTICE] = f"Saved as revision {number}."
            st.rerun()


def _segments_for_editing(record: TranscriptRecord) -> pd.DataFrame:
    rows = [
        {"Start": stamp(s.start), "Speaker": record.speaker_label(s.speaker) or "", "Text": s.text.strip()}
        for s in record.segments
    ]
    frame = pd.DataFrame(rows, columns=["Start", "Speaker", "Text"])
    return frame if any(r["Speaker"] for r in rows) else frame.drop(columns="Speaker")


def history_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """Every revision with author and time; compare one with the current text, or restore it."""
    revisions = repo.list_revisions(wb.Session, record.id, user)
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
            number = repo.save_revision(
                wb.Session,
                record.id,
                user,
                chosen.segments,
                chosen.speaker_names,
                note=f"restored revision {chosen.number}",
            )
            st.session_state[NOTICE] = f"Revision {chosen.number} restored as revision {number}."
            st.rerun()


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


def share_tab(wb: Workbench, user: UserRecord, record: TranscriptRecord) -> None:
    """Who may read this transcript besides its owner; its owner or an admin adds and removes readers."""
    readers = sharing.shared_with(wb, record.id, user)
    if not can_change(user, record):
        st.info(f"{md(record.owner)} shared this transcript with you to read.", icon=":material/visibility:")
        return
    st.caption("People you share with can read, play and export this transcript; they cannot change or delete it.")
    for name in readers:
        who, button = st.columns([5, 1], vertical_alignment="center")
        who.markdown(f":material/person: {md(name)}")
        if button.button("Stop sharing", key=f"lib_unshare_{record.id}_{name}", type="tertiary"):
            with friendly_errors("Stopping the share"):
                sharing.unshare_transcript(wb, record.id, user, name)
                st.session_state[NOTICE] = f"{md(record.display_name)} is no longer shared with {md(name)}."
                st.rerun()
    if not readers:
        st.caption("Not shared with anyone yet.")
    others = [u.name for u in list_users(wb.Session) if u.active and u.id != record.owner_id and u.name not in readers]
    if not others:
        st.caption("There is nobody else to share with.")
        return
    pick, button = st.columns([4, 1], vertical_alignment="bottom")
    name = pick.selectbox("Share with", others, index=None, placeholder="Choose a person", key=f"lib_share_{record.id}")
    if button.button("Share", icon=":material/share:", disabled=name is None, key=f"lib_share_go_{record.id}"):
        with friendly_errors("Sharing"):
            sharing.share_transcript(wb, record.id, user, name or "")
            st.session_state[NOTICE] = f"{md(record.display_name)} is now shared with {md(name or '')}."
            st.rerun()


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
                repo.delete_transcript(wb.Session, record.id, user)
                st.session_state.pop(confirm_key, None)
                st.session_state[NOTICE] = f"“{md(record.display_name)}” was deleted."
                open_transcript(None)
                st.rerun()
        if no.button("Keep it", key=f"lib_delete_no_{record.id}"):
            st.session_state.pop(confirm_key, None)
            st.rerun()
