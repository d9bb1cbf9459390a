"""SQLite takes the write lock only to write (issue 10, item 21): a read never waits behind a writer."""

from __future__ import annotations

import threading

from sqlalchemy import select, text

from core.db.models import User
from core.workbench import Workbench


def test_a_read_session_does_not_wait_for_a_writer_holding_the_lock(wb: Workbench) -> None:
    locked, release = threading.Event(), threading.Event()

    def writer() -> None:
        with wb.Session.begin() as s:  # BEGIN IMMEDIATE: holds the write lock until release
            s.execute(text("SELECT 1"))
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(5)
        with wb.ReadSession() as s:
            names = s.scalars(select(User.name)).all()
        read_while_locked = not release.is_set()
    finally:
        release.set()
        thread.join()
    assert read_while_locked
    assert isinstance(names, list)
