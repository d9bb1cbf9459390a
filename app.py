"""Transcription Workbench: page config, settings, login gate and navigation — nothing else."""

import streamlit as st

from core import APP_NAME
from core.errors import WorkbenchError
from ui import auth_gate, context

st.set_page_config(page_title=APP_NAME, page_icon="🎙️", layout="wide")

try:
    wb = context.workbench()
    user, authenticator = auth_gate.gate(wb)
except WorkbenchError as exc:  # a bad setting or an unreadable data dir: one sentence, no traceback
    st.error(str(exc), icon=":material/error:")
    st.stop()

if user is not None and auth_gate.account_box(wb, user, authenticator):
    user = None
if user is None:
    st.navigation(
        [st.Page(lambda: auth_gate.login_page(wb, authenticator), title="Sign in", url_path="sign-in")],
        position="hidden",
    ).run()
    st.stop()

context.ensure_job_consumer(wb)
# URL paths differ from the file names on purpose: with a pages/ folder beside app.py, Streamlit's legacy
# multipage mode would otherwise match a URL like /library to pages/library.py and run it without app.py
# (and so without this login gate) until st.navigation has been called once in the process.
pages = {
    "Workspace": [
        st.Page("pages/transcribe.py", title="Transcribe", icon=":material/mic:", url_path="start", default=True),
        st.Page("pages/library.py", title="Library", icon=":material/library_books:", url_path="transcripts"),
    ],
    "Account": [
        st.Page("pages/usage.py", title="Usage & cost", icon=":material/bar_chart:", url_path="usage-and-cost")
    ],
}
if user.is_admin:  # pages a role may not see are not registered at all
    pages["Account"].append(
        st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:", url_path="administration")
    )
st.navigation(pages).run()
