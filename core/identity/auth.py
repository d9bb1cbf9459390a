"""Users and sign-in: roles and budgets live in the users table, bcrypt hashes in data/credentials.yaml."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db.models import User
from core.errors import ConfigError, InputError, NotFoundError, StorageError
from core.identity import sessions
from core.identity.types import ROLES, UserRecord
from core.identity.users import get_or_create_user, get_user, list_users, validate_user_name
from core.workbench import Workbench

log = logging.getLogger(__name__)

ADMIN_NAME = "admin"
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (newer bcrypt: refuses) anything longer
MIN_COOKIE_KEY_BYTES = 32
_HEADER = "# Managed by Transcription Workbench (Admin page). bcrypt hashes only; do not edit by hand.\n"
_thread_lock = threading.Lock()


def credentials_path(settings: Settings) -> Path:
    """Where the password hashes are kept."""
    return settings.data_dir / "credentials.yaml"


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One writer at a time, across threads and processes sharing the data dir."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(settings.data_dir / ".credentials.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _read_hashes(settings: Settings) -> dict[str, str]:
    path = credentials_path(settings)
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StorageError(f"Could not read the credentials file {path}: {exc}.") from None
    users = raw.get("usernames") if isinstance(raw, dict) else None
    if not isinstance(users, dict):
        return {}
    return {
        str(name): str(entry["password"])
        for name, entry in users.items()
        if isinstance(entry, dict) and entry.get("password")
    }


def _write_hashes(settings: Settings, hashes: dict[str, str]) -> None:
    """Replace the credentials file atomically (temp file + os.replace), readable by its owner only."""
    path = credentials_path(settings)
    body = yaml.safe_dump({"usernames": {n: {"password": h} for n, h in sorted(hashes.items())}})
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_HEADER + body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"Could not save the credentials file {path}: {exc.strerror or exc}.") from None


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def check_password_rules(password: str) -> str:
    """The password as it will be stored (surrounding spaces dropped, as the login form does), or InputError."""
    password = password.strip()
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InputError(f"the password is too long: at most {MAX_PASSWORD_BYTES} bytes are used")
    return password


def check_password(settings: Settings, name: str, password: str) -> bool:
    """Whether `password` is the stored password of `name` (False when there is none)."""
    stored = _read_hashes(settings).get(name)
    if stored is None:
        return False
    try:
        return bcrypt.checkpw(password.strip().encode("utf-8"), stored.encode("ascii"))
    except ValueError:
        return False


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"role {role!r} is not allowed: use admin or member")
    return role


def _require(wb: Workbench, name: str) -> UserRecord:
    user = get_user(wb.Session, name)
    if user is None:
        raise NotFoundError(f"user {name!r} not found")
    return user


def _active_admins(s: Session) -> int:
    return s.scalar(select(func.count()).where(User.role == "admin", User.active.is_(True))) or 0


def _login_capable_admin(wb: Workbench) -> bool:
    hashes = _read_hashes(wb.settings)
    return any(u.is_admin and u.active and u.name in hashes for u in list_users(wb.Session))


def ensure_admin(wb: Workbench) -> str | None:
    """On a first run (no admin can sign in) make `admin` sign-in ready; return the password only if generated.

    The password is WORKBENCH_ADMIN_PASSWORD when set, else a new random one that the caller logs once.
    An `admin` row the CLI created without a password is reused and given one.
    """
    with _locked(wb.settings):
        if _login_capable_admin(wb):
            return None
        configured = wb.settings.admin_password.get_secret_value().strip() if wb.settings.admin_password else ""
        password = check_password_rules(configured) if configured else secrets.token_urlsafe(12)
        get_or_create_user(wb.Session, ADMIN_NAME, "admin")
        with wb.Session.begin() as s:
            row = s.scalar(select(User).where(User.name == ADMIN_NAME))
            assert row is not None
            row.role, row.active = "admin", True
        hashes = _read_hashes(wb.settings)
        hashes[ADMIN_NAME] = _hash(password)
        _write_hashes(wb.settings, hashes)
    log.info("Created the first user %r (role admin).", ADMIN_NAME)
    return None if configured else password


def add_user(wb: Workbench, name: str, role: str, password: str) -> UserRecord:
    """Create a user who can sign in; InputError for a bad or taken name, a bad role or a weak password."""
    name = validate_user_name(name)
    _check_role(role)
    password = check_password_rules(password)
    with _locked(wb.settings):
        taken = {u.name.lower() for u in list_users(wb.Session)}
        if name.lower() in taken:
            raise InputError(f"a user called {name!r} already exists (names ignore upper/lower case)")
        user = get_or_create_user(wb.Session, name, role)
        hashes = _read_hashes(wb.settings)
        hashes[name] = _hash(password)
        _write_hashes(wb.settings, hashes)
    log.info("Added user %r (role %s).", name, role)
    return user


def set_password(wb: Workbench, name: str, password: str) -> None:
    """Replace a user's password."""
    password = check_password_rules(password)
    _require(wb, name)
    with _locked(wb.settings):
        hashes = _read_hashes(wb.settings)
        hashes[name] = _hash(password)
        _write_hashes(wb.settings, hashes)
    sessions.end_sessions(wb, name)  # a copied cookie must not outlive the old password
    log.info("Password changed for user %r.", name)


