"""core.billing.analytics on a small hand-made ledger whose figures are known, through both data paths."""

from __future__ import annotations

import itertools
import random
import sqlite3
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from time import monotonic
from typing import Any

import duckdb
import pandas as pd
import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from core.billing.analytics import Analytics, UsageFilter, sqlite_scanner_path
from core.config import Settings, load_settings
from core.db.engine import make_engine, migrate
from core.db.models import UsageEvent, User
from core.errors import InputError, StorageError

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
LEDGER_COLUMNS = [
    "ts",
    "user",
    "provider",
    "model",
    "operation",
    "audio_seconds",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "list_cost_usd",
    "cached",
    "saved_usd",
    "latency_ms",
    "status",
    "error",
    "estimated",
    "unpriced",
    "file_name",
]


def at(day: date, hh: int, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, us)


def ev(
    ts: datetime,
    user: str | None,
    model: str,
    secs: float,
    cost: float,
    *,
    listed: float | None = None,
    provider: str = "openai",
    op: str = "transcribe",
    cached: bool = False,
    saved: float = 0.0,
    latency: int = 0,
    status: str = "ok",
    demo: bool = False,
    file: str | None = None,
) -> dict[str, Any]:
    """One ledger row; list cost defaults to the charged cost."""
    return {
        "ts": ts,
        "user": user,
        "provider": provider,
        "model": model,
        "operation": op,
        "audio_seconds": secs,
        "input_tokens": 1000 if op == "summarize" else 0,
        "output_tokens": 200 if op == "summarize" else 0,
        "cost_usd": cost,
        "list_cost_usd": cost if listed is None else listed,
        "cached": cached,
        "saved_usd": saved,
        "latency_ms": latency,
        "status": status,
        "error": "HTTP 503" if status == "error" else None,
        "is_demo": demo,
        "file_name": file,
    }


EVENTS = [
    ev(at(D1, 9), "alice", "gpt-transcribe", 120, 0.009, latency=1000, file="a.mp3"),
    ev(at(D1, 23, 59, 59, 999999), "alice", "gpt-transcribe", 60, 0.0045, latency=2000, file="a.mp3"),
    ev(at(D2, 0), "bob", "whisper-1", 300, 0.03, latency=3000, file="b.wav"),
    ev(at(D2, 10), "bob", "whisper-1", 300, 0.0, latency=4000, status="error", file="b.wav"),
    ev(at(D2, 11), "alice", "gpt-transcribe", 120, 0.0, cached=True, saved=0.009, file="a.mp3"),
    ev(at(D3, 12), "bob", "tiny.en", 600, 0.0, provider="local", latency=5000, file="c.m4a"),
    ev(at(D3, 13), "dana", "mock-1", 60, 0.0, listed=0.006, provider="mock", latency=50, demo=True, file="d.mp3"),
    ev(at(D3, 14), "alice", "gpt-5.4-mini", 0, 0.00165, op="summarize", latency=1500),
    ev(at(D3, 15), None, "gpt-transcribe", 60, 0.0045, latency=1200),
]


def add_events(engine: Engine, events: list[dict[str, Any]]) -> None:
    with Session(engine) as s, s.begin():
        users = {u.name: u.id for u in s.scalars(select(User))}
        for name, demo in (("alice", False), ("bob", False), ("dana", True)):
            if name not in users:
                user = User(name=name, role="member", is_demo=demo)
                s.add(user)
                s.flush()
                users[name] = user.id
        for event in events:
            fields = {k: v for k, v in event.items() if k != "user"}
            s.add(UsageEvent(user_id=users[event["user"]] if event["user"] else None, **fields))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Settings, Engine]]:
    settings = load_settings(secrets_file=None, data_dir=tmp_path)
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    add_events(engine, EVENTS)
    yield settings, engine
    engine.dispose()


