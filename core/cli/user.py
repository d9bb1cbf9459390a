"""Who a CLI command acts as: `--user NAME`, else the local administrator."""

from __future__ import annotations

from core.identity.types import UserRecord
from core.identity.users import get_or_create_user
from core.workbench import Workbench

DEFAULT_CLI_USER = "admin"


def acting_user(wb: Workbench, name: str | None) -> UserRecord:
    """The named user (created as a member on first use), or `admin` when no name is given."""
    name = name or DEFAULT_CLI_USER
    return get_or_create_user(wb.Session, name, "admin" if name == DEFAULT_CLI_USER else "member")
