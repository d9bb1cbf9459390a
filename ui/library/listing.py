"""The Library's list view: the search box and filters, search results, and the table of transcripts."""

from __future__ import annotations

from datetime import date

import streamlit as st

from core.identity.types import UserRecord
from core.transcripts.types import SearchHit, TranscriptRecord
from ui.library import data
from ui.library.state import open_transcript
from ui.text import highlight_snippet, md


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
