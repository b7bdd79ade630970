"""The two-figures page's parts: the 3 x 3 map and its key, the quick filters and the sortable table."""
from __future__ import annotations

from typing import Any

import dash_leaflet as dl
import pandas as pd
from dash import html

from insight.analysis.bivariate import FILTERS, PALETTE, Bivariate, apply_filter, break_labels, class_word, filter_label
from insight.analysis.profiles import Metric
from insight.web.components import aria, tile_layers
from insight.web.context import context
from insight.web.figures import fmt
from insight.web.two_figures_view import FILTER_WORDS, ORDER_WORDS, SORT_WORDS, FiguresView

SWATCH = {"display": "inline-block", "width": "1.5rem", "height": "1.1rem", "border": "1px solid #0b0c0c",
          "verticalAlign": "middle"}


def label(meta: dict[str, Metric], key: str) -> str:
    """A figure's label, or its key when it has none."""
    return meta[key].label if key in meta else key


def _unit(meta: dict[str, Metric], key: str) -> str:
    return meta[key].unit if key in meta else ""


def thirds(breaks: tuple[float, float] | None, unit: str) -> tuple[str, str, str]:
    """What each third holds in words ('up to A', 'above A, up to B', 'above B'), the limits written as figures
    are everywhere else (:func:`insight.web.figures.fmt`)."""
    if breaks is None:
        return break_labels(None)
    low, high = (fmt(b, unit) for b in breaks)
    return (f"up to {low}", f"above {low}, up to {high}", f"above {high}")


def area_map(result: Bivariate, view: FiguresView) -> html.Div:
    """The areas shaded in nine colours by their thirds of X and Y (grey: no figure)."""
    values = {c: (None if pd.isna(v) else int(v)) for c, v in zip(result.rows["code"], result.rows["class"])}
    bounds = context().places().boundary(view.boundary).areas.total_bounds
    hideout = {"values": values, "breaks": list(range(1, 10)), "colours": list(PALETTE)}
    return html.Div(dl.Map([
        *tile_layers(context().settings),
        dl.GeoJSON(url=f"/api/layers/{view.boundary}.geojson", style={"variable": "insightMap.styleArea"},
                   onEachFeature={"variable": "insightMap.bindAreaTooltip"}, hideout=hideout, id="figures-areas"),
    ], bounds=[[bounds[1], bounds[0]], [bounds[3], bounds[2]]], id="figures-map"), className="map-wrap",
        role="region", **aria(label="Map of the two figures; the key and the table give the same in words"))


def legend(result: Bivariate, meta: dict[str, Metric]) -> html.Div:
    """The 3 x 3 key: each colour with its thirds in words and how many areas have it, axes labelled."""
    x_label, y_label = label(meta, result.x), label(meta, result.y)
    x_ranges = thirds(result.x_breaks, _unit(meta, result.x))
    y_ranges = thirds(result.y_breaks, _unit(meta, result.y))
    counts = result.rows["class"].value_counts()
    head = html.Tr([html.Td(), *[html.Th([f"{class_word(i + 1).capitalize()} X", html.Br(),
                                          html.Span(x_ranges[i], className="range")], scope="col")
                                 for i in range(3)]])
    body = []
    for yc in (3, 2, 1):
        cells: list[Any] = [html.Th([f"{class_word(yc).capitalize()} Y", html.Br(),
                                     html.Span(y_ranges[yc - 1], className="range")], scope="row")]
        for xc in (1, 2, 3):
            code = (yc - 1) * 3 + xc
            n = int(counts.get(code, 0))
            cells.append(html.Td([html.Span(style=SWATCH | {"background": PALETTE[code - 1]}, className="swatch"),
                                  f" {class_word(xc)} X, {class_word(yc)} Y: {n} area{'s' if n != 1 else ''}"]))
        body.append(html.Tr(cells))
    missing = int(result.rows["class"].isna().sum())
    return html.Div([
        html.P(["X (across): ", html.Strong(x_label), html.Br(), "Y (up): ", html.Strong(y_label)],
               className="axis-names"),
        html.Div([
            html.Span("more Y ↑", className="axis-y", **aria(hidden="true")),
            html.Table([
                html.Caption("Map key. Each area is put in the lowest, middle or highest third of the areas by X "
                             "and again by Y, giving nine colours: bluer-green with more X, pinker-purple with more "
                             "Y, dark blue-purple when both are high, light grey when both are low."),
                html.Thead(head), html.Tbody(body)], id="figures-legend", className="data-table legend-grid"),
        ], className="legend-box"),
        html.P("more X →", className="axis-x", **aria(hidden="true")),
        html.P(f"{missing} area{'s' if missing != 1 else ''} without one of the figures "
               f"{'are' if missing != 1 else 'is'} drawn pale grey (no data)." if missing else
               "Every area has both figures.", className="hint"),
    ], className="figures-key")


