"""The model data file: prices, formats, limits, shutdown dates and their replacements."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.billing.pricing import (
    check_model_allowed,
    estimate_cost,
    estimate_file_cost,
    load_models,
    model_info,
    price_call,
    price_from_duration,
)
from core.errors import InputError
from tests.fake_openai import FORMATS, write_tone_speech

TRANSCRIBE = ["gpt-transcribe", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize", "whisper-1"]


@pytest.mark.parametrize(
    ("model", "shutdown", "replacement"),
    [
        ("whisper-1", date(2027, 2, 26), "gpt-transcribe"),
        ("gpt-4o-transcribe", date(2027, 2, 26), "gpt-transcribe"),
        ("gpt-4o-mini-transcribe", date(2027, 2, 26), "gpt-transcribe"),
        ("gpt-4o-transcribe-diarize", date(2027, 2, 26), "gpt-transcribe"),
        ("gpt-4o-mini", date(2027, 1, 14), "gpt-5.4-mini"),
        ("gpt-4.1-mini", date(2027, 1, 14), "gpt-5.4-mini"),
        ("gpt-5-mini", date(2026, 12, 11), "gpt-5.4-mini"),
    ],
)
def test_published_shutdowns(model: str, shutdown: date, replacement: str) -> None:
    info = model_info(model)
    assert info is not None and (info.shutdown, info.replacement) == (shutdown, replacement)
    assert check_model_allowed(model, date(2026, 11, 1)) is info
    with pytest.raises(InputError, match=f"shut down on {shutdown.isoformat()}; use {replacement} instead"):
        check_model_allowed(model, shutdown)


def test_current_models_have_no_shutdown() -> None:
    for model in ("gpt-transcribe", "gpt-5.4-mini"):
        assert check_model_allowed(model, date(2030, 1, 1)) is not None


def test_unknown_models_allowed_only_where_asked() -> None:
    assert check_model_allowed("my-local-whisper", allow_unknown=True) is None
    with pytest.raises(InputError, match="not in the price table"):
        check_model_allowed("my-local-whisper", allow_unknown=False)
    assert price_call("my-local-whisper", audio_seconds=60).unpriced


@pytest.mark.parametrize("model", TRANSCRIBE)
def test_transcription_models_agree_with_the_api(model: str) -> None:
    info = model_info(model)
    assert info is not None and info.kind == "transcribe" and info.max_upload_mb == 25
    assert info.formats[0] in ("json", "verbose_json", "diarized_json")  # the first one carries usage
    assert set(info.formats) <= FORMATS[model]
    if model.startswith("gpt-4o"):
        assert info.max_duration_s == 1400 and info.unit == "token"


def test_gpt_transcribe_facts() -> None:
    info = model_info("gpt-transcribe")
    assert info is not None
    assert (info.unit, info.usd_per_minute, info.formats) == ("minute", 0.0045, ("json", "text"))
    assert info.supports("languages") and info.supports("keywords") and not info.supports("diarize")


@pytest.mark.parametrize(
    ("model", "per_minute"),
    [
        ("gpt-transcribe", 0.0045),
        ("whisper-1", 0.006),
        ("gpt-4o-transcribe", 0.006 + 250 * 10.0 / 1e6),  # audio in, plus ~250 text tokens out a minute
        ("gpt-4o-mini-transcribe", 0.003 + 250 * 5.0 / 1e6),
        ("mock-1", 0.0),
        ("unknown-model", 0.0),
    ],
)
def test_estimate_cost_keeps_its_signature(model: str, per_minute: float) -> None:
    assert estimate_cost(model, 600.0) == pytest.approx(10 * per_minute)


def test_a_token_model_estimate_counts_the_prompt_of_every_request() -> None:
    # Issue 10, item 6: a 997-character prompt was left out of the estimate the budget was checked against.
    prompt = "x" * 997
    plain = estimate_cost("gpt-4o-transcribe", 60.0)
    assert estimate_cost("gpt-4o-transcribe", 60.0, prompt=prompt) == pytest.approx(plain + 333 * 2.5 / 1e6)
    two_chunks = estimate_cost("gpt-4o-transcribe", 1200.0, prompt=prompt) - estimate_cost("gpt-4o-transcribe", 1200.0)
    assert two_chunks == pytest.approx(2 * 333 * 2.5 / 1e6)  # sent with each of the two requests
    assert estimate_cost("gpt-transcribe", 60.0, prompt=prompt) == estimate_cost("gpt-transcribe", 60.0)  # per minute


def test_price_call_by_duration_and_by_tokens() -> None:
    assert price_call("gpt-transcribe", audio_seconds=120).cost_usd == pytest.approx(0.009)
    tokens = price_call("gpt-4o-transcribe", audio_tokens_in=1_000_000, text_tokens_in=1_000_000, tokens_out=1_000_000)
    assert tokens.cost_usd == pytest.approx(6.0 + 2.5 + 10.0)
    chat = price_call("gpt-5.4-mini", text_tokens_in=2_000_000, tokens_out=1_000_000)
    assert chat.cost_usd == pytest.approx(2 * 0.75 + 4.5)


def test_price_from_duration_uses_the_estimate_rate() -> None:
    assert price_from_duration("gpt-4o-transcribe", 60).cost_usd == pytest.approx(0.006)
    assert price_from_duration("whisper-1", 30).cost_usd == pytest.approx(0.003)
    assert price_from_duration("mock-1", 60).cost_usd == 0.0  # never charged...
    assert price_from_duration("mock-1", 60).list_cost_usd == pytest.approx(0.006)  # ...but has a list price


def test_estimate_file_cost(tmp_path: Path) -> None:
    wav = tmp_path / "talk.wav"
    write_tone_speech(wav, 30)
    estimate = estimate_file_cost(wav, "gpt-transcribe")
    assert estimate.duration_s == pytest.approx(30, abs=0.05)
    assert estimate.cost_usd == pytest.approx(0.5 * 0.0045, rel=0.01) and not estimate.unpriced
    assert estimate_file_cost(wav, "self-hosted").unpriced


def test_every_entry_parses() -> None:
    models = load_models()
    assert {"gpt-transcribe", "whisper-1", "gpt-5.4-mini", "mock-1"} <= set(models)
    for info in models.values():
        assert info.unit in ("minute", "token", "free") and info.kind in ("transcribe", "chat")
        assert not info.extra, f"{info.name} has unknown keys {sorted(info.extra)}"
