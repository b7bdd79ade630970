"""The explore page: a map of areas shaded by a chosen figure, point layers over it, filters,
a side panel for the chosen area and a table alternative. The URL holds the whole view."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import dash_leaflet as dl
import numpy as np
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.exceptions import MissingCallbackContextException

from insight.analysis import views
from insight.analysis.places import Places, month_label, month_number
from insight.analysis.profiles import ASSET_KIND_LABELS, period_query, profile
from insight.errors import InsightError
from insight.layers import ASSET_KINDS
from insight.web import context, current_places, places_or_message
from insight.web.api import parse_perception_metric

OVERLAY_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
CLUSTER_ABOVE = 500
PANEL_METRICS = ("residents", "imd_rank", "points_rate", "points_change")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DRAW_TOOLS = {"polygon": True, "rectangle": True, "polyline": False, "circle": False, "marker": False,
              "circlemarker": False}


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
    layers = [l for l in (query.get("layers") or "").split(",") if l]
    unknown = [l for l in layers if l not in places.points]
    if unknown:
        problems.append(f"Unknown point layer(s) {', '.join(unknown)} were left out.")
    layers = [l for l in layers if l in places.points]
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
    spans = [p.months() for p in places.points.values() if p.months()]
    if not spans:
        return []
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    return [{"label": month_label(m), "value": month_label(m)} for m in range(last, first - 1, -1)]


def _field(label: str, control, hint: str | None = None) -> html.Div:
    parts = [html.Label(label, htmlFor=control.id, className="field")]
    if hint:
        parts.append(html.P(hint, id=f"{control.id}-hint", className="hint"))
    return html.Div([*parts, control])


def _select(select_id: str, options: list[dict], value, *, multiple: bool = False,
            size: int | None = None) -> html.Select:
    """A native <select> (keyboard and screen-reader friendly); read when 'Update map' is pressed."""
    chosen = set(value) if isinstance(value, list) else {value}
    extra = {"multiple": True, "size": size} if multiple else {}
    return html.Select([html.Option(o["label"], value=o["value"], selected=o["value"] in chosen) for o in options],
                       id=select_id, name=select_id, **extra)


def layout(**query: str) -> html.Div:
    """The map page for the view in the URL query."""

    places, message = places_or_message("Explore your area")
    if message is not None:
        return message
    view, problems = parse_view(places, query)
    settings = context().settings
    tiles = [dl.TileLayer(url=settings.tile_url, attribution=settings.tile_attribution)] if settings.tile_url else []
    point_options = [
        {"label": p.meta.title + (" (illustrative)" if p.meta.illustrative and "ILLUSTRATIVE" not in p.meta.title else ""),
         "value": name}
        for name, p in sorted(places.points.items(), key=lambda kv: (kv[1].meta.theme or "", kv[1].meta.title))
    ]
    months = _month_options(places)
    area_options, metric_options, category_options = _options(places, view["boundary"], view["layers"])
    controls = html.Div([
        html.Div([
            _field("Search areas and places", dcc.Input(id="search", type="search", debounce=True,
                                                        placeholder="e.g. Burnt Oak, library")),
            html.Ul(id="search-results", className="search-results", **{"aria-live": "polite"}),
        ], role="search"),
        html.H2("Choose what the map shows", className="controls-heading"),
        html.P("Make your choices, then select 'Update map'. Lists marked 'several' take more than one "
               "choice (hold Ctrl or Shift).", className="hint"),
        html.Fieldset([
            html.Legend("Areas"),
            _field("Area layer", _select("boundary", [{"label": b.meta.title, "value": n}
                                                      for n, b in places.boundaries.items()], view["boundary"])),
            _field("Focus on one area", _select("area", [{"label": "All areas", "value": ""}, *area_options],
                                                view["area"] or ""),
                   hint="Or select an area on the map, or draw one with the polygon or rectangle tool."),
            html.Button("Clear the drawn area", id="clear-drawn", className="link-button", type="button"),
        ]),
        html.Fieldset([
            html.Legend("Shade areas by"),
            _field("Figure", _select("metric", metric_options, view["metric"])),
            _field("Classes", _select("classes", [{"label": "Quintiles within the borough", "value": "quintiles"},
                                                  {"label": "Equal bands", "value": "equal"}], view["classes"])),
            _field("Colours", _select("palette", [{"label": p.replace("-", " ").capitalize(), "value": p}
                                                  for p in views.PALETTES], view["palette"])),
        ]),
        html.Fieldset([
            html.Legend("Show points"),
            _field("Point layers (several)", _select("layers", point_options, view["layers"], multiple=True,
                                                     size=min(8, len(point_options)))),
            _field("Categories (several; none for all)", _select("category", category_options, view["category"],
                                                                multiple=True, size=6)),
            _field("Asset kinds (several; none for all)",
                   _select("kind", [{"label": ASSET_KIND_LABELS[k], "value": k} for k in ASSET_KINDS],
                           view["kind"], multiple=True, size=4)),
        ]),
        html.Fieldset([
            html.Legend("Period"),
            html.P("Applies to dated layers such as crime.", className="hint"),
            _field("From", _select("from", months, view["from"])),
            _field("To", _select("to", months, view["to"])),
        ]),
        html.Button("Update map", id="apply", className="button", type="button"),
    ], className="controls")
    map_column = html.Div([
        *([html.Div(" ".join(problems), role="alert", id="url-problems", className="status")] if problems else []),
        html.Div(role="status", id="status", className="status"),
        html.Div(
            dl.Map(
                [*tiles,
                 dl.GeoJSON(id="areas", style={"variable": "insightMap.styleArea"},
                            onEachFeature={"variable": "insightMap.bindAreaTooltip"}, hideout={}),
                 dl.LayerGroup(id="overlays"),
                 dl.FeatureGroup([dl.EditControl(id="draw", draw=DRAW_TOOLS, edit={"edit": False})]),
                 dl.GeoJSON(id="drawn-shape", style={"color": "#d4351c", "weight": 3, "fillOpacity": 0.05})],
                id="explore-map", center=[51.6, -0.2], zoom=11,
            ),
            className="map-wrap", role="region", **{"aria-label": "Map: select an area to see its figures"},
        ),
        html.Div(id="legend", className="legend"),
        html.Details([html.Summary("Table of what the map shows"), html.Div(id="map-table")], open=False),
    ])
    return html.Div([
        dcc.Location(id="view-url", refresh=False),
        dcc.Store(id="drawn", data=view["draw"]),
        dcc.Store(id="view", data={k: v for k, v in view.items() if k != "draw"}),
        html.H1("Explore your area", className="visually-hidden"),
        html.Div([controls, map_column, html.Aside(id="panel", className="panel",
                                                   **{"aria-live": "polite", "aria-label": "Chosen area"})],
                 className="explore"),
    ])


def _options(places: Places, boundary: str, layers: list[str]) -> tuple[list, list, list]:
    areas = places.boundary(boundary).areas
    area_options = [{"label": n, "value": c} for c, n in sorted(zip(areas["code"], areas["name"]), key=lambda t: t[1])]
    categories = sorted({c for layer in layers or [] for c in views.categories(places, layer)})
    try:
        survey_options = context().perception_options(boundary)
    except InsightError:
        survey_options = []
    return (area_options, views.shading_options(places, boundary) + survey_options,
            [{"label": c, "value": c} for c in categories])


def view_query(values: dict) -> str:
    """The URL query string for a view (empty values left out)."""
    pairs = {k: (",".join(v) if isinstance(v, list) else v) for k, v in values.items() if v}
    return "?" + urlencode(pairs) if pairs else ""


def _legend(shade: views.Shading) -> list:
    items = [html.Li([html.Span(className="swatch", style={"background": c}), label])
             for c, label in zip(shade.colours, shade.labels)]
    items.append(html.Li([html.Span(className="swatch", style={"background": "#f3f2f1"}), shade.no_data]))
    return [html.Strong(shade.title), html.Span(f" ({shade.period})", className="muted"), html.Ul(items),
            html.P(f"Source: {shade.source}. Method: {shade.method}.", className="muted")]


def _panel(places: Places, boundary: str, area: str | None, period: tuple[int, int] | None,
           metric: str = "") -> list:
    if not area:
        return [html.H2("No area chosen"), html.P("Select an area on the map or in 'Focus on one area' to see "
                                                   "its figures against the borough.")]
    result = profile(places, boundary, area, period=period)
    figures = result.figures.set_index("metric")
    rows = []
    for key in PANEL_METRICS:
        if key in figures.index:
            f = figures.loc[key]
            rows += [html.Dt(f["label"]), html.Dd(views._format(f["value"], f["unit"]) if f["value"] == f["value"] else "—")]
            rows += [html.Dt(f"{result.comparator}", className="muted"),
                     html.Dd(views._format(f["comparator_value"], f["unit"]) if f["comparator_value"] == f["comparator_value"] else "—",
                             className="muted")]
    query = urlencode({"period": period_query(period)} if period else {})
    base = f"/api/export/{boundary}/{result.code}"
    return [
        html.H2(result.name),
        html.P(f"{result.boundary.meta.title} ({result.boundary.meta.vintage})", className="muted"),
        html.Dl(rows),
        *_perception_note(boundary, area, metric, period),
        html.P(html.A("Full profile of this area", href=f"/area/{boundary}/{result.code}?{query}")),
        html.P(["Download: "] + [html.A(fmt.upper(), href=f"{base}.{fmt}?{query}") for fmt in ("csv", "xlsx", "html")],
               className="exports"),
        *[html.P(n, className="muted") for n in result.notes],
    ]


def _shown(shade: views.Shading, code: str) -> str:
    if shade.display is not None:
        return shade.display.get(code, "—")
    return "—" if shade.values.get(code) is None else views._format(shade.values[code], shade.unit)


def _perception_note(boundary: str, area: str, metric: str, period: tuple[int, int] | None) -> list:
    """When the map is shaded by a survey question, the chosen area's reading of it, in words."""
    chosen = parse_perception_metric(metric)
    if chosen is None:
        return []
    from insight.analysis.perception import summary_sentence

    survey, question = chosen
    try:
        result = context().perception(boundary, question, survey=survey, period=period)
        return [html.P(summary_sentence(result, area), className="perception-verdict")]
    except InsightError:
        return []


