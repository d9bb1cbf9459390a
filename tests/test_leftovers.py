"""Temp copies a crashed process left behind are removed on start; those a live process is writing are kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.audio.leftovers import remove_stale_temp
from core.config import Settings


def test_leftover_temp_copies_are_removed_but_fresh_ones_kept(tmp_path: Path) -> None:
    old = time.time() - 7 * 3600
    stale = tmp_path / "upload-crashed.part"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / "upload-live.part"  # another process is copying this one right now
    live.write_bytes(b"x")
    dead_job = tmp_path / "openai-dead"
    dead_job.mkdir()
    (dead_job / "audio.wav").write_bytes(b"x")
    live_job = tmp_path / "openai-live"
    live_job.mkdir()
    (live_job / "audio.wav").write_bytes(b"x")
    (live_job / "chunk-3.ogg").write_bytes(b"x")  # written a moment ago
    other = tmp_path / "notes.txt"  # not ours: left alone whatever its age
    other.write_bytes(b"x")
    for path in (stale, dead_job / "audio.wav", dead_job, live_job / "audio.wav", other):
        os.utime(path, (old, old))
    assert remove_stale_temp(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "openai-live", "upload-live.part"]


def test_workbench_start_clears_leftovers(tmp_path: Path) -> None:
    from core.workbench import Workbench

    settings = Settings(data_dir=tmp_path)
    settings.tmp_dir.mkdir(parents=True)
    stale = settings.tmp_dir / "upload-crashed.part"
    stale.write_bytes(b"x")
    os.utime(stale, (time.time() - 2 * 3600,) * 2)
    Workbench.open(settings).close()
    assert not stale.exists()