def _update(wb: Workbench, name: str, **values: Any) -> None:
    """Set columns of one user, refusing a change that would leave no active admin."""
    with _locked(wb.settings), wb.Session.begin() as s:
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFoundError(f"user {name!r} not found")
        was_active_admin = row.role == "admin" and row.active
        for key, value in values.items():
            setattr(row, key, value)
        row.session_version = (row.session_version or 0) + 1  # sessions signed in under the old state end
        s.flush()
        if was_active_admin and not (row.role == "admin" and row.active) and _active_admins(s) == 0:
            raise InputError(f"{name!r} is the last active admin; make another user admin first")


def set_role(wb: Workbench, name: str, role: str) -> None:
    """Change a user's role; the last active admin keeps theirs."""
    _update(wb, name, role=_check_role(role))
    log.info("Role of user %r set to %s.", name, role)


def set_active(wb: Workbench, name: str, active: bool) -> None:
    """Allow or stop a user signing in; the last active admin stays active."""
    _update(wb, name, active=active)
    log.info("User %r %s.", name, "activated" if active else "deactivated")


def authenticator_credentials(wb: Workbench) -> dict[str, Any]:
    """streamlit-authenticator's credentials for active users with a password.

    Keys are lower-case because the authenticator lower-cases what is typed; `user_for_login` maps back.
    """
    hashes = _read_hashes(wb.settings)
    usernames = {
        u.name.lower(): {"name": u.name, "password": hashes[u.name], "email": None, "roles": [u.role]}
        for u in list_users(wb.Session)
        if u.active and u.name in hashes
    }
    return {"usernames": usernames}


def user_for_login(wb: Workbench, login_name: str | None) -> UserRecord | None:
    """The active user a signed-in (lower-cased) login name belongs to, or None."""
    if not login_name:
        return None
    user = get_user(wb.ReadSession, login_name.strip())  # names are unique whatever their case
    return user if user is not None and user.active else None


def cookie_key(settings: Settings) -> str:
    """The key that signs login cookies: WORKBENCH_COOKIE_KEY, else one generated once into data_dir."""
    configured = settings.cookie_key.get_secret_value().strip() if settings.cookie_key else ""
    if configured:
        if len(configured.encode("utf-8")) < MIN_COOKIE_KEY_BYTES:
            raise ConfigError(
                f"Setting WORKBENCH_COOKIE_KEY is too short: use at least {MIN_COOKIE_KEY_BYTES} bytes "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return configured
    path = settings.data_dir / ".cookie_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stored = _read_key(path)
    if stored is not None:
        return stored
    key = secrets.token_urlsafe(48)
    try:
        _create_atomically(path, key + "\n")
    except FileExistsError:  # another process wrote it first: use theirs
        return _read_key(path) or key
    except OSError as exc:
        raise StorageError(
            f"The server could not save its cookie key in {settings.data_dir}: {exc.strerror or exc}. "
            "If the disk is full, free space and start again."
        ) from exc
    return key


def _read_key(path: Path) -> str | None:
    """The stored key, or None when there is none — an empty file (left by a crash) counts as none."""
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not stored:
        path.unlink(missing_ok=True)
        return None
    if len(stored.encode("utf-8")) < MIN_COOKIE_KEY_BYTES:
        raise ConfigError(f"{path} holds a cookie key shorter than 32 bytes; delete the file.")
    return stored


def _create_atomically(path: Path, text: str) -> None:
    """Write a new file whole or not at all: a full disk never leaves an empty or cut key behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.link(tmp, path)  # atomic, and fails if the file exists
    finally:
        os.unlink(tmp)
