"""The area page: one area's full profile, e.g. a ward councillor's page for their ward.

``/area/<boundary>/<code>?comparator=borough|average|LAYER:CODE&period=YYYY-MM:YYYY-MM&layer=POINT_LAYER``.
The URL holds the view: the layout is built from it, and the view controls rewrite it (without a
reload, so a copied link reproduces what is on screen) while redrawing the figures.
"""
from __future__ import annotations

import html as html_text
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

import dash_leaflet as dl
import pandas as pd
import plotly.graph_objects as go
import shapely
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from insight.analysis.export import PROFILE_FORMATS, TABLE_FORMATS
from insight.analysis.perception import change_text, sentence
from insight.analysis.places import Places, month_label
from insight.analysis.profiles import (
    ASSET_KIND_LABELS,
    Profile,
    default_crime_layer,
    default_period,
    parse_period,
    period_query,
    profile,
)
from insight.errors import ConfigError, InsightError, NotFoundError
from insight.layers import ASSET_KINDS
from insight.web import current_places

AREA_COLOUR = "#0072B2"
COMPARATOR_COLOUR = "#B5441A"
KIND_COLOURS = {"money": "#8C5E00", "services_people": "#0072B2", "insight": "#007556", "spaces": "#A4377C"}
FORMAT_LABELS = {
    "csv": "CSV: every figure with its source (one row per figure)",
    "xlsx": "Excel workbook: figures by section, monthly trend, asset list, sources",
    "json": "JSON: figures, monthly trend, assets and notes",
    "geojson": "GeoJSON: the area, its assets and its crime records",
    "gpkg": "GeoPackage: the same layers for GIS",
    "html": "HTML report: printable, works offline",
}
CHART_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}
MAX_LISTED_AREAS = 60
MAX_LISTED_ASSETS = 150


def _text(value: str | None, limit: int = 60) -> str:
    """A URL value shortened for a message (Dash escapes it when shown)."""
    value = value or ""
    return value if len(value) <= limit else value[:limit] + "…"


def _single(value: str | list | None) -> str | None:
    """One value of a query parameter that may have been given more than once."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value or None


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
    if rank is None or of is None or not (math.isfinite(rank) and math.isfinite(of)):
        return "—"
    return f"{rank:.0f} of {of:.0f}"


def chart_text(text: str) -> str:
    """Text for a plotly chart, where '<' starts markup: escaped so names show as written."""
    return html_text.escape(str(text), quote=False)


def category_label(category: str) -> str:
    """The same wording the profile's labels and exports use."""
    return str(category).replace("-", " ").capitalize()


@dataclass(frozen=True)
class AreaView:
    """What one area page shows: validated, with defaults filled in."""

    boundary: str
    code: str
    comparator: str
    layer: str | None
    period: tuple[int, int] | None

    def query(self) -> dict[str, str]:
        """The URL query that reproduces this view."""
        out = {"comparator": self.comparator}
        if self.layer:
            out["layer"] = self.layer
        if self.period:
            out["period"] = period_query(self.period)
        return out

    @property
    def search(self) -> str:
        return "?" + urlencode(self.query())


def default_comparator(places: Places) -> str:
    return "borough" if places.authority is not None else "average"


def check_comparator(places: Places, boundary: str, comparator: str | None) -> tuple[str, str | None]:
    """A valid comparator and, when the one asked for was not, why it was replaced."""
    fallback = default_comparator(places)
    if not comparator:
        return fallback, None
    if comparator == "average":
        return comparator, None
    if comparator == "borough":
        if places.authority is None:
            return "average", "No council boundary is loaded, so the figures are compared with the average area."
        return comparator, None
    layer, _, code = comparator.partition(":")
    if not code or len(comparator) > 160:
        return fallback, (f"The comparator '{_text(comparator)}' is not 'borough', 'average' or "
                          f"BOUNDARY_LAYER:AREA_CODE (e.g. {boundary}:CODE); {fallback} is used instead.")
    try:
        data = places.boundary(layer)
        return f"{layer}:{data.areas['code'].iloc[data.index_of(code)]}", None
    except NotFoundError as exc:
        return fallback, f"The comparator could not be used ({exc}); {fallback} is used instead."


def check_layer(places: Places, layer: str | None) -> tuple[str | None, str | None]:
    """A loaded point layer for the crime section (default: the richest crime layer)."""
    if not layer:
        return default_crime_layer(places), None
    if layer in places.points:
        return layer, None
    fallback = default_crime_layer(places)
    return fallback, (f"There is no point layer '{_text(layer)}' (point layers: {', '.join(sorted(places.points))}); "
                      f"{fallback or 'none'} is shown instead.")


def check_period(places: Places, layer: str | None, period: str | None) -> tuple[tuple[int, int] | None, str | None]:
    """A period within the layer's months (default: its latest twelve)."""
    points = places.points.get(layer) if layer else None
    span = points.months() if points is not None else None
    if span is None:
        note = f"The layer '{layer}' has no dated records, so the period was ignored." if period and layer else None
        return None, note
    default = default_period(points)
    if not period:
        return default, None
    try:
        start, end = parse_period(period)
    except ConfigError as exc:
        return default, f"The period in the link was not used: {exc}."
    if end < span[0] or start > span[1]:
        return default, (f"The period {_text(period)} is outside the data ({month_label(span[0])} to "
                         f"{month_label(span[1])}); the latest months are shown instead.")
    clipped = (max(start, span[0]), min(end, span[1]))
    if clipped != (start, end):
        return clipped, (f"The period was shortened to the months the layer covers: {month_label(clipped[0])} to "
                         f"{month_label(clipped[1])}.")
    return clipped, None


