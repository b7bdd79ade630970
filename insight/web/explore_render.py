"""The map page's redraw: shading, point overlays, legend, table, side panel and viewport for one view.

:func:`render` computes every output of the explore page's main callback from the view the
page's choices make (gathered as they change); it runs inside a request (it reads the app context).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import dash_leaflet as dl
from dash import html, no_update
from shapely.geometry.base import BaseGeometry

from insight.analysis import trend_views, views
from insight.analysis.perception import summary_sentence
from insight.analysis.places import Places, month_label, month_number
from insight.analysis.profiles import drawn_boundary, period_query, period_text, profile
from insight.errors import InsightError
from insight.layers import ASSET_KINDS
from insight.web.area_trends import shading_tables
from insight.web.components import area_options
from insight.web.context import context, current_places, parse_perception_metric

OVERLAY_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
CLUSTER_ABOVE = 500
PANEL_METRICS = ("residents", "imd_rank", "points_rate", "points_change")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class MapView:
    """What the map shows, checked against the snapshot (unknown boundary, area and layers dropped)."""

    boundary: str
    metric: str
    classes: str
    palette: str
    layers: list[str]
    area: str | None
    category: list[str]
    kind: list[str]
    start: str | None
    end: str | None
    drawn: str | None

    @classmethod
    def checked(cls, places: Places, view: dict, drawn: str | None) -> MapView:
        """The view the page's choices make, with defaults, against what is loaded."""
        boundary = view.get("boundary") or ""
        if boundary not in places.boundaries:
            boundary = views.default_boundary(places) or ""
        area = view.get("area") or None
        if area and area not in set(places.boundary(boundary).areas["code"]):
            area = None
        return cls(
            boundary=boundary, metric=view.get("metric") or "points_rate",
            classes=view.get("classes") or "quintiles", palette=view.get("palette") or "yellow-green-blue",
            layers=[name for name in view.get("layers") or [] if name in places.points], area=area,
            category=list(view.get("category") or []), kind=list(view.get("kind") or []),
            start=view.get("from"), end=view.get("to"), drawn=drawn,
        )

    def query_values(self) -> dict:
        """The view's URL parameters, for :func:`view_query`."""
        return {"boundary": self.boundary, "metric": self.metric, "classes": self.classes, "palette": self.palette,
                "layers": self.layers, "area": self.area, "category": self.category, "kind": self.kind,
                "from": self.start, "to": self.end, "draw": self.drawn}


def view_query(values: dict) -> str:
    """The URL query string for a view (empty values left out)."""
    pairs = {k: (",".join(v) if isinstance(v, list) else v) for k, v in values.items() if v}
    return "?" + urlencode(pairs) if pairs else ""


def view_period(start: str | None, end: str | None) -> tuple[int, int] | None:
    """The months of a view's 'From' and 'To' (None unless both are set and in order)."""
    if not (start and end):
        return None
    period = (month_number(start), month_number(end))
    return period if period[0] <= period[1] else None


def options_for(places: Places, boundary: str, layers: list[str],
                period: tuple[int, int] | None = None) -> tuple[list, list, list]:
    """The choices of area, shading figure and category for a boundary layer, the chosen point layers and period."""
    categories = sorted({c for layer in layers or [] for c in views.categories(places, layer)})
    try:
        survey_options = context().perception_options(boundary)
    except InsightError:
        survey_options = []
    layer = views.shading_layer(places, layers, period)
    try:
        figures = views.shading_options(places, boundary, layer=layer, period=period)
    except InsightError:
        figures = views.shading_options(places, boundary)
    return (area_options(places, boundary), figures + trend_views.trend_options(places, layer) + survey_options,
            [{"label": c, "value": c} for c in categories])


def _legend(shade: views.Shading) -> list:
    items = [html.Li([html.Span(className="swatch", style={"background": c}), label])
             for c, label in zip(shade.colours, shade.labels)]
    items.append(html.Li([html.Span(className="swatch", style={"background": "#f3f2f1"}), shade.no_data]))
    return [html.Strong(shade.title), html.Span(f" ({shade.period})", className="muted"), html.Ul(items),
            html.P(f"Source: {shade.source}. Method: {shade.method}.", className="muted")]


def _shown_value(value: float, unit: str) -> str:
    """A figure in the side panel (the map legend's rounding); '—' when it is missing."""
    return views.format_value(value, unit) if value == value else "—"


