"""Need beside assets: a composite need score per area beside its assets per 1,000 residents.

``/need`` (see :mod:`insight.web.need_view` for the URL) shows the areas with high need and few
assets under the user's own thresholds as a list, a two-variable (3 x 3) map and a sortable
table, with how every figure is made. ``/api/need/<boundary>.json`` is its JSON twin.
"""
from __future__ import annotations

import math
from typing import Any

import dash
import dash_leaflet as dl
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from flask import Response, jsonify, request

from insight.analysis.need_areas import INGREDIENTS, NeedResult, asset_choices
from insight.analysis.places import Places
from insight.errors import BadRequest, InsightError, NotFoundError
from insight.web.api import guarded
from insight.web.components import aria, field, select, tile_layers
from insight.web.context import context, current_places, places_or_message
from insight.web.need_render import columns, method_section, need_table, sort_state, table_body
from insight.web.need_view import NeedView, assets_threshold, flagged_rows, need_result, parse_view

# Joshua Stevens' blue-red 3 x 3 scheme: need grows to the right (red), assets grow upwards (blue).
COLOURS = ("#e8e8e8", "#e4acac", "#c85a5a", "#b0d5df", "#ad9ea5", "#985356", "#64acbe", "#627f8c", "#574249")
NEED_WORDS = ("lower need (bottom third)", "middle third of need", "higher need (top third)")
ASSET_WORDS = ("fewest assets (bottom third)", "middle third of assets", "most assets (top third)")
FIELDS = ["need-boundary", "need-layer", "need-method", "need-question", "need-kind", "need-threshold",
          "need-assets", *[f"need-w-{k}" for k in INGREDIENTS]]
READ_CHOICE = """function(clicks) {
    const ids = IDS;
    const out = {clicks: clicks};
    ids.forEach(id => { const e = document.getElementById(id); if (e) { out[id] = e.value; } });
    return out;
}""".replace("IDS", str(FIELDS))


def _map(result: NeedResult) -> html.Div:
    rows = result.rows
    values = {c: (None if not math.isfinite(v) else v) for c, v in zip(rows["code"], rows["bivariate"].astype(float))}
    bounds = context().places().boundary(result.boundary).areas.total_bounds
    hideout = {"values": values, "breaks": list(range(1, 10)), "colours": list(COLOURS)}
    return html.Div(dl.Map([
        *tile_layers(context().settings),
        dl.GeoJSON(url=f"/api/layers/{result.boundary}.geojson", style={"variable": "insightMap.styleArea"},
                   onEachFeature={"variable": "insightMap.bindAreaTooltip"}, hideout=hideout, id="need-areas"),
    ], bounds=[[bounds[1], bounds[0]], [bounds[3], bounds[2]]], id="need-map",
        style={"height": "60vh", "minHeight": "380px", "border": "1px solid #b1b4b6", "background": "#f3f2f1"}),
        className="map-wrap", role="region",
        **aria(label="Map of need against assets; the table below gives every area's figures"))


def legend() -> html.Table:
    """The 3 x 3 key, explaining both axes in words (the colours are never the only cue: the table has them all)."""
    head = html.Tr([html.Td(), *[html.Th(w.capitalize(), scope="col") for w in NEED_WORDS]])
    body = []
    for a in (2, 1, 0):
        cells: list[Any] = [html.Th(ASSET_WORDS[a].capitalize(), scope="row")]
        for n in range(3):
            swatch = {"background": COLOURS[a * 3 + n], "display": "inline-block", "width": "1.4rem",
                      "height": "1rem", "border": "1px solid #0b0c0c"}
            cells.append(html.Td([html.Span(className="swatch", style=swatch),
                                  f" {NEED_WORDS[n].split(' (')[0]}, {ASSET_WORDS[a].split(' (')[0]}"]))
        body.append(html.Tr(cells))
    return html.Table([
        html.Caption("Map key: colour grows redder with need (left to right) and bluer with assets per 1,000 "
                     "residents (bottom to top); the strongest red is high need with few assets. Grey: no figure."),
        html.Thead(head), html.Tbody(body)], id="need-legend", className="data-table legend-grid")


