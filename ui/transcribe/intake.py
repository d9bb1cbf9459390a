"""Adding audio: uploads and recordings, each checked and stored at once, and the list of staged files."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import streamlit as st

from core.audio.store import store_upload
from core.errors import InputError, WorkbenchError
from core.text import format_clock
from core.workbench import Workbench
from ui.text import md
from ui.transcribe.state import STAGED, Staged


def _stage(source: Any, name: str, wb: Workbench) -> Staged:
    try:
        stored = store_upload(source, name, wb.settings)
    except InputError as exc:
        return Staged(uuid.uuid4().hex, name, False, exc.reason)
    except WorkbenchError as exc:
        return Staged(uuid.uuid4().hex, name, False, str(exc))
    return Staged(
        uuid.uuid4().hex, stored.display_name, True, None, str(stored.path), stored.info.duration_s, stored.bytes
    )


def _take(files: list[Any], wb: Workbench, key_name: str) -> None:
    """Write new uploads to disk at once, then drop them from the widget so session memory is freed."""
    staged: list[Staged] = st.session_state.setdefault(STAGED, [])
    for upload in files:
        item = _stage(upload, upload.name, wb)
        if item.ok and any(s.path == item.path for s in staged):
            continue  # the same recording twice: once is enough
        staged.append(item)
    st.session_state[key_name] = st.session_state.get(key_name, 0) + 1  # a new widget key releases the bytes
    st.rerun()


def intake(wb: Workbench) -> None:
    """Upload several files or record one; each is checked and stored before anything runs."""
    upload_tab, record_tab = st.tabs([":material/upload_file: Upload files", ":material/mic: Record"])
    with upload_tab:
        n = st.session_state.get("tx_upload_n", 0)
        files = st.file_uploader(
            "Audio or video files",
            accept_multiple_files=True,
            max_upload_size=wb.settings.max_upload_mb,
            key=f"tx_upload_{n}",
            help="mp3, wav, m4a, ogg, opus, webm, flac, or the sound of an mp4/mov/webm video. "
            f"Up to {wb.settings.max_upload_mb} MB each.",
        )
        if files:
            _take(list(files), wb, "tx_upload_n")
    with record_tab:
        n = st.session_state.get("tx_record_n", 0)
        clip = st.audio_input("Record from your microphone", key=f"tx_record_{n}")
        if clip is not None:
            clip.name = f"Recording {datetime.now():%Y-%m-%d %H.%M.%S}.wav"
            _take([clip], wb, "tx_record_n")


def staged_list() -> list[Staged]:
    """The checked files with their verdicts; returns those ready to run."""
    staged: list[Staged] = st.session_state.get(STAGED, [])
    if not staged:
        st.caption(
            "Nothing added yet. Files are checked as soon as they arrive — nothing runs until you press **Transcribe**."
        )
        return []
    for item in list(staged):
        with st.container(border=True):
            left, right = st.columns([6, 1], vertical_alignment="center")
            if item.ok:
                left.markdown(
                    f":material/check_circle: **{md(item.name)}**  \n"
                    f":gray[Ready · {format_clock(item.duration_s)} · {item.size / 1e6:.1f} MB]"
                )
            else:
                left.markdown(f":material/block: **{md(item.name)}**  \n:red[Refused: {md(item.reason or '')}]")
            if right.button("", icon=":material/close:", key=f"tx_drop_{item.key}", help="Remove from the list"):
                staged.remove(item)
                st.rerun()
    return [s for s in staged if s.ok]
