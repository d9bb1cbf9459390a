"""The open application context: settings + database, built once and passed to every use case."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from core.audio.leftovers import remove_stale_temp
from core.config import Settings
from core.db.engine import make_engine, make_sessionmaker, migrate


@dataclass
class Workbench:
    settings: Settings
    engine: Engine
    Session: sessionmaker[OrmSession]  # for anything that writes: takes SQLite's write lock at BEGIN
    ReadSession: sessionmaker[OrmSession]  # for pure reads: never waits behind a writer

    @classmethod
    def open(cls, settings: Settings, *, run_migrations: bool = True) -> Workbench:
        """Create folders, migrate to head, and connect."""
        settings.ensure_dirs()
        remove_stale_temp(settings.tmp_dir)  # copies a crash left behind (a 4-hour upload is 500 MB)
        if run_migrations:
            migrate(settings.db_url)
        engine = make_engine(settings.db_url)
        return cls(
            settings=settings,
            engine=engine,
            Session=make_sessionmaker(engine),
            ReadSession=make_sessionmaker(engine, read_only=True),
        )

    def close(self) -> None:
        self.engine.dispose()
