"""Usage analytics: DuckDB queries over the usage ledger, returned as pandas DataFrames.

Where the rows come from
- SQLite (the default). The ledger is mirrored into a compressed in-memory DuckDB table (~45 MB per
  million events) and kept in step, because reading SQLite row by row per query (~1.5 s per million
  events) is far too slow for a page that runs seven queries.
  * Full copy (first use, or after deletes): Python's sqlite3 snapshots the ledger into a scratch
    file under the data dir's tmp/, and DuckDB reads that file through its sqlite extension, loaded
    from the pinned duckdb-extension-sqlite-scanner wheel (never downloaded, signature checks on).
    The scanner never opens the live file: it carries its own SQLite library, and two SQLite copies
    in one process on one file break each other's locks (see _copy_all). ~4-6 s per million events.
  * Catching up: `PRAGMA data_version` on a read-only probe connection tells in microseconds whether
    anything was committed since the last look; if so, rows above the mirrored max id are fetched
    through the probe (primary-key range) and appended. Anything but appends (deleted rows such as
    clear_demo, a replaced file) triggers a full copy. Ledger rows are append-only by design
    (core.billing.ledger never updates one); `Analytics.refresh(full=True)` forces a full copy.
- Any other database (e.g. Postgres). Each call pulls the filtered rows with SQLAlchemy into pandas
  and runs the same SQL over them in a throwaway in-memory DuckDB: simple and correct, not fast.

Definitions
- A day is the UTC calendar day of the event's `ts` (stored as naive UTC); `end` is inclusive.
- Money is summed with fsum (compensated, order-independent) and rounded to 6 decimals.
- Audio seconds/minutes count rows with status 'ok' (cache hits included: the user got the
  transcript); a failed call transcribed nothing.
- Provider health counts real calls only: cache hits never reached a provider.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.errors import InputError, StorageError

UNKNOWN_USER = "(unknown)"
# Above this many new rows a full copy through the scanner is faster than fetching through the probe.
APPEND_LIMIT = 100_000
# Extensions load only from the wheel we point at: nothing is fetched, here or on a locked-down server.
_NO_AUTOLOAD: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

# One SELECT builds the mirror from any source: the sqlite scanner, rows fetched by the probe (ts as
# text, booleans as 0/1) or a pandas frame from SQLAlchemy; the casts make all three the same table.
# file_key hashes (file, user, model) so "costliest files" groups on one integer instead of strings;
# it is NULL without a file name, which is cheaper to test than the string column itself, as
# `ok` is cheaper than comparing `status` a million times.
_MIRROR_SELECT = """
SELECT CAST(id AS BIGINT) AS id,
       CAST(ts AS TIMESTAMP) AS ts,
       CAST(CAST(ts AS TIMESTAMP) AS DATE) AS day,
       CAST(user_id AS BIGINT) AS user_id,
       CAST(provider AS VARCHAR) AS provider,
       CAST(model AS VARCHAR) AS model,
       CAST(operation AS VARCHAR) AS operation,
       CAST(audio_seconds AS DOUBLE) AS audio_seconds,
       CAST(input_tokens AS BIGINT) AS input_tokens,
       CAST(output_tokens AS BIGINT) AS output_tokens,
       CAST(cost_usd AS DOUBLE) AS cost_usd,
       CAST(list_cost_usd AS DOUBLE) AS list_cost_usd,
       CAST(cached AS BOOLEAN) AS cached,
       CAST(saved_usd AS DOUBLE) AS saved_usd,
       CAST(latency_ms AS BIGINT) AS latency_ms,
       CAST(status AS VARCHAR) AS status,
       CAST(status AS VARCHAR) = 'ok' AS ok,
       CAST(error AS VARCHAR) AS error,
       CAST(estimated AS BOOLEAN) AS estimated,
       CAST(unpriced AS BOOLEAN) AS unpriced,
       CAST(file_name AS VARCHAR) AS file_name,
       CASE WHEN file_name IS NOT NULL
            THEN hash(CAST(file_name AS VARCHAR), CAST(user_id AS BIGINT), CAST(model AS VARCHAR)) END
           AS file_key,
       CAST(is_demo AS BOOLEAN) AS is_demo