def _shading(places: Places, boundary: str, metric: str, **kw) -> views.Shading:
    """Shading by a figure of the snapshot, or by a survey question's perception-against-crime classes."""
    chosen = parse_perception_metric(metric)
    if chosen is not None:
        survey, question = chosen
        return views.perception_shading(context().perception(boundary, question, survey=survey,
                                                               period=kw.get("period")))
    return views.shading(places, boundary, metric, **kw)


def _table(places: Places, boundary: str, shade: views.Shading, counts: dict[str, int]) -> html.Table:
    areas = places.boundary(boundary).areas
    head = ["Area", "Code", shade.title] + [f"{places.point_layer(l).meta.title}: points shown" for l in counts]
    body = [
        html.Tr([html.Th(name, scope="row"), html.Td(code),
                 html.Td(_shown(shade, code), className="num" if shade.display is None else None)]
                + [html.Td(f"{per_area.get(code, 0):,}", className="num") for per_area in counts.values()])
        for code, name in zip(areas["code"], areas["name"])
    ]
    return html.Table([html.Caption(f"{places.boundary(boundary).meta.title}: {shade.title} ({shade.period})"),
                       html.Thead(html.Tr([html.Th(h, scope="col") for h in head])), html.Tbody(body)],
                      className="data-table")


@callback(
    Output("areas", "url"), Output("areas", "hideout"), Output("legend", "children"),
    Output("overlays", "children"), Output("map-table", "children"), Output("status", "children"),
    Output("status", "role"), Output("view-url", "search"), Output("panel", "children"),
    Output("explore-map", "viewport"), Output("drawn-shape", "data"),
    Output("area", "children"), Output("metric", "children"), Output("category", "children"),
    Input("view", "data"), Input("drawn", "data"),
)
def refresh(view: dict, drawn: str | None) -> tuple:
    """Redraw everything for the chosen view; one call to the package per part."""
    return render(view, drawn, trigger=_trigger())