def _panel(places: Places, boundary: str, area: str | None, period: tuple[int, int] | None,
           metric: str = "", layer: str | None = None) -> list:
    if not area:
        return [html.H2("No area chosen"), html.P("Select an area on the map or in 'Focus on one area' to see "
                                                   "its figures against the borough.")]
    try:
        result = profile(places, boundary, area, crime_layer=layer, period=period)
    except InsightError as exc:
        return [html.H2("Figures not available"), html.P(f"The figures for this area cannot be shown: {exc}.")]
    figures = result.figures.set_index("metric")
    rows = []
    for key in PANEL_METRICS:
        if key in figures.index:
            f: Any = figures.loc[key]
            rows += [html.Dt(f["label"]), html.Dd(_shown_value(f["value"], f["unit"]))]
            rows += [html.Dt(f"{result.comparator}", className="muted"),
                     html.Dd(_shown_value(f["comparator_value"], f["unit"]), className="muted")]
    query = urlencode({"period": period_query(period)} if period else {})
    base = f"/api/export/{boundary}/{result.code}"
    return [
        html.H2(result.name),
        html.P(f"{result.boundary.meta.title} ({result.boundary.meta.vintage})", className="muted"),
        html.Dl(rows),
        *_perception_note(boundary, area, metric, period, layer),
        html.P(html.A("Full profile of this area", href=f"/area/{boundary}/{result.code}?{query}")),
        html.P(["Download: "] + [html.A(f.upper(), href=f"{base}.{f}?{query}") for f in ("csv", "xlsx", "html")],
               className="exports"),
        *[html.P(n, className="muted") for n in result.notes],
    ]


def _shown(shade: views.Shading, code: str) -> str:
    if shade.display is not None:
        return shade.display.get(code, "—")
    value = shade.values.get(code)
    return "—" if value is None else views.format_value(value, shade.unit)


def _perception_note(boundary: str, area: str, metric: str, period: tuple[int, int] | None,
                     layer: str | None = None) -> list:
    """When the map is shaded by a survey question, the chosen area's reading of it, in words."""
    chosen = parse_perception_metric(metric)
    if chosen is None:
        return []
    survey, question = chosen
    try:
        result = context().perception(boundary, question, survey=survey, crime_layer=layer, period=period)
        return [html.P(summary_sentence(result, area), className="perception-verdict")]
    except InsightError:
        return []


def _shading(places: Places, boundary: str, metric: str, **kw) -> views.Shading:
    """Shading by a figure of the snapshot, or by a survey question's perception-against-crime classes."""
    chosen = parse_perception_metric(metric)
    if chosen is not None:
        survey, question = chosen
        return views.perception_shading(context().perception(boundary, question, survey=survey,
                                                               crime_layer=kw.get("layer"), period=kw.get("period")))
    if metric in trend_views.TREND_METRICS:
        return trend_views.trend_shading(shading_tables(places, kw.get("layer"), boundary), metric)
    return views.shading(places, boundary, metric, **kw)


def _table(places: Places, boundary: str, shade: views.Shading, counts: dict[str, dict[str, int]]) -> html.Table:
    areas = places.boundary(boundary).areas
    head = ["Area", "Code", shade.title] + [f"{places.point_layer(name).meta.title}: points shown" for name in counts]
    body = [
        html.Tr([html.Th(name, scope="row"), html.Td(code),
                 html.Td(_shown(shade, code), className="num" if shade.display is None else None)]
                + [html.Td(f"{per_area.get(code, 0):,}", className="num") for per_area in counts.values()])
        for code, name in zip(areas["code"], areas["name"])
    ]
    return html.Table([html.Caption(f"{places.boundary(boundary).meta.title}: {shade.title} ({shade.period})"),
                       html.Thead(html.Tr([html.Th(h, scope="col") for h in head])), html.Tbody(body)],
                      className="data-table")


