"""Streamlit-aware helpers shared by the pages: the cached workbench, the signed-in user, small widgets."""
