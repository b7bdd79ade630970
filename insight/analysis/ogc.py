"""OGC API - Features (Part 1: Core, GeoJSON) documents for the public layers, as plain data.

Every public point layer and boundary layer is a collection. Items are read from the store
through its spatial index (points) or from the loaded boundaries (areas), a page at a time.
The web package serves these documents at ``/ogc``; nothing here knows about HTTP.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely

from insight.analysis.places import Places, month_label
from insight.errors import BadRequest, NotFoundError
from insight.store.io import LayerSummary
from insight.store.points import PointPage, PointQuery

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
Json = dict[str, Any]
_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)?$")


@dataclass(frozen=True)
class ItemsQuery:
    """What an items request asks for, checked: box, months, category, page."""

    bbox: tuple[float, float, float, float] | None = None
    months: tuple[str, str] | None = None
    category: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _instant(text: str) -> str | None:
    """The month of one RFC 3339 date or date-time ('..' or '' is open: None)."""
    if text in ("", ".."):
        return None
    match = _DATE.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadRequest(f"datetime '{text[:40]}' is not a date such as 2018-03-01 or 2018-03-01T00:00:00Z")
    return f"{match.group(1)}-{match.group(2)}"


def parse_datetime(text: str | None) -> tuple[str, str] | None:
    """Months covered by an OGC ``datetime`` (an instant, or 'start/end' with '..' for an open end)."""
    if not text:
        return None
    parts = text.split("/")
    if len(parts) > 2:
        raise BadRequest("datetime is one date, or two separated by '/' (use '..' for an open end)")
    start = _instant(parts[0])
    finish = _instant(parts[-1]) if len(parts) == 2 else start
    if start is None and finish is None:
        raise BadRequest("datetime needs at least one date: '../..' leaves both ends open")
    first, last = start or "0000-01", finish or "9999-12"
    if first > last:
        raise BadRequest("datetime ends before it starts")
    return first, last


def _link(href: str, rel: str, kind: str, title: str) -> Json:
    return {"href": href, "rel": rel, "type": kind, "title": title}


def landing(base: str, title: str) -> Json:
    """The landing page: where the API description, the conformance classes and the collections are."""
    return {
        "title": title,
        "description": "Open data from Local Insight as OGC API - Features: every public layer is a collection.",
        "links": [
            _link(f"{base}", "self", "application/json", "This document"),
            _link(f"{base}/openapi.json", "service-desc", "application/vnd.oai.openapi+json;version=3.0",
                  "The API definition"),
            _link(f"{base}/conformance", "conformance", "application/json", "Conformance classes"),
            _link(f"{base}/collections", "data", "application/json", "Collections"),
        ],
    }


def conformance() -> Json:
    """The conformance classes implemented."""
    return {"conformsTo": list(CONFORMANCE)}


def collection_ids(places: Places) -> list[str]:
    """Every public collection: boundary layers, then point layers, each sorted by name."""
    return sorted(places.boundaries) + sorted(places.points)


def _meta(places: Places, collection: str) -> LayerSummary:
    if collection in places.boundaries:
        return places.boundaries[collection].meta
    if collection in places.points:
        return places.points[collection].meta
    raise NotFoundError(f"no collection '{collection[:60]}' (collections: {', '.join(collection_ids(places))})")


def _bounds(places: Places, collection: str) -> list[float]:
    if collection in places.boundaries:
        areas = places.boundaries[collection].areas
    else:
        authority = places.authority
        areas = authority.areas if authority is not None else None
    if areas is None or areas.empty:
        return [-180.0, -90.0, 180.0, 90.0]
    return [round(float(v), 6) for v in areas.total_bounds]


def collection(places: Places, base: str, name: str) -> Json:
    """One collection's description: title, licence, spatial and (for dated layers) temporal extent, links."""
    meta = _meta(places, name)
    prefix = "ILLUSTRATIVE (generated, not real records). " if meta.illustrative else ""
    extent: Json = {"spatial": {"bbox": [_bounds(places, name)], "crs": CRS84}}
    span = places.points[name].months() if name in places.points else None
    if span is not None:
        extent["temporal"] = {"interval": [[f"{month_label(span[0])}-01T00:00:00Z",
                                            f"{month_label(span[1])}-01T00:00:00Z"]]}
    href = f"{base}/collections/{name}"
    return {
        "id": name, "title": meta.title, "itemType": "feature",
        "description": f"{prefix}{meta.description or meta.title}. Source: {meta.source or meta.publisher}. "
                       f"Licence: {meta.licence}. {meta.attribution}".strip(),
        "extent": extent, "crs": [CRS84],
        "links": [
            _link(href, "self", "application/json", "This collection"),
            _link(f"{href}/items", "items", "application/geo+json", "Its features"),
        ],
    }