def render(view: dict, drawn: str | None, *, trigger: str | None = None) -> tuple:
    """The outputs of :func:`refresh` for a view (the dict the 'Update map' button gathers)."""
    boundary, metric = view.get("boundary"), view.get("metric") or "points_rate"
    classes, palette = view.get("classes") or "quintiles", view.get("palette") or "yellow-green-blue"
    layers, area = list(view.get("layers") or []), view.get("area") or None
    category, kind = list(view.get("category") or []), list(view.get("kind") or [])
    start, end = view.get("from"), view.get("to")
    places = current_places()
    if boundary not in places.boundaries:
        boundary = views.default_boundary(places)
    if area and area not in set(places.boundary(boundary).areas["code"]):
        area = None
    layers = [l for l in layers if l in places.points]
    values = {"boundary": boundary, "metric": metric, "classes": classes, "palette": palette, "layers": layers,
              "area": area, "category": category, "kind": kind, "from": start, "to": end, "draw": drawn}
    messages: list[str] = []
    polygon = None
    if drawn:
        try:
            polygon = views.parse_drawn(drawn)
        except InsightError as exc:
            messages.append(str(exc))
    period = None
    if start and end:
        period = (month_number(start), month_number(end))
        if period[0] > period[1]:
            messages.append("The period ends before it starts: choose a later 'To' month.")
            period = None
    shade_metric = metric
    try:
        shade = _shading(places, boundary, metric, period=period, classing=classes, palette=palette)
    except InsightError as exc:
        messages.append(str(exc))
        shade_metric = "residents"
        shade = views.shading(places, boundary, "residents", classing=classes, palette=palette)
    hideout = {"values": shade.values, "breaks": shade.breaks, "colours": shade.colours, "selected": area}
    overlays, counts = [], {}
    period_arg = f"{start}:{end}" if period else ""
    for i, layer in enumerate(layers or []):
        points = places.point_layer(layer)
        params = {"boundary": boundary if area else "", "area": area or "", "period": period_arg,
                  "category": ",".join(category or []), "kind": ",".join(kind or [])}
        collection = views.points_collection(
            places, layer, boundary=boundary if area else None, area=area, categories=category or None,
            kinds=kind or None, period=period, polygon=polygon, limit=views.MAX_POINTS if polygon else 0,
        )
        if collection["total"] == 0:
            messages.append(f"No points of '{points.meta.title}' match the filters.")
        if collection["total"] > views.MAX_POINTS:
            messages.append(f"'{points.meta.title}': {collection['total']:,} points match; the map shows the "
                            f"first {views.MAX_POINTS:,}. Narrow the period or focus on an area.")
        colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
        overlays.append(dl.GeoJSON(
            id={"type": "overlay", "layer": layer},
            **({"data": collection} if polygon is not None else
               {"url": f"/api/points/{layer}.geojson?" + urlencode({k: v for k, v in params.items() if v})}),
            cluster=collection["total"] > CLUSTER_ABOVE, zoomToBoundsOnClick=True,
            superClusterOptions={"radius": 60}, hideout={"colour": colour, "radius": 5 + (i % 3)},
            pointToLayer={"variable": "insightMap.pointToLayer"},
            clusterToLayer={"variable": "insightMap.clusterToLayer"},
            onEachFeature={"variable": "insightMap.bindPopup"},
        ))
        counts[layer] = _counts_by_area(places, layer, boundary, category, kind, period)
    bounds = no_update
    if trigger in (None, "view"):
        geoms = places.boundary(boundary).areas
        if area:
            geoms = geoms[geoms["code"] == area]
        minx, miny, maxx, maxy = geoms.total_bounds
        bounds = {"bounds": [[miny, minx], [maxy, maxx]], "transition": "flyToBounds"}
    shape = {"type": "FeatureCollection", "features": []}
    if polygon is not None:
        shape["features"].append({"type": "Feature", "properties": {}, "geometry": polygon.__geo_interface__})
    panel = _drawn_panel(places, polygon, period) if polygon is not None else _panel(places, boundary, area, period, shade_metric)
    area_options, metric_options, category_options = _options(places, boundary, layers)
    as_options = lambda options, chosen: [  # noqa: E731
        html.Option(o["label"], value=o["value"], selected=o["value"] in chosen) for o in options]
    return (
        f"/api/layers/{boundary}.geojson", hideout, _legend(shade), overlays, _table(places, boundary, shade, counts),
        " ".join(m for m in messages if m) or None, "alert" if messages else "status",
        view_query(values), panel, bounds, shape,
        as_options([{"label": "All areas", "value": ""}, *area_options], {area or ""}),
        as_options(metric_options, {shade_metric}), as_options(category_options, set(category)),
    )