FROM {source}
"""
_SOURCE_COLUMNS = (
    "id, ts, user_id, provider, model, operation, audio_seconds, input_tokens, output_tokens, cost_usd, "
    "list_cost_usd, cached, saved_usd, latency_ms, status, error, estimated, unpriced, file_name, is_demo"
)
_USERS_SELECT = "SELECT CAST(id AS BIGINT) AS id, CAST(name AS VARCHAR) AS name FROM {source}"
# The scanner types columns by their declared SQLite type; ts stays TEXT and is cast by _MIRROR_SELECT.
_SNAPSHOT_SCHEMA = """
CREATE TABLE usage_events (
    id INTEGER, ts TEXT, user_id INTEGER, provider TEXT, model TEXT, operation TEXT, audio_seconds REAL,
    input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, list_cost_usd REAL, cached INTEGER,
    saved_usd REAL, latency_ms INTEGER, status TEXT, error TEXT, estimated INTEGER, unpriced INTEGER,
    file_name TEXT, is_demo INTEGER
);
CREATE TABLE users (id INTEGER, name TEXT);
"""


@dataclass(frozen=True)
class UsageFilter:
    """Which ledger rows a query sees; `end` is inclusive, `user` is a user name."""

    start: date | None = None
    end: date | None = None
    user: str | None = None
    include_demo: bool = True

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise InputError(f"The start date {self.start} is after the end date {self.end}.")


EVERYTHING = UsageFilter()


def _where(filters: UsageFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause over the mirror `c.ev e`, and its parameters; only set filters appear."""
    conds = ["TRUE"]
    params: dict[str, Any] = {}
    if filters.start is not None:
        conds.append("e.ts >= $start")
        params["start"] = datetime.combine(filters.start, time())
    if filters.end is not None:
        conds.append("e.ts < $end_excl")
        params["end_excl"] = datetime.combine(filters.end + timedelta(days=1), time())
    if filters.user is not None:
        conds.append("e.user_id IN (SELECT id FROM c.users WHERE name = $user)")
        params["user"] = filters.user
    if not filters.include_demo:
        conds.append("NOT e.is_demo")
    return " AND ".join(conds), params


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


class _Source(Protocol):
    def cursor(self, filters: UsageFilter) -> duckdb.DuckDBPyConnection: ...

    def refresh(self, *, full: bool) -> None: ...

    def close(self) -> None: ...


class _SqliteMirror:
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
            self._db = duckdb.connect(config=_NO_AUTOLOAD)
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
                self._db.execute(f"CREATE OR REPLACE TABLE c.ev AS {_MIRROR_SELECT.format(source='snap.usage_events')}")
                self._db.execute(f"CREATE OR REPLACE TABLE c.users AS {_USERS_SELECT.format(source='snap.users')}")
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
            con.executescript(_SNAPSHOT_SCHEMA)
            con.execute("BEGIN")
            con.execute(f"INSERT INTO usage_events SELECT {_SOURCE_COLUMNS} FROM live.usage_events")
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
            cur.execute(f"CREATE OR REPLACE TABLE c.users AS {_USERS_SELECT.format(source='users_frame')}")
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
                f"SELECT {_SOURCE_COLUMNS} FROM usage_events WHERE id > ? ORDER BY id", (self._max_id or 0,)
            ).fetchall()
        finally:
            probe.execute("COMMIT")
        if len(fetched) != new:
            return False  # old rows were deleted while new ones arrived
        frame = pd.DataFrame.from_records(fetched, columns=[c.strip() for c in _SOURCE_COLUMNS.split(",")])
        cur = self._db.cursor()
        try:
            cur.register("new_rows", frame)
            cur.execute(f"INSERT INTO c.ev {_MIRROR_SELECT.format(source='new_rows')}")
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


class _SqlAlchemySource:
    """Any database SQLAlchemy speaks: each call pulls the filtered rows into a throwaway DuckDB."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def refresh(self, *, full: bool) -> None:
        return None  # every call reads fresh rows

    def close(self) -> None:
        self._engine.dispose()

    def cursor(self, filters: UsageFilter) -> duckdb.DuckDBPyConnection:
        from core.db.models import UsageEvent, User

        query = select(*(getattr(UsageEvent, c.strip()) for c in _SOURCE_COLUMNS.split(",")))
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
        con = duckdb.connect(config=_NO_AUTOLOAD)
        con.execute("ATTACH ':memory:' AS c")
        con.register("events_frame", events)
        con.register("users_frame", users)
        con.execute(f"CREATE TABLE c.ev AS {_MIRROR_SELECT.format(source='events_frame')}")
        con.execute(f"CREATE TABLE c.users AS {_USERS_SELECT.format(source='users_frame')}")
        return con


# Most figures come from one pass over the filtered ledger grouped by (day, model, user): a few
# thousand rows however long the ledger is. Each method reads it as a CTE; page_queries builds it once
# as a temp table for all of them. Money partial sums are compensated (fsum), and so is their sum, so
# the totals match a direct SUM over the rows to far below the 6 decimals shown.
_DAILY = """
SELECT day, model, user_id,
       count(*) AS calls,
       fsum(cost_usd) AS cost,
       fsum(list_cost_usd) AS list_cost,
       coalesce(sum(audio_seconds) FILTER (WHERE ok), 0) AS ok_secs,
       count(*) FILTER (WHERE cached) AS hits,
       fsum(saved_usd) AS saved,
       count(*) FILTER (WHERE NOT ok) AS errors