@pytest.fixture(params=["mirror", "sqlalchemy"])
def analytics(request: pytest.FixtureRequest, db: tuple[Settings, Engine]) -> Iterator[Analytics]:
    with Analytics(db[0], via_sqlalchemy=request.param == "sqlalchemy") as a:
        yield a


def rows(df: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in df.itertuples(index=False)]


def test_spend_per_day_is_stacked_by_model(analytics: Analytics) -> None:
    df = analytics.spend_per_day(UsageFilter())
    assert list(df.columns) == ["day", "model", "cost_usd", "list_cost_usd"]
    got = [(d.date(), m, c, lc) for d, m, c, lc in rows(df)]
    assert got == [
        (D1, "gpt-transcribe", 0.0135, 0.0135),
        (D2, "gpt-transcribe", 0.0, 0.0),
        (D2, "whisper-1", 0.03, 0.03),
        (D3, "gpt-5.4-mini", 0.00165, 0.00165),
        (D3, "gpt-transcribe", 0.0045, 0.0045),
        (D3, "mock-1", 0.0, 0.006),
        (D3, "tiny.en", 0.0, 0.0),
    ]


@pytest.mark.parametrize(
    ("filters", "calls", "cost"),
    [
        (UsageFilter(), 9, 0.04965),
        (UsageFilter(start=D2, end=D2), 3, 0.03),  # 23:59:59.999999 on D1 out, 00:00 on D2 in
        (UsageFilter(end=D1), 2, 0.0135),  # end is inclusive
        (UsageFilter(start=D3), 4, 0.00615),
        (UsageFilter(user="alice"), 4, 0.01515),
        (UsageFilter(user="alice", start=D2), 2, 0.00165),
        (UsageFilter(user="nobody"), 0, 0.0),
        (UsageFilter(include_demo=False), 8, 0.04965),
    ],
)
def test_filters_by_date_user_and_demo(analytics: Analytics, filters: UsageFilter, calls: int, cost: float) -> None:
    totals = analytics.totals(filters)
    assert (totals["calls"], totals["cost_usd"]) == (calls, cost)
    assert len(analytics.ledger(filters)) == calls


def test_totals(analytics: Analytics) -> None:
    assert analytics.totals(UsageFilter()) == {
        "calls": 9,
        "cost_usd": 0.04965,
        "list_cost_usd": 0.05565,
        "audio_seconds": 1320.0,  # the failed call's 300 s are not counted
        "cache_hits": 1,
        "hit_rate": round(1 / 9, 4),
        "saved_usd": 0.009,
        "errors": 1,
        "error_rate": round(1 / 9, 4),
    }


def test_minutes_per_user(analytics: Analytics) -> None:
    df = analytics.minutes_per_user(UsageFilter())
    assert list(df.columns) == ["user", "audio_minutes", "cost_usd"]
    assert rows(df) == [("bob", 15.0, 0.03), ("alice", 5.0, 0.01515), ("(unknown)", 1.0, 0.0045), ("dana", 1.0, 0.0)]
    assert rows(analytics.minutes_per_user(UsageFilter(include_demo=False)))[-1][0] == "(unknown)"


def test_cache_savings(analytics: Analytics) -> None:
    df = analytics.cache_savings(UsageFilter())
    assert list(df.columns) == ["day", "cache_hits", "calls", "saved_usd"]
    assert [(d.date(), h, c, s) for d, h, c, s in rows(df)] == [(D1, 0, 2, 0.0), (D2, 1, 3, 0.009), (D3, 0, 4, 0.0)]
    assert analytics.cache_totals(UsageFilter()) == {
        "cache_hits": 1,
        "calls": 9,
        "hit_rate": 0.1111,
        "saved_usd": 0.009,
    }


