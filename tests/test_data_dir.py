"""The data dir is private to the account that runs the app: folders 0700, files 0600 (issue 10, item 25)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.audio.store import store_upload
from core.config import Settings
from core.workbench import Workbench

FIXTURES = Path(__file__).parent / "fixtures"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_what_is_written_there_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical login shell's umask, which made everything world-readable before
    try:
        settings = Settings(data_dir=tmp_path / "data", provider="mock")
        wb = Workbench.open(settings)
        stored = store_upload(FIXTURES / "fmt_speech.wav", "speech.wav", settings)
        wb.close()
    finally:
        os.umask(old)
    for folder in (settings.data_dir, settings.audio_dir, settings.tmp_dir):
        assert _mode(folder) == 0o700, folder
    assert _mode(stored.path) == 0o600
    database = settings.data_dir / "workbench.db"
    assert database.is_file() and _mode(database) == 0o600


def test_an_existing_world_readable_data_dir_is_closed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    Settings(data_dir=data, provider="mock").ensure_dirs()
    assert _mode(data) == 0o700
