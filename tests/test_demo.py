"""core.ops.demo: counts, realism, determinism, and that clear_demo removes demo rows only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.billing.analytics import Analytics, UsageFilter
from core.billing.pricing import load_models, price_call
from core.config import Settings, load_settings
from core.db.engine import make_engine, migrate
from core.db.models import Transcript, UsageEvent, User
from core.ops.demo import DEMO_USERS, clear_demo, seed_demo

NOW = datetime(2026, 3, 31, 15, 30)
EVENTS = 3000


def make_settings(path: Path) -> Settings:
    return load_settings(secrets_file=None, data_dir=path)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Settings, Engine, dict[str, int]]]:
    settings = make_settings(tmp_path / "a")
    counts = seed_demo(settings, events=EVENTS, seed=7, now=NOW)
    engine = make_engine(settings.db_url)
    yield settings, engine, counts
    engine.dispose()


def event_rows(engine: Engine) -> list[tuple[object, ...]]:
    cols = [c for c in UsageEvent.__table__.columns if c.name != "user_id"]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*cols, User.name).join(User).order_by(UsageEvent.id))]


def test_counts_and_flags(seeded: tuple[Settings, Engine, dict[str, int]]) -> None:
    _, engine, counts = seeded
    assert counts == {"users": len(DEMO_USERS), "events": EVENTS, "transcripts": 6}
    with Session(engine) as s:
        users = s.scalars(select(User)).all()
        assert sorted(u.name for u in users) == sorted(DEMO_USERS)
        assert all(u.is_demo and u.role == "member" for u in users)
        assert s.scalar(select(func.count()).where(UsageEvent.is_demo.is_(False))) == 0
        first, last = s.execute(select(func.min(UsageEvent.ts), func.max(UsageEvent.ts))).one()
        assert NOW - timedelta(days=90) <= first <= last <= NOW
        transcripts = s.scalars(select(Transcript)).all()
        assert all(t.is_demo and t.text and t.duration_s > 0 for t in transcripts)
        segment = transcripts[0].segments[0]
        assert set(segment) == {"start", "end", "text", "speaker", "confidence", "words"}


def test_realistic_mix_priced_from_the_table(seeded: tuple[Settings, Engine, dict[str, int]]) -> None:
    _, engine, _ = seeded
    models = load_models()
    with Session(engine) as s:
        events = s.scalars(select(UsageEvent)).all()
    hits = [e for e in events if e.cached]
    errors = [e for e in events if e.status == "error"]
    assert 0.11 < len(hits) / EVENTS < 0.19
    assert 0.01 < len(errors) / EVENTS < 0.035
    assert all(e.cost_usd == 0 and e.list_cost_usd == 0 and e.error for e in errors)
    assert all(e.cost_usd == 0 and e.latency_ms == 0 for e in hits)
    assert sum(e.saved_usd for e in hits) > 0
    assert {e.model for e in events} <= set(models)
    assert len({e.model for e in events}) >= 4
    assert {e.provider for e in events} >= {"openai", "local"}
    weekday = sum(1 for e in events if e.ts.weekday() < 5) / 5
    weekend = sum(1 for e in events if e.ts.weekday() >= 5) / 2
    assert weekday > 2.5 * weekend
    for e in events[:: EVENTS // 60]:
        if e.cached or e.status == "error":
            continue
        info = models[e.model]
        by_token = info.unit == "token"
        price = price_call(
            e.model,
            audio_seconds=e.audio_seconds,
            audio_tokens_in=e.input_tokens if by_token and e.operation == "transcribe" else 0,
            text_tokens_in=e.input_tokens if e.operation == "summarize" else 0,
            tokens_out=e.output_tokens,
        )
        assert e.cost_usd == pytest.approx(price.cost_usd, rel=1e-9, abs=1e-12)
        assert e.list_cost_usd == pytest.approx(price.list_cost_usd, rel=1e-9, abs=1e-12)


def test_same_seed_same_data(seeded: tuple[Settings, Engine, dict[str, int]], tmp_path: Path) -> None:
    _, engine, _ = seeded
    again, other = make_settings(tmp_path / "b"), make_settings(tmp_path / "c")
    seed_demo(again, events=EVENTS, seed=7, now=NOW)
    seed_demo(other, events=EVENTS, seed=8, now=NOW)
    e_again, e_other = make_engine(again.db_url), make_engine(other.db_url)
    try:
        assert event_rows(e_again) == event_rows(engine)
        assert event_rows(e_other) != event_rows(engine)
    finally:
        e_again.dispose()
        e_other.dispose()


def test_every_chart_has_data(seeded: tuple[Settings, Engine, dict[str, int]]) -> None:
    with Analytics(seeded[0]) as analytics:
        frames = analytics.page_queries(UsageFilter())
        assert {name: df.empty for name, df in frames.items()} == dict.fromkeys(frames, False)
        assert frames["totals"]["calls"].iloc[0] == EVENTS
        assert analytics.totals(UsageFilter(include_demo=False))["calls"] == 0


def test_reseeding_replaces_and_clear_keeps_real_rows(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    with Session(engine) as s, s.begin():
        ana = User(name="ana", role="admin")  # a real user who happens to have a demo name
        s.add(ana)
        s.flush()
        s.add(UsageEvent(user_id=ana.id, provider="mock", model="mock-1", operation="transcribe", cost_usd=0.5))
        s.add(Transcript(owner_id=ana.id, display_name="real", provider="mock", model="mock-1", text="hello"))
    seed_demo(settings, events=400, seed=1, now=NOW)
    assert seed_demo(settings, events=300, seed=2, now=NOW)["events"] == 300
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 301  # replaced, not added
        real = s.scalars(select(User).where(User.name == "ana")).one()
        assert (real.is_demo, real.role) == (False, "admin")
        assert s.scalar(select(func.count()).where(UsageEvent.user_id == real.id)) == 1
        assert s.scalars(select(User).where(User.name == "ana.demo")).one().is_demo

    removed = clear_demo(settings)
    assert removed == {"events": 300, "transcripts": 6, "users": len(DEMO_USERS)}
    with Session(engine) as s:
        assert [u.name for u in s.scalars(select(User))] == ["ana"]
        assert [(e.cost_usd, e.is_demo) for e in s.scalars(select(UsageEvent))] == [(0.5, False)]
        assert [t.display_name for t in s.scalars(select(Transcript))] == ["real"]
    engine.dispose()
