"""The generated cookie key is written whole or not at all (issue 10, item 22)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import StorageError
from core.identity import auth


def test_a_full_disk_leaves_no_empty_key_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path, provider="mock")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(auth.os, "fsync", disk_full)
    with pytest.raises(StorageError, match="disk is full"):
        auth.cookie_key(settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no key, no temp file
    monkeypatch.undo()
    key = auth.cookie_key(settings)  # the next start works
    assert len(key) >= 32 and auth.cookie_key(settings) == key


def test_an_empty_key_file_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    (tmp_path / ".cookie_key").write_text("")
    key = auth.cookie_key(Settings(data_dir=tmp_path, provider="mock"))
    assert len(key) >= 32
    assert (tmp_path / ".cookie_key").read_text().strip() == key
