"""Engine and sessions: SQLite with WAL and foreign keys; any SQLAlchemy URL works the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
READ_ONLY = "workbench_read_only"  # execution option: this connection's transactions only read


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout for concurrent workers."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below); pysqlite's implicit BEGIN breaks savepoints.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A writing transaction takes the write lock up front (IMMEDIATE), so one that reads then writes
            # waits for the busy timeout instead of failing on lock upgrade. A read-only one (READ_ONLY
            # below) begins DEFERRED: in WAL it reads a snapshot and never waits for a writer.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for writing (the default), or for reading only: those never take SQLite's write lock."""
    if read_only:
        return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the database to the newest schema (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


# The FTS5 index and its shadow tables are made by raw SQL in the migrations, not by the models.
SEARCH_INDEX_PREFIX = "transcripts_fts"
# Indexes on an expression: SQLite's reflection cannot read them back, so autogenerate must not compare them.
EXPRESSION_INDEXES = frozenset({"uq_users_name_folded"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic filter: leave the search index (and expression indexes) out of autogenerate."""
    if type_ == "table" and name is not None and name.startswith(SEARCH_INDEX_PREFIX):
        return False
    return not (type_ == "index" and name in EXPRESSION_INDEXES)