def _drawn_panel(places: Places, polygon: BaseGeometry, period: tuple[int, int] | None,
                 layer: str | None = None, drawn: str | None = None) -> list:
    link = html.P(html.A("Open the full profile of this area",
                         href=f"/areas/custom/from-map?draw={quote(drawn or '', safe='')}"))
    try:
        result = profile(places, drawn_boundary(polygon, name="Drawn area"), "drawn", crime_layer=layer,
                         period=period)
    except InsightError as exc:
        return [html.H2("Drawn area"), html.P(f"The figures for the drawn area cannot be shown: {exc}."), link]
    figures = result.figures.set_index("metric")
    rows = []
    for key in ("residents", "points_total", "points_rate", *[f"kind:{k}" for k in ASSET_KINDS]):
        if key in figures.index:
            f: Any = figures.loc[key]
            rows += [html.Dt(f["label"]), html.Dd(_shown_value(f["value"], f["unit"]))]
    return [html.H2("Drawn area"), html.Dl(rows), link, *[html.P(n, className="muted") for n in result.notes]]


def _counts_by_area(places: Places, layer: str, boundary: str, category: list[str], kind: list[str],
                    period: tuple[int, int] | None) -> dict[str, int]:
    """How many of the layer's points (after the filters) fall in each area, for the table."""
    counts = views.counts_by_area(places, layer, boundary, categories=category or None, kinds=kind or None,
                                  period=period)
    return dict(zip(places.boundary(boundary).areas["code"], counts.tolist()))


def _polygon(drawn: str | None, messages: list[str]) -> BaseGeometry | None:
    if not drawn:
        return None
    try:
        return views.parse_drawn(drawn)
    except InsightError as exc:
        messages.append(str(exc))
        return None


def _period(mv: MapView, messages: list[str]) -> tuple[int, int] | None:
    if not (mv.start and mv.end):
        return None
    period = (month_number(mv.start), month_number(mv.end))
    if period[0] > period[1]:
        messages.append("The period ends before it starts: choose a later 'To' month.")
        return None
    return period


def _shade(places: Places, mv: MapView, period: tuple[int, int] | None, layer: str | None,
           available: set[str], messages: list[str]) -> tuple[views.Shading, str]:
    """The shading asked for, or by residents (saying why, in words) when it cannot be drawn."""
    label = views.metric_label(mv.metric)
    if mv.metric not in available:
        title = places.point_layer(layer).meta.title if layer in places.points else "the loaded layers"
        when = f" in {period_text(period)}" if period else ""
        reason = f"'{title}' has no such records{when}"
    else:
        try:
            return _shading(places, mv.boundary, mv.metric, layer=layer, period=period, classing=mv.classes,
                            palette=mv.palette), mv.metric
        except InsightError as exc:
            reason = str(exc)
    messages.append(f"The map cannot be shaded by {label}: {reason}. It is shaded by usual residents instead.")
    return views.shading(places, mv.boundary, "residents", classing=mv.classes, palette=mv.palette), "residents"


def _overlay(places: Places, mv: MapView, i: int, layer: str, polygon: BaseGeometry | None,
             period: tuple[int, int] | None, messages: list[str]) -> dl.GeoJSON:
    """One point layer on the map: loaded by URL, or inline when filtered by a drawn area."""
    points = places.point_layer(layer)
    params = {"boundary": mv.boundary if mv.area else "", "area": mv.area or "",
              "period": f"{mv.start}:{mv.end}" if period else "",
              "category": ",".join(mv.category), "kind": ",".join(mv.kind)}
    try:
        collection = views.points_collection(
            places, layer, boundary=mv.boundary if mv.area else None, area=mv.area, categories=mv.category or None,
            kinds=mv.kind or None, period=period, polygon=polygon, limit=views.MAX_POINTS if polygon else 0,
        )
    except InsightError as exc:
        messages.append(f"No points of '{points.meta.title}' are shown: {exc}.")
        return dl.GeoJSON(id={"type": "overlay", "layer": layer}, data={"type": "FeatureCollection", "features": []})
    if collection["total"] == 0:
        messages.append(f"No points of '{points.meta.title}' match the filters.")
    if collection["total"] > views.MAX_POINTS:
        messages.append(f"'{points.meta.title}': {collection['total']:,} points match; the map shows the "
                        f"first {views.MAX_POINTS:,}. Narrow the period or focus on an area.")
    colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
    return dl.GeoJSON(
        id={"type": "overlay", "layer": layer},
        **({"data": collection} if polygon is not None else
           {"url": f"/api/points/{layer}.geojson?" + urlencode({k: v for k, v in params.items() if v})}),
        cluster=collection["total"] > CLUSTER_ABOVE, zoomToBoundsOnClick=True,
        superClusterOptions={"radius": 60}, hideout={"colour": colour, "radius": 5 + (i % 3)},
        pointToLayer={"variable": "insightMap.pointToLayer"},
        clusterToLayer={"variable": "insightMap.clusterToLayer"},
        onEachFeature={"variable": "insightMap.bindPopup"},
    )


