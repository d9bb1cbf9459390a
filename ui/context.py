"""The process-wide workbench (cached), the background job consumer, and the signed-in user of this session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from core.config import Settings, load_settings
from core.errors import WorkbenchError
from core.identity import auth
from core.identity.directory import list_users
from core.identity.types import UserRecord
from core.log import configure_logging
from core.workbench import Workbench
from ui.text import md

log = logging.getLogger("workbench.ui")
USER_KEY = "wb_user_name"  # session_state: the signed-in user's name (set by the login gate)


def settings() -> Settings:
    """The settings of this process, built from env + secrets (cheap; re-read each run)."""
    return load_settings()


def _release(wb: Workbench) -> None:
    wb.close()


@st.cache_resource(show_spinner=False, on_release=_release)
def _open_workbench(key: str, _settings: Settings) -> Workbench:
    # `key` (the data dir + database URL) is hashed; `_settings` is not, so one workbench per database.
    configure_logging(_settings)  # JSON or text lines on stderr, secrets scrubbed; once per process
    wb = Workbench.open(_settings)
    generated = auth.ensure_admin(wb)
    if generated:
        # Printed once, to the server log only: the first admin's password (README: "First start").
        log.warning(
            "First start: created user 'admin' with the generated password %s — sign in and change it "
            "on the Admin page (or set WORKBENCH_ADMIN_PASSWORD before the first start).",
            generated,
        )
    return wb


def workbench() -> Workbench:
    """The open workbench for these settings: one per process (and per data dir), migrated on first use."""
    current = settings()
    return _open_workbench(current.model_dump_json(), current)


def _stop_consumer(consumer: Any) -> None:
    stop = getattr(consumer, "stop", None)
    if callable(stop):
        stop()


@st.cache_resource(show_spinner=False, on_release=_stop_consumer)
def _consumer(key: str, _wb: Workbench) -> Any:
    from core.jobs import api as jobs

    return jobs.start_embedded_consumer(_wb)


def ensure_job_consumer(wb: Workbench) -> None:
    """Start this process's background job workers once (worker threads never call st.*)."""
    _consumer(wb.settings.model_dump_json(), wb)


def current_user() -> UserRecord:
    """The signed-in user, read fresh each run so a role change or deactivation applies at once."""
    name = st.session_state.get(USER_KEY)
    user = auth.user_for_login(workbench(), name) if name else None
    if user is None:
        st.warning("Please sign in again.")
        st.stop()
    return user


@contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show a WorkbenchError as its sentence and anything unexpected as a short apology (logged in full)."""
    try:
        yield
    except WorkbenchError as exc:
        st.error(md(str(exc)), icon=":material/error:")
    except Exception:
        log.exception("%s failed", action)
        st.error(
            f"{action} did not work because of an unexpected problem. It has been logged; "
            "please try again, or tell your administrator if it keeps happening.",
            icon=":material/error:",
        )


def users_by_id(wb: Workbench) -> dict[int, UserRecord]:
    return {u.id: u for u in list_users(wb)}
