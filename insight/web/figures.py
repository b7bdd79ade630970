"""Figures as people read them: number formats, and rows taken from a profile's figures frame."""
from __future__ import annotations

import html as html_text
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from insight.analysis.profiles import Profile


def fmt(value: float | None, unit: str) -> str:
    """A figure as a person reads it: shares as percentages, rates to one decimal, counts whole."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "per 1,000":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def fmt_difference(value: float | None, unit: str) -> str:
    """A signed difference; shares differ by percentage points."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else ""
    size = abs(value)
    if unit == "share":
        return f"{sign}{size * 100:.1f} points"
    return f"{sign}{fmt(size, unit)}"


def fmt_change(value: float | None) -> str:
    """A relative change as a signed percentage; '—' when there is no previous period."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{'+' if value > 0 else '−' if value < 0 else ''}{abs(value):.1%}"


def fmt_rank(rank: float | None, of: float | None) -> str:
    """'3 of 24', or '—' when the figure has no rank."""
    if rank is None or of is None or not (math.isfinite(rank) and math.isfinite(of)):
        return "—"
    return f"{rank:.0f} of {of:.0f}"


def chart_text(text: str) -> str:
    """Text for a plotly chart, where '<' starts markup: escaped so names show as written."""
    return html_text.escape(str(text), quote=False)


def category_label(category: str) -> str:
    """The same wording the profile's labels and exports use."""
    return str(category).replace("-", " ").capitalize()


def figure_value(figures: pd.DataFrame, metric: str, column: str = "value") -> float:
    """One column of one metric's row in a figures frame; NaN when the metric is absent."""
    hit = figures.loc[figures["metric"] == metric, column]
    return float(hit.iloc[0]) if len(hit) else math.nan


def figure_rows(figures: pd.DataFrame, metrics: Iterable[str]) -> list[list[str]]:
    """Rows of label, value, comparator, difference, rank and period for the metrics present."""
    indexed = figures.set_index("metric")
    rows = []
    for key in metrics:
        if key not in indexed.index:
            continue
        f: Any = indexed.loc[key]
        shown = fmt_change if key == "points_change" else (lambda v, unit=f["unit"]: fmt(v, unit))
        rows.append([f["label"], shown(f["value"]), shown(f["comparator_value"]),
                     fmt_difference(f["difference"], f["unit"]), fmt_rank(f["rank"], f["of"]), str(f["period"])])
    return rows


def category_rows(result: Profile) -> list[dict]:
    """One row per category: records, rate, comparator rate, difference and rank, highest rate first."""
    indexed = result.figures.set_index("metric")
    rows = []
    for key in indexed.index:
        if not key.startswith("rate:"):
            continue
        category = key[len("rate:"):]
        rate = indexed.loc[key]
        count = indexed.loc[f"count:{category}"] if f"count:{category}" in indexed.index else None
        rows.append({"category": category, "label": category_label(category),
                     "records": count["value"] if count is not None else math.nan,
                     "rate": rate["value"], "comparator": rate["comparator_value"],
                     "difference": rate["difference"], "rank": rate["rank"], "of": rate["of"]})
    return sorted(rows, key=lambda r: -r["rate"] if math.isfinite(r["rate"]) else math.inf)
