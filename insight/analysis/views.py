"""What the web app shows, as plain data: shading values, legends, filtered points, search results.

Pure functions of a :class:`insight.analysis.places.Places` snapshot; the Dash callbacks and the JSON
endpoints only call these and shape the output.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from insight.analysis.perception import PerceptionResult, sentence, shading_values
from insight.analysis.places import Places, PointData, month_label
from insight.analysis.profiles import (
    ASSET_KIND_LABELS,
    area_table,
    check_period,
    default_crime_layer,
    default_period,
    metrics,
    tags_for,
)
from insight.errors import ConfigError
from insight.geo.joins import assign_points
from insight.layers import ASSET_KINDS

PALETTES = {
    # ColorBrewer sequential schemes, safe for the common forms of colour blindness.
    "blues": ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"],
    "yellow-green-blue": ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
    "purples": ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"],
}
CLASSINGS = ("quintiles", "equal")
MAX_POINTS = 20_000


@dataclass(frozen=True)
class Shading:
    """Values per area code and the legend that explains their colours."""

    title: str
    unit: str
    values: dict[str, float | None]
    breaks: list[float]
    colours: list[str]
    labels: list[str]
    source: str
    period: str
    method: str
    display: dict[str, str] | None = None
    no_data: str = "No data"

    def as_dict(self) -> dict[str, Any]:
        """The shading as plain data, for JSON and a map's ``hideout``."""
        return dict(self.__dict__)


def default_boundary(places: Places) -> str | None:
    """The area layer a page opens on: the newest ward layer, else the first boundary layer."""
    wards = [b for b in places.boundaries.values() if b.meta.area_type == "ward"]
    if wards:
        return max(wards, key=lambda b: b.meta.vintage or "").meta.name
    return next(iter(places.boundaries), None)


def shading_options(places: Places, boundary: str, *, layer: str | None = None,
                    period: tuple[int, int] | None = None) -> list[dict[str, str]]:
    """The figures an area layer can be shaded by (counting ``layer`` in ``period``): value and label."""
    table = area_table(places, boundary, crime_layer=layer or default_crime_layer(places), period=period)
    _, meta = metrics(table)
    wanted = ("residents", "imd_rank", "points_rate")
    keys = [k for k in meta if k in wanted or k.startswith(("rate:", "kind_rate:", "share_"))]
    return [{"value": k, "label": f"{meta[k].section}: {meta[k].label}"} for k in keys]


def shading_layer(places: Places, chosen: list[str], period: tuple[int, int] | None) -> str | None:
    """The dated layer the map's figures count: a chosen crime layer with records in ``period``, else the crime
    layer with most records in it, else the default crime layer."""
    crime = [n for n, p in places.points.items() if p.meta.theme == "crime"]

    def records(name: str) -> int:
        points = places.point_layer(name)
        if period is None:
            return len(points)
        return int(((points.month >= period[0]) & (points.month <= period[1])).sum())

    for name in chosen:
        if name in crime and records(name):
            return name
    found = [n for n in crime if records(n)]
    return max(found, key=records) if found and period is not None else default_crime_layer(places)


def metric_label(metric: str) -> str:
    """A shading figure's name in words, for messages (never the figure's code)."""
    kind, _, rest = metric.partition(":")
    words = rest.replace("-", " ").replace("_", " ").capitalize()
    if kind == "rate" and rest:
        return f"{words} per 1,000 residents"
    if kind == "count" and rest:
        return f"{words}: records"
    if kind in ("kind", "kind_rate") and rest in ASSET_KIND_LABELS:
        return ASSET_KIND_LABELS[rest] + (" per 1,000 residents" if kind == "kind_rate" else ": places")
    if kind == "perception":
        return "residents' perception against recorded crime"
    named = {"points_rate": "all records per 1,000 residents", "points_total": "all records",
             "points_change": "change against the previous equal period", "residents": "usual residents",
             "imd_rank": "average deprivation rank"}
    if metric.startswith("share_"):
        return f"aged {metric[len('share_'):].replace('_', ' ')} (share of residents)"
    return named.get(metric, "the figure asked for")


