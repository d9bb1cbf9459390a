"""Synthetic demo data: users, a usage ledger and a few transcripts, so a fresh install shows every chart.

Every row written here has is_demo=True, so analytics can hide it and clear_demo() can remove it
without touching real data. Events are generated column-wise with numpy and written with one raw
DBAPI executemany in one transaction: a million rows take seconds, where ORM objects take minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, exists, insert, or_, select

from core.billing.pricing import ModelInfo, load_models, price_call
from core.config import Settings
from core.db.engine import make_engine, migrate
from core.db.models import Job, Transcript, TranscriptRevision, UsageEvent, User
from core.ops.demo_transcripts import insert_transcripts

DEMO_USERS = ("ana", "ben", "chloe", "dev", "eli", "fatima", "gus", "hana")
DAYS = 90
CACHE_HIT_RATE = 0.15
ERROR_RATE = 0.02
SUMMARY_SHARE = 0.08

# Relative popularity of transcription models when the price table has them; any other
# transcription model in the table gets OTHER_MODEL_WEIGHT. Prices always come from the table.
MODEL_WEIGHTS = {
    "gpt-transcribe": 0.34,
    "gpt-4o-mini-transcribe": 0.24,
    "gpt-4o-transcribe": 0.08,
    "whisper-1": 0.14,
    "tiny.en": 0.14,
    "mock-1": 0.04,
}
OTHER_MODEL_WEIGHT = 0.03

# Log-normal latency per provider: (median ms for a 5-minute file, sigma). Local models are slower.
LATENCY = {"openai": (2_400.0, 0.55), "local": (9_000.0, 0.45), "mock": (40.0, 0.30)}
DEFAULT_LATENCY = (3_000.0, 0.6)

ERRORS = (
    "The provider is rate limiting requests (HTTP 429); try again in a minute.",
    "The provider did not answer in time.",
    "The provider had a server error (HTTP 503).",
    "The audio could not be decoded by the provider.",
)
FILE_STEMS = (
    "standup",
    "customer-call",
    "interview",
    "podcast-ep",
    "lecture",
    "voice-memo",
    "all-hands",
    "1on1",
    "sales-demo",
    "research-notes",
)
FILE_EXTS = ("mp3", "m4a", "wav", "webm", "mp4")
# Weekday weights, Monday first: a team that works weekdays and sometimes on Saturday.
WEEKDAY_WEIGHT = np.array([1.0, 1.1, 1.05, 1.0, 0.85, 0.25, 0.15])
# Hour-of-day weights (UTC): office hours with a lunch dip.
HOUR_WEIGHT = np.array([1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 16, 11, 15, 18, 17, 14, 10, 6, 4, 3, 2, 2, 1], dtype=float)

_EVENT_COLUMNS = (
    "ts",
    "user_id",
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
    "request_id",
    "file_name",
    "is_demo",
)


def seed_demo(settings: Settings, events: int = 5000, seed: int = 7, *, now: datetime | None = None) -> dict[str, int]:
    """Replace the demo data with `events` synthetic ledger rows over the last 90 days; return counts."""
    if events < 0:
        raise ValueError("events must be zero or more")
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        _clear(engine)
        user_ids = _ensure_demo_users(engine)
        anchor = (now or datetime.now(UTC)).replace(tzinfo=None)
        rng = np.random.default_rng(seed)
        rows = _event_rows(rng, events, user_ids, anchor)
        _bulk_insert_events(engine, rows)
        models = load_models()
        t_names, _ = _transcribe_models(models, anchor.date())
        transcripts = insert_transcripts(engine, rng, user_ids, anchor, models, t_names, DAYS)
    finally:
        engine.dispose()
    return {"users": len(user_ids), "events": len(rows), "transcripts": transcripts}


def clear_demo(settings: Settings) -> dict[str, int]:
    """Delete every demo row (events, transcripts, unreferenced demo users); real data is untouched."""
    migrate(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        counts = _clear(engine)
        with engine.begin() as conn:
            referenced = or_(
                exists().where(UsageEvent.user_id == User.id),
                exists().where(Transcript.owner_id == User.id),
                exists().where(TranscriptRevision.author_id == User.id),
                exists().where(Job.owner_id == User.id),
            )
            result = conn.execute(delete(User).where(User.is_demo.is_(True), ~referenced))
            counts["users"] = result.rowcount
    finally:
        engine.dispose()
    return counts


def _clear(engine: Engine) -> dict[str, int]:
    """Delete demo events and transcripts (with their revisions); keep users for reuse."""
    with engine.begin() as conn:
        demo_ids = select(Transcript.id).where(Transcript.is_demo.is_(True))
        conn.execute(delete(TranscriptRevision).where(TranscriptRevision.transcript_id.in_(demo_ids)))
        transcripts = conn.execute(delete(Transcript).where(Transcript.is_demo.is_(True))).rowcount
        events = conn.execute(delete(UsageEvent).where(UsageEvent.is_demo.is_(True))).rowcount
    return {"events": events, "transcripts": transcripts}


def _ensure_demo_users(engine: Engine) -> list[int]:
    """Ids of the demo users, creating missing ones; a name a real user holds gets a `.demo` suffix."""
    with engine.begin() as conn:
        existing = {row.name: row for row in conn.execute(select(User.id, User.name, User.is_demo))}
        ids: list[int] = []
        for base in DEMO_USERS:
            name = base if base not in existing or existing[base].is_demo else f"{base}.demo"
            row = existing.get(name)
            if row is not None and row.is_demo:
                ids.append(int(row.id))
                continue
            result = conn.execute(
                insert(User).values(name=name, role="member", active=True, is_demo=True).returning(User.id)
            )
            ids.append(int(result.scalar_one()))
    return ids


def _transcribe_models(models: dict[str, ModelInfo], today: date) -> tuple[list[str], np.ndarray]:
    """The transcription models a team could use today, and how often each is picked."""
    live = [m.name for m in models.values() if m.kind == "transcribe" and not m.is_shut_down(today)]
    names = live or ["mock-1"]
    weights = np.array([MODEL_WEIGHTS.get(n, OTHER_MODEL_WEIGHT) for n in names])
    return names, weights / weights.sum()


def _chat_models(models: dict[str, ModelInfo], today: date) -> list[str]:
    return [m.name for m in models.values() if m.kind == "chat" and not m.is_shut_down(today)]


def _timestamps(rng: np.random.Generator, n: int, anchor: datetime) -> np.ndarray:
    """`n` datetime64[us] over the DAYS days up to `anchor`, with weekly and daily seasonality."""
    first_day = np.datetime64(anchor.date(), "D") - (DAYS - 1)
    days = first_day + np.arange(DAYS)
    weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    growth = np.linspace(0.7, 1.3, DAYS)  # the team uses it more over time
    day_weight = WEEKDAY_WEIGHT[weekday] * growth
    day_idx = rng.choice(DAYS, size=n, p=day_weight / day_weight.sum())
    hour = rng.choice(24, size=n, p=HOUR_WEIGHT / HOUR_WEIGHT.sum())
    micros = rng.integers(0, 3_600_000_000, size=n)
    ts = days[day_idx].astype("datetime64[us]") + (hour * 3_600_000_000 + micros).astype("timedelta64[us]")
    # Events later than `anchor` today move back a week, which keeps their weekday and hour.
    limit = np.datetime64(anchor, "us")
    late = ts > limit
    ts[late] -= np.timedelta64(7, "D")
    result: np.ndarray = np.sort(ts)  # the ledger is appended in time order: ids follow ts
    return result


def _event_rows(rng: np.random.Generator, n: int, user_ids: Sequence[int], anchor: datetime) -> list[tuple[Any, ...]]:
    """Generate the ledger rows column by column, then zip them into DBAPI tuples."""
    if n == 0:
        return []
    models = load_models()
    ts = _timestamps(rng, n, anchor)

    # A few heavy users and a long tail.
    user_weight = 1.0 / np.arange(1, len(user_ids) + 1) ** 0.9
    user_pos = rng.choice(len(user_ids), size=n, p=user_weight / user_weight.sum())
    user_col = np.asarray(user_ids)[user_pos]

    t_names, t_weights = _transcribe_models(models, anchor.date())
    c_names = _chat_models(models, anchor.date())
    is_summary = rng.random(n) < SUMMARY_SHARE if c_names else np.zeros(n, dtype=bool)
    all_names = t_names + c_names
    files, pick = _file_pool(rng, n, user_pos)
    model_idx = rng.choice(len(t_names), size=n, p=t_weights)
    sticky = rng.random(n) < 0.85  # a file is mostly re-run with the model it was first sent to
    model_idx[sticky] = rng.choice(len(t_names), size=len(files), p=t_weights)[pick[sticky]]
    if c_names:
        model_idx[is_summary] = len(t_names) + rng.integers(0, len(c_names), size=int(is_summary.sum()))

    audio_s = np.clip(rng.lognormal(math.log(300.0), 1.0, size=n), 5.0, 4 * 3600.0).round(2)
    audio_s[is_summary] = 0.0
    text_in = np.where(is_summary, np.clip(rng.lognormal(math.log(3000), 0.8, size=n), 200, 120_000), 0)
    text_in = text_in.astype(np.int64)
    out_tokens = np.where(
        is_summary,
        np.clip(text_in * rng.uniform(0.05, 0.15, size=n), 50, 4000),
        audio_s * rng.uniform(2.5, 3.5, size=n),  # ~150-200 words a minute
    ).astype(np.int64)
    audio_tokens = (audio_s * 10).astype(np.int64)  # ~10 audio tokens a second

    errored = rng.random(n) < ERROR_RATE
    # Only transcriptions that did not fail can be hits; scale so hits are CACHE_HIT_RATE of all rows.
    hit_chance = CACHE_HIT_RATE / max(0.01, 1.0 - ERROR_RATE - float(is_summary.mean()))
    cached = (rng.random(n) < hit_chance) & ~errored & ~is_summary
    estimated = rng.random(n) < 0.01

    cost = np.zeros(n)
    list_cost = np.zeros(n)
    unpriced = np.zeros(n, dtype=bool)
    provider = np.empty(n, dtype=object)
    input_tokens = np.zeros(n, dtype=np.int64)
    latency = np.zeros(n)
    for i, name in enumerate(all_names):
        sel = model_idx == i
        if not sel.any():
            continue
        info = models.get(name)
        prov = info.provider if info else "mock"
        provider[sel] = prov
        by_token = info is not None and info.unit == "token"
        a_tok, o_tok, t_in = audio_tokens[sel], out_tokens[sel], text_in[sel]
        if by_token:
            input_tokens[sel] = np.where(is_summary[sel], t_in, a_tok)
        else:
            out_tokens[sel] = np.where(is_summary[sel], o_tok, 0)  # minute-billed: no token usage
            input_tokens[sel] = np.where(is_summary[sel], t_in, 0)
        usage = (
            audio_s[sel],
            np.where(is_summary[sel], 0, a_tok) if by_token else np.zeros_like(a_tok),
            np.where(is_summary[sel], t_in, 0),
            o_tok if by_token else np.where(is_summary[sel], o_tok, 0),
        )
        cost[sel], list_cost[sel], unpriced[sel] = _price_rows(name, *usage)
        median, sigma = LATENCY.get(prov, DEFAULT_LATENCY)
        scale = np.sqrt(np.maximum(audio_s[sel], 30.0) / 300.0)
        latency[sel] = rng.lognormal(math.log(median), sigma, size=int(sel.sum())) * scale

    # A cache hit is charged nothing and saves what the call would have cost.
    saved = np.where(cached, cost, 0.0)
    cost[cached | errored] = 0.0
    list_cost[cached | errored] = 0.0
    latency[cached] = 0.0  # as core.billing.ledger records a hit: no call was made
    latency[errored] *= rng.uniform(1.0, 4.0, size=int(errored.sum()))  # timeouts and retries
    estimated &= ~cached & ~errored
    error_text = np.full(n, None, dtype=object)
    error_text[errored] = np.asarray(ERRORS, dtype=object)[rng.integers(0, len(ERRORS), int(errored.sum()))]

    ts_text = np.strings.replace(np.datetime_as_string(ts, unit="us"), "T", " ")
    request_id = [
        f"req_demo{rid:012x}" if prov == "openai" and not hit else None
        for rid, prov, hit in zip(rng.integers(0, 2**48, size=n).tolist(), provider, cached, strict=True)
    ]
    columns: list[Sequence[Any]] = [
        ts_text.tolist(),
        user_col.tolist(),
        provider.tolist(),
        np.asarray(all_names, dtype=object)[model_idx].tolist(),
        np.where(is_summary, "summarize", "transcribe").tolist(),
        audio_s.tolist(),
        input_tokens.tolist(),
        out_tokens.tolist(),
        cost.tolist(),
        list_cost.tolist(),
        cached.tolist(),
        saved.tolist(),
        latency.round().astype(np.int64).tolist(),
        np.where(errored, "error", "ok").tolist(),
        error_text.tolist(),
        estimated.tolist(),
        unpriced.tolist(),
        request_id,
        files[pick].tolist(),
        [True] * n,
    ]
    return list(zip(*columns, strict=True))


def _price_rows(
    model: str, seconds: np.ndarray, audio_in: np.ndarray, text_in: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Price many calls of one model with core.billing.pricing.price_call, vectorised.

    price_call is linear in each usage figure, so one call per unit gives the coefficients; a sample
    of rows is then priced one by one and, should pricing ever stop being linear (minimums, tiers),
    every row is priced individually — slower, never wrong.
    """
    unit = [
        price_call(model, audio_seconds=1.0),
        price_call(model, audio_tokens_in=1_000_000),
        price_call(model, text_tokens_in=1_000_000),
        price_call(model, tokens_out=1_000_000),
    ]
    per = (1.0, 1e-6, 1e-6, 1e-6)
    usage = (seconds, audio_in, text_in, out)
    cost = sum(u * p.cost_usd * k for u, p, k in zip(usage, unit, per, strict=True))
    listed = sum(u * p.list_cost_usd * k for u, p, k in zip(usage, unit, per, strict=True))
    cost_arr, list_arr = np.asarray(cost, dtype=float), np.asarray(listed, dtype=float)

    def exact(i: int) -> tuple[float, float]:
        p = price_call(
            model,
            audio_seconds=float(seconds[i]),
            audio_tokens_in=int(audio_in[i]),
            text_tokens_in=int(text_in[i]),
            tokens_out=int(out[i]),
        )
        return p.cost_usd, p.list_cost_usd

    sample = range(0, len(seconds), max(1, len(seconds) // 32))
    if not all(np.allclose(exact(i), (cost_arr[i], list_arr[i]), rtol=1e-9, atol=1e-12) for i in sample):
        pairs = [exact(i) for i in range(len(seconds))]
        cost_arr = np.array([c for c, _ in pairs])
        list_arr = np.array([lc for _, lc in pairs])
    return cost_arr, list_arr, unit[0].unpriced


def _file_pool(rng: np.random.Generator, n: int, user_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """File names, and which one each event used: a user's files, some transcribed more than once."""
    pool = max(20, n // 4)
    stem = rng.integers(0, len(FILE_STEMS), size=pool)
    ext = rng.integers(0, len(FILE_EXTS), size=pool)
    names = np.array(
        [f"{FILE_STEMS[s]}-{i:05d}.{FILE_EXTS[e]}" for i, (s, e) in enumerate(zip(stem, ext, strict=True))],
        dtype=object,
    )
    # File i belongs to user i % 8, so each file keeps one owner.
    pick = (rng.integers(0, max(1, pool // 8), size=n) * 8 + user_pos) % pool
    return names, pick


def _bulk_insert_events(engine: Engine, rows: list[tuple[Any, ...]]) -> None:
    """One raw DBAPI executemany in one transaction; the placeholder follows the driver's paramstyle."""
    if not rows:
        return
    style = engine.dialect.paramstyle
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
    if mark is None:  # numeric / named styles
        marks = ", ".join(f":{i + 1}" for i in range(len(_EVENT_COLUMNS)))
    else:
        marks = ", ".join([mark] * len(_EVENT_COLUMNS))
    sql = f"INSERT INTO usage_events ({', '.join(_EVENT_COLUMNS)}) VALUES ({marks})"
    # engine.begin() opens the transaction the way core.db.engine wants it (BEGIN IMMEDIATE on SQLite, whose
    # DBAPI connection is in autocommit mode): without it every row would be its own commit.
    with engine.begin() as conn:
        cur = conn.connection.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()
