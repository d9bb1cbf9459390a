"""Plotly figure builders for the Usage & cost page: DataFrame in, Figure out, no Streamlit.

Every label that can come from a user (file names, user names, model names) is HTML-escaped before it
reaches Plotly, because Plotly renders a subset of HTML (<b>, <a href>, ...) in text and tick labels.
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Iterable
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.billing.money import format_usd
from core.billing.pricing import load_models

EMPTY_TEXT = "No usage in this period"
NOTHING_CHARGED = "Nothing was charged in this period"
PALETTE: tuple[str, ...] = tuple(qualitative.Plotly + qualitative.Safe)
ACCENT = "#636EFA"
SAVED = "#00CC96"
ERROR = "#EF553B"
P50, P95 = "#9BB1FF", "#3B4CC0"


def model_colors(models: Iterable[str]) -> dict[str, str]:
    """A fixed color per model: the price-table order first, so a model keeps its color on every chart."""
    known = {name: i for i, name in enumerate(load_models())}
    colors: dict[str, str] = {}
    for name in models:
        # A model not in the price table gets a stable pick from its name, not from the order it appears.
        index = known[name] if name in known else len(known) + zlib.crc32(name.encode("utf-8"))
        colors[name] = PALETTE[index % len(PALETTE)]
    return colors


def _label(value: object) -> str:
    return html.escape(str(value), quote=False)


def _empty(title: str, text: str = EMPTY_TEXT) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title)


def _day_axis(fig: go.Figure, days: pd.Series) -> None:
    # Plotly picks sub-day ticks ("23:59:59.9996") for a range of a day or two; whole days read better.
    distinct = pd.to_datetime(days).dt.normalize().nunique()
    ticks = {"dtick": 86_400_000} if distinct <= 10 else {}
    fig.update_xaxes(title_text="Day", type="date", tickformat="%b %d", **ticks)


def _count_ticks(peak: float) -> dict[str, object]:
    # Small whole-number counts get one tick per unit, not 0, 0.2, 0.4 ... printed as "0 0 0 1".
    return {"tickformat": ",d", "dtick": 1} if peak <= 5 else {"tickformat": ",d"}


_LEGENDS = {
    "top": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
    "right": {"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02},
    "bottom": {"orientation": "h", "yanchor": "top", "y": -0.1, "xanchor": "left", "x": 0},
}


def _style(fig: go.Figure, title: str, *, legend: Literal["top", "right", "bottom"] | None = "top") -> go.Figure:
    fig.update_layout(
        title={"text": title},
        showlegend=legend is not None,
        legend={**_LEGENDS[legend or "top"], "title": None},
        margin={"l": 8, "r": 8, "t": 72, "b": 8},
        height=380,
    )
    return fig


def spend_per_day(df: pd.DataFrame) -> go.Figure:
    """Daily spend as bars stacked by model (columns: day, model, cost_usd)."""
    title = "Spend per day by model"
    totals = df.groupby("model", sort=False)["cost_usd"].sum().sort_values(ascending=False)
    totals = totals[totals > 0]  # free and uncharged models add nothing to see, only legend entries
    if totals.empty:
        return _empty(title, EMPTY_TEXT if df.empty else NOTHING_CHARGED)
    colors = model_colors(totals.index)
    fig = go.Figure()
    for model in totals.index:  # biggest spender at the bottom of each stack
        part = df[df["model"] == model]
        fig.add_trace(
            go.Bar(
                x=part["day"],
                y=part["cost_usd"],
                name=_label(model),
                marker_color=colors[model],
                customdata=[format_usd(v) for v in part["cost_usd"]],
                hovertemplate="%{x|%b %d, %Y}<br>%{fullData.name}: %{customdata}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", bargap=0.15)
    _day_axis(fig, df["day"])
    fig.update_yaxes(title_text="Spend (USD)", tickprefix="$", tickformat=",.2f")
    return _style(fig, title, legend="right")


def minutes_per_user(df: pd.DataFrame) -> go.Figure:
    """Audio minutes per user, largest at the top (columns: user, audio_minutes, cost_usd)."""
    title = "Audio minutes per user"
    if df.empty:
        return _empty(title)
    ordered = df.sort_values("audio_minutes", ascending=True)
    fig = go.Figure(
        go.Bar(
            x=ordered["audio_minutes"],
            y=[_label(u) for u in ordered["user"]],
            orientation="h",
            marker_color=ACCENT,
            customdata=[format_usd(v) for v in ordered["cost_usd"]],
            hovertemplate="%{y}: %{x:,.1f} min, %{customdata}<extra></extra>",
        )
    )
    peak = float(ordered["audio_minutes"].max())
    fig.update_xaxes(title_text="Audio minutes", tickformat=",.1f" if peak < 10 else ",.0f", rangemode="tozero")
    fig.update_yaxes(title_text="User", type="category")
    return _style(fig, title, legend=None)


def cache_savings(df: pd.DataFrame) -> go.Figure:
    """Cache hits per day (bars) and the dollars they saved (line) (columns: day, cache_hits, saved_usd)."""
    title = "Cache hits and dollars saved"
    if df.empty:
        return _empty(title)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=df["day"],
            y=df["cache_hits"],
            name="Cache hits",
            marker_color=ACCENT,
            hovertemplate="%{x|%b %d, %Y}: %{y:,} hits<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=df["day"],
            y=df["saved_usd"],
            name="Saved (USD)",
            mode="lines+markers",
            line={"color": SAVED, "width": 2},
            marker={"size": 4},
            customdata=[format_usd(v) for v in df["saved_usd"]],
            hovertemplate="%{x|%b %d, %Y}: %{customdata} saved<extra></extra>",
        ),
        secondary_y=True,
    )
    _day_axis(fig, df["day"])
    fig.update_yaxes(
        title_text="Cache hits", rangemode="tozero", secondary_y=False, **_count_ticks(float(df["cache_hits"].max()))
    )
    fig.update_yaxes(
        title_text="Saved (USD)",
        tickprefix="$",
        tickformat=",.2f",
        rangemode="tozero",
        tickmode="auto",  # its own round ticks, not ones synced to the hits axis
        showgrid=False,
        secondary_y=True,
    )
    return _style(fig, title)


def provider_health(df: pd.DataFrame) -> go.Figure:
    """Error rate and p50/p95 latency side by side, one bar group per provider."""
    title = "Provider health"
    if df.empty:
        return _empty(title)
    providers = [_label(p) for p in df["provider"]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Error rate", "Latency"), horizontal_spacing=0.14)
    fig.add_trace(
        go.Bar(
            x=providers,
            y=df["error_rate"],
            name="Error rate",
            marker_color=ERROR,
            customdata=list(zip(df["errors"], df["calls"], strict=True)),
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,} calls)<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    for column, name, color in (("p50_latency_ms", "p50", P50), ("p95_latency_ms", "p95", P95)):
        fig.add_trace(
            go.Bar(
                x=providers,
                y=df[column] / 1000.0,
                name=f"Latency {name}",
                marker_color=color,
                hovertemplate=f"%{{x}} {name}: %{{y:,.2f}} s<extra></extra>",
            ),
            row=1,
            col=2,
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")  # the bars are labelled with the provider names
    fig.update_yaxes(title_text="Calls that failed", tickformat=".1%", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="Latency (s)", rangemode="tozero", row=1, col=2)
    return _style(fig, title, legend="bottom")


def costliest_files(df: pd.DataFrame) -> go.Figure:
    """The most expensive files, costliest at the top, colored by model."""
    title = "Costliest files"
    if df.empty:
        return _empty(title)
    # Free providers charge nothing: then the list-price equivalent is what is worth comparing.
    charged = float(df["cost_usd"].sum()) > 0 or "list_cost_usd" not in df
    value = "cost_usd" if charged else "list_cost_usd"
    ordered = df.sort_values(value, ascending=False).reset_index(drop=True)
    # A file name can repeat across users: the user goes into the label, a rank keeps each bar distinct.
    labels = [
        f"{i + 1}. {_label(f)} ({_label(u)})"
        for i, (f, u) in enumerate(zip(ordered["file_name"].fillna("(unnamed)"), ordered["user"], strict=True))
    ]
    ordered = ordered.assign(label=labels)
    colors = model_colors(ordered["model"].unique())
    fig = go.Figure()
    for model in ordered["model"].unique():
        part = ordered[ordered["model"] == model]
        fig.add_trace(
            go.Bar(
                x=part[value],
                y=part["label"],
                orientation="h",
                name=_label(model),
                marker_color=colors[model],
                customdata=[(format_usd(c), m) for c, m in zip(part[value], part["audio_minutes"], strict=True)],
                hovertemplate="%{y}<br>%{fullData.name}: %{customdata[0]}, %{customdata[1]:,.1f} min<extra></extra>",
            )
        )
    axis_title = "Cost (USD)" if charged else "List-price equivalent (USD) — nothing was charged"
    fig.update_xaxes(title_text=axis_title, tickprefix="$", tickformat=",.4f" if not charged else ",.2f",
                     rangemode="tozero")  # fmt: skip
    fig.update_yaxes(
        title_text=None, type="category", categoryorder="array", categoryarray=labels[::-1], automargin=True
    )
    return _style(fig, title)
