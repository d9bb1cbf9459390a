"""The query API the pages and the CLI call: one Analytics object over whichever source fits the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core.billing.analytics.mirror import SqliteMirror
from core.billing.analytics.sources import Source, SqlAlchemySource
from core.billing.analytics.sql import (
    DAILY,
    EVERYTHING,
    SQL_CACHE,
    SQL_COSTLIEST,
    SQL_HEALTH,
    SQL_LEDGER,
    SQL_MINUTES,
    SQL_SPEND,
    SQL_SUMMARY,
    SQL_TOTALS,
    UsageFilter,
    where_clause,
)
from core.config import Settings
from core.errors import StorageError


class Analytics:
    """The usage & cost figures for the page and the CLI; cheap to reuse, safe to share between threads."""

    def __init__(self, settings: Settings, *, via_sqlalchemy: bool = False) -> None:
        url = settings.db_url
        self._source: Source
        if url.startswith("sqlite") and not via_sqlalchemy:
            db_path = url.split("///", 1)[-1].split("?", 1)[0]
            if not db_path or db_path == ":memory:":
                raise StorageError("Usage analytics need a database file; an in-memory SQLite database has none.")
            self._source = SqliteMirror(Path(db_path), settings.tmp_dir)
        else:
            from core.db.engine import make_engine

            self._source = SqlAlchemySource(make_engine(url))

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
        return self._one(_with_daily(SQL_SPEND), filters)

    def minutes_per_user(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Audio minutes transcribed and cost per user: user, audio_minutes, cost_usd (costliest first)."""
        return self._one(_with_daily(SQL_MINUTES), filters)

    def cache_savings(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Cache hits, calls and money saved per UTC day: day, cache_hits, calls, saved_usd."""
        return self._one(_with_daily(SQL_CACHE), filters)

    def cache_totals(self, filters: UsageFilter = EVERYTHING) -> dict[str, float | int]:
        """Cache figures over the whole filter: cache_hits, calls, hit_rate, saved_usd."""
        t = self.totals(filters)
        return {k: t[k] for k in ("cache_hits", "calls", "hit_rate", "saved_usd")}

    def provider_health(self, filters: UsageFilter = EVERYTHING) -> pd.DataFrame:
        """Per provider, real calls only: provider, calls, errors, error_rate, p50/p95_latency_ms (interpolated)."""
        return self._one(SQL_HEALTH, filters)

    def costliest_files(self, filters: UsageFilter = EVERYTHING, limit: int = 10) -> pd.DataFrame:
        """The files that cost most, per user and model: file_name, user, model, cost_usd, audio_minutes.

        Ranked by charged cost, then list cost; files that cost nothing at all are left out.
        """
        return self._one(SQL_COSTLIEST, filters, {"limit": int(limit)})

    def ledger(self, filters: UsageFilter = EVERYTHING, limit: int | None = None) -> pd.DataFrame:
        """The filtered raw events with user names, newest first (the CSV download)."""
        if limit is None:
            return self._one(SQL_LEDGER.replace("{tail}", ""), filters)
        return self._one(SQL_LEDGER.replace("{tail}", "LIMIT $limit"), filters, {"limit": int(limit)})

    def totals(self, filters: UsageFilter = EVERYTHING) -> dict[str, float | int]:
        """Headline figures: calls, cost_usd, list_cost_usd, audio_seconds, cache_hits, hit_rate, saved_usd, errors…"""
        return _totals_dict(self._one(_with_daily(SQL_TOTALS), filters).iloc[0])

    def summary(self, filters: UsageFilter = EVERYTHING) -> dict[str, Any]:
        """Totals plus by_model and by_user breakdowns ({calls, cost_usd, audio_seconds}); feeds `usage --json`."""
        df = self._one(_with_daily(SQL_SUMMARY), filters)

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
            run(f"CREATE TEMP TABLE daily AS {DAILY}")  # one pass feeds the first four frames
            totals = _totals_dict(run(SQL_TOTALS).iloc[0])
            return {
                "totals": pd.DataFrame([totals]),
                "spend_per_day": run(SQL_SPEND),
                "minutes_per_user": run(SQL_MINUTES),
                "cache_savings": run(SQL_CACHE),
                "provider_health": run(SQL_HEALTH),
                "costliest_files": run(SQL_COSTLIEST, {"limit": 10}),
                "recent": run(SQL_LEDGER.replace("{tail}", "LIMIT $limit"), {"limit": int(recent)}),
            }


def _with_daily(sql: str) -> str:
    """`sql` reading `daily` as a CTE, for a method called on its own."""
    body = sql.strip()
    if body.startswith("WITH "):
        return f"WITH daily AS ({DAILY}), {body.removeprefix('WITH ')}"
    return f"WITH daily AS ({DAILY}) {body}"


class _Run:
    """Runs SQL on one cursor with the filter's WHERE clause and parameters filled in."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, filters: UsageFilter) -> None:
        self._cur = cur
        self._where, self._params = where_clause(filters)

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
