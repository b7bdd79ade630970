"""What the web app shows, as plain data: shading values, legends, filtered points, search results.

Functions of a :class:`insight.analysis.places.Places` snapshot (points come through its source,
read from the store by index); the Dash callbacks and the JSON endpoints only call these and shape
the output.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from functools import lru_cache
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
)
from insight.errors import ConfigError
from insight.layers import ASSET_KINDS
from insight.sources.postcodes import lookup_keys
from insight.store.point_details import PointDetail, point_details
from insight.store.points import PointPage, PointQuery

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
        return places.point_layer(name).in_period(period)

    for name in chosen:
        if name in crime and records(name):
            return name
    found = [n for n in crime if records(n)]
    return max(found, key=records) if found and period is not None else latest_crime_layer(places)


def latest_crime_layer(places: Places) -> str | None:
    """The crime layer whose records reach the latest month (most records breaking a tie); None without one."""
    dated = [(span[1], len(p), name) for name, p in places.points.items()
             if p.meta.theme == "crime" and (span := p.months()) is not None]
    return max(dated)[2] if dated else default_crime_layer(places)


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
             "imd_rank": "average deprivation rank", "trend": "the trend (% a year)",
             "forecast_change": "the forecast change (next 12 months against the last 12)",
             "warning": "the early warning (rising faster than expected)"}
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


def _checked_kinds(kinds: list[str] | None) -> list[str]:
    unknown = set(kinds or []) - set(ASSET_KINDS)
    if unknown:
        raise ConfigError(f"unknown asset kind(s) {', '.join(sorted(unknown))}: use {', '.join(ASSET_KINDS)}")
    return list(kinds or [])


def point_query(
    points: PointData,
    places: Places,
    *,
    boundary: str | None = None,
    area: str | None = None,
    categories: list[str] | None = None,
    kinds: list[str] | None = None,
    period: tuple[int, int] | None = None,
    polygon: BaseGeometry | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int | None = MAX_POINTS,
    offset: int = 0,
) -> PointQuery:
    """The store query for a layer's points after the filters given (area and names checked first)."""
    if boundary and area:
        data = places.boundary(boundary)
        area = str(data.areas["code"].iloc[data.index_of(area)])
    months = (month_label(period[0]), month_label(period[1])) if period and points.months() is not None else None
    return PointQuery(boundary=boundary if area else None, area=area if boundary else None,
                      categories=tuple(categories or ()), kinds=tuple(_checked_kinds(kinds)), months=months,
                      bbox=bbox, polygon=polygon, limit=limit, offset=offset)


def counts_by_area(places: Places, layer: str, boundary: str, *, categories: list[str] | None = None,
                   kinds: list[str] | None = None, period: tuple[int, int] | None = None) -> np.ndarray:
    """How many of a layer's records (after the filters) fall in each area of ``boundary``, from stored counts."""
    points = places.point_layer(layer)
    data = places.boundary(boundary)
    stored = places.counts(points, data)
    keep = stored.area >= 0
    if categories:
        codes = [points.categories.index(c) for c in categories if c in points.categories]
        keep &= np.isin(stored.category, codes)
    if kinds:
        keep &= np.isin(stored.kind, _checked_kinds(kinds))
    if period and points.months() is not None:
        keep &= (stored.month >= period[0]) & (stored.month <= period[1])
    return np.bincount(stored.area[keep], weights=stored.n[keep], minlength=len(data.areas)).astype(np.int64)


def points_collection(places: Places, layer: str, **filters: Any) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of :func:`points_geojson_text` as a dict (e.g. to inline in a map)."""
    collection: dict[str, Any] = json.loads(points_geojson_text(places, layer, **filters))
    return collection


def categories(places: Places, layer: str) -> list[str]:
    """The categories a point layer has, for a filter."""
    return [c for c in places.point_layer(layer).categories if c != "(none)"]


def default_view_period(places: Places) -> tuple[int, int] | None:
    """The period a map opens on: the latest 12 months of the most recent crime layer (all its months when it
    has fewer; None without a dated crime layer)."""
    name = latest_crime_layer(places)
    if not name or places.point_layer(name).months() is None:
        return None
    return default_period(places.point_layer(name))


def search(places: Places, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Areas and named features whose name contains ``query`` (case-insensitive), areas first."""
    q = query.strip().casefold()
    if len(q) < 2:
        return []
    found: list[dict[str, Any]] = postcode_hits(places, query)
    for name, data in places.boundaries.items():
        hits = data.areas[data.areas["name"].str.casefold().str.contains(q, regex=False)]
        for code, area in zip(hits["code"], hits["name"]):
            found.append({"type": "area", "boundary": name, "boundary_title": data.meta.title,
                          "code": code, "name": area})
    assets = [name for name, points in places.points.items() if points.meta.theme == "assets"]
    if assets and len(found) < limit:
        hits = places.points_source().search(assets, q, limit - len(found))
        for layer, name, x, y in hits[["layer", "name", "x", "y"]].itertuples(index=False):
            found.append({"type": "feature", "layer": layer, "layer_title": places.points[layer].meta.title,
                          "name": str(name), "lon": float(x), "lat": float(y)})
    return _with_areas(places, found[:limit])


