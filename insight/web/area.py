"""The area page: one area's full profile, e.g. a ward councillor's page for their ward.

``/area/<boundary>/<code>?comparator=borough|average|LAYER:CODE&period=YYYY-MM:YYYY-MM&layer=POINT_LAYER``.
The URL holds the view (:mod:`insight.web.area_view`): the layout is built from it, and the view
controls rewrite it (without a reload, so a copied link reproduces what is on screen) while
redrawing the figures.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import dash_leaflet as dl
import shapely
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from insight.analysis.perception import PerceptionResult
from insight.analysis.places import Places, month_label
from insight.analysis.profiles import ASSET_KIND_LABELS, Profile
from insight.analysis.views import default_boundary
from insight.errors import InsightError, NotFoundError
from insight.layers import ASSET_KINDS
from insight.web.area_perception import perception_section
from insight.web.area_sections import (
    assets_section,
    crime_section,
    deprivation_section,
    downloads_section,
    key_figures,
    notes_section,
    population_section,
    sources_section,
)
from insight.web.area_trends import trends_section
from insight.web.area_view import AreaView, parse_view
from insight.web.components import aria, field, select, tile_layers, unavailable
from insight.web.context import CUSTOM_BOUNDARY, context, current_places
from insight.web.custom_areas import custom_map_link

KIND_COLOURS = {"money": "#8C5E00", "services_people": "#0072B2", "insight": "#007556", "spaces": "#A4377C"}
MAX_LISTED_AREAS = 60
# Reads the native selects' values when the button is pressed (Dash does not sync a <select>).
READ_CHOICE = """function(clicks) {
    const value = id => { const e = document.getElementById(id); return e && !e.disabled ? e.value : null; };
    return {comparator: value('area-comparator'), layer: value('area-layer'), from: value('area-from'),
            to: value('area-to'), clicks: clicks};
}"""


def view_profile(places: Places, view: AreaView) -> Profile:
    """The area's profile, with resident-perception rows when a survey covers this boundary layer."""

    def compute() -> Profile:
        result = context().area_profile(places, view.boundary, view.code, comparator=view.comparator,
                                        crime_layer=view.layer, period=view.period)
        return context().with_surveys(result, crime_layer=view.layer, period=view.period)

    return context().view(("profile", view), compute)


def view_body(places: Places, result: Profile, view: AreaView) -> list:
    """The profile's sections for the page, made once per view until the data change."""
    return context().view(("body", view), lambda: profile_body(places, result, view))


def survey_results(view: AreaView) -> tuple[list[PerceptionResult], str | None]:
    """Perception results for the page's boundary layer, or a readable reason why there are none."""
    try:
        return context().perception_results(view.boundary, crime_layer=view.layer, period=view.period), None
    except InsightError as exc:
        return [], str(exc)


def profile_body(places: Places, result: Profile, view: AreaView) -> list:
    """Everything on the page that depends on the comparator, period and layer."""
    return [
        notes_section(places, result),
        key_figures(result),
        population_section(result),
        deprivation_section(result),
        crime_section(result),
        trends_section(places, view) if view.boundary != CUSTOM_BOUNDARY else None,
        perception_section(result, *survey_results(view)),
        assets_section(result),
        downloads_section(result, view),
        sources_section(places, result, view),
    ]


def status_text(result: Profile, view: AreaView) -> str:
    """What the page shows, announced to screen readers when it changes."""
    period = f" for {month_label(view.period[0])} to {month_label(view.period[1])}" if view.period else ""
    return f"Showing {result.name} compared with {result.comparator}{period}."


def area_map(places: Places, result: Profile) -> html.Section:
    """The area's outline and its assets on a small map; the tile layer only when one is configured."""
    minx, miny, maxx, maxy = shapely.bounds(result.geometry)
    outline = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": result.name}, "geometry": shapely.geometry.mapping(result.geometry)}
    ]}
    assets: Iterable[Any] = result.assets.itertuples()
    markers = [
        dl.CircleMarker(center=[a.latitude, a.longitude], radius=6, color="#0b0c0c", weight=1,
                        fillColor=KIND_COLOURS.get(a.asset_kind, "#505a5f"), fillOpacity=0.9,
                        children=dl.Tooltip(f"{a.name or '(unnamed)'} — {a.category or a.layer_title}"))
        for a in assets
        if math.isfinite(a.latitude) and math.isfinite(a.longitude)
    ]
    tiles = tile_layers(context().settings)
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
            **aria(label=f"Map of {result.name} with {len(markers)} assets; they are listed under Assets"),
        ),
        legend,
    ], className="area-map", **aria(labelledby="area-map-heading"))