def _flag_list(result: NeedResult, view: NeedView, flags: list[bool]) -> html.Section:
    rows = result.rows
    chosen = [(n, c) for n, c, f in zip(rows["name"], rows["code"], flags) if f]
    label = asset_choices()[view.kind].lower()
    summary = (f"{len(chosen)} of {len(rows)} areas have need at or above the {view.need:g}th percentile and "
               f"{assets_threshold(result, view):g} or fewer {label} places per 1,000 residents.")
    items = [html.Li(html.A(n, href=f"/area/{result.boundary}/{c}")) for n, c in chosen]
    return html.Section([
        html.H2("High need, few assets", id="need-flagged-title"), html.P(summary, id="need-flag-summary"),
        html.Ul(items, id="need-flagged") if items else html.P("No area meets both thresholds.", id="need-flagged"),
    ], **aria(labelledby="need-flagged-title"))


def result_children(places: Places, view: NeedView) -> list:
    """The flagged list, the map with its key, the table and the method; or why they cannot be made."""
    try:
        result = need_result(places, view)
        flags = flagged_rows(result, view)
    except InsightError as exc:
        return [html.P(f"Need cannot be worked out for this choice: {exc}.", role="alert", className="status")]
    notes = list(result.notes)
    if result.asset_illustrative:
        notes.insert(0, "ILLUSTRATIVE: some asset layers are generated, not real records: "
                        f"{', '.join(result.asset_illustrative)}.")
    return [
        html.Div([html.H2("Read this first", id="need-notes"), html.Ul([html.Li(n) for n in notes])],
                 className="notes", role="note", **aria(labelledby="need-notes")) if notes else None,
        _flag_list(result, view, flags),
        html.Section([html.H2("Map: need against assets", id="need-map-title"), _map(result), legend()],
                     **aria(labelledby="need-map-title")),
        need_table(result, view, flags),
        method_section(result),
    ]


def _form(places: Places, view: NeedView) -> html.Div:
    def options(pairs: list[tuple[str, str]]) -> list[dict]:
        return [{"value": v, "label": lab} for v, lab in pairs]

    crime = [(n, p.meta.title) for n, p in places.points.items() if p.meta.theme == "crime"]
    questions = [(o["value"].rsplit(":", 1)[-1], o["label"]) for o in context().perception_options(view.boundary)]
    weights = [field(f"Weight: {label}", dcc.Input(id=f"need-w-{k}", type="number", min=0, max=100, step=0.5,
                                                   value=dict(view.weights).get(k, 1.0)))
               for k, label in INGREDIENTS.items()]
    return html.Div([html.Fieldset([
        html.Legend("Choose what need means and where the thresholds are"),
        field("Boundary layer", select("need-boundary", options([(n, b.meta.title) for n, b in places.boundaries
                                                                 .items()]), view.boundary, key=view.search)),
        field("Crime layer", select("need-layer", options(crime), view.layer, key=view.search)),
        field("Standardise each ingredient by", select("need-method", options(
            [("zscore", "z-score across the areas"), ("percentile", "percentile rank across the areas")]),
            view.method, key=view.search)),
        field("Survey question", select("need-question", options([*questions, ("none", "(no survey)")]),
                                        view.question or "none", key=view.search)),
        html.Div(weights, className="area-fields"),
        field("Need threshold: percentile at or above (0 to 100)",
              dcc.Input(id="need-threshold", type="number", min=0, max=100, step=0.1, value=view.need)),
        field("Asset figure for the threshold", select("need-kind", options(list(asset_choices().items())),
                                                       view.kind, key=view.search)),
        field("Few assets: places per 1,000 residents at or below",
              dcc.Input(id="need-assets", type="number", min=0, step=0.01, value=view.assets),
              hint="Leave empty for the top of the lowest third of areas."),
        html.Button("Show need", id="need-apply", type="button", className="button"),
    ])], className="compare-form", role="form", **aria(label="Choose what need means"))


def layout(**query: str) -> html.Div:
    """The form, the flagged areas, the map, the table and the method for the view in the URL."""
    places = places_or_message("Need beside assets")
    if isinstance(places, html.Div):
        return places
    view = parse_view(places, query)
    return html.Div([
        dcc.Location(id="need-url", refresh=False),
        dcc.Store(id="need-choice"), dcc.Store(id="need-view", data=view.query()),
        html.H1("Need beside assets"),
        html.P("Where is need high and the assets that could meet it few? Choose the ingredients of need, their "
               "weights and your own thresholds; every figure shows how it is made and how uncertain it is."),
        _form(places, view),
        html.Div(" ".join(view.problems) or None, id="need-problems", role="alert",
                 className="status" if view.problems else None),
        html.P(f"Need and assets for the areas of {places.boundary(view.boundary).meta.title}.", id="need-status",
               role="status", className="view-status"),
        html.Div(result_children(places, view), id="need-result"),
    ], className="compare-page need-page")


