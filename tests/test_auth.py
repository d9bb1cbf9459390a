"""Users, passwords and the login cookie key (core.identity.auth)."""

from __future__ import annotations

import stat
import threading

import pytest
import yaml

from core.billing import quotas
from core.config import load_settings
from core.errors import ConfigError, InputError, NotFoundError
from core.identity import auth
from core.identity.users import get_or_create_user, get_user
from core.workbench import Workbench


@pytest.fixture
def pw_wb(tmp_path, monkeypatch):
    """A workbench whose settings carry WORKBENCH_ADMIN_PASSWORD."""
    monkeypatch.setenv("WORKBENCH_ADMIN_PASSWORD", "first-admin-pw")
    settings = load_settings(secrets_file=None, data_dir=tmp_path / "data", provider="mock")
    bench = Workbench.open(settings)
    yield bench
    bench.close()


def test_first_run_creates_admin_with_configured_password(pw_wb):
    assert auth.ensure_admin(pw_wb) is None  # nothing generated, nothing to log
    admin = get_user(pw_wb.Session, "admin")
    assert admin is not None and admin.is_admin and admin.active
    assert auth.check_password(pw_wb.settings, "admin", "first-admin-pw")
    assert auth.ensure_admin(pw_wb) is None  # second start: nothing changes
    assert auth.check_password(pw_wb.settings, "admin", "first-admin-pw")


def test_first_run_generates_a_password_once(wb, caplog):
    generated = auth.ensure_admin(wb)
    assert generated and len(generated) >= 12
    assert auth.check_password(wb.settings, "admin", generated)
    assert auth.ensure_admin(wb) is None
    assert generated not in caplog.text  # core never logs it; app.py does, once


def test_admin_row_made_by_the_cli_gets_a_password(wb):
    get_or_create_user(wb.Session, "admin", "member")  # e.g. the CLI's default user
    generated = auth.ensure_admin(wb)
    assert generated is not None
    admin = get_user(wb.Session, "admin")
    assert admin is not None and admin.is_admin


def test_credentials_file_holds_only_hashes_and_is_private(wb):
    auth.ensure_admin(wb)
    auth.add_user(wb, "alice", "member", "alice-secret-1")
    path = auth.credentials_path(wb.settings)
    assert path == wb.settings.data_dir / "credentials.yaml"
    text = path.read_text()
    assert "alice-secret-1" not in text
    stored = yaml.safe_load(text)["usernames"]["alice"]["password"]
    assert stored.startswith("$2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob(".credentials-*.tmp"))  # no temp file left behind


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("bad name!", "member", "long-enough", "is not allowed"),
        ("carol", "owner", "long-enough", "role 'owner' is not allowed"),
        ("carol", "member", "short", "at least 8 characters"),
        ("carol", "member", "   seven  ", "at least 8 characters"),
        ("carol", "member", "é" * 40, "too long"),
        ("ALICE", "member", "long-enough", "already exists"),
    ],
)
def test_add_user_refusals(wb, name, role, password, message):
    auth.add_user(wb, "alice", "member", "alice-secret-1")
    with pytest.raises(InputError, match=message):
        auth.add_user(wb, name, role, password)


def test_add_user_then_sign_in_data(wb):
    auth.ensure_admin(wb)
    user = auth.add_user(wb, "Alice", "member", "alice-secret-1")
    assert user.name == "Alice" and user.role == "member"
    creds = auth.authenticator_credentials(wb)["usernames"]
    assert set(creds) == {"admin", "alice"}  # lower-cased, as the authenticator types them
    assert creds["alice"]["name"] == "Alice" and creds["alice"]["roles"] == ["member"]
    assert auth.user_for_login(wb, "alice") == get_user(wb.Session, "Alice")


def test_password_change_and_whitespace_like_the_login_form(wb):
    auth.add_user(wb, "alice", "member", "alice-secret-1")
    auth.set_password(wb, "alice", "  new-secret-2  ")
    assert auth.check_password(wb.settings, "alice", "new-secret-2")
    assert not auth.check_password(wb.settings, "alice", "alice-secret-1")
    with pytest.raises(NotFoundError):
        auth.set_password(wb, "nobody", "whatever-123")


def test_inactive_users_cannot_sign_in(wb):
    auth.ensure_admin(wb)
    auth.add_user(wb, "alice", "member", "alice-secret-1")
    auth.set_active(wb, "alice", False)
    assert "alice" not in auth.authenticator_credentials(wb)["usernames"]
    assert auth.user_for_login(wb, "alice") is None
    auth.set_active(wb, "alice", True)
    assert "alice" in auth.authenticator_credentials(wb)["usernames"]


def test_the_last_active_admin_is_kept(wb):
    auth.ensure_admin(wb)
    with pytest.raises(InputError, match="last active admin"):
        auth.set_role(wb, "admin", "member")
    with pytest.raises(InputError, match="last active admin"):
        auth.set_active(wb, "admin", False)
    assert get_user(wb.Session, "admin").is_admin
    auth.add_user(wb, "boss", "admin", "boss-secret-1")
    auth.set_role(wb, "admin", "member")  # another admin exists now
    assert not get_user(wb.Session, "admin").is_admin
    with pytest.raises(InputError, match="last active admin"):
        auth.set_active(wb, "boss", False)


def test_budgets_are_stored_and_validated(wb, alice):
    quotas.set_user_budget(wb, "alice", 12.5, 90, actor="test")
    fresh = get_user(wb.Session, "alice")
    assert (fresh.monthly_usd_budget, fresh.monthly_minutes_budget) == (12.5, 90.0)
    quotas.set_user_budget(wb, "alice", None, None, actor="test")
    fresh = get_user(wb.Session, "alice")
    assert (fresh.monthly_usd_budget, fresh.monthly_minutes_budget) == (None, None)
    with pytest.raises(InputError, match="0 or more"):
        quotas.set_user_budget(wb, "alice", -1, None, actor="test")
    with pytest.raises(InputError, match="0 or more"):
        quotas.set_user_budget(wb, "alice", None, float("nan"), actor="test")


def test_concurrent_adds_keep_every_user(wb):
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            auth.add_user(wb, f"user{i}", "member", f"password-{i:04d}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(auth.check_password(wb.settings, f"user{i}", f"password-{i:04d}") for i in range(6))


def test_cookie_key_from_settings_must_be_long(tmp_path):
    short = load_settings(secrets_file=None, data_dir=tmp_path, cookie_key="too-short")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        auth.cookie_key(short)
    good = "k" * 40
    assert auth.cookie_key(load_settings(secrets_file=None, data_dir=tmp_path, cookie_key=good)) == good


def test_cookie_key_is_generated_once_and_private(tmp_path):
    settings = load_settings(secrets_file=None, data_dir=tmp_path / "d")
    first = auth.cookie_key(settings)
    assert len(first.encode()) >= 32
    assert auth.cookie_key(settings) == first
    path = tmp_path / "d" / ".cookie_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
