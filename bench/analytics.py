"""Usage-page query time at scale: `python -m bench.analytics --events 1000000`.

Seeds a temporary database with N demo events (prints the seeding time), then times
Analytics.page_queries — everything the Usage & cost page runs — cold (first call, which mirrors the
ledger into DuckDB), warm (median of --runs), and right after one new event (the append path).
For comparison it loads the same tables with sqlite3 into pandas (timed on its own) and computes the
same figures with groupby (timed separately), checks both agree, and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from core.billing.analytics import EVERYTHING, Analytics
from core.config import load_settings
from core.ops.demo import seed_demo

BUDGET_S = 0.5


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall seconds over `runs` calls, and the last result."""
    times, _, result = measure(fn, runs)
    return statistics.median(times), result


def measure(fn: Callable[[], Any], runs: int) -> tuple[list[float], list[float], Any]:
    """Wall and process-CPU seconds of each of `runs` calls, and the last result."""
    walls: list[float] = []
    cpus: list[float] = []
    result: Any = None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, result


def load_pandas(db_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger and users as pandas frames, typed as the page needs them."""
    with sqlite3.connect(db_path) as con:
        ev = pd.read_sql_query("SELECT * FROM usage_events", con)
        users = pd.read_sql_query("SELECT id, name FROM users", con)
    ev["ts"] = pd.to_datetime(ev["ts"], format="%Y-%m-%d %H:%M:%S.%f")
    ev["day"] = ev["ts"].dt.floor("D")
    for col in ("cached", "estimated", "unpriced", "is_demo"):
        ev[col] = ev[col].astype(bool)
    return ev, users


def pandas_page(ev: pd.DataFrame, users: pd.DataFrame) -> dict[str, Any]:
    """The page's figures computed with pandas groupby, unfiltered."""
    names = users.set_index("id")["name"]
    ok_secs = ev["audio_seconds"].where(ev["status"] == "ok", 0.0)
    totals = {
        "calls": len(ev),
        "cost_usd": round(ev["cost_usd"].sum(), 6),
        "list_cost_usd": round(ev["list_cost_usd"].sum(), 6),
        "audio_seconds": round(ok_secs.sum(), 3),
        "cache_hits": int(ev["cached"].sum()),
        "saved_usd": round(ev["saved_usd"].sum(), 6),
        "errors": int((ev["status"] != "ok").sum()),
    }
    spend = ev.groupby(["day", "model"], as_index=False)[["cost_usd", "list_cost_usd"]].sum()
    spend[["cost_usd", "list_cost_usd"]] = spend[["cost_usd", "list_cost_usd"]].round(6)
    per_user = (
        ev.assign(ok_secs=ok_secs)
        .groupby("user_id")
        .agg(audio_minutes=("ok_secs", "sum"), cost_usd=("cost_usd", "sum"))
        .assign(audio_minutes=lambda d: (d["audio_minutes"] / 60).round(3), cost_usd=lambda d: d["cost_usd"].round(6))
        .rename(index=names)
        .sort_values("cost_usd", ascending=False)
    )
    cache = ev.groupby("day").agg(cache_hits=("cached", "sum"), calls=("id", "size"), saved_usd=("saved_usd", "sum"))
    calls = ev[~ev["cached"]]
    health = calls.groupby("provider").agg(
        calls=("id", "size"),
        errors=("status", lambda s: int((s != "ok").sum())),
        p50_latency_ms=("latency_ms", lambda s: s.quantile(0.5)),
        p95_latency_ms=("latency_ms", lambda s: s.quantile(0.95)),
    )
    health["error_rate"] = (health["errors"] / health["calls"]).round(4)
    paid = ev[ev["file_name"].notna() & ((ev["cost_usd"] != 0) | (ev["list_cost_usd"] != 0))]
    top = (
        paid.groupby(["file_name", "user_id", "model"])[["cost_usd", "list_cost_usd"]]
        .sum()
        .sort_values(["cost_usd", "list_cost_usd"], ascending=False)
        .head(10)
    )
    recent = ev.nlargest(100, "ts")
    return {
        "totals": totals,
        "spend_per_day": spend,
        "minutes_per_user": per_user,
        "cache_savings": cache,
        "provider_health": health,
        "costliest_files": top,
        "recent": recent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="warm runs; the median is reported")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (others' work inflates wall times)")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(secrets_file=None, data_dir=Path(tmp))
        started = time.perf_counter()
        counts = seed_demo(settings, events=args.events, seed=args.seed)
        seed_s = time.perf_counter() - started
        db_path = Path(tmp) / "workbench.db"
        print(f"seeded {counts['events']:,} events in {seed_s:.1f} s ({db_path.stat().st_size / 1e6:.0f} MB)")

        with Analytics(settings) as analytics:
            cold_s, _ = timed(lambda: analytics.page_queries(EVERYTHING), 1)
            walls, cpus, frames = measure(lambda: analytics.page_queries(EVERYTHING), args.runs)
            warm_s = statistics.median(walls)
            print(
                f"duckdb page_queries: cold {cold_s:.3f} s (mirrors the ledger), warm {warm_s:.3f} s median"
                f" of {args.runs} (min {min(walls):.3f} s, process CPU {statistics.median(cpus):.3f} s)"
            )
            parts = {
                name: timed(fn, args.runs)[0]
                for name, fn in {
                    "totals": lambda: analytics.totals(EVERYTHING),
                    "spend_per_day": lambda: analytics.spend_per_day(EVERYTHING),
                    "minutes_per_user": lambda: analytics.minutes_per_user(EVERYTHING),
                    "cache_savings": lambda: analytics.cache_savings(EVERYTHING),
                    "provider_health": lambda: analytics.provider_health(EVERYTHING),
                    "costliest_files": lambda: analytics.costliest_files(EVERYTHING),
                    "recent": lambda: analytics.ledger(EVERYTHING, limit=100),
                }.items()
            }
            print("  " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items()))

            with sqlite3.connect(db_path) as con:  # one new event, as the service would write it
                con.execute(
                    "INSERT INTO usage_events (ts, provider, model, operation, audio_seconds, input_tokens,"
                    " output_tokens, cost_usd, list_cost_usd, cached, saved_usd, latency_ms, status, estimated,"
                    " unpriced, is_demo) VALUES (strftime('%Y-%m-%d %H:%M:%f000', 'now'), 'mock', 'mock-1',"
                    " 'transcribe', 60, 0, 0, 0, 0.006, 0, 0, 40, 'ok', 0, 0, 0)"
                )
            append_s, after = timed(lambda: analytics.page_queries(EVERYTHING), 1)
            assert int(after["totals"]["calls"].iloc[0]) == counts["events"] + 1
            print(f"duckdb page_queries after one new event: {append_s:.3f} s (appends to the mirror)")

        load_s, (ev, users) = timed(lambda: load_pandas(db_path), 1)
        ev = ev[ev["is_demo"]]  # compare on the seeded rows only
        pandas_s, result = timed(lambda: pandas_page(ev, users), args.runs)
        print(f"pandas: load {load_s:.3f} s (sqlite3 -> DataFrame), compute {pandas_s:.3f} s (median)")

        duck_totals = frames["totals"].iloc[0]
        for key, value in result["totals"].items():
            assert abs(float(duck_totals[key]) - float(value)) < 1e-5, (key, duck_totals[key], value)
        assert len(frames["spend_per_day"]) == len(result["spend_per_day"])
        print(f"ratio pandas compute / duckdb warm: {pandas_s / warm_s:.1f}x; figures agree")
        verdict = "within" if warm_s < BUDGET_S else "OVER"
        print(f"page query time {warm_s:.3f} s is {verdict} the {BUDGET_S} s budget")


if __name__ == "__main__":
    main()
