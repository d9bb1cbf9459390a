"""One transcript's share tab: who may read it besides its owner."""

from __future__ import annotations

import streamlit as st

from core.identity import sharing
from core.identity.directory import list_users
from core.identity.types import UserRecord
from core.transcripts.types import TranscriptRecord
from core.workbench import Workbench
from ui.context import friendly_errors
from ui.library.state import NOTICE, can_change
from ui.text import md


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
    others = [u.name for u in list_users(wb) if u.active and u.id != record.owner_id and u.name not in readers]
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