def filters(result: Bivariate, view: FiguresView, meta: dict[str, Metric]) -> html.Div:
    """One button per quick filter ("High X and low Y" …), the chosen one pressed."""
    buttons = []
    for name in FILTERS:
        buttons.append(html.Button(FILTER_WORDS[name], id={"type": "figures-filter", "name": name}, type="button",
                                   className="filter-button", **aria(pressed="true" if name == view.filter
                                                                     else "false")))
    return html.Div([html.H3("Quick filters", id="figures-filters-title"),
                     html.Div(buttons, className="filter-buttons", role="group",
                              **aria(labelledby="figures-filters-title"))], className="figures-filters")


def _sorted(rows: pd.DataFrame, view: FiguresView) -> pd.DataFrame:
    key = view.sort if view.sort in rows else "x"
    if key == "name":
        return rows.assign(_key=rows["name"].str.casefold()).sort_values(
            "_key", ascending=view.order == "asc", kind="stable").drop(columns="_key")
    return rows.sort_values(key, ascending=view.order == "asc", na_position="last", kind="stable")


def table_body(result: Bivariate, view: FiguresView, meta: dict[str, Metric]) -> list[html.Tr]:
    """The areas in the view's filter, in its sort order; each name links to the area's page."""
    rows = _sorted(apply_filter(result.rows, view.filter), view)
    x_unit, y_unit = _unit(meta, result.x), _unit(meta, result.y)
    out = []
    for row in rows.to_dict("records"):
        xw, yw = class_word(row["x_class"]), class_word(row["y_class"])
        both = "no data" if pd.isna(row["class"]) else f"{xw} X, {yw} Y"
        out.append(html.Tr([
            html.Th(html.A(row["name"], href=f"/area/{view.boundary}/{row['code']}"), scope="row"),
            html.Td(fmt(row["x"], x_unit), className="num"), html.Td(xw),
            html.Td(fmt(row["y"], y_unit), className="num"), html.Td(yw), html.Td(both),
        ]))
    return out


def sort_state(key: str, view: FiguresView) -> str:
    """The aria-sort value of column ``key``'s heading."""
    return ORDER_WORDS[view.order] if view.sort == key else "none"


def _heading(key: str | None, text: str, view: FiguresView) -> html.Th:
    if key is None:
        return html.Th(text, scope="col")
    button = html.Button(text, id={"type": "figures-sort", "column": key}, type="button", className="sort-button")
    return html.Th(button, scope="col", id={"type": "figures-th", "column": key}, **aria(sort=sort_state(key, view)))


def summary(result: Bivariate, view: FiguresView, meta: dict[str, Metric]) -> str:
    """How many areas the table lists, and which filter is on."""
    shown = len(apply_filter(result.rows, view.filter))
    if view.filter == "all":
        return f"Showing all {shown} areas."
    words = filter_label(view.filter, label(meta, result.x).lower(), label(meta, result.y).lower())
    return f"Showing {shown} of {len(result.rows)} areas: {words} (top, middle and bottom thirds of the areas)."


def table(result: Bivariate, view: FiguresView, meta: dict[str, Metric]) -> html.Div:
    """Every area with X, Y and their thirds; the headings with buttons sort the table."""
    head = [_heading("name", SORT_WORDS["name"], view),
            _heading("x", f"{SORT_WORDS['x']}: {label(meta, result.x)}", view), _heading(None, "X third", view),
            _heading("y", f"{SORT_WORDS['y']}: {label(meta, result.y)}", view), _heading(None, "Y third", view),
            _heading("class", SORT_WORDS["class"], view)]
    caption = ("Every area with the two figures and the third of the areas each falls in. Press a column heading "
               "to sort by it; press it again to reverse.")
    body = html.Tbody(table_body(result, view, meta), id="figures-tbody")
    grid = html.Table([html.Caption(caption, id="figures-table-caption"), html.Thead(html.Tr(head)), body],
                      id="figures-table", className="data-table figures")
    return html.Div([
        html.P(summary(result, view, meta), id="figures-summary", role="status"),
        html.Div(grid, className="table-scroll", tabIndex="0", role="region",
                 **aria(labelledby="figures-table-caption")),
    ])