def parse_view(places: Places, boundary: str | None, code: str | None, query: dict) -> tuple[AreaView, list[str]]:
    """The view a URL asks for. Unknown boundary or area raises NotFoundError; other problems are reported."""
    if not boundary or not code:
        raise NotFoundError("an area page needs a boundary layer and an area code: /area/BOUNDARY/CODE")
    if len(boundary) > 100 or len(code) > 120:
        raise NotFoundError(f"no area '{_text(code)}' in '{_text(boundary)}': the link is too long to be an area's")
    data = places.boundary(boundary)
    code = data.areas["code"].iloc[data.index_of(code)]
    comparator, c_problem = check_comparator(places, boundary, _single(query.get("comparator")))
    layer, l_problem = check_layer(places, _single(query.get("layer")))
    period, p_problem = check_period(places, layer, _single(query.get("period")))
    problems = [p for p in (c_problem, l_problem, p_problem) if p]
    return AreaView(boundary, code, comparator, layer, period), problems


def view_profile(places: Places, view: AreaView) -> Profile:
    """The area's profile, with resident-perception rows when a survey covers this boundary layer."""
    from insight.web import context

    result = profile(places, view.boundary, view.code, comparator=view.comparator, crime_layer=view.layer,
                     period=view.period)
    return context().with_surveys(result, crime_layer=view.layer, period=view.period)


def survey_results(view: AreaView) -> tuple[list, str | None]:
    """Perception results for the page's boundary layer, or a readable reason why there are none."""
    from insight.web import context

    try:
        return context().perception_results(view.boundary, crime_layer=view.layer, period=view.period), None
    except InsightError as exc:
        return [], str(exc)


# ---- layout pieces -------------------------------------------------------------------------------


def _table(caption: str, head: list[str], rows: Iterable[list], *, table_id: str | None = None,
           numeric_from: int = 1) -> html.Div:
    """An accessible data table: caption, column headers, the first cell of a row as its header.

    It sits in a labelled, keyboard-scrollable box so a wide table scrolls on its own on a narrow
    screen instead of widening the page.
    """
    body = []
    for row in rows:
        cells = [html.Th(row[0], scope="row")]
        cells += [html.Td(v, className="num" if i >= numeric_from else None) for i, v in enumerate(row[1:], start=1)]
        body.append(html.Tr(cells))
    caption_id = f"{table_id or _slug(caption)}-caption"
    extra = {"id": table_id} if table_id else {}
    table = html.Table([html.Caption(caption, id=caption_id),
                        html.Thead(html.Tr([html.Th(h, scope="col") for h in head])), html.Tbody(body)],
                       className="data-table figures", **extra)
    return html.Div(table, className="table-scroll", tabIndex="0", role="region",
                    **{"aria-labelledby": caption_id})


def _slug(text: str) -> str:
    return "t-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def figure_rows(figures: pd.DataFrame, metrics: Iterable[str]) -> list[list[str]]:
    """Rows of label, value, comparator, difference, rank and period for the metrics present."""
    indexed = figures.set_index("metric")
    rows = []
    for key in metrics:
        if key not in indexed.index:
            continue
        f = indexed.loc[key]
        shown = fmt_change if key == "points_change" else (lambda v, unit=f["unit"]: fmt(v, unit))
        rows.append([f["label"], shown(f["value"]), shown(f["comparator_value"]),
                     fmt_difference(f["difference"], f["unit"]), fmt_rank(f["rank"], f["of"]), str(f["period"])])
    return rows


def _figure_table(result: Profile, caption: str, metrics: Iterable[str]) -> html.Div | None:
    """Figures against the comparator; the difference and rank columns only where some row has one."""
    rows = figure_rows(result.figures, metrics)
    if not rows:
        return None
    head = ["Figure", result.name, result.comparator, "Difference", "Rank (1 = highest)", "Period"]
    keep = [i for i in range(len(head)) if i not in (3, 4) or any(r[i] != "—" for r in rows)]
    return _table(caption, [head[i] for i in keep], ([r[i] for i in keep] for r in rows))


def _value(figures: pd.DataFrame, metric: str, column: str = "value") -> float:
    hit = figures.loc[figures["metric"] == metric, column]
    return float(hit.iloc[0]) if len(hit) else math.nan


def _card(title: str, value: str, detail: str) -> html.Div:
    return html.Div([html.Dt(title), html.Dd(value, className="card-value"), html.Dd(detail, className="muted")],
                    className="card")


def key_figures(result: Profile) -> html.Section:
    """Residents, deprivation, crime rate and change, and assets, each against the comparator."""
    f = result.figures
    cards = []
    if "residents" in set(f["metric"]):
        cards.append(_card("Usual residents (2021)", fmt(_value(f, "residents"), "people"),
                           f"{result.comparator}: {fmt(_value(f, 'residents', 'comparator_value'), 'people')}"))
    if "imd_rank" in set(f["metric"]):
        cards.append(_card("Average deprivation rank (1 = most deprived)", fmt(_value(f, "imd_rank"), "rank"),
                           f"{result.comparator}: {fmt(_value(f, 'imd_rank', 'comparator_value'), 'rank')}"))
    if "points_rate" in set(f["metric"]):
        rank = fmt_rank(_value(f, "points_rate", "rank"), _value(f, "points_rate", "of"))
        cards.append(_card("Crime and ASB per 1,000 residents", fmt(_value(f, "points_rate"), "per 1,000"),
                           f"{result.comparator}: {fmt(_value(f, 'points_rate', 'comparator_value'), 'per 1,000')}"
                           + (f"; rank {rank}" if rank != "—" else "")))
    if "points_change" in set(f["metric"]):
        cards.append(_card("Change on the previous equal period", fmt_change(_value(f, "points_change")),
                           f"{result.comparator}: {fmt_change(_value(f, 'points_change', 'comparator_value'))}"))
    kinds = [_value(f, f"kind:{k}") for k in ASSET_KINDS]
    if any(math.isfinite(v) for v in kinds):
        total = sum(v for v in kinds if math.isfinite(v))
        cards.append(_card("Community assets", fmt(total, "places"),
                           "; ".join(f"{ASSET_KIND_LABELS[k].split(' (')[0]} {fmt(v, 'places')}"
                                     for k, v in zip(ASSET_KINDS, kinds))))
    return html.Section([html.H2("Key figures", id="key-figures"), html.Dl(cards, className="cards")],
                        **{"aria-labelledby": "key-figures"})


