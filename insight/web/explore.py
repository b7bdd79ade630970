"""The explore page: a map of areas shaded by a chosen figure, point layers over it, filters,
a side panel for the chosen area and a table alternative. The URL holds the whole view;
:mod:`insight.web.explore_render` redraws the map for it."""
from __future__ import annotations

import json
import re

import dash_leaflet as dl
from dash import Dash, Input, NoUpdate, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import MissingCallbackContextException

from insight.analysis import views
from insight.analysis.places import Places, month_label, month_number
from insight.analysis.profiles import ASSET_KIND_LABELS
from insight.errors import InsightError
from insight.layers import ASSET_KINDS
from insight.web.components import aria, field, select, tile_layers
from insight.web.context import context, current_places, places_or_message
from insight.web.explore_render import options_for, render, view_period, view_query

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DRAW_TOOLS = {"polygon": True, "rectangle": True, "polyline": False, "circle": False, "marker": False,
              "circlemarker": False}
# Gathers the form's native selects when a choice changes (map.js presses the hidden 'apply-now' button a moment
# after the last change) or an area is clicked on the map.
READ_VIEW = """function(clicks, clicked) {
    const trigger = (dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
    if (trigger.startsWith("areas.") && clicked && clicked.properties) {
        const select = document.getElementById("area");
        if (select) { select.value = clicked.properties.code; }
    }
    const one = id => { const e = document.getElementById(id); return e ? e.value : null; };
    const several = id => {
        const e = document.getElementById(id);
        return e ? Array.from(e.selectedOptions).map(o => o.value) : [];
    };
    return {boundary: one("boundary"), area: one("area"), metric: one("metric"), classes: one("classes"),
            palette: one("palette"), layers: several("layers"), category: several("category"),
            kind: several("kind"), from: one("from"), to: one("to")};
}"""


def parse_view(places: Places, query: dict[str, str]) -> tuple[dict, list[str]]:
    """The view a URL asks for, with defaults; problems are reported, not raised."""
    problems: list[str] = []
    boundary = query.get("boundary") or views.default_boundary(places)
    if boundary not in places.boundaries:
        problems.append(f"There is no boundary layer '{boundary}'; showing {views.default_boundary(places)} instead.")
        boundary = views.default_boundary(places)
    area = query.get("area") or None
    if area and boundary:
        try:
            area = places.boundary(boundary).areas["code"].iloc[places.boundary(boundary).index_of(area)]
        except InsightError as exc:
            problems.append(str(exc))
            area = None
    layers = [name for name in (query.get("layers") or "").split(",") if name]
    unknown = [name for name in layers if name not in places.points]
    if unknown:
        problems.append(f"Unknown point layer(s) {', '.join(unknown)} were left out.")
    layers = [name for name in layers if name in places.points]
    kinds = [k for k in (query.get("kind") or "").split(",") if k in ASSET_KINDS]
    span = views.default_view_period(places)
    start, end = query.get("from"), query.get("to")
    for label, value in (("from", start), ("to", end)):
        if value and not MONTH.match(value):
            problems.append(f"'{value[:20]}' is not a month (YYYY-MM) for '{label}'; the default period is shown.")
    bad_period = any("is not a month" in p for p in problems)
    if start and end and not bad_period and month_number(start) > month_number(end):
        problems.append("The period ends before it starts; the default period is shown.")
        start = end = None
    drawn = query.get("draw") or None
    if drawn:
        try:
            views.parse_drawn(drawn)
        except InsightError as exc:
            problems.append(f"The drawn area in the link was ignored: {exc}.")
            drawn = None
    return {
        "draw": drawn,
        "boundary": boundary,
        "metric": query.get("metric") or "points_rate",
        "classes": query.get("classes") if query.get("classes") in views.CLASSINGS else "quintiles",
        "palette": query.get("palette") if query.get("palette") in views.PALETTES else "yellow-green-blue",
        "layers": layers,
        "area": area,
        "category": [c for c in (query.get("category") or "").split(",") if c],
        "kind": kinds,
        "from": start if start and not bad_period else (month_label(span[0]) if span else None),
        "to": end if end and not bad_period else (month_label(span[1]) if span else None),
    }, problems


def _month_options(places: Places) -> list[dict]:
    spans = [span for p in places.points.values() if (span := p.months())]
    if not spans:
        return []
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    return [{"label": month_label(m), "value": month_label(m)} for m in range(last, first - 1, -1)]


def _point_options(places: Places) -> list[dict]:
    return [
        {"label": p.meta.title + (" (illustrative)" if p.meta.illustrative and "ILLUSTRATIVE" not in p.meta.title
                                  else ""),
         "value": name}
        for name, p in sorted(places.points.items(), key=lambda kv: (kv[1].meta.theme or "", kv[1].meta.title))
    ]


def _field(label: str, control: Component, hint: str | None = None) -> html.Div:
    return field(label, control, hint, class_name=None)


