"""Library: find transcripts (filters and full-text search), open one to read, edit, review, export or delete."""

import streamlit as st

from core.errors import NotFoundError
from core.transcripts import repository as repo
from core.transcripts.search import search
from ui import library_data as data
from ui import library_view as view
from ui.context import current_user, friendly_errors, workbench

user = current_user()
wb = workbench()
view.notice()

opened = view.opened_id()
if opened is not None:
    try:
        record = repo.get_transcript(wb.Session, opened, user, audio_dir=str(wb.settings.audio_dir))
    except NotFoundError:
        st.warning("That transcript does not exist, or it is not shared with you.", icon=":material/search_off:")
        view.open_transcript(None)
        record = None
    if record is not None:
        view.header(user, record)
        read, edit, history, review, export, share = st.tabs(
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
            view.read_tab(wb, user, record)
        with edit, friendly_errors("Editing"):
            view.edit_tab(wb, user, record)
        with history, friendly_errors("Showing the history"):
            view.history_tab(wb, user, record)
        with review:
            view.review_tab(record)
        with export:
            view.export_tab(wb, user, record)
        with share, friendly_errors("Sharing"):
            view.share_tab(wb, user, record)
        st.divider()
        view.delete_area(wb, user, record)
        st.stop()

st.title("Library")
records = repo.list_transcripts(wb.Session, user)
if not records:
    st.info("No transcripts yet. Transcribe a recording and it appears here.", icon=":material/library_books:")
    st.page_link("pages/transcribe.py", label="Go to Transcribe", icon=":material/mic:")
    st.stop()

st.caption("Every user's transcripts." if user.is_admin else "Your transcripts and the ones shared with you.")
query, chosen = view.filter_bar(user, records)
shown = data.apply_filter(records, chosen)
if query:
    with friendly_errors("Searching"):
        view.search_results(data.filter_hits(search(wb.Session, user, query), shown), query)
elif shown:
    view.transcript_list(shown, user)
else:
    st.info("No transcript matches these filters.", icon=":material/filter_list_off:")