def _chart(chart_id: str, heading: str, summary: str, figure: go.Figure, table: html.Div) -> html.Section:
    """A chart with its heading, a text summary a screen reader reads, and its data as a table."""
    return html.Section([
        html.H3(heading, id=f"{chart_id}-heading"),
        html.P(summary, id=f"{chart_id}-summary", className="chart-summary"),
        html.Figure(dcc.Graph(id=chart_id, figure=figure, config=CHART_CONFIG), className="chart",
                    **{"aria-labelledby": f"{chart_id}-heading", "aria-describedby": f"{chart_id}-summary"}),
        html.Details([html.Summary(f"Table of the data in '{heading}'"), table], className="chart-table"),
    ], className="chart-block", **{"aria-labelledby": f"{chart_id}-heading"})


def _chart_layout(fig: go.Figure, *, height: int, xaxis: str, yaxis: str) -> go.Figure:
    fig.update_layout(
        template="simple_white", height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font={"family": "system-ui, Arial, sans-serif", "color": "#0b0c0c", "size": 14},
        xaxis_title=xaxis, yaxis_title=yaxis, legend={"orientation": "h", "y": -0.2}, bargap=0.25,
    )
    fig.update_yaxes(automargin=True)
    fig.update_xaxes(automargin=True)
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
    fig = go.Figure(go.Bar(x=months, y=records, name=chart_text(result.name), marker_color=AREA_COLOUR,
                           hovertemplate="%{x}: %{y:,} records<extra></extra>"))
    fig.update_xaxes(type="category")
    table = _table(f"Records per month in {result.name}", ["Month", "Records"],
                   ([m, f"{r:,}"] for m, r in zip(months, records)), table_id="trend-table")
    return _chart("trend-chart", "Records by month", summary, _chart_layout(fig, height=320, xaxis="Month",
                                                                                 yaxis="Records"), table)


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


def category_chart(result: Profile) -> html.Section | None:
    """Rate per 1,000 residents by category, the area beside its comparator."""
    rows = category_rows(result)
    if not rows:
        return None
    labels = [chart_text(r["label"]) for r in rows]
    area, other = chart_text(result.name), chart_text(result.comparator)
    fig = go.Figure([
        go.Bar(y=labels, x=[r["rate"] for r in rows], name=area, orientation="h", marker_color=AREA_COLOUR,
               hovertemplate="%{y}: %{x:.1f} per 1,000<extra>" + area + "</extra>"),
        go.Bar(y=labels, x=[r["comparator"] for r in rows], name=other, orientation="h",
               marker_color=COMPARATOR_COLOUR, hovertemplate="%{y}: %{x:.1f} per 1,000<extra>" + other + "</extra>"),
    ])
    fig.update_yaxes(autorange="reversed")
    above = [r for r in rows if math.isfinite(r["difference"]) and r["difference"] > 0]
    top = "; ".join(f"{r['label'].lower()} {fmt(r['rate'], 'per 1,000')} ({result.comparator} "
                    f"{fmt(r['comparator'], 'per 1,000')})" for r in rows[:3])
    summary = (f"Highest rates per 1,000 residents in {result.name}: {top}. {len(above)} of {len(rows)} "
               f"categories are above {result.comparator}.")
    table = _table(
        f"Records and rates per 1,000 residents by category: {result.name} and {result.comparator}",
        ["Category", "Records", f"{result.name} per 1,000", f"{result.comparator} per 1,000", "Difference",
         "Rank (1 = highest)"],
        ([r["label"], fmt(r["records"], "records"), fmt(r["rate"], "per 1,000"), fmt(r["comparator"], "per 1,000"),
          fmt_difference(r["difference"], "per 1,000"), fmt_rank(r["rank"], r["of"])] for r in rows),
        table_id="category-table",
    )
    fig = _chart_layout(fig, height=140 + 34 * len(rows), xaxis="Records per 1,000 residents", yaxis="")
    return _chart("category-chart", f"Rates by category against {result.comparator}", summary, fig, table)


def _section(section_id: str, title: str, children: list) -> html.Section:
    return html.Section([html.H2(title, id=section_id), *[c for c in children if c is not None]],
                        className="profile-section", **{"aria-labelledby": section_id})


def population_section(result: Profile) -> html.Section:
    f = result.figures
    if "residents" not in set(f["metric"]):
        return _section("population", "Population and age", [html.P("No population layer is loaded.")])
    lower, upper = _value(f, "residents_lower"), _value(f, "residents_upper")
    bounds = None
    if math.isfinite(lower) and math.isfinite(upper) and lower != upper:
        bounds = html.P(f"The small areas that make up {result.name} do not fit its boundary exactly: between "
                        f"{fmt(lower, 'people')} and {fmt(upper, 'people')} residents.")
    method = f.loc[f["metric"] == "residents", "method"].iloc[0]
    ages = [m for m in f["metric"] if m.startswith("share_")]
    return _section("population", "Population and age", [
        html.P(f"Census 2021 usual residents, built up from small areas ({method})."),
        bounds,
        _figure_table(result, f"Residents and age structure of {result.name} against {result.comparator}",
                      ["residents", *ages]),
    ])


