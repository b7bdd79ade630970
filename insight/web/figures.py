"""Figures as people read them: number formats, and rows taken from a profile's figures frame."""
from __future__ import annotations

import html as html_text
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from insight.analysis.profiles import Profile

NO_DATA = "no data"


def _number(value: float | None) -> float | None:
    """``value`` as a float, None when missing or not finite."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def fmt(value: float | None, unit: str) -> str:
    """A figure as a person reads it: shares as percentages, rates to one decimal, counts whole; 'no data'
    (never a zero or a dash) where there is none."""
    value = _number(value)
    if value is None:
        return NO_DATA
    if unit == "share":
        return f"{value:.1%}"
    if unit == "per 1,000":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def fmt_difference(value: float | None, unit: str) -> str:
    """A signed difference; shares differ by percentage points."""
    value = _number(value)
    if value is None:
        return NO_DATA
    sign = "+" if value > 0 else "−" if value < 0 else ""
    size = abs(value)
    if unit == "share":
        return f"{sign}{size * 100:.1f} points"
    return f"{sign}{fmt(size, unit)}"


def fmt_compared(value: float | None, comparator: float | None, unit: str) -> str:
    """How a figure compares: a difference for rates and shares, and for counts (people, records) the
    area's count as a share of the comparator's — subtracting a borough's count from a ward's means little."""
    value, comparator = _number(value), _number(comparator)
    if value is None or comparator is None:
        return NO_DATA
    if unit in ("share", "per 1,000"):
        return fmt_difference(value - comparator, unit)
    if comparator == 0:
        return "none to compare with" if value else "both none"
    return f"{value / comparator:.1%} of the comparator's"


def fmt_change(value: float | None) -> str:
    """A relative change as a signed percentage; 'no data' when there is no previous period."""
    value = _number(value)
    if value is None:
        return NO_DATA
    return f"{'+' if value > 0 else '−' if value < 0 else ''}{abs(value):.1%}"


def fmt_rank(rank: float | None, of: float | None, ties: int = 0) -> str:
    """'3 of 24', 'joint 7 of 24 (with 17 others)' when areas share the value, '—' when the figure is not ranked."""
    rank, of = _number(rank), _number(of)
    if rank is None or of is None:
        return "—"
    if ties > 0:
        return f"joint {rank:.0f} of {of:.0f} (with {ties} other{'s' if ties != 1 else ''})"
    return f"{rank:.0f} of {of:.0f}"


def ties_of(value: float | None) -> int:
    """How many other areas share a figure's value (0 when unknown)."""
    number = _number(value)
    return 0 if number is None else int(number)


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
        compared = (fmt_difference(f["difference"], "share") if key == "points_change"
                    else fmt_compared(f["value"], f["comparator_value"], f["unit"]))
        rows.append([f["label"], shown(f["value"]), shown(f["comparator_value"]), compared,
                     fmt_rank(f["rank"], f["of"], ties_of(f.get("ties"))), str(f["period"])])
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
                     "difference": rate["difference"], "rank": rate["rank"], "of": rate["of"],
                     "ties": ties_of(rate.get("ties"))})
    return sorted(rows, key=lambda r: -r["rate"] if math.isfinite(r["rate"]) else math.inf)
