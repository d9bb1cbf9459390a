"""Who the users are, for pages and the CLI: reads of the users table through the open workbench."""

from __future__ import annotations

from core.identity import users
from core.identity.types import UserRecord
from core.workbench import Workbench


def list_users(wb: Workbench) -> list[UserRecord]:
    """Every user, by name."""
    return users.list_users(wb.ReadSession)


def get_user(wb: Workbench, name: str) -> UserRecord | None:
    """The user called `name`, or None."""
    return users.get_user(wb.ReadSession, name)


def default_admin(wb: Workbench, name: str) -> UserRecord:
    """The local administrator the command line acts as by default, created on the very first start."""
    return get_user(wb, name) or users.get_or_create_user(wb.Session, name, "admin")