def deprivation_section(result: Profile) -> html.Section:
    f = result.figures
    metrics = ["imd_rank", *[m for m in f["metric"] if m.startswith("imd_decile_")]]
    table = _figure_table(result, f"Deprivation in {result.name} against {result.comparator}: average rank and "
                                  "share of residents in each national decile", metrics)
    if table is None:
        return _section("deprivation", "Deprivation", [html.P("No deprivation layer is loaded.")])
    deciles = [_value(f, f"imd_decile_{d}") for d in range(1, 11)]
    most = sum(v for v in deciles[:2] if math.isfinite(v))
    return _section("deprivation", "Deprivation", [
        html.P(f"English Indices of Deprivation 2019: {fmt(most, 'share')} of residents live in the 20% most "
               "deprived small areas of England (deciles 1 and 2). Decile 1 is the most deprived tenth."),
        table,
    ])


def crime_section(result: Profile) -> html.Section:
    f = result.figures
    if "points_total" not in set(f["metric"]):
        return _section("crime", "Crime and anti-social behaviour", [html.P("No crime layer is loaded.")])
    title = f.loc[f["metric"] == "points_total", "section"].iloc[0]
    period = f.loc[f["metric"] == "points_total", "period"].iloc[0]
    source = f.loc[f["metric"] == "points_total", "source"].iloc[0]
    heading = "Crime and anti-social behaviour" if title == "Crime and ASB" else title
    return _section("crime", heading, [
        html.P(f"{source}, {period}. Rates are per 1,000 usual residents (Census 2021); rank 1 is the highest rate "
               "among the areas of this layer; the change compares with the equal period before."),
        _figure_table(result, f"All records in {result.name} against {result.comparator}",
                      ["points_total", "points_rate", "points_change"]),
        trend_chart(result),
        category_chart(result),
    ])


def _share(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _interval(low: float | None, high: float | None, form: str = "share") -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "—"
    return f"{low:.0%} to {high:.0%}" if form == "share" else f"{low:,.1f} to {high:,.1f}"


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def perception_scatter(pr, code: str, chart_id: str) -> html.Section:
    """Every area's published share against its recorded rate, both with 95% intervals; this area highlighted."""
    areas = pr.areas[pr.areas["published"].astype(bool)]
    b = pr.borough
    fig = go.Figure()
    for mine, colour, name in ((False, "#505a5f", "Other areas"), (True, AREA_COLOUR, "This area")):
        part = areas[(areas["area_code"] == code) == mine]
        if part.empty:
            continue
        x, y = part["rate"].astype(float), part["share"].astype(float)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="markers", name=name, text=[chart_text(n) for n in part["area_name"]],
            marker={"color": colour, "size": 12 if mine else 8, "symbol": "diamond" if mine else "circle"},
            error_y={"type": "data", "symmetric": False, "array": part["ci_high"].astype(float) - y,
                     "arrayminus": y - part["ci_low"].astype(float), "color": colour, "thickness": 1},
            error_x={"type": "data", "symmetric": False, "array": part["rate_ci_high"].astype(float) - x,
                     "arrayminus": x - part["rate_ci_low"].astype(float), "color": colour, "thickness": 1},
            hovertemplate="%{text}: %{y:.0%}, %{x:.1f} per 1,000<extra></extra>",
        ))
    if b.get("share") is not None:
        fig.add_hline(y=b["share"], line_dash="dash", line_color=COMPARATOR_COLOUR)
    fig.add_vline(x=b["rate"], line_dash="dash", line_color=COMPARATOR_COLOUR)
    fig.update_yaxes(tickformat=".0%")
    label = sentence(pr.crime_label)
    _chart_layout(fig, height=420, xaxis=f"{label} per 1,000 residents a year ({pr.crime_period})",
                  yaxis=f"{sentence(pr.question.reported_label)} (wave {pr.wave})")
    hidden = int((~pr.areas["published"].astype(bool)).sum())
    summary = (f"{len(areas)} areas with a published share, each with its 95% interval; the dashed lines are "
               f"{b['area_name']} ({_share(b.get('share'))}, {b['rate']:,.1f} per 1,000). "
               + (f"{hidden} areas are not shown: too few responses to publish. " if hidden else "")
               + ("ILLUSTRATIVE survey data." if pr.survey.illustrative else ""))
    rows = ([r.area_name, _share(r.share), _interval(r.ci_low, r.ci_high), f"{r.rate:,.1f}",
             _interval(r.rate_ci_low, r.rate_ci_high, "rate"), r.classification]
            for r in pr.areas.itertuples())
    table = _table(f"{sentence(pr.question.reported_label)} and {pr.crime_label} by area",
                   ["Area", "Share", "95% interval", "Rate per 1,000", "95% interval", "Classification"], rows,
                   table_id=f"{chart_id}-table")
    return _chart(chart_id, f"All areas: {pr.question.reported_label} against {pr.crime_label}", summary, fig, table)