def collections(places: Places, base: str) -> Json:
    """Every public collection."""
    return {
        "links": [_link(f"{base}/collections", "self", "application/json", "Collections")],
        "collections": [collection(places, base, name) for name in collection_ids(places)],
    }


def _paging(base: str, name: str, query: ItemsQuery, extra: str, matched: int, returned: int) -> list[Json]:
    href = f"{base}/collections/{name}/items?limit={query.limit}{extra}"
    links = [_link(f"{href}&offset={query.offset}", "self", "application/geo+json", "This page")]
    if query.offset + returned < matched:
        links.append(_link(f"{href}&offset={query.offset + query.limit}", "next", "application/geo+json",
                           "Next page"))
    if query.offset > 0:
        links.append(_link(f"{href}&offset={max(0, query.offset - query.limit)}", "prev", "application/geo+json",
                           "Previous page"))
    links.append(_link(f"{base}/collections/{name}", "collection", "application/json", "The collection"))
    return links


def _page(features: list[Json], matched: int, links: list[Json]) -> Json:
    return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
            "numberReturned": len(features), "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "links": links}


def point_features(page: PointPage) -> list[Json]:
    """GeoJSON features of a page of points (public fields only)."""
    frame = page.frame
    return [
        {"type": "Feature", "id": int(fid), "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
         "properties": {"name": name, "category": category, "month": month, "asset_kind": kind}}
        for fid, x, y, name, category, month, kind in zip(
            frame["id"].tolist(), frame["x"].tolist(), frame["y"].tolist(), frame["name"].tolist(),
            frame["category"].tolist(), frame["month"].tolist(), frame["asset_kind"].tolist())
    ]


def _area_features(places: Places, name: str, query: ItemsQuery, codes: list[str] | None = None
                   ) -> tuple[list[Json], int]:
    areas = places.boundaries[name].areas
    keep = np.ones(len(areas), dtype=bool)
    if codes is not None:
        keep &= areas["code"].isin(codes).to_numpy()
    if query.bbox is not None:
        keep &= shapely.intersects(areas.geometry.to_numpy(), shapely.box(*query.bbox))
    chosen = areas[keep]
    shown = chosen.iloc[query.offset:query.offset + query.limit]
    features = [
        {"type": "Feature", "id": str(code), "geometry": shapely.geometry.mapping(geom),
         "properties": {"code": str(code), "name": str(area)}}
        for code, area, geom in zip(shown["code"], shown["name"], shown.geometry)
    ]
    return features, len(chosen)


def items(places: Places, base: str, name: str, query: ItemsQuery, extra: str = "") -> Json:
    """A page of a collection's features; ``extra`` is the query string (from '&') the paging links carry."""
    _meta(places, name)
    if name in places.boundaries:
        if query.months is not None or query.category is not None:
            raise BadRequest(f"'{name}' is a boundary layer: its areas have no dates or categories to filter by")
        features, matched = _area_features(places, name, query)
        return _page(features, matched, _paging(base, name, query, extra, matched, len(features)))
    points = places.points[name]
    if query.months is not None and points.months() is None:
        raise BadRequest(f"'{name}' has no dates, so datetime cannot filter it")
    page = places.points_source().points(name, PointQuery(
        bbox=query.bbox, months=query.months, categories=(query.category,) if query.category else (),
        limit=query.limit, offset=query.offset))
    features = point_features(page)
    return _page(features, page.total, _paging(base, name, query, extra, page.total, len(features)))


def item(places: Places, base: str, name: str, feature_id: str) -> Json:
    """One feature of a collection, by id (an area code, or a point's number)."""
    _meta(places, name)
    missing = NotFoundError(f"no feature '{feature_id[:40]}' in collection '{name}'")
    if name in places.boundaries:
        features, _ = _area_features(places, name, ItemsQuery(limit=1), codes=[feature_id])
    else:
        if not feature_id.isdigit() or len(feature_id) > 18:
            raise missing
        features = point_features(places.points_source().points(name, PointQuery(ids=(int(feature_id),), limit=1)))
    if not features:
        raise missing
    links = [_link(f"{base}/collections/{name}/items/{feature_id}", "self", "application/geo+json", "This feature"),
             _link(f"{base}/collections/{name}", "collection", "application/json", "The collection")]
    return features[0] | {"links": links}
