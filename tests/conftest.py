"""Shared fixtures: settings on a temporary data dir, an open workbench, users, a scripted mock provider."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.identity.types import UserRecord
from core.identity.users import get_or_create_user
from core.providers.mock import MockProvider
from core.workbench import Workbench

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's keys or settings."""
    for name in list(os.environ):
        if name.startswith("WORKBENCH_") or name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(secrets_file=None, data_dir=tmp_path / "data", provider="mock")


@pytest.fixture
def wb(settings: Settings) -> Iterator[Workbench]:
    bench = Workbench.open(settings)
    yield bench
    bench.close()


@pytest.fixture
def alice(wb: Workbench) -> UserRecord:
    return get_or_create_user(wb.Session, "alice", "member")


@pytest.fixture
def bob(wb: Workbench) -> UserRecord:
    return get_or_create_user(wb.Session, "bob", "member")


@pytest.fixture
def admin(wb: Workbench) -> UserRecord:
    return get_or_create_user(wb.Session, "root", "admin")


@pytest.fixture
def mock_provider() -> MockProvider:
    return MockProvider()


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for running `python -m core` in a subprocess against `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_") and not k.startswith("OPENAI_")}
    env.update({"PYTHONPATH": str(REPO_ROOT), "WORKBENCH_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"})
    env.update(extra)
    return env


def make_users(data_dir: Path, *names: str) -> None:
    """Members that CLI tests act as: `--user` never creates an account."""
    from core.config import load_settings
    from core.identity.users import get_or_create_user

    bench = Workbench.open(load_settings(secrets_file=None, data_dir=data_dir))
    try:
        for name in names:
            get_or_create_user(bench.Session, name, "member")
    finally:
        bench.close()
