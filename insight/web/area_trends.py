"""The area page's 'Change over time' section, and the change-over-time tables the map shades by.

The section shows the long monthly series of a crime layer with its fitted trend and the forecast
fan (80% and 95% ranges, next 12 months), the trend in words with its interval, how well the
forecasts did for this area on past data, and the early warning. The layer-wide computation
(:func:`insight.analysis.trend_views.layer_trends`) runs once per (layer, boundary layer) and is kept
with the page views until the data change; each area page picks its rows.
"""
from __future__ import annotations

import math
from urllib.parse import urlencode

import pandas as pd
from dash import html

from insight.analysis.places import Places
from insight.analysis.trend_views import (
    FORECAST_MONTHS,
    SHOWN_HORIZONS,
    LayerTrends,
    accuracy_words,
    change_words,
    layer_trends,
    longest_layer,
    series_layer,
    trend_line,
    trend_words,
    warning_row,
)
from insight.analysis.trends.forecast import METHOD
from insight.analysis.trends.series import PANDEMIC_END, PANDEMIC_START
from insight.errors import BadRequest, InsightError
from insight.web.area_view import AreaView
from insight.web.charts import AREA_COLOUR, COMPARATOR_COLOUR, Figure, chart_block, chart_layout
from insight.web.components import data_table, section
from insight.web.context import context
from insight.web.figures import chart_text

TITLE = "Change over time"
FAN_80 = "rgba(0, 114, 178, 0.35)"
FAN_95 = "rgba(0, 114, 178, 0.15)"
FORECAST_COLOUR = "#0b0c0c"
METHOD_NOTE = (
    f"How these figures are made: the trend is a quasi-Poisson regression of the monthly counts on time, with "
    f"month-of-year terms and its own term for the pandemic months ({PANDEMIC_START} to {PANDEMIC_END}), so they "
    "neither drag the trend down nor are thrown away. The forecast ('pooled share') takes seasonality from all "
    "areas together, pulls each area's recent level towards its long-run share of the total (empirical Bayes) "
    "and carries it forward flat; its ranges are negative-binomial, as wide as the method's past errors say they "
    "should be. The early warning compares the last three months with what the method expected from the months "
    "before them. The project's docs/trends.md describes each method and its tests."
)


def layer_tables(places: Places, layer: str, boundary: str) -> LayerTrends:
    """Change over time of ``layer`` in every area of ``boundary``, computed once until the data change."""
    return context().view(("trend-tables", layer, boundary), lambda: layer_trends(places, layer, boundary))


def shading_tables(places: Places, preferred: str | None, boundary: str) -> LayerTrends:
    """The tables the map's change-over-time shadings read: ``preferred`` or the longest crime series."""
    layer, _ = series_layer(places, preferred)
    if layer is None:
        raise BadRequest("no crime layer has the 24 months or more of records a trend needs")
    return layer_tables(places, layer, boundary)


def _fan(months: list[str], lower: list[float], upper: list[float], colour: str, name: str) -> dict:
    return {"type": "scatter", "x": months + months[::-1], "y": upper + lower[::-1], "fill": "toself",
            "fillcolor": colour, "line": {"width": 0}, "mode": "lines", "name": name, "hoverinfo": "skip"}


def _summary(tables: LayerTrends, name: str, counts: list[int], ahead: pd.DataFrame, estimate: float) -> str:
    months = [str(m) for m in tables.matrix.index]
    total = sum(counts)
    slope = (f"The trend line {'falls' if estimate < 0 else 'rises'} by {abs(estimate):.1f}% a year."
             if math.isfinite(estimate) else "There is no trend line: no records.")
    first = ahead.iloc[0]
    return (f"{total:,} {tables.noun} in {name} in {len(months)} months from {months[0]} to {months[-1]}, "
            f"{total / len(months):,.1f} a month on average. {slope} The forecast for {ahead['month'].iloc[0]} to "
            f"{ahead['month'].iloc[-1]} averages {ahead['forecast'].mean():,.1f} a month; for {first['month']} the "
            f"80% range is {first['lower_80']:,.0f} to {first['upper_80']:,.0f} and the 95% range "
            f"{first['lower_95']:,.0f} to {first['upper_95']:,.0f}.")


def _tables(tables: LayerTrends, name: str, counts: list[int], line: list[float], ahead: pd.DataFrame) -> html.Div:
    noun = tables.noun.capitalize()
    months = [str(m) for m in tables.matrix.index]
    return html.Div([
        data_table(f"{noun} by month in {name}, with the trend line", ["Month", noun, "Trend line"],
                   ([m, f"{c:,}", f"{t:,.1f}"] for m, c, t in zip(months, counts, line)), table_id="change-table"),
        data_table(f"Forecast {tables.noun} in {name} for the next {FORECAST_MONTHS} months",
                   ["Month", "Forecast", "80% range", "95% range"],
                   ([r.month, f"{r.forecast:,.1f}", f"{r.lower_80:,.0f} to {r.upper_80:,.0f}",
                     f"{r.lower_95:,.0f} to {r.upper_95:,.0f}"] for r in ahead.itertuples()),
                   table_id="forecast-table"),
    ])


