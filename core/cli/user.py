"""Who a CLI command acts as: `--user NAME` (an existing account), else the local administrator."""

from __future__ import annotations

from core.errors import NotFoundError
from core.identity import directory
from core.identity.types import UserRecord
from core.workbench import Workbench

DEFAULT_CLI_USER = "admin"


def acting_user(wb: Workbench, name: str | None) -> UserRecord:
    """The named active user, or `admin` when no name is given (created on the very first start).

    A name never creates an account: `--user Alice` used to make a second user beside the web user
    `alice`, whose session then acted as the newcomer. Names match whatever their case.
    """
    if not name:
        return directory.default_admin(wb, DEFAULT_CLI_USER)
    user = directory.get_user(wb, name.strip())
    if user is None:
        raise NotFoundError(
            f"There is no user called {name.strip()!r}. An administrator adds one with "
            f"`python -m core users add {name.strip()} --role member --password-stdin`."
        )
    if not user.active:
        raise NotFoundError(f"The user {user.name!r} is deactivated; an administrator can reactivate them.")
    return user
