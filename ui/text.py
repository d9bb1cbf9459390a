"""User text made safe for Streamlit Markdown, and search snippets with their matches highlighted (no HTML)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from core.text import format_clock, scrub
from core.transcripts.export.docs import escape_markdown
from core.transcripts.types import SNIPPET_CLOSE, SNIPPET_OPEN, Segment


def md(text: str) -> str:
    """Escape user text for st.markdown: Markdown, HTML, $math$ and Streamlit's :color[...] / :icon: syntax."""
    flat = scrub(text)  # line breaks become spaces, bidi marks go; spaces around a snippet's match survive
    return escape_markdown(flat).replace(":", "\\:")


def highlight_snippet(snippet: str) -> str:
    """A search snippet as Markdown: the text escaped, each match on an orange background."""
    out: list[str] = []
    rest = snippet
    while SNIPPET_OPEN in rest:
        before, _, tail = rest.partition(SNIPPET_OPEN)
        match, closed, rest = tail.partition(SNIPPET_CLOSE)
        out.append(md(before))
        if match.strip():
            out.append(f":orange-background[**{md(match)}**]")
        if not closed:
            rest = ""
    out.append(md(rest))
    return "".join(out).replace(SNIPPET_CLOSE, "")


def revision_diff(old: Sequence[Segment], new: Sequence[Segment], old_label: str, new_label: str) -> str:
    """A unified diff of two revisions, one line per segment with its timestamp (shown with st.code)."""
    a = [f"[{format_clock(s.start)}] {s.text.strip()}" for s in old]
    b = [f"[{format_clock(s.start)}] {s.text.strip()}" for s in new]
    lines = difflib.unified_diff(a, b, fromfile=old_label, tofile=new_label, lineterm="", n=1)
    return "\n".join(lines)
