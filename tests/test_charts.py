"""ui.charts: figure builders on small DataFrames — trace names, stacking, colors, empty frames, escaping."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from core.billing.money import format_usd
from ui import charts

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def spend() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": [D1, D1, D2],
            "model": ["gpt-transcribe", "whisper-1", "gpt-transcribe"],
            "cost_usd": [1.5, 0.25, 2.0],
            "list_cost_usd": [1.5, 0.25, 2.0],
        }
    )


def health() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "provider": ["openai", "local"],
            "calls": [100, 10],
            "errors": [2, 0],
            "error_rate": [0.02, 0.0],
            "p50_latency_ms": [2400.0, 9000.0],
            "p95_latency_ms": [6000.0, 15000.0],
        }
    )


def files() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_name": ["a.mp3", "a.mp3", "<b>x</b>.wav"],
            "user": ["ana", "ben", "ana"],
            "model": ["whisper-1", "gpt-transcribe", "whisper-1"],
            "cost_usd": [0.5, 3.0, 1.0],
            "audio_minutes": [80.0, 600.0, 160.0],
        }
    )


def test_spend_per_day_stacks_one_trace_per_model_biggest_first() -> None:
    fig = charts.spend_per_day(spend())
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["gpt-transcribe", "whisper-1"]
    assert list(fig.data[0].y) == [1.5, 2.0]
    assert fig.layout.title.text == "Spend per day by model"
    assert fig.layout.yaxis.title.text == "Spend (USD)"
    assert fig.layout.xaxis.title.text == "Day"


def test_spend_per_day_leaves_out_models_that_cost_nothing() -> None:
    free = pd.DataFrame({"day": [D1], "model": ["tiny.en"], "cost_usd": [0.0], "list_cost_usd": [0.0]})
    assert [t.name for t in charts.spend_per_day(pd.concat([spend(), free])).data] == ["gpt-transcribe", "whisper-1"]
    assert charts.spend_per_day(free).layout.annotations[0].text == charts.NOTHING_CHARGED


def test_a_model_keeps_its_color_across_charts() -> None:
    by_day = {t.name: t.marker.color for t in charts.spend_per_day(spend()).data}
    by_file = {t.name: t.marker.color for t in charts.costliest_files(files()).data}
    assert by_day["whisper-1"] == by_file["whisper-1"]
    assert by_day["gpt-transcribe"] == by_file["gpt-transcribe"]
    assert by_day["whisper-1"] != by_day["gpt-transcribe"]


def test_model_colors_are_stable_for_unknown_models() -> None:
    first = charts.model_colors(["no-such-model", "whisper-1"])
    second = charts.model_colors(["whisper-1", "no-such-model"])
    assert first == second
    assert set(first.values()) <= set(charts.PALETTE)


def test_minutes_per_user_puts_the_biggest_user_at_the_top() -> None:
    df = pd.DataFrame({"user": ["ana", "ben", "chloe"], "audio_minutes": [30.0, 90.0, 10.0], "cost_usd": [1, 2, 0.1]})
    fig = charts.minutes_per_user(df)
    (bar,) = fig.data
    assert bar.orientation == "h"
    assert list(bar.y) == ["chloe", "ana", "ben"]  # plotly draws the last category at the top
    assert fig.layout.xaxis.title.text == "Audio minutes"


def test_cache_savings_has_hits_and_dollars_on_two_axes() -> None:
    df = pd.DataFrame({"day": [D1, D2], "cache_hits": [3, 5], "calls": [20, 25], "saved_usd": [0.12, 0.4]})
    fig = charts.cache_savings(df)
    assert [t.name for t in fig.data] == ["Cache hits", "Saved (USD)"]
    assert fig.data[1].yaxis == "y2"
    assert fig.layout.yaxis2.tickprefix == "$"


def test_provider_health_shows_error_rate_and_both_latency_percentiles() -> None:
    fig = charts.provider_health(health())
    names = [t.name for t in fig.data]
    assert names == ["Error rate", "Latency p50", "Latency p95"]
    assert list(fig.data[2].y) == [6.0, 15.0]  # milliseconds shown as seconds
    assert fig.layout.yaxis.tickformat == ".1%"


def test_costliest_files_orders_by_cost_and_escapes_user_text() -> None:
    fig = charts.costliest_files(files())
    labels = list(fig.layout.yaxis.categoryarray)[::-1]  # top of the chart first
    assert labels == ["1. a.mp3 (ben)", "2. &lt;b&gt;x&lt;/b&gt;.wav (ana)", "3. a.mp3 (ana)"]
    assert {t.name for t in fig.data} == {"whisper-1", "gpt-transcribe"}
    assert not any("<b>" in str(y) for t in fig.data for y in t.y)


@pytest.mark.parametrize(
    ("builder", "columns"),
    [
        (charts.spend_per_day, ["day", "model", "cost_usd", "list_cost_usd"]),
        (charts.minutes_per_user, ["user", "audio_minutes", "cost_usd"]),
        (charts.cache_savings, ["day", "cache_hits", "calls", "saved_usd"]),
        (charts.provider_health, ["provider", "calls", "errors", "error_rate", "p50_latency_ms", "p95_latency_ms"]),
        (charts.costliest_files, ["file_name", "user", "model", "cost_usd", "audio_minutes"]),
    ],
)
def test_an_empty_frame_gives_a_titled_figure_that_says_so(builder, columns) -> None:  # type: ignore[no-untyped-def]
    fig = builder(pd.DataFrame(columns=columns))
    assert len(fig.data) == 0
    assert fig.layout.title.text
    assert fig.layout.annotations[0].text == charts.EMPTY_TEXT


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "$0.00"), (0.0045, "$0.0045"), (12.345, "$12.35"), (1234.5, "$1,234.50"), (12345.6, "$12,346"), (None, "—")],
)
def test_format_usd(value: float | None, expected: str) -> None:
    assert format_usd(value) == expected


def test_a_short_period_gets_whole_day_ticks_and_whole_count_ticks() -> None:
    one_day = pd.DataFrame({"day": [D1], "cache_hits": [1], "calls": [2], "saved_usd": [0.01]})
    fig = charts.cache_savings(one_day)
    assert fig.layout.xaxis.dtick == 86_400_000 and fig.layout.xaxis.tickformat == "%b %d"
    assert fig.layout.yaxis.dtick == 1


def test_costliest_files_fall_back_to_list_price_when_nothing_was_charged() -> None:
    free = pd.DataFrame(
        {
            "file_name": ["a.mp3", "b.mp3"],
            "user": ["u", "u"],
            "model": ["mock-1", "mock-1"],
            "cost_usd": [0.0, 0.0],
            "list_cost_usd": [0.002, 0.005],
            "audio_minutes": [0.3, 0.8],
        }
    )
    fig = charts.costliest_files(free)
    assert list(fig.data[0].x) == [0.005, 0.002]
    assert "List-price" in fig.layout.xaxis.title.text and fig.layout.xaxis.rangemode == "tozero"
