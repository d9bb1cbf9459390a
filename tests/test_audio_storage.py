"""When the server's disk fills up, the audio store says so and keeps nothing half-written."""

from __future__ import annotations

import errno
import io
import os
import stat
import wave
from pathlib import Path
from typing import Any

import pytest

from core.audio import chunks
from core.audio.store import store_upload
from core.config import Settings
from core.errors import StorageError


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(rate * seconds) * 2))
    return buf.getvalue()


class _FullDisk(io.BufferedWriter):
    def write(self, data: Any, /) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_storing_is_a_storage_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path)
    real_fdopen = os.fdopen

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return _FullDisk(real_fdopen(fd, "wb", buffering=0)) if "w" in mode else real_fdopen(fd, mode, *args)

    monkeypatch.setattr("core.audio.store.os.fdopen", fdopen)
    with pytest.raises(StorageError, match=r"^The server's disk is full, so talk\.wav could not be saved"):
        store_upload(io.BytesIO(_wav()), "talk.wav", settings)
    assert list(settings.tmp_dir.iterdir()) == [] and list(settings.audio_dir.iterdir()) == []


def test_full_disk_while_converting_is_a_storage_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "talk.wav"
    src.write_bytes(_wav())
    fake = tmp_path / "ffmpeg"
    # Writes part of its output, then fails the way ffmpeg does when the disk fills up.
    fake.write_text(
        '#!/bin/sh\nfor last; do :; done\nprintf "RIFF" > "$last"\n'
        'echo "[out#0/wav] Error writing trailer: No space left on device" >&2\nexit 1\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(chunks, "ffmpeg_exe", lambda: str(fake))
    dst = tmp_path / "speech.wav"
    with pytest.raises(StorageError, match="The server's disk is full"):
        chunks.prepare(src, dst)
    assert not dst.exists()
