"""Charts with their text alternatives: a heading, a summary a screen reader reads, the data as a table."""
from __future__ import annotations

import math
from typing import Any

import plotly.io as pio
from dash import dcc, html

from insight.analysis.profiles import Profile
from insight.web.components import aria, data_table
from insight.web.figures import category_rows, chart_text, fmt, fmt_difference, fmt_rank

AREA_COLOUR = "#0072B2"
COMPARATOR_COLOUR = "#B5441A"
# Figures are plain dicts: building plotly graph objects (validation and a deep copy of the template
# for every chart) cost most of an area page's server time.
TEMPLATE: dict[str, Any] = pio.templates["simple_white"].to_plotly_json()
Figure = dict[str, Any]
CHART_CONFIG: Any = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}


def chart_block(chart_id: str, heading: str, summary: str, figure: Figure, table: html.Div) -> html.Section:
    """A chart with its heading, a text summary a screen reader reads, and its data as a table."""
    return html.Section([
        html.H3(heading, id=f"{chart_id}-heading"),
        html.P(summary, id=f"{chart_id}-summary", className="chart-summary"),
        html.Figure(dcc.Graph(id=chart_id, figure=figure, config=CHART_CONFIG), className="chart",
                    **aria(labelledby=f"{chart_id}-heading", describedby=f"{chart_id}-summary")),
        html.Details([html.Summary(f"Table of the data in '{heading}'"), table], className="chart-table"),
    ], className="chart-block", **aria(labelledby=f"{chart_id}-heading"))


def chart_layout(fig: Figure, *, height: int, xaxis: str, yaxis: str) -> Figure:
    """The house style for a chart: plain, readable type, axis titles, legend below."""
    layout = fig.setdefault("layout", {})
    layout.update(
        template=TEMPLATE, height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font={"family": "system-ui, Arial, sans-serif", "color": "#0b0c0c", "size": 14},
        legend={"orientation": "h", "y": -0.2}, bargap=0.25,
    )
    for axis, title in (("xaxis", xaxis), ("yaxis", yaxis)):
        layout.setdefault(axis, {}).update(title={"text": title}, automargin=True)
    return fig


def trend_chart(result: Profile) -> html.Section | None:
    """Records per month in the area (the profile's monthly trend)."""
    monthly = result.monthly
    if monthly.empty:
        return None
    months, records = monthly["month"].tolist(), [int(r) for r in monthly["records"]]
    total = sum(records)
    high, low = max(range(len(records)), key=records.__getitem__), min(range(len(records)), key=records.__getitem__)
    summary = (f"{total:,} records in {len(months)} month{'s' if len(months) != 1 else ''} from {months[0]} to "
               f"{months[-1]}, {total / len(months):,.1f} a month on average; highest {records[high]:,} in "
               f"{months[high]}, lowest {records[low]:,} in {months[low]}.")
    fig: Figure = {
        "data": [{"type": "bar", "x": months, "y": records, "name": chart_text(result.name),
                  "marker": {"color": AREA_COLOUR}, "hovertemplate": "%{x}: %{y:,} records<extra></extra>"}],
        "layout": {"xaxis": {"type": "category"}},
    }
    table = data_table(f"Records per month in {result.name}", ["Month", "Records"],
                       ([m, f"{r:,}"] for m, r in zip(months, records)), table_id="trend-table")
    fig = chart_layout(fig, height=320, xaxis="Month", yaxis="Records")
    return chart_block("trend-chart", "Records by month", summary, fig, table)


def category_chart(result: Profile) -> html.Section | None:
    """Rate per 1,000 residents by category, the area beside its comparator."""
    rows = category_rows(result)
    if not rows:
        return None
    labels = [chart_text(r["label"]) for r in rows]
    area, other = chart_text(result.name), chart_text(result.comparator)
    fig: Figure = {"data": [
        {"type": "bar", "y": labels, "x": [r["rate"] for r in rows], "name": area, "orientation": "h",
         "marker": {"color": AREA_COLOUR}, "hovertemplate": "%{y}: %{x:.1f} per 1,000<extra>" + area + "</extra>"},
        {"type": "bar", "y": labels, "x": [r["comparator"] for r in rows], "name": other, "orientation": "h",
         "marker": {"color": COMPARATOR_COLOUR},
         "hovertemplate": "%{y}: %{x:.1f} per 1,000<extra>" + other + "</extra>"},
    ], "layout": {"yaxis": {"autorange": "reversed"}}}
    above = [r for r in rows if math.isfinite(r["difference"]) and r["difference"] > 0]
    top = "; ".join(f"{r['label'].lower()} {fmt(r['rate'], 'per 1,000')} ({result.comparator} "
                    f"{fmt(r['comparator'], 'per 1,000')})" for r in rows[:3])
    summary = (f"Highest rates per 1,000 residents in {result.name}: {top}. {len(above)} of {len(rows)} "
               f"categories are above {result.comparator}.")
    table = data_table(
        f"Records and rates per 1,000 residents by category: {result.name} and {result.comparator}",
        ["Category", "Records", f"{result.name} per 1,000", f"{result.comparator} per 1,000", "Difference",
         "Rank (1 = highest)"],
        ([r["label"], fmt(r["records"], "records"), fmt(r["rate"], "per 1,000"), fmt(r["comparator"], "per 1,000"),
          fmt_difference(r["difference"], "per 1,000"), fmt_rank(r["rank"], r["of"], r["ties"])] for r in rows),
        table_id="category-table",
    )
    fig = chart_layout(fig, height=140 + 34 * len(rows), xaxis="Records per 1,000 residents", yaxis="")
    return chart_block("category-chart", f"Rates by category against {result.comparator}", summary, fig, table)