def _trigger() -> str | None:
    """The id of the input that fired the callback (None on first load or outside Dash)."""
    try:
        trigger = ctx.triggered_id
    except (LookupError, MissingCallbackContextException):
        return None
    return trigger if isinstance(trigger, str) else None


def _drawn_panel(places: Places, polygon, period: tuple[int, int] | None) -> list:
    from insight.analysis.profiles import drawn_boundary

    result = profile(places, drawn_boundary(polygon, name="Drawn area"), "drawn", period=period)
    figures = result.figures.set_index("metric")
    rows = []
    for key in ("residents", "points_total", "points_rate", *[f"kind:{k}" for k in ASSET_KINDS]):
        if key in figures.index:
            f = figures.loc[key]
            shown = views._format(f["value"], f["unit"]) if f["value"] == f["value"] else "—"
            rows += [html.Dt(f["label"]), html.Dd(shown)]
    return [html.H2("Drawn area"), html.Dl(rows), *[html.P(n, className="muted") for n in result.notes]]


def _counts_by_area(places: Places, layer: str, boundary: str, category, kind, period) -> dict[str, int]:
    from insight.analysis.profiles import _tags_for

    points = places.point_layer(layer)
    data = places.boundary(boundary)
    mask = views._mask(points, places, boundary=None, area=None, categories=category or None,
                       kinds=kind or None, period=period)
    tags = _tags_for(points, data)[mask]
    counts = np.bincount(tags[tags >= 0], minlength=len(data.areas))
    return dict(zip(data.areas["code"], counts.tolist()))


clientside_callback(
    """function(clicks, clicked) {
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
    }""",
    Output("view", "data"), Input("apply", "n_clicks"), Input("areas", "clickData"), prevent_initial_call=True,
)


@callback(Output("search-results", "children"), Input("search", "value"), State("boundary", "value"),
          prevent_initial_call=True)
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
        else:
            items.append(html.Li(f"{hit['name']} — {hit['layer_title']}"))
    return items


@callback(Output("drawn", "data"), Input("draw", "geojson"), Input("clear-drawn", "n_clicks"),
          prevent_initial_call=True)
def remember_drawn(geojson: dict | None, _clicks: int | None) -> str | None:
    """The drawn polygon in its URL form; clearing removes it."""
    if _trigger() == "clear-drawn":
        return None
    return views.drawn_text(geojson) or no_update
