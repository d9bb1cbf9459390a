"""Money as people read it, for the pages, the CLI and the budget messages alike."""

from __future__ import annotations

import pandas as pd


def format_usd(value: float | None) -> str:
    """Dollars with sensible precision: $0.0045, $12.34, $12,345; "—" for a missing value."""
    if value is None or pd.isna(value):
        return "—"
    v = float(value)
    if v == 0:
        return "$0.00"
    sign = "-" if v < 0 else ""
    v = abs(v)
    # Below a cent the cents alone would read $0.00; a price per minute such as $0.0045 needs four places.
    if v < 0.01:
        return f"{sign}${v:.4f}"
    if v < 10_000:
        return f"{sign}${v:,.2f}"
    return f"{sign}${v:,.0f}"