def _with_areas(places: Places, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each located hit with the area of the map's opening boundary layer it lies in (None outside them all)."""
    boundary = default_boundary(places)
    located = [h for h in hits if h["type"] != "area" and h.get("lon") is not None and h.get("lat") is not None]
    if boundary is None or not located:
        return hits
    areas = places.boundary(boundary).areas
    points = shapely.points([h["lon"] for h in located], [h["lat"] for h in located])
    inside = shapely.STRtree(areas.geometry.to_numpy()).query(points, predicate="within")
    where = dict(zip(inside[0].tolist(), inside[1].tolist()))
    codes = areas["code"].tolist()
    for i, hit in enumerate(located):
        hit["boundary"] = boundary
        hit["code"] = codes[where[i]] if i in where else None
    return hits


def postcode_hits(places: Places, query: str) -> list[dict[str, Any]]:
    """The postcode, sector or district ``query`` names, from the loaded postcode file (none when not loaded)."""
    candidates = lookup_keys(query)
    if not candidates or places.source is None:
        return []
    match = places.points_source().postcode(candidates)
    if match is None:
        return []
    label = {"postcode": "postcode", "sector": "postcode sector", "district": "postcode district"}[match.kind]
    if match.terminated:
        note = f"no longer in use since {match.terminated}; shown where it was"
    elif match.kind != "postcode":
        note = f"{match.postcodes:,} postcodes, {match.live:,} in use"
    else:
        note = None
    if match.lon is None or match.lat is None:
        note = "the postcode file gives no location for it"
    return [{"type": "postcode", "kind": match.kind, "name": match.query, "kind_title": label, "note": note,
             "lon": match.lon, "lat": match.lat, "bbox": list(match.bbox) if match.bbox else None}]


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


@lru_cache(maxsize=65_536)
def _escaped_json(value: str | None) -> str:
    """A name or category as an HTML-escaped JSON string (names repeat, so each is encoded once)."""
    return json.dumps(html.escape(str(value or "")))


@lru_cache(maxsize=4_096)
def _plain_json(value: str | None) -> str:
    return json.dumps(value)


def _nullable(value: str | None) -> str:
    """An HTML-escaped JSON string, or null when there is no value."""
    return "null" if value in (None, "") else _escaped_json(value)


def _details_json(detail: PointDetail | None, kind: str | None) -> str:
    """The popup's extra properties of an asset: kind in words, contact, owner and dates (null when absent)."""
    label = ASSET_KIND_LABELS.get(kind or "") if kind else None
    if detail is None:
        return f',"kind_label":{_nullable(label)}'
    return (f',"kind_label":{_nullable(label)},"website":{_nullable(detail.website)},'
            f'"phone":{_nullable(detail.phone)},"email":{_nullable(detail.email)},'
            f'"owner":{_nullable(detail.owner)},"checked":{_nullable(detail.checked)},'
            f'"updated":{_nullable(detail.updated)}')


def _features_json(page: PointPage, layer: str, stale: set[int],
                   details: dict[int, PointDetail] | None = None) -> str:
    """The page's points as GeoJSON features, text HTML-escaped; ``details`` (assets) add contact, owner and
    dates for the popups."""
    frame = page.frame
    layer_json = _plain_json(layer)

    def extra(fid: int, kind: str | None) -> str:
        return "" if details is None else _details_json(details.get(fid), kind)

    return ",".join(
        f'{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{round(x, 6)},{round(y, 6)}]}},'
        f'"properties":{{"id":{fid},"name":{_escaped_json(name)},"category":{_escaped_json(cat)},'
        f'"month":{_plain_json(month)},"kind":{_plain_json(kind)},'
        f'"layer":{layer_json},"stale":{"true" if fid in stale else "false"}{extra(fid, kind)}}}}}'
        for fid, x, y, name, cat, month, kind in zip(
            frame["id"].tolist(), frame["x"].tolist(), frame["y"].tolist(), frame["name"].tolist(),
            frame["category"].tolist(), frame["month"].tolist(), frame["asset_kind"].tolist(),
        )
    )


def _asset_details(places: Places, points: PointData, page: PointPage) -> dict[int, PointDetail] | None:
    """Contact, owner and dates of an asset layer's points on the page (None for crime and without a store)."""
    engine = getattr(places.source, "engine", None)
    if points.meta.theme == "crime" or engine is None:
        return None
    return point_details(engine, points.meta.name, [int(i) for i in page.frame["id"].tolist()])


def points_geojson_text(
    places: Places,
    layer: str,
    *,
    stale: set[int] | None = None,
    **filters: Any,
) -> str:
    """A GeoJSON FeatureCollection of a layer's points after the filters (see :func:`point_query`).

    Read from the store through its indexes, in id order, at most ``limit`` from ``offset``:
    ``total``, ``truncated``, ``offset`` and ``limit`` say where the page lies. ``stale`` holds
    the ids of records not assured recently; each point says whether it is one.
    """
    points = places.point_layer(layer)
    check_period(points, filters.get("period"))
    query = point_query(points, places, **filters)
    page = places.points_source().points(layer, query)
    shown = len(page.frame)
    about = json.dumps({"total": page.total, "truncated": bool(query.offset + shown < page.total),
                        "offset": query.offset, "limit": query.limit, "layer": layer,
                        "title": points.meta.title, "illustrative": points.meta.illustrative})
    details = _asset_details(places, points, page)
    return ('{"type":"FeatureCollection","features":[' + _features_json(page, layer, stale or set(), details) + "],"
            + about[1:])


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