FROM c.ev e WHERE {where}
GROUP BY day, model, user_id
"""
_TOTALS = """
    CAST(coalesce(sum(calls), 0) AS BIGINT) AS calls,
    round(coalesce(fsum(cost), 0), 6) AS cost_usd,
    round(coalesce(fsum(list_cost), 0), 6) AS list_cost_usd,
    round(coalesce(sum(ok_secs), 0), 3) AS audio_seconds,
    CAST(coalesce(sum(hits), 0) AS BIGINT) AS cache_hits,
    round(coalesce(fsum(saved), 0), 6) AS saved_usd,
    CAST(coalesce(sum(errors), 0) AS BIGINT) AS errors
"""
_SQL_TOTALS = f"SELECT {_TOTALS} FROM daily"
_SQL_SPEND = """
SELECT day, model, round(fsum(cost), 6) AS cost_usd, round(fsum(list_cost), 6) AS list_cost_usd
FROM daily GROUP BY day, model ORDER BY day, model
"""
_SQL_MINUTES = f"""
WITH a AS (SELECT user_id, sum(ok_secs) AS secs, fsum(cost) AS cost FROM daily GROUP BY user_id)
SELECT coalesce(u.name, '{UNKNOWN_USER}') AS "user", round(a.secs / 60, 3) AS audio_minutes,
       round(a.cost, 6) AS cost_usd
FROM a LEFT JOIN c.users u ON u.id = a.user_id
ORDER BY cost_usd DESC, audio_minutes DESC, "user"
"""
_SQL_CACHE = """
SELECT day, CAST(sum(hits) AS BIGINT) AS cache_hits, CAST(sum(calls) AS BIGINT) AS calls,
       round(fsum(saved), 6) AS saved_usd
FROM daily GROUP BY day ORDER BY day
"""
_SQL_SUMMARY = f"""
WITH g AS (
    SELECT model, user_id, grouping(model, user_id) AS level, {_TOTALS}
    FROM daily GROUP BY GROUPING SETS ((), (model), (user_id))
)
SELECT g.*, coalesce(u.name, '{UNKNOWN_USER}') AS user_name
FROM g LEFT JOIN c.users u ON u.id = g.user_id
ORDER BY level DESC, cost_usd DESC, model, user_name
"""
_SQL_HEALTH = """
SELECT provider, count(*) AS calls, count(*) FILTER (WHERE NOT ok) AS errors,
       round(errors / calls, 4) AS error_rate,
       -- the same aggregate twice is computed once: one sort serves both percentiles
       round(quantile_cont(latency_ms, [0.5, 0.95])[1], 1) AS p50_latency_ms,
       round(quantile_cont(latency_ms, [0.5, 0.95])[2], 1) AS p95_latency_ms
FROM c.ev e WHERE {where} AND NOT e.cached
GROUP BY provider ORDER BY calls DESC, provider
"""
# Costliest files, in passes that keep the big GROUP BY small: it ranks on one integer key (a 64-bit
# hash of file, user and model; a collision needs billions of files to become likely), over the rows
# that were charged only, with plain sums. Files charged nothing but priced at list (mock) can only
# rank below every charged one, so they are ranked only when fewer than $limit files were charged.
# The last pass reads names, minutes and compensated sums for the winners.
_SQL_COSTLIEST = f"""
WITH paid AS (
    SELECT file_key, sum(cost_usd) AS rank_cost
    FROM c.ev e WHERE {{where}} AND e.file_key IS NOT NULL AND e.cost_usd <> 0
    GROUP BY file_key ORDER BY rank_cost DESC, file_key LIMIT $limit
), listed AS (
    SELECT file_key
    FROM c.ev e
    WHERE {{where}} AND e.file_key IS NOT NULL AND e.cost_usd = 0 AND e.list_cost_usd <> 0
      AND (SELECT count(*) FROM paid) < $limit AND e.file_key NOT IN (SELECT file_key FROM paid)
    GROUP BY file_key ORDER BY sum(list_cost_usd) DESC, file_key LIMIT $limit
), top AS (
    SELECT file_key FROM paid UNION ALL SELECT file_key FROM listed
), detail AS (
    SELECT file_key, any_value(file_name) AS file_name, any_value(user_id) AS user_id,
           any_value(model) AS model, fsum(cost_usd) AS cost, fsum(list_cost_usd) AS list_cost,
           coalesce(sum(audio_seconds) FILTER (WHERE ok), 0) AS secs
    FROM c.ev e WHERE {{where}} AND e.file_key IN (SELECT file_key FROM top)
    GROUP BY file_key
)
SELECT d.file_name, coalesce(u.name, '{UNKNOWN_USER}') AS "user", d.model,
       round(d.cost, 6) AS cost_usd, round(d.secs / 60, 3) AS audio_minutes,
       round(d.list_cost, 6) AS list_cost_usd
