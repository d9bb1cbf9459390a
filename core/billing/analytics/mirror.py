"""The SQLite ledger mirrored into an in-memory DuckDB table, kept current by appends or a full copy."""

from __future__ import annotations

import importlib
import os
import sqlite3
import tempfile
import threading
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.billing.analytics.sql import (
    LEDGER_COLUMNS,
    MIRROR_SELECT,
    SNAPSHOT_SCHEMA,
    SOURCE_COLUMNS,
    USERS_SELECT,
    UsageFilter,
)
from core.errors import StorageError

# Above this many new rows a full copy through the scanner is faster than fetching through the probe.
APPEND_LIMIT = 100_000
# Extensions load only from the wheel we point at: nothing is fetched, here or on a locked-down server.
NO_AUTOLOAD: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def sqlite_scanner_path() -> Path:
    """The sqlite extension binary shipped by the pinned wheel, for this DuckDB version."""
    try:
        package = importlib.import_module("duckdb_extension_sqlite_scanner")
    except ImportError:
        raise StorageError(
            "Usage analytics need DuckDB's SQLite extension; install the pinned "
            "duckdb-extension-sqlite-scanner package (pip install -r requirements.txt)."
        ) from None
    if package.__file__ is None:
        raise StorageError("The duckdb-extension-sqlite-scanner package is installed incompletely; reinstall it.")
    path = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "sqlite_scanner.duckdb_extension"
    if not path.is_file():
        raise StorageError(
            f"DuckDB's SQLite extension for DuckDB {duckdb.__version__} is missing ({path}); "
            "duckdb and duckdb-extension-sqlite-scanner must be installed at the same version."
        )
    return path


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class SqliteMirror:
    """The ledger of one SQLite file, mirrored into an in-memory DuckDB table and kept current."""

    def __init__(self, db_path: Path, tmp_dir: Path) -> None:
        self._path = db_path
        self._tmp_dir = tmp_dir
        self._lock = threading.Lock()
        self._probe: sqlite3.Connection | None = None
        self._file_id: tuple[int, int] | None = None
        self._version: int | None = None
        self._rows = 0
        self._max_id: int | None = None
        self._max_ts: datetime | None = None
        extension = sqlite_scanner_path()
        try:
            self._db = duckdb.connect(config=NO_AUTOLOAD)
            self._db.execute(f"LOAD {_quote(str(extension))}")
            self._db.execute("ATTACH ':memory:' AS c (COMPRESS)")
        except duckdb.Error as exc:
            raise StorageError(f"DuckDB could not load its SQLite extension from {extension}: {exc}") from None

    def cursor(self, filters: UsageFilter) -> duckdb.DuckDBPyConnection:
        self.refresh(full=False)
        with self._lock:
            return self._db.cursor()

    def close(self) -> None:
        with self._lock:
            if self._probe is not None:
                self._probe.close()
                self._probe = None
            self._db.close()

    def refresh(self, *, full: bool) -> None:
        """Bring the mirror up to date: nothing if nothing was committed, else append or copy."""
        with self._lock:
            try:
                self._refresh_locked(full)
            except (sqlite3.Error, duckdb.Error) as exc:
                self._version = None  # retry from scratch next time
                raise StorageError(f"Reading the usage ledger from {self._path} failed: {exc}") from None

    def _refresh_locked(self, full: bool) -> None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            raise StorageError(
                f"The database {self._path} does not exist yet; start the app or run a command once to create it."
            ) from None
        file_id = (stat.st_dev, stat.st_ino)
        if self._probe is None or file_id != self._file_id:
            self._reopen(file_id)
            full = True
        assert self._probe is not None
        # Read the version before the data: a commit landing mid-copy changes it again.
        version = int(self._probe.execute("PRAGMA data_version").fetchone()[0])
        if not full and version == self._version:
            return
        if full or not self._append_new_rows():
            self._copy_all()
        else:
            self._copy_users()
        self._version = version

    def _reopen(self, file_id: tuple[int, int]) -> None:
        if self._probe is not None:
            self._probe.close()
        self._probe = sqlite3.connect(self._live_uri(), uri=True, check_same_thread=False, isolation_level=None)
        self._file_id = file_id

    def _live_uri(self) -> str:
        return self._path.resolve().as_uri() + "?mode=ro"

    def _copy_all(self) -> None:
        """Mirror the whole ledger: snapshot it with Python's SQLite, then let DuckDB's scanner read the copy.

        The scanner carries its own SQLite library. Two SQLite copies in one process must never open
        the same file: POSIX locks are per process, so one copy closing its handle drops the other's
        locks, and it may truncate the WAL index the other has mapped (SIGBUS, seen here with the app's
        SQLAlchemy connections open). So the scanner reads only a private snapshot (~135 MB per million
        events, for a moment), written by the same library the app writes with.
        """
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="analytics-", suffix=".sqlite", dir=self._tmp_dir)
        os.close(fd)
        snapshot = Path(name)
        try:
            self._write_snapshot(snapshot)
            self._db.execute(f"ATTACH {_quote(str(snapshot))} AS snap (TYPE sqlite, READ_ONLY)")
            try:
                self._db.execute(f"CREATE OR REPLACE TABLE c.ev AS {MIRROR_SELECT.format(source='snap.usage_events')}")
                self._db.execute(f"CREATE OR REPLACE TABLE c.users AS {USERS_SELECT.format(source='snap.users')}")
            finally:
                self._db.execute("DETACH snap")
        finally:
            snapshot.unlink(missing_ok=True)
        # In-memory tables are compressed only at a checkpoint: ~245 MB -> ~45 MB per million events,
        # for ~1.5 s once. A busy moment may refuse it; the data is the same either way.
        with suppress(duckdb.Error):
            self._db.execute("CHECKPOINT c")
        rows, max_id = self._db.execute("SELECT count(*), max(id) FROM c.ev").fetchone() or (0, None)
        self._rows, self._max_id = int(rows), max_id
        found = self._db.execute("SELECT ts FROM c.ev WHERE id = $id", {"id": max_id}).fetchone()
        self._max_ts = found[0] if found else None

    def _write_snapshot(self, snapshot: Path) -> None:
        """Copy the ledger and the user names into `snapshot`, from one read transaction."""
        con = sqlite3.connect(snapshot.as_uri(), uri=True, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")  # a scratch file: no journal, no fsync
            con.execute("PRAGMA synchronous=OFF")
            con.execute("ATTACH DATABASE ? AS live", (self._live_uri(),))
            con.executescript(SNAPSHOT_SCHEMA)
            con.execute("BEGIN")
            con.execute(f"INSERT INTO usage_events SELECT {SOURCE_COLUMNS} FROM live.usage_events")
            con.execute("INSERT INTO users SELECT id, name FROM live.users")
            con.execute("COMMIT")
            con.execute("DETACH DATABASE live")
        finally:
            con.close()

    def _copy_users(self) -> None:
        assert self._probe is not None
        users = pd.DataFrame.from_records(
            self._probe.execute("SELECT id, name FROM users").fetchall(), columns=["id", "name"]
        )
        cur = self._db.cursor()
        try:
            cur.register("users_frame", users)
            cur.execute(f"CREATE OR REPLACE TABLE c.users AS {USERS_SELECT.format(source='users_frame')}")
        finally:
            cur.close()

    def _append_new_rows(self) -> bool:
        """Append rows committed since the last look; False when anything but appends happened."""
        assert self._probe is not None
        probe = self._probe
        probe.execute("BEGIN")  # one read snapshot for the checks and the fetch
        try:
            total, max_id = probe.execute("SELECT count(*), max(id) FROM usage_events").fetchone()
            if self._max_id is not None:
                found = probe.execute("SELECT ts FROM usage_events WHERE id = ?", (self._max_id,)).fetchone()
                if found is None or _parse_ts(found[0]) != self._max_ts:
                    return False  # the last mirrored row was deleted or rewritten
            new = int(total) - self._rows
            if new < 0 or new > APPEND_LIMIT or (new == 0 and max_id != self._max_id):
                return False
            if new == 0:
                return True
            fetched = probe.execute(
                f"SELECT {SOURCE_COLUMNS} FROM usage_events WHERE id > ? ORDER BY id", (self._max_id or 0,)
            ).fetchall()
        finally:
            probe.execute("COMMIT")
        if len(fetched) != new:
            return False  # old rows were deleted while new ones arrived
        frame = pd.DataFrame.from_records(fetched, columns=list(LEDGER_COLUMNS))
        cur = self._db.cursor()
        try:
            cur.register("new_rows", frame)
            cur.execute(f"INSERT INTO c.ev {MIRROR_SELECT.format(source='new_rows')}")
        finally:
            cur.close()
        self._rows += new
        self._max_id = int(fetched[-1][0])
        self._max_ts = _parse_ts(fetched[-1][1])
        return True


def _parse_ts(value: Any) -> datetime | None:
    """A ledger timestamp as SQLite returns it (text, as SQLAlchemy writes it); None if unreadable."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
