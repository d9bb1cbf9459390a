"""Where the analytics rows come from: what a source offers, and the SQLAlchemy source for any database."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Protocol

import duckdb
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from core.billing.analytics.mirror import NO_AUTOLOAD
from core.billing.analytics.sql import LEDGER_COLUMNS, MIRROR_SELECT, USERS_SELECT, UsageFilter
from core.errors import StorageError


class Source(Protocol):
    def cursor(self, filters: UsageFilter) -> duckdb.DuckDBPyConnection: ...

    def refresh(self, *, full: bool) -> None: ...

    def close(self) -> None: ...


class SqlAlchemySource:
    """Any database SQLAlchemy speaks: each call pulls the filtered rows into a throwaway DuckDB."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def refresh(self, *, full: bool) -> None:
        return None  # every call reads fresh rows

    def close(self) -> None:
        self._engine.dispose()

    def cursor(self, filters: UsageFilter) -> duckdb.DuckDBPyConnection:
        from core.db.models import UsageEvent, User

        query = select(*(getattr(UsageEvent, c) for c in LEDGER_COLUMNS))
        if filters.start is not None:
            query = query.where(UsageEvent.ts >= datetime.combine(filters.start, time()))
        if filters.end is not None:
            query = query.where(UsageEvent.ts < datetime.combine(filters.end + timedelta(days=1), time()))
        if filters.user is not None:
            query = query.where(UsageEvent.user_id.in_(select(User.id).where(User.name == filters.user)))
        if not filters.include_demo:
            query = query.where(UsageEvent.is_demo.is_(False))
        try:
            with self._engine.connect() as conn:
                events = pd.read_sql(query, conn)
                users = pd.read_sql(select(User.id, User.name), conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"Reading the usage ledger failed: {exc}") from None
        con = duckdb.connect(config=NO_AUTOLOAD)
        con.execute("ATTACH ':memory:' AS c")
        con.register("events_frame", events)
        con.register("users_frame", users)
        con.execute(f"CREATE TABLE c.ev AS {MIRROR_SELECT.format(source='events_frame')}")
        con.execute(f"CREATE TABLE c.users AS {USERS_SELECT.format(source='users_frame')}")
        return con
