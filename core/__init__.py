"""Transcription Workbench engine: everything but the Streamlit pages."""

__version__ = "0.1.0"
APP_NAME = "Transcription Workbench"