def _search() -> html.Div:
    return html.Div([
        _field("Search areas and places", dcc.Input(id="search", type="search", debounce=0.3, autoComplete="off",
                                                    placeholder="e.g. Burnt Oak, library"),
               hint="Suggestions appear below as you type; choose one to go to it."),
        html.Ul(id="search-results", className="search-results", **aria(live="polite", label="Suggestions")),
    ], role="search")


def controls(places: Places, view: dict) -> html.Div:
    """Search, then the main choices (areas, shading figure, points) with the rest under 'More options';
    each choice applies a moment after it is made."""
    point_options = _point_options(places)
    months = _month_options(places)
    area_choices, metric_options, category_options = options_for(places, view["boundary"], view["layers"],
                                                                 view_period(view["from"], view["to"]))
    return html.Div([
        html.A("Skip to the map", href="#explore-map", className="in-page-skip to-map"),
        _search(),
        html.H2("Choose what the map shows", className="controls-heading"),
        html.P("The map changes as you choose. Lists marked 'several' take more than one choice (hold Ctrl or "
               "Shift).", className="hint"),
        html.Fieldset([
            html.Legend("Areas"),
            _field("Area layer", select("boundary", [{"label": b.meta.title, "value": n}
                                                     for n, b in places.boundaries.items()], view["boundary"])),
            _field("Focus on one area", select("area", [{"label": "All areas", "value": ""}, *area_choices],
                                               view["area"] or ""),
                   hint="Or select an area on the map, or draw one with the polygon or rectangle tool."),
            html.Button("Clear the drawn area", id="clear-drawn", className="link-button", type="button"),
        ]),
        html.Fieldset([html.Legend("Shade areas by"), _field("Figure", select("metric", metric_options,
                                                                              view["metric"]))]),
        html.Fieldset([
            html.Legend("Show points"),
            _field("Point layers (several)", select("layers", point_options, view["layers"], multiple=True,
                                                    size=min(8, len(point_options)))),
        ]),
        html.Details([html.Summary("More options: classes, colours, period, categories, asset kinds"),
                      *_more_options(view, months, category_options)], className="more-options",
                     open=bool(view["category"] or view["kind"])),
        html.Button("Apply the choices", id="apply-now", type="button", hidden=True, tabIndex="-1"),
    ], className="controls", id="map-controls", tabIndex="-1", role="region", **aria(label="Map controls"))


def _more_options(view: dict, months: list[dict], category_options: list[dict]) -> list:
    """The less-used choices: class breaks, colours, period, categories and asset kinds."""
    return [
        html.Fieldset([
            html.Legend("Shading"),
            _field("Classes", select("classes", [{"label": "Quintiles within the borough", "value": "quintiles"},
                                                 {"label": "Equal bands", "value": "equal"}], view["classes"])),
            _field("Colours", select("palette", [{"label": p.replace("-", " ").capitalize(), "value": p}
                                                 for p in views.PALETTES], view["palette"])),
        ]),
        html.Fieldset([
            html.Legend("Period"),
            html.P("Applies to dated layers such as crime. The map opens on the latest 12 months of the most "
                   "recent crime layer.", className="hint"),
            _field("From", select("from", months, view["from"])),
            _field("To", select("to", months, view["to"])),
        ]),
        html.Fieldset([
            html.Legend("Filter points"),
            _field("Categories (several; none for all)", select("category", category_options, view["category"],
                                                               multiple=True, size=6)),
            _field("Asset kinds (several; none for all)",
                   select("kind", [{"label": ASSET_KIND_LABELS[k], "value": k} for k in ASSET_KINDS],
                          view["kind"], multiple=True, size=4)),
        ]),
    ]


def opening_bounds(places: Places, view: dict) -> list[list[float]] | None:
    """Where the map opens: the chosen area of a shared link, else the whole boundary layer ([[s, w], [n, e]])."""
    if not view["boundary"]:
        return None
    areas = places.boundary(view["boundary"]).areas
    if view["area"]:
        areas = areas[areas["code"] == view["area"]]
    minx, miny, maxx, maxy = (float(v) for v in areas.total_bounds)
    return [[miny, minx], [maxy, maxx]]


