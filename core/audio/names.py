"""Display names for uploads: the file's own name made safe to show, store and put in a sentence."""

from __future__ import annotations

import unicodedata

from core.text import one_line

MAX_NAME_CHARS = 120


def sanitize_display_name(name: str) -> str:
    """A file name safe to show and store: no path, control or bidi characters, at most 120 characters."""
    # A NUL vanishes rather than splitting the name: "re\x00port.mp3" is the truncation trick for "report.mp3".
    name = unicodedata.normalize("NFC", name).replace("\x00", "")
    name = one_line(name.replace("\\", "/").rsplit("/", 1)[-1])
    if name.strip(".") == "":
        return "recording"
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10:
            name = f"{stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip()}.{ext}"
        else:
            name = name[:MAX_NAME_CHARS].rstrip()
    return name