def test_provider_health_percentiles_and_error_rate(analytics: Analytics) -> None:
    df = analytics.provider_health(UsageFilter())
    assert list(df.columns) == ["provider", "calls", "errors", "error_rate", "p50_latency_ms", "p95_latency_ms"]
    # openai, cache hit excluded: 1000 1200 1500 2000 3000 4000 -> p50 1750, p95 3000 + 0.75 * 1000
    assert rows(df) == [
        ("openai", 6, 1, 0.1667, 1750.0, 3750.0),
        ("local", 1, 0, 0.0, 5000.0, 5000.0),
        ("mock", 1, 0, 0.0, 50.0, 50.0),
    ]


def test_costliest_files(analytics: Analytics) -> None:
    df = analytics.costliest_files(UsageFilter())
    assert list(df.columns)[:5] == ["file_name", "user", "model", "cost_usd", "audio_minutes"]
    assert [r[:5] for r in rows(df)] == [
        ("b.wav", "bob", "whisper-1", 0.03, 5.0),  # the failed retry adds no minutes
        ("a.mp3", "alice", "gpt-transcribe", 0.0135, 5.0),  # the cache hit's minutes count
        ("d.mp3", "dana", "mock-1", 0.0, 1.0),  # free, but priced at list: still ranked
    ]
    assert list(analytics.costliest_files(UsageFilter(), limit=1)["file_name"]) == ["b.wav"]
    assert analytics.costliest_files(UsageFilter(include_demo=False, start=D3)).empty


def test_ledger_rows_newest_first(analytics: Analytics) -> None:
    df = analytics.ledger(UsageFilter())
    assert list(df.columns) == LEDGER_COLUMNS
    assert len(df) == 9
    assert df["ts"].is_monotonic_decreasing
    first = df.iloc[0]
    assert (first["user"], first["model"], first["cost_usd"]) == ("(unknown)", "gpt-transcribe", 0.0045)
    failed = df[df["status"] == "error"].iloc[0]
    assert (failed["user"], failed["error"], bool(failed["cached"])) == ("bob", "HTTP 503", False)
    assert list(analytics.ledger(UsageFilter(user="bob"), limit=2)["ts"]) == [at(D3, 12), at(D2, 10)]


def test_summary_feeds_the_cli(analytics: Analytics) -> None:
    summary = analytics.summary(UsageFilter())
    assert {"calls", "cost_usd", "audio_seconds", "cache_hits", "saved_usd", "by_model", "by_user"} <= set(summary)
    assert (summary["calls"], summary["cost_usd"], summary["errors"]) == (9, 0.04965, 1)
    assert summary["by_model"]["whisper-1"] == {"calls": 2, "cost_usd": 0.03, "audio_seconds": 300.0}
    assert summary["by_user"]["alice"] == {"calls": 4, "cost_usd": 0.01515, "audio_seconds": 300.0}
    assert set(summary["by_user"]) == {"alice", "bob", "dana", "(unknown)"}
    assert sum(m["calls"] for m in summary["by_model"].values()) == 9
    empty = analytics.summary(UsageFilter(user="nobody"))
    assert (empty["calls"], empty["cost_usd"], empty["by_model"], empty["by_user"]) == (0, 0.0, {}, {})


def test_page_queries_returns_every_frame(analytics: Analytics) -> None:
    frames = analytics.page_queries(UsageFilter(user="alice"))
    assert set(frames) == {
        "totals",
        "spend_per_day",
        "minutes_per_user",
        "cache_savings",
        "provider_health",
        "costliest_files",
        "recent",
    }
    assert frames["totals"]["calls"].iloc[0] == 4
    assert list(frames["minutes_per_user"]["user"]) == ["alice"]


@pytest.mark.parametrize("filters", [UsageFilter(), UsageFilter(start=D2, include_demo=False)])
def test_page_queries_match_the_single_calls(analytics: Analytics, filters: UsageFilter) -> None:
    frames = analytics.page_queries(filters, recent=3)
    assert frames["totals"].iloc[0].to_dict() == analytics.totals(filters)
    singles = {
        "spend_per_day": analytics.spend_per_day(filters),
        "minutes_per_user": analytics.minutes_per_user(filters),
        "cache_savings": analytics.cache_savings(filters),
        "provider_health": analytics.provider_health(filters),
        "costliest_files": analytics.costliest_files(filters),
        "recent": analytics.ledger(filters, limit=3),
    }
    for name, df in singles.items():
        pd.testing.assert_frame_equal(frames[name], df, obj=name)