def benchmark_table(pr, k: int) -> html.Details | None:
    """The real published results the question is matched to (e.g. MOPAC PAS 2016), for comparison."""
    from insight.web import context

    layer, found = context().benchmark(pr.question)
    if layer is None:
        return None
    rows = ([r.area_name, str(r.period), _share(r.share)] for r in found.itertuples())
    return html.Details([
        html.Summary(f"Real published results for comparison: {layer.title}"),
        html.P(f"The same question asked by {layer.publisher} ({layer.licence}). Real figures, for the areas "
               "that source publishes; they are not the survey above."),
        _table(f"{layer.title}: {pr.question.reported_label}", ["Area", "Year", "Share"], rows,
               table_id=f"benchmark-table-{k}"),
    ], className="benchmark")


def perception_section(result: Profile, results: list, problem: str | None) -> html.Section | None:
    """Residents' perceptions beside recorded crime: this area and the borough side by side, then all areas."""
    from insight.analysis.perception import summary_sentence

    if not results:
        return None if problem is None else _section("perception", "Resident perception and recorded crime",
                                                     [html.P(f"Not available: {problem}")])
    first = results[0]
    parts = [
        html.P(html.Strong("ILLUSTRATIVE: these survey figures are generated, not real responses."),
               className="illustrative") if first.survey.illustrative else None,
        html.P(f"From {first.survey.title}, wave {first.wave} (waves: {', '.join(first.waves)}). An area is called "
               f"different only when its 95% interval excludes the {first.borough['area_name']} value; shares are "
               "withheld where fewer than 30 people answered or a published figure could reveal fewer than 5. "
               f"Recorded rates: {first.crime_source}, {first.crime_period}."),
        *[html.P(n, className="muted") for n in first.notes if not n.startswith("ILLUSTRATIVE")],
    ]
    for k, pr in enumerate(r for r in results if result.code in set(r.areas["area_code"])):
        row = pr.row(result.code)
        b = pr.borough
        head = ["Area", "Share", "95% interval", "Small-area estimate", "Respondents", "Rate per 1,000 a year",
                "95% interval", "Change since previous wave"]
        rows = [
            [result.name, _share(_number(row["share"])), _interval(_number(row["ci_low"]), _number(row["ci_high"])),
             _share(_number(row.get("model_share"))),
             "—" if not math.isfinite(_number(row["n"])) else f"{_number(row['n']):,.0f}",
             f"{row['rate']:,.1f}", _interval(row["rate_ci_low"], row["rate_ci_high"], "rate"),
             change_text(row.get("change"), row.get("change_ci_low"), row.get("change_ci_high"),
                         row.get("significant")) if len(pr.waves) > 1 and row["published"] else "—"],
            [b["area_name"], _share(b.get("share")), _interval(b.get("ci_low"), b.get("ci_high")), "—",
             "—" if b.get("n") is None else f"{b['n']:,.0f}", f"{b['rate']:,.1f}",
             _interval(b["rate_ci_low"], b["rate_ci_high"], "rate"),
             change_text(b.get("change"), b.get("change_ci_low"), b.get("change_ci_high"), b.get("significant"))
             if len(pr.waves) > 1 else "—"],
        ]
        parts += [
            html.H3(f"{pr.question.text} ({pr.question.reported_label})", id=f"perception-{pr.question.id}"),
            html.P(summary_sentence(pr, result.code), className="perception-verdict"),
            _table(f"{sentence(pr.question.reported_label)} and {pr.crime_label}: {result.name} and "
                   f"{b['area_name']}", head, rows, table_id=f"perception-table-{k}"),
            html.Details([html.Summary("How these figures are made"), html.P(pr.method), html.P(pr.rule),
                          html.P("Change since the previous wave: difference of the two weighted shares with a "
                                 "Newcombe interval; across wards the p-values are adjusted for testing many areas "
                                 "at once (Benjamini-Hochberg), so a ward is only flagged when the change is more "
                                 "than sampling noise.")]),
            benchmark_table(pr, k),
            perception_scatter(pr, result.code, f"perception-chart-{k}"),
        ]
    return _section("perception", "Resident perception and recorded crime" +
                    (" (ILLUSTRATIVE)" if first.survey.illustrative else ""), [p for p in parts if p is not None])


def assets_section(result: Profile) -> html.Section:
    f = result.figures
    kinds_table = _table(
        f"Assets of each kind in {result.name} against {result.comparator}",
        ["Kind of asset", "Places", "Per 1,000 residents", f"{result.comparator} per 1,000", "Rank (1 = highest)"],
        ([ASSET_KIND_LABELS[k], fmt(_value(f, f"kind:{k}"), "places"), fmt(_value(f, f"kind_rate:{k}"), "per 1,000"),
          fmt(_value(f, f"kind_rate:{k}", "comparator_value"), "per 1,000"),
          fmt_rank(_value(f, f"kind_rate:{k}", "rank"), _value(f, f"kind_rate:{k}", "of"))] for k in ASSET_KINDS),
        table_id="asset-kinds",
    )
    layers = [m for m in f["metric"] if m.startswith("assets:")]
    layer_table = _figure_table(result, f"Places in each asset layer in {result.name}", layers) if layers else None
    lists = []
    assets = result.assets.sort_values(["layer_title", "name"], na_position="last")
    for kind in ASSET_KINDS:
        these = assets[assets["asset_kind"] == kind]
        heading = f"{ASSET_KIND_LABELS[kind]}: {len(these)}"
        if these.empty:
            lists += [html.H3(heading), html.P("None recorded in the loaded layers.", className="muted")]
            continue
        shown = these.head(MAX_LISTED_ASSETS)
        lists += [html.H3(heading), _table(
            f"{ASSET_KIND_LABELS[kind]} in {result.name}"
            + (f" (the first {len(shown)} of {len(these)})" if len(shown) < len(these) else ""),
            ["Name", "Type", "Layer"],
            ([str(a.name) if isinstance(a.name, str) and a.name else "(unnamed)", str(a.category or "—"),
              a.layer_title + (" — illustrative, not a real record" if a.illustrative and "ILLUSTRATIVE" not in
                               a.layer_title.upper() else "")] for a in shown.itertuples()),
            numeric_from=99,
        )]
        if len(shown) < len(these):
            lists.append(html.P(["Every asset is in the ", html.A("Excel and GeoJSON downloads", href="#downloads"),
                                 "."], className="muted"))
    return _section("assets", "Assets", [
        html.P("Assets are grouped in four kinds: money, services and people, insight, and spaces. Rates are per "
               "1,000 usual residents."),
        kinds_table, layer_table, *lists,
    ])