def format_value(value: float, unit: str) -> str:
    """A figure as shown in legends and tables: percentages for shares, one decimal for rates."""
    if unit == "share":
        return f"{value:.0%}"
    if unit in ("per 1,000",):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def classify(values: np.ndarray, *, classing: str = "quintiles", n: int = 5) -> list[float]:
    """Upper class breaks: local quintiles of the areas shown, or equal-width bands."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return []
    if classing == "quintiles":
        breaks = np.unique(np.quantile(finite, np.linspace(0, 1, n + 1)[1:]))
    elif classing == "equal":
        breaks = np.linspace(finite.min(), finite.max(), n + 1)[1:]
    else:
        raise ConfigError(f"classing '{classing}' is not one of {', '.join(CLASSINGS)}")
    return [float(b) for b in breaks]


def shading(
    places: Places,
    boundary: str,
    metric: str,
    *,
    layer: str | None = None,
    period: tuple[int, int] | None = None,
    classing: str = "quintiles",
    palette: str = "yellow-green-blue",
) -> Shading:
    """Values of ``metric`` for every area of ``boundary`` with class breaks and legend labels."""
    if palette not in PALETTES:
        raise ConfigError(f"palette '{palette}' is not one of {', '.join(PALETTES)}")
    table = area_table(places, boundary, crime_layer=layer or default_crime_layer(places), period=period)
    wide, meta = metrics(table)
    if metric not in meta:
        raise ConfigError(f"'{metric}' cannot shade {boundary} with this layer and period: choose one of "
                          f"{', '.join(list(meta)[:8])}…")
    values = wide[metric].to_numpy(dtype=float)
    breaks = classify(values, classing=classing)
    colours = PALETTES[palette][-len(breaks):] if breaks else []
    m = meta[metric]
    labels, low = [], float(np.nanmin(values)) if np.isfinite(values).any() else 0.0
    for b in breaks:
        labels.append(f"{format_value(low, m.unit)} to {format_value(b, m.unit)}")
        low = b
    return Shading(
        title=m.label, unit=m.unit,
        values={c: (None if not math.isfinite(v) else float(v)) for c, v in zip(wide.index, values)},
        breaks=breaks, colours=colours, labels=labels, source=m.source, period=m.period, method=m.method,
    )


def points_mask(
    points: PointData,
    places: Places,
    *,
    boundary: str | None,
    area: str | None,
    categories: list[str] | None,
    kinds: list[str] | None,
    period: tuple[int, int] | None,
    polygon: BaseGeometry | None = None,
) -> np.ndarray:
    """True for each point with a location that passes every filter given."""
    keep: np.ndarray = np.isfinite(points.x) & np.isfinite(points.y)
    if polygon is not None:
        keep &= assign_points(points.x, points.y, np.array([polygon], dtype=object)) == 0
    if boundary and area:
        data = places.boundary(boundary)
        keep &= tags_for(points, data) == data.index_of(area)
    if categories:
        keep &= np.isin(points.category, categories)
    if kinds:
        unknown = set(kinds) - set(ASSET_KINDS)
        if unknown:
            raise ConfigError(f"unknown asset kind(s) {', '.join(sorted(unknown))}: use {', '.join(ASSET_KINDS)}")
        keep &= np.isin(points.asset_kind, kinds)
    if period and points.months() is not None:
        keep &= (points.month >= period[0]) & (points.month <= period[1])
    return keep


def points_collection(places: Places, layer: str, **filters: Any) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of :func:`points_geojson_text` as a dict (e.g. to inline in a map)."""
    collection: dict[str, Any] = json.loads(points_geojson_text(places, layer, **filters))
    return collection