def test_start_after_end_is_refused() -> None:
    with pytest.raises(InputError, match="after the end date"):
        UsageFilter(start=D3, end=D1)


def test_cost_sums_equal_sqlites_own(db: tuple[Settings, Engine]) -> None:
    settings, engine = db
    rng = random.Random(5)
    extra = [
        ev(
            at(date(2026, 3, rng.randint(1, 28)), rng.randint(0, 23), rng.randint(0, 59)),
            rng.choice(["alice", "bob"]),
            "gpt-transcribe",
            rng.uniform(1, 900),
            rng.uniform(0, 0.2) / 3,
            latency=rng.randint(100, 9000),
        )
        for _ in range(500)
    ]
    add_events(engine, extra)
    con = sqlite3.connect(settings.data_dir / "workbench.db")
    user_sql = "SELECT sum(cost_usd) FROM usage_events e JOIN users u ON u.id = e.user_id WHERE u.name = ? AND ts >= ?"
    with Analytics(settings) as a:
        (total,) = con.execute("SELECT sum(cost_usd) FROM usage_events").fetchone()
        assert a.totals(UsageFilter())["cost_usd"] == round(total, 6)
        (bob,) = con.execute(user_sql, ("bob", "2026-03-10")).fetchone()
        assert a.summary(UsageFilter(user="bob", start=date(2026, 3, 10)))["cost_usd"] == round(bob, 6)
        per_day = a.spend_per_day(UsageFilter())
        for day, cost in con.execute("SELECT date(ts), sum(cost_usd) FROM usage_events GROUP BY 1 LIMIT 5"):
            match = per_day[per_day["day"] == datetime.fromisoformat(day)]["cost_usd"].sum()
            assert match == pytest.approx(round(cost, 6), abs=2e-6)  # sum of per-model roundings
    con.close()


def test_mirror_follows_appends_deletes_and_reused_ids(db: tuple[Settings, Engine]) -> None:
    settings, engine = db
    with Analytics(settings) as a:
        assert a.totals(UsageFilter())["calls"] == 9
        add_events(engine, [ev(at(D3, 16), "bob", "whisper-1", 60, 0.006, file="e.mp3")])
        assert (a.totals(UsageFilter())["calls"], a.totals(UsageFilter())["cost_usd"]) == (10, 0.05565)
        with Session(engine) as s, s.begin():
            last = s.scalars(select(UsageEvent).order_by(UsageEvent.id.desc())).first()
            assert last is not None
            s.delete(last)
        # SQLite hands the freed id to the next row: the count is back to 10, the row is different.
        add_events(engine, [ev(at(D3, 17), "alice", "whisper-1", 60, 0.5, file="f.mp3")])
        assert (a.totals(UsageFilter())["calls"], a.totals(UsageFilter())["cost_usd"]) == (10, 0.54965)
        with Session(engine) as s, s.begin():
            s.execute(delete(UsageEvent).where(UsageEvent.model == "tiny.en"))
        assert a.totals(UsageFilter())["calls"] == 9
        with Session(engine) as s, s.begin():
            s.execute(update(User).where(User.name == "bob").values(name="robert"))
        assert "robert" in set(a.minutes_per_user(UsageFilter())["user"])