def layers_used(places: Places, result: Profile, view: AreaView) -> list:
    """The loaded layers this profile draws on, for their licences."""
    names = {view.boundary, view.layer}
    if view.comparator == "borough" and places.authority is not None:
        names.add(places.authority.meta.name)
    if places.lsoa is not None:
        names.add(places.lsoa.meta.name)
    for name, meta in places.layers.items():
        if meta.kind == "lookup" or (meta.kind == "indicator" and meta.theme in ("population", "deprivation")):
            names.add(name)
        if meta.kind == "points" and meta.theme == "assets":
            names.add(name)
    return [places.layers[n] for n in sorted(n for n in names if n in places.layers)]


def sources_section(places: Places, result: Profile, view: AreaView) -> html.Section:
    """Where the figures come from: a summary by source, every figure's provenance, and the licences."""
    figures = result.figures
    summary = (figures.groupby(["section", "source"], sort=False)
               .agg(period=("period", lambda v: "; ".join(dict.fromkeys(v))),
                    vintage=("boundary_vintage", lambda v: "; ".join(dict.fromkeys(v))),
                    method=("method", lambda v: "; ".join(dict.fromkeys(v))))
               .reset_index())
    by_source = _table(
        "Sources of the figures on this page",
        ["Section", "Source (publisher; licence)", "Period", "Boundary vintage", "Methods"],
        ([r.section, r.source, r.period, r.vintage, r.method] for r in summary.itertuples()),
        table_id="source-summary", numeric_from=99,
    )
    every = _table(
        "Every figure with its source, period, boundary vintage and method",
        ["Figure", "Section", "Source", "Period", "Boundary vintage", "Method"],
        ([r.label, r.section, r.source, r.period, r.boundary_vintage, r.method] for r in figures.itertuples()),
        table_id="figure-sources", numeric_from=99,
    )
    licences = _table(
        "Layers used, with their licences",
        ["Layer", "Publisher", "Licence", "Attribution"],
        ([m.title + (" (illustrative data)" if m.illustrative and "ILLUSTRATIVE" not in m.title.upper() else ""),
          m.publisher or "—", m.licence or "—", m.attribution or "—"] for m in layers_used(places, result, view)),
        table_id="licences", numeric_from=99,
    )
    return _section("sources", "Sources and methods", [
        by_source,
        html.Details([html.Summary(f"Every figure's source, period, vintage and method ({len(figures)} figures)"),
                      every], className="figure-sources"),
        licences,
        html.P(["Every layer's source, licence and period is in the ", html.A("data catalogue", href="/catalogue"),
                "."]),
    ])


def downloads_section(result: Profile, view: AreaView) -> html.Section:
    query = urlencode(view.query())
    base = f"/api/export/{view.boundary}/{view.code}"
    items = [html.Li(html.A(FORMAT_LABELS.get(fmt_, fmt_.upper()), href=f"{base}.{fmt_}?{query}",
                            **{"data-format": fmt_}))
             for fmt_ in PROFILE_FORMATS]
    table_query = urlencode({k: v for k, v in view.query().items() if k in ("layer", "period")})
    boundary_title = result.boundary.meta.title
    table_links = [html.A(t.upper(), href=f"/api/table/{view.boundary}.{t}?{table_query}",
                          **{"aria-label": f"Every area of {boundary_title} as {t.upper()}"})
                   for t in TABLE_FORMATS]
    return _section("downloads", "Download this profile", [
        html.P("Each file holds the figures as shown here, with the same comparator and period."),
        html.Ul(items, className="exports"),
        html.P([f"Every area of {boundary_title} in one table: ",
                *[part for i, link in enumerate(table_links) for part in ((", " if i else ""), link)]]),
    ])


def notes_section(places: Places, result: Profile) -> html.Section | None:
    notes = list(result.notes)
    illustrative = sorted({a.layer_title for a in result.assets.itertuples() if a.illustrative})
    if illustrative:
        notes.append("Illustrative layers in this area (generated at real venue locations, not real records): "
                     + ", ".join(illustrative) + ".")
    if not notes:
        return None
    return html.Section([html.H2("Read this first", id="notes"), html.Ul([html.Li(n) for n in notes])],
                        className="notes", role="note", **{"aria-labelledby": "notes"})


def profile_body(places: Places, result: Profile, view: AreaView) -> list:
    """Everything on the page that depends on the comparator, period and layer."""
    return [
        notes_section(places, result),
        key_figures(result),
        population_section(result),
        deprivation_section(result),
        crime_section(result),
        perception_section(result, *survey_results(view)),
        assets_section(result),
        downloads_section(result, view),
        sources_section(places, result, view),
    ]


def status_text(result: Profile, view: AreaView) -> str:
    period = f" for {month_label(view.period[0])} to {month_label(view.period[1])}" if view.period else ""
    return f"Showing {result.name} compared with {result.comparator}{period}."