def change_chart(tables: LayerTrends, code: str, name: str) -> html.Section:
    """The area's monthly series with the fitted trend line and the forecast fan, with its text alternatives."""
    column = tables.matrix[code]
    counts = [int(c) for c in column]
    months = [str(m) for m in tables.matrix.index]
    estimate = float(tables.trends.loc[tables.trends["code"] == code, "estimate"].iloc[0])
    line = ([float(v) for v in trend_line(column.to_numpy(dtype=float), pd.PeriodIndex(tables.matrix.index),
                                          estimate)] if math.isfinite(estimate) else [math.nan] * len(counts))
    ahead = tables.forecast[tables.forecast["code"] == code].sort_values("horizon")
    future = ahead["month"].tolist()
    noun = tables.noun.capitalize()
    fig: Figure = {"data": [
        _fan(future, ahead["lower_95"].tolist(), ahead["upper_95"].tolist(), FAN_95, "Forecast, 95% range"),
        _fan(future, ahead["lower_80"].tolist(), ahead["upper_80"].tolist(), FAN_80, "Forecast, 80% range"),
        {"type": "scatter", "mode": "lines", "x": months, "y": counts, "name": f"{noun} recorded",
         "line": {"color": AREA_COLOUR, "width": 1.5}, "hovertemplate": "%{x}: %{y:,}<extra>" + noun + "</extra>"},
        {"type": "scatter", "mode": "lines", "x": months, "y": line, "name": chart_text(f"Trend ({estimate:+.1f}% a "
                                                                                         "year)"),
         "line": {"color": COMPARATOR_COLOUR, "width": 2.5, "dash": "dash"}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": future, "y": ahead["forecast"].tolist(), "name": "Forecast",
         "line": {"color": FORECAST_COLOUR, "width": 2, "dash": "dot"},
         "hovertemplate": "%{x}: %{y:,.1f} expected<extra>Forecast</extra>"},
    ], "layout": {"xaxis": {"type": "date"}, "yaxis": {"rangemode": "tozero"}}}
    fig = chart_layout(fig, height=360, xaxis="Month", yaxis=f"{noun} a month")
    return chart_block("change-chart", f"{noun} by month in {name}, with the trend and a {FORECAST_MONTHS}-month "
                                       "forecast",
                       _summary(tables, name, counts, ahead, estimate), fig,
                       _tables(tables, name, counts, line, ahead))


def accuracy_table(tables: LayerTrends, code: str, name: str) -> html.Div | None:
    """The forecasts' average error for this area on past data, per horizon, against each simple rule."""
    if tables.accuracy is None:
        return None
    rows = tables.accuracy[tables.accuracy["code"] == code]
    methods = list(dict.fromkeys(rows["method"]))
    wide = rows.pivot(index="horizon", columns="method", values="mae")
    cover = rows[rows["method"] == METHOD].set_index("horizon")["coverage_80"]
    head = ["Months ahead", *[f"{m} (average error)" for m in methods], "Inside the 80% range"]
    body = ([str(h), *[f"{wide.loc[h, m]:,.2f}" for m in methods], f"{cover.loc[h]:.0%}"]
            for h in SHOWN_HORIZONS if h in wide.index)
    return data_table(f"Forecast errors in {name} on past data: {tables.noun} a month, by months ahead", head, body,
                      table_id="accuracy-table")


def _warning(tables: LayerTrends, code: str) -> html.P | None:
    row = warning_row(tables, code)
    if row is None:
        return None
    rate = float(row["false_alarm_rate"])
    tested = (f" On past data this check fired for {rate:.1%} of areas and three-month windows, an upper bound on "
              "how often it fires by chance." if math.isfinite(rate) else "")
    if bool(row["flag"]):
        return html.P([html.Strong("Early warning: "), f"{row['evidence']} (one-sided p = {row['p_value']:.3f}).",
                       tested], id="trend-warning", className="status")
    return html.P(f"No early warning: {row['evidence']}.{tested}", id="trend-warning")


def _layer_note(places: Places, view: AreaView, tables: LayerTrends, note: str | None) -> list:
    """Which layer the section uses and why, and a link to the longest series when another layer is used."""
    parts: list = [f"Monthly {tables.noun} from '{tables.title}', {tables.span}."]
    if note:
        parts.append(" " + note)
    longest = longest_layer(places)
    if longest and longest != tables.layer:
        query = urlencode({"comparator": view.comparator, "layer": longest})
        parts += [" The longest series loaded is ",
                  html.A(places.points[longest].meta.title, href=f"/area/{view.boundary}/{view.code}?{query}"), "."]
    return parts


def trends_section(places: Places, view: AreaView) -> html.Section:
    """Change over time for the area: chart, trend, tested accuracy and early warning, each in plain words."""
    layer, note = series_layer(places, view.layer)
    if layer is None:
        return section("change-over-time", TITLE, [html.P(
            "No crime layer with 24 months or more of records is loaded, so there is no trend or forecast.")])
    try:
        tables = layer_tables(places, layer, view.boundary)
    except InsightError as exc:
        return section("change-over-time", TITLE, [html.P(f"Change over time cannot be shown: {exc}.")])
    data = places.boundary(view.boundary)
    name = str(data.areas["name"].iloc[data.index_of(view.code)])
    trend = tables.trends[tables.trends["code"] == view.code].iloc[0]
    accuracy = accuracy_words(tables, view.code)
    return section("change-over-time", TITLE, [
        html.P(_layer_note(places, view, tables, note)),
        html.P(trend_words(trend, tables.noun), id="trend-sentence", className="trend-sentence"),
        html.P(change_words(tables.matrix, view.code, tables.noun), id="trend-change"),
        _warning(tables, view.code),
        change_chart(tables, view.code, name),
        html.P(accuracy, id="trend-accuracy") if accuracy else None,
        accuracy_table(tables, view.code, name),
        *[html.P(p, className="muted") for p in tables.problems],
        html.P(METHOD_NOTE, className="muted"),
    ])
