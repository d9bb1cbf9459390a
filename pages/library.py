"""Library: find transcripts (filters and full-text search), open one to read, edit, review, export or delete."""

import streamlit as st

from core.errors import NotFoundError
from core.transcripts import library
from ui.context import current_user, friendly_errors, workbench
from ui.library import data, editor, history, listing, reader, sharing, state

user = current_user()
wb = workbench()
state.notice()

opened = state.opened_id()
if opened is not None:
    try:
        record = library.open_transcript(wb, opened, user)
    except NotFoundError:
        st.warning("That transcript does not exist, or it is not shared with you.", icon=":material/search_off:")
        state.open_transcript(None)
        record = None
    if record is not None:
        reader.header(user, record)
        read, edit, revisions, review, export, share = st.tabs(
            [
                ":material/headphones: Listen & read",
                ":material/edit: Edit",
                ":material/history: History",
                ":material/fact_check: Review",
                ":material/download: Export",
                ":material/share: Share",
            ],
            key=f"lib_tabs_{record.id}",
        )
        with read, friendly_errors("Showing the transcript"):
            reader.read_tab(wb, user, record)
        with edit, friendly_errors("Editing"):
            editor.edit_tab(wb, user, record)
        with revisions, friendly_errors("Showing the history"):
            history.history_tab(wb, user, record)
        with review:
            reader.review_tab(record)
        with export:
            reader.export_tab(wb, user, record)
        with share, friendly_errors("Sharing"):
            sharing.share_tab(wb, user, record)
        st.divider()
        editor.delete_area(wb, user, record)
        st.stop()

st.title("Library")
records = library.list_transcripts(wb, user)
if not records:
    st.info("No transcripts yet. Transcribe a recording and it appears here.", icon=":material/library_books:")
    st.page_link("pages/transcribe.py", label="Go to Transcribe", icon=":material/mic:")
    st.stop()

st.caption("Every user's transcripts." if user.is_admin else "Your transcripts and the ones shared with you.")
query, chosen = listing.filter_bar(user, records)
shown = data.apply_filter(records, chosen)
if query:
    with friendly_errors("Searching"):
        listing.search_results(data.filter_hits(library.search_transcripts(wb, user, query), shown), query)
elif shown:
    listing.transcript_list(shown, user)
else:
    st.info("No transcript matches these filters.", icon=":material/filter_list_off:")