def area_map(places: Places, result: Profile) -> html.Section:
    """The area's outline and its assets on a small map; the tile layer only when one is configured."""
    from insight.web import context

    settings = context().settings
    minx, miny, maxx, maxy = shapely.bounds(result.geometry)
    outline = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": result.name}, "geometry": shapely.geometry.mapping(result.geometry)}
    ]}
    markers = [
        dl.CircleMarker(center=[a.latitude, a.longitude], radius=6, color="#0b0c0c", weight=1,
                        fillColor=KIND_COLOURS.get(a.asset_kind, "#505a5f"), fillOpacity=0.9,
                        children=dl.Tooltip(f"{a.name or '(unnamed)'} — {a.category or a.layer_title}"))
        for a in result.assets.itertuples()
        if math.isfinite(a.latitude) and math.isfinite(a.longitude)
    ]
    tiles = [dl.TileLayer(url=settings.tile_url, attribution=settings.tile_attribution)] if settings.tile_url else []
    legend = html.Ul([html.Li([html.Span(className="swatch round", style={"background": KIND_COLOURS[k]}),
                               ASSET_KIND_LABELS[k]]) for k in ASSET_KINDS], className="map-key")
    return html.Section([
        html.H2("Map of the area", id="area-map-heading"),
        html.Div(
            dl.Map([*tiles, dl.GeoJSON(id="area-outline", data=outline,
                                       style={"color": "#1d3557", "weight": 3, "fillOpacity": 0.08}),
                    dl.LayerGroup(markers, id="area-assets")],
                   id="area-map", bounds=[[miny, minx], [maxy, maxx]], boundsOptions={"padding": [12, 12]},
                   scrollWheelZoom=False, trackViewport=False),
            className="area-map-wrap", role="region",
            **{"aria-label": f"Map of {result.name} with {len(markers)} assets; they are listed under Assets"},
        ),
        legend,
    ], className="area-map", **{"aria-labelledby": "area-map-heading"})


def select(select_id: str, options: list[dict], value: str | None, *, key: str = "",
           described: bool = False) -> html.Select:
    """A native <select>: keyboard and screen-reader friendly where Dash 4's dropdowns are not.

    Its value is read when the form's button is pressed; ``key`` remounts it when the view changes;
    ``described`` points it at the hint that :func:`field` puts under its label.
    """
    extra = {"aria-describedby": f"{select_id}-hint"} if described else {}
    return html.Select([html.Option(o["label"], value=o["value"], selected=o["value"] == value) for o in options],
                       id=select_id, name=select_id, key=f"{select_id}:{key}", **extra)


def field(label: str, control: html.Select, hint: str | None = None) -> html.Div:
    """A label above its control, with an optional hint (the control's description)."""
    parts = [html.Label(label, htmlFor=control.id, className="field")]
    if hint:
        parts.append(html.P(hint, id=f"{control.id}-hint", className="hint"))
    return html.Div([*parts, control], className="form-field")


def comparator_options(places: Places, boundary: str, code: str, current: str) -> list[dict]:
    data = places.boundary(boundary)
    options = []
    authority = places.authority
    if authority is not None:
        options.append({"label": f"{authority.areas['name'].iloc[0]} (whole {authority.meta.title.lower()})",
                        "value": "borough"})
    options.append({"label": f"Average of the {len(data.areas)} areas of {data.meta.title}", "value": "average"})
    options += [{"label": f"{n} ({data.meta.title})", "value": f"{boundary}:{c}"}
                for c, n in sorted(zip(data.areas["code"], data.areas["name"]), key=lambda t: t[1]) if c != code]
    if current not in {o["value"] for o in options}:
        layer, _, other = current.partition(":")
        other_data = places.boundary(layer)
        name = other_data.areas["name"].iloc[other_data.index_of(other)]
        options.insert(2, {"label": f"{name} ({other_data.meta.title})", "value": current})
    return options


def layer_options(places: Places, current: str | None) -> list[dict]:
    names = [n for n, p in places.points.items() if p.meta.theme == "crime"]
    if current and current not in names:
        names.append(current)
    return [{"label": places.points[n].meta.title, "value": n} for n in names]


def month_options(places: Places, layer: str | None) -> list[dict]:
    span = places.points[layer].months() if layer in places.points else None
    if span is None:
        return []
    return [{"label": month_label(m), "value": month_label(m)} for m in range(span[1], span[0] - 1, -1)]


def period_fields(places: Places, view: AreaView) -> list[html.Div]:
    """The From and To month choices for the view's layer (none for an undated layer)."""
    months = month_options(places, view.layer)
    if not months or view.period is None:
        return [html.P("The chosen layer has no dates, so every record is counted.", className="hint")]
    key = view.search
    return [html.Div([
        field("From", select("area-from", months, month_label(view.period[0]), key=key)),
        field("To", select("area-to", months, month_label(view.period[1]), key=key)),
    ], className="period-fields")]


def view_controls(places: Places, view: AreaView) -> html.Div:
    """Comparator, crime layer and period, applied together by one button (no change of context on input)."""
    key = view.search
    return html.Div([
        html.Fieldset([
            html.Legend("Compare and choose the period"),
            field("Compare with", select("area-comparator",
                                         comparator_options(places, view.boundary, view.code, view.comparator),
                                         view.comparator, key=key)),
            field("Crime layer", select("area-layer", layer_options(places, view.layer), view.layer, key=key,
                                        described=True),
                  hint="The months on offer follow the layer once the figures are shown."),
            html.Div(period_fields(places, view), id="area-period"),
            html.Button("Show figures", id="area-apply", type="button", className="button"),
            html.P("The figures and the link in the address bar change when you press the button.",
                   className="hint"),
        ]),
    ], className="view-controls", role="form", **{"aria-label": "View options"})