def _viewport(places: Places, mv: MapView, trigger: str | None) -> Any:
    """Fly to the layer (or the chosen area) when the view changed; otherwise leave the map where it is."""
    if trigger not in (None, "view"):
        return no_update
    geoms = places.boundary(mv.boundary).areas
    if mv.area:
        geoms = geoms[geoms["code"] == mv.area]
    minx, miny, maxx, maxy = geoms.total_bounds
    return {"bounds": [[miny, minx], [maxy, maxx]], "transition": "flyToBounds"}


def _as_options(options: list[dict], chosen: set) -> list[html.Option]:
    return [html.Option(o["label"], value=o["value"], selected=o["value"] in chosen) for o in options]


def month_words(month: int) -> str:
    """A month number as people write it: 'Apr 2024'."""
    year, number = month_label(month).split("-")
    return f"{MONTH_NAMES[int(number) - 1]} {year}"


def summary(places: Places, mv: MapView, shade_metric: str, period: tuple[int, int] | None,
            layer: str | None) -> str:
    """One line saying what the map shows: areas, the shading figure and its period, points and focus."""
    text = f"{places.boundary(mv.boundary).meta.title} shaded by {views.metric_label(shade_metric)}"
    counted = layer in places.points and shade_metric not in ("residents", "imd_rank")
    if period and (counted or mv.layers):
        text += ", " + (month_words(period[0]) if period[0] == period[1]
                        else f"{month_words(period[0])} to {month_words(period[1])}")
        span = places.point_layer(layer).months() if layer and layer in places.points else None
        if layer and span and period == views.default_view_period(places) and span[1] - span[0] + 1 < 12:
            months = span[1] - span[0] + 1
            text += (f" (the latest crime layer, '{places.point_layer(layer).meta.title}', has only "
                     f"{months} month{'s' if months != 1 else ''} of records)")
    if mv.layers:
        text += f"; {len(mv.layers)} point layer{'s' if len(mv.layers) != 1 else ''}"
    if mv.drawn:
        text += "; figures for the drawn area"
    elif mv.area:
        names = places.boundary(mv.boundary).areas.set_index("code")["name"]
        text += f"; focused on {names.get(mv.area, mv.area)}"
    return text + "."


def render(view: dict, drawn: str | None, *, trigger: str | None = None) -> tuple:
    """The outputs of the explore page's ``refresh`` callback for a view (the dict the page's choices make)."""
    places = current_places()
    mv = MapView.checked(places, view, drawn)
    messages: list[str] = []
    polygon = _polygon(drawn, messages)
    period = _period(mv, messages)
    layer = views.shading_layer(places, mv.layers, period)
    areas, metric_options, category_options = options_for(places, mv.boundary, mv.layers, period)
    shade, shade_metric = _shade(places, mv, period, layer, {o["value"] for o in metric_options}, messages)
    hideout = {"values": shade.values, "breaks": shade.breaks, "colours": shade.colours, "selected": mv.area}
    overlays = [_overlay(places, mv, i, layer, polygon, period, messages) for i, layer in enumerate(mv.layers)]
    counts = {layer: _counts_by_area(places, layer, mv.boundary, mv.category, mv.kind, period) for layer in mv.layers}
    shape: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    if polygon is not None:
        shape["features"].append({"type": "Feature", "properties": {}, "geometry": polygon.__geo_interface__})
        panel = _drawn_panel(places, polygon, period, layer, drawn)
    else:
        panel = _panel(places, mv.boundary, mv.area, period, shade_metric, layer)
    return (
        f"/api/layers/{mv.boundary}.geojson", hideout, _legend(shade), overlays,
        _table(places, mv.boundary, shade, counts),
        " ".join(m for m in messages if m) or None, "alert" if messages else "status",
        view_query(mv.query_values()), panel, _viewport(places, mv, trigger), shape,
        _as_options([{"label": "All areas", "value": ""}, *areas], {mv.area or ""}),
        _as_options(metric_options, {shade_metric}), _as_options(category_options, set(mv.category)),
        summary(places, mv, shade_metric, period, layer),
    )