def comparator_options(places: Places, boundary: str, code: str, current: str) -> list[dict]:
    """The council, the average area, and every other area of the layer (plus the current choice)."""
    layer = (default_boundary(places) or boundary) if boundary == CUSTOM_BOUNDARY else boundary
    data = places.boundary(layer)
    options = []
    authority = places.authority
    if authority is not None:
        options.append({"label": f"{authority.areas['name'].iloc[0]} (whole {authority.meta.title.lower()})",
                        "value": "borough"})
    options.append({"label": f"Average of the {len(data.areas)} areas of {data.meta.title}", "value": "average"})
    options += [{"label": f"{n} ({data.meta.title})", "value": f"{layer}:{c}"}
                for c, n in sorted(zip(data.areas["code"], data.areas["name"]), key=lambda t: t[1]) if c != code]
    if current not in {o["value"] for o in options}:
        layer, _, other = current.partition(":")
        other_data = places.boundary(layer)
        name = other_data.areas["name"].iloc[other_data.index_of(other)]
        options.insert(2, {"label": f"{name} ({other_data.meta.title})", "value": current})
    return options


def layer_options(places: Places, current: str | None) -> list[dict]:
    """The crime layers to choose from (plus the current choice)."""
    names = [n for n, p in places.points.items() if p.meta.theme == "crime"]
    if current and current not in names:
        names.append(current)
    return [{"label": places.points[n].meta.title, "value": n} for n in names]


def month_options(places: Places, layer: str | None) -> list[dict]:
    """The layer's months, latest first; none for an undated layer."""
    span = places.points[layer].months() if layer in places.points else None
    if span is None:
        return []
    return [{"label": month_label(m), "value": month_label(m)} for m in range(span[1], span[0] - 1, -1)]


def period_fields(places: Places, view: AreaView) -> list[Component]:
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
    ], className="view-controls", role="form", **aria(label="View options"))


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
        found = context().profile_boundary(boundary or "", code or "")
        data = current_places().boundary(found) if isinstance(found, str) else found
        name = data.areas["name"].iloc[data.index_of(code or "")]
    except InsightError:
        return "Area not found — Local Insight"
    return f"{name} ({data.meta.title}) — area profile — Local Insight"


def page_header(result: Profile, view: AreaView) -> html.Header:
    """The area's name, what kind of area it is, and links to the map, the comparison and the downloads."""
    meta = result.boundary.meta
    custom = view.boundary == CUSTOM_BOUNDARY
    links = html.Ul([
        html.Li(html.A("Show on the map", href=custom_map_link(result) if custom
                       else f"/?boundary={view.boundary}&area={view.code}")),
        None if custom else html.Li(html.A("Compare with other areas",
                                           href=f"/compare?boundary={view.boundary}&areas={view.code}")),
        html.Li(html.A("Make another custom area", href="/areas/custom")) if custom else None,
        html.Li(html.A("Downloads", href="#downloads")),
        html.Li(html.A("Sources and methods", href="#sources")),
    ], className="page-links")
    return html.Header([
        html.H1(result.name),
        html.P(f"{meta.title} · boundary vintage {meta.vintage or 'not stated'} · area code {result.code}",
               className="subtitle"),
        links,
    ], className="area-header")


def layout(boundary: str | None = None, code: str | None = None, **query: str) -> html.Div:
    """The full profile of one area, for the view in the URL (made once per URL until the data change)."""
    try:
        places = current_places()
    except InsightError as exc:
        return unavailable("Area profile", exc)
    key = ("area-layout", boundary, code, tuple(sorted(query.items())))
    return context().view(key, lambda: _layout(places, boundary, code, query))


def _layout(places: Places, boundary: str | None, code: str | None, query: dict[str, str]) -> html.Div:
    try:
        view, problems = parse_view(places, boundary, code, query)
    except NotFoundError as exc:
        return not_found(places, f"{exc}.".replace("..", "."), boundary)
    try:
        result = view_profile(places, view)
    except InsightError as exc:
        return not_found(places, str(exc), boundary)
    return html.Div([
        dcc.Location(id="area-url", refresh=False),
        dcc.Store(id="area-key", data={"boundary": view.boundary, "code": view.code}),
        dcc.Store(id="area-choice"),
        page_header(result, view),
        html.Div([area_map(places, result), view_controls(places, view)], className="area-top"),
        html.Div(" ".join(problems) or None, id="area-problems", role="alert",
                 className="status" if problems else None),
        html.P(status_text(result, view), id="area-status", role="status", className="view-status"),
        html.Div(view_body(places, result, view), id="area-profile"),
    ], className="area-page")


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
    return (view.search, view_body(places, result, view), message, "status" if message else None,
            status_text(result, view), period_fields(places, view))


def register_callbacks(app: Dash) -> None:
    """Add the area page's callbacks to ``app``: the view controls redraw the profile and rewrite the URL."""
    from insight.web.area_sections import register_print

    register_print(app)
    app.clientside_callback(READ_CHOICE, Output("area-choice", "data"), Input("area-apply", "n_clicks"),
                            prevent_initial_call=True)
    app.callback(
        Output("area-url", "search"), Output("area-profile", "children"), Output("area-problems", "children"),
        Output("area-problems", "className"), Output("area-status", "children"), Output("area-period", "children"),
        Input("area-choice", "data"), State("area-key", "data"),
        prevent_initial_call=True,
    )(update_view)
