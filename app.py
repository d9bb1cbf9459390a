"""Transcription Workbench: page config and navigation."""

import streamlit as st

from core import APP_NAME
from core.config import load_settings
from core.doctor import run_checks

st.set_page_config(page_title=APP_NAME, page_icon="🎙️", layout="wide")
st.title(APP_NAME)
settings = load_settings()
st.caption(f"Default provider: {settings.default_provider}")
for check in run_checks(settings, online=False):
    st.write(("✅ " if check.ok else "⚠️ ") + f"**{check.name}** — {check.detail}")
