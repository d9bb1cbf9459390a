"""The Library page's widgets, one module per part of the page; `data` holds the Streamlit-free logic."""
