"""Who a CLI command acts as: `--user NAME`, else the local administrator."""

from __future__ import annotations

from core.transcripts import repository as repo
from core.transcripts.types import UserRecord
from core.workbench import Workbench

DEFAULT_CLI_USER = "admin"


def acting_user(wb: Workbench, name: str | None) -> UserRecord:
    """The named user (created as a member on first use), or `admin` when no name is given."""
    name = name or DEFAULT_CLI_USER
    return repo.get_or_create_user(wb.Session, name, "admin" if name == DEFAULT_CLI_USER else "member")