def update_view(choice: dict | None, current: dict | None) -> tuple:
    """Redraw the page for the form's values and put them in the URL (the sort is kept)."""
    try:
        places = current_places()
    except InsightError as exc:
        return no_update, no_update, f"The database is not available: {exc}", no_update, no_update
    choice, current = choice or {}, current or {}
    query = {"boundary": choice.get("need-boundary"), "layer": choice.get("need-layer"),
             "method": choice.get("need-method"), "question": choice.get("need-question"),
             "kind": choice.get("need-kind"), "need": choice.get("need-threshold"),
             "assets": choice.get("need-assets"), "sort": current.get("sort"), "order": current.get("order"),
             **{f"w_{k}": choice.get(f"need-w-{k}") for k in INGREDIENTS}}
    view = parse_view(places, {k: str(v) for k, v in query.items() if v not in (None, "")})
    status = f"Showing need and assets for {places.boundary(view.boundary).meta.title}."
    return (view.search, result_children(places, view), " ".join(view.problems) or None, status, view.query())


def sort_table(clicks: list, current: dict | None) -> tuple:
    """Sort the table by the heading pressed (pressed again: the other way), keeping the rest of the view."""
    pressed = ctx.triggered_id
    if not isinstance(pressed, dict) or not any(clicks or []):
        return no_update, no_update, no_update, no_update
    places = current_places()
    current = dict(current or {})
    column = pressed["column"]
    same = current.get("sort") == column
    current["order"] = ("asc" if current.get("order") == "desc" else "desc") if same else (
        "asc" if column == "name" else "desc")
    current["sort"] = column
    view = parse_view(places, current)
    result = need_result(places, view)
    states = [sort_state(k, view) for k, _ in columns(result)]
    return table_body(result, view, flagged_rows(result, view)), states, view.query(), view.search


def _api(server: Any) -> None:
    @server.get("/api/need/<boundary>.json", endpoint="need_json")
    @guarded
    def need_json(boundary: str) -> Response:
        places = context().places()
        if boundary not in places.boundaries:
            raise NotFoundError(f"no public boundary layer named '{boundary[:40]}'")
        view = parse_view(places, {**request.args.to_dict(), "boundary": boundary})
        if view.problems:
            raise BadRequest(" ".join(view.problems))
        result = need_result(places, view)
        rows = result.rows.assign(flagged=flagged_rows(result, view))
        return jsonify({
            "boundary": result.boundary, "boundary_title": result.boundary_title, "vintage": result.vintage,
            "method": result.method, "weights": result.weights, "illustrative": result.illustrative,
            "ingredients": [{"key": i.key, "label": i.label, "direction": i.direction, "source": i.source,
                             "period": i.period, "method": i.method, "uncertainty": i.uncertainty,
                             "weight": result.weights[i.key]} for i in result.ingredients],
            "thresholds": {"need_percentile_min": view.need, "assets_max": assets_threshold(result, view),
                           "assets": view.kind},
            "asset_sources": result.asset_sources, "notes": result.notes, "problems": list(view.problems),
            "simulation": {"draws": result.draws, "seed": result.seed, "level": 0.9},
            "areas": rows.astype(object).where(rows.notna(), None).to_dict("records"),
        })


def register(app: Dash) -> None:
    """Register the /need page, its callbacks and its JSON twin on ``app``."""
    dash.register_page("need", path="/need", name="Need beside assets", title="Local Insight — need beside assets",
                       layout=layout)
    app.clientside_callback(READ_CHOICE, Output("need-choice", "data"), Input("need-apply", "n_clicks"),
                            prevent_initial_call=True)
    app.callback(Output("need-url", "search"), Output("need-result", "children"),
                 Output("need-problems", "children"), Output("need-status", "children"),
                 Output("need-view", "data"), Input("need-choice", "data"), State("need-view", "data"),
                 prevent_initial_call=True)(update_view)
    app.callback(Output("need-tbody", "children"), Output({"type": "need-th", "column": ALL}, "aria-sort"),
                 Output("need-view", "data", allow_duplicate=True),
                 Output("need-url", "search", allow_duplicate=True),
                 Input({"type": "need-sort", "column": ALL}, "n_clicks"), State("need-view", "data"),
                 prevent_initial_call=True)(sort_table)
    _api(app.server)