def _display_text(places: Places, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A layer's names and categories HTML-escaped and months as text, made once per snapshot."""
    key = ("display", layer)
    if key not in places.cache:
        points = places.point_layer(layer)
        escape = np.frompyfunc(lambda v: html.escape(str(v or "")), 1, 1)
        labels = {m: month_label(m) for m in np.unique(points.month) if m >= 0}
        months = np.array([labels.get(m) for m in points.month.tolist()], dtype=object)
        places.cache[key] = (escape(points.names), escape(points.category), months)
    texts: tuple[np.ndarray, np.ndarray, np.ndarray] = places.cache[key]
    return texts


def categories(places: Places, layer: str) -> list[str]:
    """The categories a point layer has, for a filter."""
    return [c for c in places.point_layer(layer).categories if c != "(none)"]


def default_view_period(places: Places) -> tuple[int, int] | None:
    """The period a map opens on: the latest 12 months of the main crime layer (None without one)."""
    name = default_crime_layer(places)
    return default_period(places.point_layer(name)) if name else None


def search(places: Places, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Areas and named features whose name contains ``query`` (case-insensitive), areas first."""
    q = query.strip().casefold()
    if len(q) < 2:
        return []
    found: list[dict[str, Any]] = []
    for name, data in places.boundaries.items():
        hits = data.areas[data.areas["name"].str.casefold().str.contains(q, regex=False)]
        for code, area in zip(hits["code"], hits["name"]):
            found.append({"type": "area", "boundary": name, "boundary_title": data.meta.title,
                          "code": code, "name": area})
    for name, points in places.points.items():
        if points.meta.theme != "assets":
            continue
        names = np.array([str(n or "").casefold() for n in points.names], dtype=object)
        for i in np.flatnonzero([q in n for n in names])[:limit]:
            found.append({"type": "feature", "layer": name, "layer_title": points.meta.title,
                          "name": str(points.names[i]), "lon": float(points.x[i]), "lat": float(points.y[i])})
    return found[:limit]


def parse_drawn(text: str | None) -> BaseGeometry | None:
    """A drawn polygon from its URL form 'lon lat,lon lat,…' (EPSG:4326); ConfigError if malformed."""
    if not text:
        return None
    try:
        coords = [tuple(float(v) for v in pair.split()) for pair in text.split(",")]
    except ValueError as exc:
        raise ConfigError("the drawn area in the link is not a list of 'longitude latitude' pairs") from exc
    if len(coords) < 3 or len(coords) > 500 or any(len(c) != 2 for c in coords):
        raise ConfigError("a drawn area needs between 3 and 500 corner points")
    if any(not (-180 <= x <= 180 and -90 <= y <= 90) for x, y in coords):
        raise ConfigError("a drawn area's corners must be longitude/latitude")
    polygon = shapely.Polygon(coords)
    return polygon if polygon.is_valid else shapely.make_valid(polygon)


def drawn_text(geojson: dict[str, Any] | None) -> str | None:
    """The URL form of the last polygon in a drawing control's GeoJSON (5 decimals, about 1 m)."""
    features = (geojson or {}).get("features") or []
    polygons = [f for f in features if (f.get("geometry") or {}).get("type") == "Polygon"]
    if not polygons:
        return None
    ring = polygons[-1]["geometry"]["coordinates"][0]
    return ",".join(f"{x:.5f} {y:.5f}" for x, y in ring[:500])


def points_geojson_text(
    places: Places,
    layer: str,
    *,
    boundary: str | None = None,
    area: str | None = None,
    categories: list[str] | None = None,
    kinds: list[str] | None = None,
    period: tuple[int, int] | None = None,
    polygon: BaseGeometry | None = None,
    limit: int = MAX_POINTS,
    stale: set[int] | None = None,
) -> str:
    """A GeoJSON FeatureCollection of a layer's points after the filters, names HTML-escaped.

    At most ``limit`` points; ``total`` and ``truncated`` say when more matched. ``stale``
    holds the ids of records not assured recently; each point says whether it is one.
    Tens of thousands of points are joined from per-layer pre-encoded strings instead of
    building and encoding a dict per point, which keeps the endpoint fast.
    """
    points = places.point_layer(layer)
    check_period(points, period)
    keep = np.flatnonzero(points_mask(points, places, boundary=boundary, area=area, categories=categories,
                                kinds=kinds, period=period, polygon=polygon))
    shown = keep[:limit]
    names, cats, months = _display_json(places, layer)
    stale = stale or set()
    layer_json = json.dumps(layer)
    kinds_json = {k: json.dumps(k) for k in set(points.asset_kind.tolist())}
    features = ",".join(
        f'{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{x},{y}]}},"properties":'
        f'{{"id":{fid},"name":{name},"category":{cat},"month":{month},"kind":{kinds_json[kind]},'
        f'"layer":{layer_json},"stale":{"true" if fid in stale else "false"}}}}}'
        for x, y, fid, name, cat, month, kind in zip(
            np.round(points.x[shown], 6).tolist(), np.round(points.y[shown], 6).tolist(),
            points.ids[shown].tolist(), names[shown], cats[shown], months[shown], points.asset_kind[shown].tolist(),
        )
    )
    about = json.dumps({"total": int(len(keep)), "truncated": bool(len(keep) > limit), "layer": layer,
                        "title": points.meta.title, "illustrative": points.meta.illustrative})
    return '{"type":"FeatureCollection","features":[' + features + "]," + about[1:]


def _display_json(places: Places, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_display_text` as JSON string literals (null for no month), made once per snapshot."""
    key = ("display-json", layer)
    if key not in places.cache:
        encode = np.frompyfunc(lambda v: json.dumps(v), 1, 1)
        places.cache[key] = tuple(encode(a) for a in _display_text(places, layer))
    literals: tuple[np.ndarray, np.ndarray, np.ndarray] = places.cache[key]
    return literals


def perception_shading(result: PerceptionResult) -> Shading:
    """Shading for the perception-against-crime classification of every area (ILLUSTRATIVE surveys say so)."""
    parts = shading_values(result)
    display: dict[str, str] = {}
    for row in result.areas.itertuples():
        if row.published:
            display[str(row.area_code)] = (f"{row.classification} ({row.share:.0%}, 95% interval {row.ci_low:.0%} to "
                                      f"{row.ci_high:.0%}; {row.rate:.1f} per 1,000)")
        else:
            display[str(row.area_code)] = f"{result.labels.unknown} ({row.suppression_reason})"
    prefix = "ILLUSTRATIVE survey. " if result.survey.illustrative else ""
    return Shading(
        title=f"{prefix}{sentence(result.question.reported_label)} against {result.crime_label}",
        unit="class", values=parts["values"], breaks=parts["breaks"], colours=parts["colours"],
        labels=parts["labels"],
        source=f"{result.survey.title}; {result.crime_source}",
        period=f"survey wave {result.wave}; crime {result.crime_period}",
        method=f"{result.method}. Classification: {result.rule}", display=display,
        no_data=result.labels.unknown,
    )
