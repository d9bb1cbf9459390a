"""The analytics SQL: the mirror's one SELECT, the filter's WHERE clause and every query the pages run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from core.db.models import UsageEvent
from core.errors import InputError

UNKNOWN_USER = "(unknown)"
# One SELECT builds the mirror from any source: the sqlite scanner, rows fetched by the probe (ts as
# text, booleans as 0/1) or a pandas frame from SQLAlchemy; the casts make all three the same table.
# file_key hashes (file, user, model) so "costliest files" groups on one integer instead of strings;
# it is NULL without a file name, which is cheaper to test than the string column itself, as
# `ok` is cheaper than comparing `status` a million times.
MIRROR_SELECT = """
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
# The ledger's columns in table order, from the ORM table itself; the ids that link a row to its
# transcript, job and request are never charted, so the mirror leaves them out.
_NOT_MIRRORED = frozenset({"transcript_id", "job_id", "request_id"})
LEDGER_COLUMNS: tuple[str, ...] = tuple(c.name for c in UsageEvent.__table__.columns if c.name not in _NOT_MIRRORED)
SOURCE_COLUMNS = ", ".join(LEDGER_COLUMNS)
USERS_SELECT = "SELECT CAST(id AS BIGINT) AS id, CAST(name AS VARCHAR) AS name FROM {source}"
# The scanner types columns by their declared SQLite type; ts stays TEXT and is cast by MIRROR_SELECT.
SNAPSHOT_SCHEMA = """
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


def where_clause(filters: UsageFilter) -> tuple[str, dict[str, Any]]:
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


# Most figures come from one pass over the filtered ledger grouped by (day, model, user): a few
# thousand rows however long the ledger is. Each method reads it as a CTE; page_queries builds it once
# as a temp table for all of them. Money partial sums are compensated (fsum), and so is their sum, so
# the totals match a direct SUM over the rows to far below the 6 decimals shown.
DAILY = """
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
TOTALS = """
    CAST(coalesce(sum(calls), 0) AS BIGINT) AS calls,
    round(coalesce(fsum(cost), 0), 6) AS cost_usd,
    round(coalesce(fsum(list_cost), 0), 6) AS list_cost_usd,
    round(coalesce(sum(ok_secs), 0), 3) AS audio_seconds,
    CAST(coalesce(sum(hits), 0) AS BIGINT) AS cache_hits,
    round(coalesce(fsum(saved), 0), 6) AS saved_usd,
    CAST(coalesce(sum(errors), 0) AS BIGINT) AS errors
"""
SQL_TOTALS = f"SELECT {TOTALS} FROM daily"
SQL_SPEND = """
SELECT day, model, round(fsum(cost), 6) AS cost_usd, round(fsum(list_cost), 6) AS list_cost_usd
FROM daily GROUP BY day, model ORDER BY day, model
"""
SQL_MINUTES = f"""
WITH a AS (SELECT user_id, sum(ok_secs) AS secs, fsum(cost) AS cost FROM daily GROUP BY user_id)
SELECT coalesce(u.name, '{UNKNOWN_USER}') AS "user", round(a.secs / 60, 3) AS audio_minutes,
       round(a.cost, 6) AS cost_usd
FROM a LEFT JOIN c.users u ON u.id = a.user_id
ORDER BY cost_usd DESC, audio_minutes DESC, "user"
"""
SQL_CACHE = """
SELECT day, CAST(sum(hits) AS BIGINT) AS cache_hits, CAST(sum(calls) AS BIGINT) AS calls,
       round(fsum(saved), 6) AS saved_usd
FROM daily GROUP BY day ORDER BY day
"""
SQL_SUMMARY = f"""
WITH g AS (
    SELECT model, user_id, grouping(model, user_id) AS level, {TOTALS}
    FROM daily GROUP BY GROUPING SETS ((), (model), (user_id))
)
SELECT g.*, coalesce(u.name, '{UNKNOWN_USER}') AS user_name
FROM g LEFT JOIN c.users u ON u.id = g.user_id
ORDER BY level DESC, cost_usd DESC, model, user_name
"""
SQL_HEALTH = """
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
SQL_COSTLIEST = f"""
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
SQL_LEDGER = f"""
WITH picked AS (SELECT * FROM c.ev e WHERE {{where}} ORDER BY e.ts DESC, e.id DESC {{tail}})
SELECT p.ts, coalesce(u.name, '{UNKNOWN_USER}') AS "user", p.provider, p.model, p.operation,
       p.audio_seconds, p.input_tokens, p.output_tokens, round(p.cost_usd, 6) AS cost_usd,
       round(p.list_cost_usd, 6) AS list_cost_usd, p.cached, round(p.saved_usd, 6) AS saved_usd,
       p.latency_ms, p.status, p.error, p.estimated, p.unpriced, p.file_name
FROM picked p LEFT JOIN c.users u ON u.id = p.user_id
ORDER BY p.ts DESC, p.id DESC
"""