def not_found(places: Places | None, message: str, boundary: str | None) -> html.Div:
    """A readable page for an unknown boundary or area: what was wrong and what exists."""
    sentence = message[:1].upper() + message[1:]
    parts: list = [html.H1("Area not found"), html.P(sentence, role="alert", className="status")]
    if places is not None and boundary in places.boundaries:
        data = places.boundaries[boundary]
        areas = sorted(zip(data.areas["code"], data.areas["name"]), key=lambda t: t[1])
        parts += [html.H2(f"Areas of {data.meta.title}"), html.Ul(
            [html.Li(html.A(f"{n} ({c})", href=f"/area/{boundary}/{c}")) for c, n in areas[:MAX_LISTED_AREAS]],
            className="area-list")]
        if len(areas) > MAX_LISTED_AREAS:
            parts.append(html.P(f"… and {len(areas) - MAX_LISTED_AREAS} more: search for one on the map."))
    elif places is not None and places.boundaries:
        parts += [html.H2("Boundary layers"), html.Ul([
            html.Li(html.A(f"{b.meta.title} ({name})", href=f"/area/{name}/{b.areas['code'].iloc[0]}"))
            for name, b in places.boundaries.items() if len(b.areas)
        ], className="area-list")]
    parts.append(html.P(["Or find an area on the ", html.A("map", href="/"), "."]))
    return html.Div(parts, className="area-page")


def page_title(boundary: str | None = None, code: str | None = None, **_: str) -> str:
    """The browser tab's title: the area's name when it exists (for Dash Pages' ``title``)."""
    try:
        data = current_places().boundary(boundary or "")
        name = data.areas["name"].iloc[data.index_of(code or "")]
    except InsightError:
        return "Area not found — Local Insight"
    return f"{name} ({data.meta.title}) — area profile — Local Insight"


def layout(boundary: str | None = None, code: str | None = None, **query: str) -> html.Div:
    """The full profile of one area, for the view in the URL."""
    try:
        places = current_places()
    except InsightError as exc:
        return html.Div([html.H1("Area profile"),
                         html.P(f"The database is not available: {exc}", role="alert", className="status")])
    try:
        view, problems = parse_view(places, boundary, code, query)
    except NotFoundError as exc:
        return not_found(places, f"{exc}.".replace("..", "."), boundary)
    try:
        result = view_profile(places, view)
    except InsightError as exc:
        return not_found(places, str(exc), boundary)
    meta = result.boundary.meta
    links = html.Ul([
        html.Li(html.A("Show on the map", href=f"/?boundary={view.boundary}&area={view.code}")),
        html.Li(html.A("Compare with other areas", href=f"/compare?boundary={view.boundary}&areas={view.code}")),
        html.Li(html.A("Downloads", href="#downloads")),
        html.Li(html.A("Sources and methods", href="#sources")),
    ], className="page-links")
    return html.Div([
        dcc.Location(id="area-url", refresh=False),
        dcc.Store(id="area-key", data={"boundary": view.boundary, "code": view.code}),
        dcc.Store(id="area-choice"),
        html.Header([
            html.H1(result.name),
            html.P(f"{meta.title} · boundary vintage {meta.vintage or 'not stated'} · area code {result.code}",
                   className="subtitle"),
            links,
        ], className="area-header"),
        html.Div([area_map(places, result), view_controls(places, view)], className="area-top"),
        html.Div(" ".join(problems) or None, id="area-problems", role="alert",
                 className="status" if problems else None),
        html.P(status_text(result, view), id="area-status", role="status", className="view-status"),
        html.Div(profile_body(places, result, view), id="area-profile"),
    ], className="area-page")


# ---- callbacks -----------------------------------------------------------------------------------

# Reads the native selects' values when the button is pressed (Dash does not sync a <select>).
clientside_callback(
    """function(clicks) {
        const value = id => { const e = document.getElementById(id); return e && !e.disabled ? e.value : null; };
        return {comparator: value('area-comparator'), layer: value('area-layer'), from: value('area-from'),
                to: value('area-to'), clicks: clicks};
    }""",
    Output("area-choice", "data"), Input("area-apply", "n_clicks"), prevent_initial_call=True,
)


@callback(
    Output("area-url", "search"), Output("area-profile", "children"), Output("area-problems", "children"),
    Output("area-problems", "className"), Output("area-status", "children"), Output("area-period", "children"),
    Input("area-choice", "data"), State("area-key", "data"),
    prevent_initial_call=True,
)
def update_view(choice: dict | None, key: dict) -> tuple:
    """Redraw the profile for the chosen comparator, layer and period, and put them in the URL."""
    try:
        places = current_places()
    except InsightError as exc:
        return no_update, no_update, f"The database is not available: {exc}", "status", no_update, no_update
    choice = choice or {}
    start, end = choice.get("from"), choice.get("to")
    query = {"comparator": choice.get("comparator"), "layer": choice.get("layer")}
    swapped = []
    if start and end:
        if start > end:
            start, end = end, start
            swapped.append("The 'From' month was after the 'To' month, so the two were swapped.")
        query["period"] = f"{start}:{end}"
    try:
        view, problems = parse_view(places, key["boundary"], key["code"], query)
        result = view_profile(places, view)
    except InsightError as exc:
        return no_update, no_update, f"The figures could not be updated: {exc}", "status", no_update, no_update
    problems = swapped + problems
    message = " ".join(problems) or None
    return (view.search, profile_body(places, result, view), message, "status" if message else None,
            status_text(result, view), period_fields(places, view))
