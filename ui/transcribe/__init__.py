"""The Transcribe page's widgets, one module per part of the page."""