def test_timestamps_written_by_hand_are_read_in_any_iso_form(db: tuple[Settings, Engine]) -> None:
    settings, _ = db
    insert = (
        "INSERT INTO usage_events (ts, provider, model, operation, audio_seconds, input_tokens, output_tokens,"
        " cost_usd, list_cost_usd, cached, saved_usd, latency_ms, status, estimated, unpriced, is_demo)"
        " VALUES (?, 'mock', 'mock-1', 'transcribe', 60, 0, 0, 1, 1, 0, 0, 5, 'ok', 0, 0, 0)"
    )
    with Analytics(settings) as a:
        a.refresh()
        with sqlite3.connect(settings.data_dir / "workbench.db") as con:  # appended to the mirror
            con.executemany(insert, [("2026-03-02T12:00:00",), ("2026-03-02 13:00:00.5",), ("2026-03-04 00:00",)])
        assert a.totals(UsageFilter(start=D2, end=D2))["calls"] == 5
    with Analytics(settings) as a:  # copied in full
        assert a.totals(UsageFilter(start=D2, end=D2))["calls"] == 5
        assert a.totals(UsageFilter(start=date(2026, 3, 4)))["calls"] == 1


def test_mirror_beside_the_apps_own_writers(db: tuple[Settings, Engine]) -> None:
    """The app writes through Python's SQLite while the mirror copies: no crash, no stale figures.

    Regression: the scanner opening the live file next to the app's connections died with SIGBUS.
    """
    settings, engine = db
    stop = threading.Event()

    def write() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            add_events(engine, [ev(at(D3, 18), "bob", "whisper-1", 60, 0.01, file="w.mp3")])
            if i % 5 == 4:  # a delete forces a full copy next time
                with Session(engine) as s, s.begin():
                    s.execute(delete(UsageEvent).where(UsageEvent.file_name == "w.mp3"))

    with Analytics(settings) as a:
        writer = threading.Thread(target=write)
        writer.start()
        try:
            deadline = monotonic() + 3.0  # the old design crashed within this, every time
            while monotonic() < deadline:
                a.page_queries(UsageFilter())
        finally:
            stop.set()
            writer.join()
        with sqlite3.connect(settings.data_dir / "workbench.db") as con:
            calls, cost = con.execute("SELECT count(*), round(sum(cost_usd), 6) FROM usage_events").fetchone()
        assert (a.totals(UsageFilter())["calls"], a.totals(UsageFilter())["cost_usd"]) == (calls, cost)
    assert list((settings.data_dir / "tmp").iterdir()) == []  # snapshots are removed


def test_empty_ledger(tmp_path: Path) -> None:
    settings = load_settings(secrets_file=None, data_dir=tmp_path)
    migrate(settings.db_url)
    with Analytics(settings) as a:
        frames = a.page_queries(UsageFilter())
        assert frames["totals"]["calls"].iloc[0] == 0
        assert all(df.empty for name, df in frames.items() if name != "totals")
        assert a.summary(UsageFilter())["by_user"] == {}


def test_shared_between_threads(db: tuple[Settings, Engine]) -> None:
    with Analytics(db[0]) as a, ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: a.summary(UsageFilter())["cost_usd"], range(12)))
    assert results == [0.04965] * 12


def test_extension_is_loaded_from_the_wheel_without_downloads(db: tuple[Settings, Engine]) -> None:
    path = sqlite_scanner_path()
    assert path.is_file() and f"v{duckdb.__version__}" in str(path)
    with Analytics(db[0]) as a, a._cursor(UsageFilter()) as run:
        df = run("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%known_extensions'")
    settings = dict(zip(df["name"], df["value"], strict=True))
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_missing_extension_package_is_a_storage_error(
    db: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb_extension_sqlite_scanner", None)
    with pytest.raises(StorageError, match="duckdb-extension-sqlite-scanner"):
        Analytics(db[0])


def test_extension_of_another_duckdb_version_is_a_storage_error(
    db: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb, "__version__", "0.0.1")
    with pytest.raises(StorageError, match="same version"):
        Analytics(db[0])


def test_missing_database_is_a_storage_error(tmp_path: Path) -> None:
    settings = load_settings(secrets_file=None, data_dir=tmp_path / "nothing")
    with Analytics(settings) as a, pytest.raises(StorageError, match="does not exist"):
        a.totals(UsageFilter())