def map_column(problems: list[str], bounds: list[list[float]] | None = None) -> html.Div:
    """The summary line above the map, its problems, status line, legend and table alternative."""
    return html.Div([
        html.A("Skip to the map controls", href="#map-controls", className="in-page-skip to-controls"),
        html.P(id="map-summary", className="map-summary", **aria(live="polite")),
        *([html.Div(" ".join(problems), role="alert", id="url-problems", className="status")] if problems else []),
        html.Div(role="status", id="status", className="status"),
        html.Div(
            dl.Map(
                [*tile_layers(context().settings),
                 dl.GeoJSON(id="areas", style={"variable": "insightMap.styleArea"},
                            onEachFeature={"variable": "insightMap.bindAreaTooltip"}, hideout={}),
                 dl.LayerGroup(id="overlays"),
                 dl.FeatureGroup([dl.EditControl(id="draw", draw=DRAW_TOOLS, edit={"edit": False})]),
                 dl.GeoJSON(id="drawn-shape", style={"color": "#d4351c", "weight": 3, "fillOpacity": 0.05})],
                id="explore-map", **({"bounds": bounds} if bounds else {"center": [51.6, -0.2], "zoom": 11}),
            ),
            className="map-wrap", role="region", **aria(label="Map: select an area to see its figures"),
        ),
        html.Div(id="legend", className="legend"),
        html.Details([html.Summary("Table of what the map shows"), html.Div(id="map-table")], open=False),
    ], className="map-column")


def layout(**query: str) -> html.Div:
    """The map page for the view in the URL query (made once per query until the data change)."""
    places = places_or_message("Explore your area")
    if isinstance(places, html.Div):
        return places
    return context().view(("map-layout", tuple(sorted(query.items()))), lambda: _layout(places, query))


def _layout(places: Places, query: dict[str, str]) -> html.Div:
    view, problems = parse_view(places, query)
    return html.Div([
        dcc.Location(id="view-url", refresh=False),
        dcc.Store(id="drawn", data=view["draw"]),
        dcc.Store(id="view", data={k: v for k, v in view.items() if k != "draw"}),
        html.H1("Explore your area", className="visually-hidden"),
        html.Div([controls(places, view), map_column(problems, opening_bounds(places, view)),
                  html.Aside(id="panel", className="panel", **aria(live="polite", label="Chosen area"))],
                 className="explore"),
    ])


def refresh(view: dict, drawn: str | None) -> tuple:
    """Redraw everything for the chosen view; one call to the package per part (kept per view until the data
    change, so people looking at the same map share it)."""
    trigger = _trigger()
    key = ("map", json.dumps(view, sort_keys=True, default=str), drawn, trigger)
    return context().view(key, lambda: render(view, drawn, trigger=trigger))


def _trigger() -> str | None:
    """The id of the input that fired the callback (None on first load or outside Dash)."""
    try:
        trigger = ctx.triggered_id
    except (LookupError, MissingCallbackContextException):
        return None
    return trigger if isinstance(trigger, str) else None


def search_results(query: str | None, boundary: str) -> list:
    """Areas and places whose names match, as links that set the view."""
    hits = views.search(current_places(), query or "")
    if query and not hits:
        return [html.Li("Nothing found. Try part of a name, e.g. 'Oak'.")]
    items = []
    for hit in hits:
        if hit["type"] == "area":
            href = "/" + view_query({"boundary": hit["boundary"], "area": hit["code"]})
            items.append(html.Li(html.A(f"{hit['name']} — {hit['boundary_title']}", href=href)))
            continue
        what = hit["kind_title"] if hit["type"] == "postcode" else hit["layer_title"]
        label = f"{hit['name']} — {what}" + (f" ({hit['note']})" if hit.get("note") else "")
        if hit.get("code"):
            layers = [hit["layer"]] if hit["type"] == "feature" else []
            href = "/" + view_query({"boundary": hit["boundary"], "area": hit["code"], "layers": layers})
            items.append(html.Li(html.A(label, href=href)))
        else:
            items.append(html.Li(f"{label} — outside the areas on this map" if hit.get("lon") is not None
                                 else label))
    return items


def remember_drawn(geojson: dict | None, _clicks: int | None) -> str | NoUpdate | None:
    """The drawn polygon in its URL form; clearing removes it."""
    if _trigger() == "clear-drawn":
        return None
    return views.drawn_text(geojson) or no_update


def register_callbacks(app: Dash) -> None:
    """Add the explore page's callbacks to ``app``: gather the view, redraw the map, search, remember a drawing."""
    app.clientside_callback(READ_VIEW, Output("view", "data"), Input("apply-now", "n_clicks"),
                            Input("areas", "clickData"), prevent_initial_call=True)
    app.callback(
        Output("areas", "url"), Output("areas", "hideout"), Output("legend", "children"),
        Output("overlays", "children"), Output("map-table", "children"), Output("status", "children"),
        Output("status", "role"), Output("view-url", "search"), Output("panel", "children"),
        Output("explore-map", "viewport"), Output("drawn-shape", "data"),
        Output("area", "children"), Output("metric", "children"), Output("category", "children"),
        Output("map-summary", "children"),
        Input("view", "data"), Input("drawn", "data"),
    )(refresh)
    app.callback(Output("search-results", "children"), Input("search", "value"), State("boundary", "value"),
                 prevent_initial_call=True)(search_results)
    app.callback(Output("drawn", "data"), Input("draw", "geojson"), Input("clear-drawn", "n_clicks"),
                 prevent_initial_call=True)(remember_drawn)
