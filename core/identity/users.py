"""Reads and writes of the users table: names, roles and budgets, handed out as plain UserRecords."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import User
from core.errors import InputError
from core.identity.types import ROLES, UserRecord

SM = sessionmaker[Session]
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def _user_record(u: User) -> UserRecord:
    return UserRecord(u.id, u.name, u.role, u.active, u.monthly_usd_budget, u.monthly_minutes_budget)


def validate_user_name(name: str) -> str:
    """The name stripped, or InputError when it is not a valid user name."""
    name = name.strip()
    if not _USER_NAME.match(name):
        raise InputError(
            f"user name {name[:40]!r} is not allowed: use 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return name


def get_user(sm: SM, name: str) -> UserRecord | None:
    """The user called `name` whatever its letter case (names are unique that way), or None."""
    with sm() as s:
        u = s.scalar(select(User).where(func.lower(User.name) == name.lower()))
        return _user_record(u) if u else None


def get_or_create_user(sm: SM, name: str, role: str = "member") -> UserRecord:
    """The user called `name`, created with `role` on first use."""
    name = validate_user_name(name)
    if role not in ROLES:
        raise InputError(f"role {role!r} is not allowed: use admin or member")
    existing = get_user(sm, name)
    if existing:
        return existing
    try:
        with sm.begin() as s:
            u = User(name=name, role=role)
            s.add(u)
            s.flush()
            return _user_record(u)
    except IntegrityError:  # created concurrently by another worker
        found = get_user(sm, name)
        assert found is not None
        return found


def list_users(sm: SM) -> list[UserRecord]:
    """Every user, by name."""
    with sm() as s:
        return [_user_record(u) for u in s.scalars(select(User).order_by(User.name))]