FROM detail d LEFT JOIN c.users u ON u.id = d.user_id
ORDER BY cost_usd DESC, list_cost_usd DESC, d.file_name
LIMIT $limit
"""
# Pick the rows first, then join names and round: a top-N over a million rows stays a top-N.
_SQL_LEDGER = f"""
WITH picked AS (SELECT * FROM c.ev e WHERE {{where}} ORDER BY e.ts DESC, e.id DESC {{tail}})
SELECT p.ts, coalesce(u.name, '{UNKNOWN_USER}') AS "user", p.provider, p.model, p.operation,
       p.audio_seconds, p.input_tokens, p.output_tokens, round(p.cost_usd, 6) AS cost_usd,
       round(p.list_cost_usd, 6) AS list_cost_usd, p.cached, round(p.saved_usd, 6) AS saved_usd,
       p.latency_ms, p.status, p.error, p.estimated, p.unpriced, p.file_name
FROM picked p LEFT JOIN c.users u ON u.id = p.user_id
ORDER BY p.ts DESC, p.id DESC
"""


class Analytics:
    """The usage & cost figures for the page and the CLI; cheap to reuse, safe to share between threads."""

    def __init__(self, settings: Settings, *, via_sqlalchemy: bool = False) -> None:
        url = settings.db_url
        self._source: _Source
        if url.startswith("sqlite") and not via_sqlalchemy:
            db_path = url.split("///", 1)[-1].split("?", 1)[0]
            if not db_path or db_path == ":memory:":
                raise StorageError("Usage analytics need a database file; an in-memory SQLite database has none.")
            self._source = _SqliteMirror(Path(db_path), settings.tmp_dir)
        else:
            from core.db.engine import make_engine

            self._source = _SqlAlchemySource(make_engine(url))

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Analytics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, *, full: bool = False) -> None:
        """Catch up with the database now (queries do this themselves); `full` recopies everything."""
        self._source.refresh(full=full)

    @contextmanager
    def _cursor(self, filters: UsageFilter) -> Iterator[_Run]:
        cur = self._source.cursor(filters)
        try:
            yield _Run(cur, filters)
        except duckdb.Error as exc:
            raise StorageError(f"A usage query failed: {exc}") from None
        finally:
            cur.close()

    def _one(self, sql: str, filters: UsageFilter, extra: dict[str, Any] | None = None) -> pd.DataFrame:
        with self._cursor(filters) as run:
            return run(sql, extra)

    def spend_per_day(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Charged and list cost per UTC day and model: day, model, cost_usd, list_cost_usd."""
        return self._one(_with_daily(_SQL_SPEND), filters)

    def minutes_per_user(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Audio minutes transcribed and cost per user: user, audio_minutes, cost_usd (costliest first)."""
        return self._one(_with_daily(_SQL_MINUTES), filters)

    def cache_savings(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Cache hits, calls and money saved per UTC day: day, cache_hits, calls, saved_usd."""
        return self._one(_with_daily(_SQL_CACHE), filters)

    def cache_totals(self, filters: UsageFilter = EVERYTHING) -> dict[str, float | int]:
        """Cache figures over the whole filter: cache_hits, calls, hit_rate, saved_usd."""
        t = self.totals(filters)
        return {k: t[k] for k in ("cache_hits", "calls", "hit_rate", "saved_usd")}

    def provider_health(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Per provider, real calls only: provider, calls, errors, error_rate, p50/p95_latency_ms (interpolated)."""
        return self._one(_SQL_HEALTH, filters)

    def costliest_files(self, filters: UsageFilter = EVERYTHING, limit: int = 10) -> pd.DataFrame:
        """The files that cost most, per user and model: file_name, user, model, cost_usd, audio_minutes.

        Ranked by charged cost, then list cost; files that cost nothing at all are left out.
        """
        return self._one(_SQL_COSTLIEST, filters, {"limit": int(limit)})

    def ledger(self, filters: UsageFilter = EVERYTHING, limit: int | None = None) -> pd.DataFrame:
        """The filtered raw events with user names, newest first (the CSV download)."""
        if limit is None:
            return self._one(_SQL_LEDGER.replace("{tail}", ""), filters)
        return self._one(_SQL_LEDGER.replace("{tail}", "LIMIT $limit"), filters, {"limit": int(limit)})

    def totals(self, filters: UsageFilter = EVERYTHING) -> dict[str, float | int]:
        """Headline figures: calls, cost_usd, list_cost_usd, audio_seconds, cache_hits, hit_rate, saved_usd, errors…"""
        return _totals_dict(self._one(_with_daily(_SQL_TOTALS), filters).iloc[0])

    def summary(self, filters: UsageFilter = EVERYTHING) -> dict[str, Any]:
        """Totals plus by_model and by_user breakdowns ({calls, cost_usd, audio_seconds}); feeds `usage --json`."""
        df = self._one(_with_daily(_SQL_SUMMARY), filters)

        def part(row: Any) -> dict[str, Any]:
            return {
                "calls": int(row["calls"]),
                "cost_usd": float(row["cost_usd"]),
                "audio_seconds": float(row["audio_seconds"]),
            }

        result: dict[str, Any] = _totals_dict(df[df["level"] == 3].iloc[0])
        result["by_model"] = {str(r["model"]): part(r) for _, r in df[df["level"] == 1].iterrows()}
        result["by_user"] = {str(r["user_name"]): part(r) for _, r in df[df["level"] == 2].iterrows()}
        return result

    def page_queries(self, filters: UsageFilter = EVERYTHING, *, recent: int = 100) -> dict[str, pd.DataFrame]:
        """Everything the Usage & cost page shows, one frame each; `totals` is a one-row frame."""
        with self._cursor(filters) as run:
            run(f"CREATE TEMP TABLE daily AS {_DAILY}")  # one pass feeds the first four frames
            totals = _totals_dict(run(_SQL_TOTALS).iloc[0])
            return {
                "totals": pd.DataFrame([totals]),
                "spend_per_day": run(_SQL_SPEND),
                "minutes_per_user": run(_SQL_MINUTES),
                "cache_savings": run(_SQL_CACHE),
                "provider_health": run(_SQL_HEALTH),
                "costliest_files": run(_SQL_COSTLIEST, {"limit": 10}),
                "recent": run(_SQL_LEDGER.replace("{tail}", "LIMIT $limit"), {"limit": int(recent)}),
            }


def _with_daily(sql: str) -> str:
    """`sql` reading `daily` as a CTE, for a method called on its own."""
    body = sql.strip()
    if body.startswith("WITH "):
        return f"WITH daily AS ({_DAILY}), {body.removeprefix('WITH ')}"
    return f"WITH daily AS ({_DAILY}) {body}"


class _Run:
    """Runs SQL on one cursor with the filter's WHERE clause and parameters filled in."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, filters: UsageFilter) -> None:
        self._cur = cur
        self._where, self._params = _where(filters)

    def __call__(self, sql: str, extra: dict[str, Any] | None = None) -> pd.DataFrame:
        params = dict(extra or {})
        if "{where}" in sql:  # DuckDB refuses parameters a statement does not use
            sql = sql.replace("{where}", self._where)
            params.update(self._params)
        result = self._cur.execute(sql, params or None)
        return result.df() if result.description else pd.DataFrame()


def _totals_dict(row: Any) -> dict[str, float | int]:
    calls = int(row["calls"])
    return {
        "calls": calls,
        "cost_usd": float(row["cost_usd"]),
        "list_cost_usd": float(row["list_cost_usd"]),
        "audio_seconds": float(row["audio_seconds"]),
        "cache_hits": int(row["cache_hits"]),
        "hit_rate": round(int(row["cache_hits"]) / calls, 4) if calls else 0.0,
        "saved_usd": float(row["saved_usd"]),
        "errors": int(row["errors"]),
        "error_rate": round(int(row["errors"]) / calls, 4) if calls else 0.0,
    }
