"""Transcribe: add files or a recording, see each checked, choose options and the cost, run, watch, read."""

import streamlit as st

from ui.budget_banner import budget_banner
from ui.context import current_user, friendly_errors, workbench
from ui.transcribe import form, intake, progress, results

user = current_user()
wb = workbench()
budget_banner(wb, user)

st.title("Transcribe")
st.caption(
    "Add recordings, check the estimate, then press **Transcribe**. You can leave this page while it runs: "
    "finished transcripts wait in the Library."
)

files_col, options_col = st.columns([3, 2], gap="large")
with files_col:
    with friendly_errors("Adding the files"):
        intake.intake(wb)
    st.markdown("##### Files to transcribe")
    ready = intake.staged_list()
with options_col, st.container(border=True):
    st.markdown("##### Options")
    opts = form.options_form(wb)
    within_budget = form.estimate_box(wb, user, ready, opts)
    if st.button(
        f"Transcribe {len(ready)} file{'s' if len(ready) != 1 else ''}" if ready else "Transcribe",
        type="primary",
        icon=":material/play_arrow:",
        disabled=not ready or not within_budget or opts.model is None,
        width="stretch",
        key="tx_run",
    ):
        form.submit(wb, user, ready, opts)
        st.rerun()

form.problems()
progress.progress_panel(wb, user)
results.results(wb, user)
