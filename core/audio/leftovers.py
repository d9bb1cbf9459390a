"""Removing temp copies a crashed process left in tmp_dir, without touching those a live one is using."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

UPLOAD_PREFIX = "upload-"  # store.py's half-copied uploads: upload-XXXX.part
TRANSCODE_PREFIX = "openai-"  # the OpenAI provider's per-job folder (prepared WAV and encoded chunks)
UPLOAD_MAX_AGE_S = 3600.0  # an upload is copied and probed in minutes; an hour-old one has no owner left
TRANSCODE_MAX_AGE_S = 6 * 3600.0  # a live job writes a chunk file every few minutes; six idle hours is a dead one


def _newest_mtime(folder: Path) -> float:
    """The latest modification time in a folder tree (the folder's own included)."""
    newest = folder.stat().st_mtime
    for entry in folder.rglob("*"):
        with contextlib.suppress(OSError):
            newest = max(newest, entry.stat().st_mtime)
    return newest


def remove_stale_temp(tmp_dir: Path, now: float | None = None) -> int:
    """Delete leftover upload copies and transcode folders that nothing has touched for long; return how many."""
    # Age, not "older than this process", decides: another live process (a worker, the web app) may be
    # writing one right now, and its files are fresh.
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(tmp_dir.iterdir())
    except OSError:
        return 0  # no tmp folder yet: nothing was left
    for entry in entries:
        try:
            if _is_stale(entry, now):
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed += 1
        except OSError:
            continue  # gone already (another process cleaned it) or not ours to remove
    return removed


def _is_stale(entry: Path, now: float) -> bool:
    """Whether `entry` is one of our temp copies and nothing has touched it for longer than its kind allows."""
    if entry.name.startswith(UPLOAD_PREFIX) and entry.is_file():
        return now - entry.stat().st_mtime > UPLOAD_MAX_AGE_S
    if entry.name.startswith(TRANSCODE_PREFIX) and entry.is_dir():
        return now - _newest_mtime(entry) > TRANSCODE_MAX_AGE_S
    return False
