"""Links from the partner pages to the map, and the small map on the record form (its centre and tiles)."""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Response

from insight.partner.auth import LayerRef
from insight.store import Engine, authority_geometry
from insight.store import asset_layers as store
from insight.store.points import feature_areas
from insight.web.partner.blueprint import SECURITY_HEADERS

DEFAULT_CENTRE = (51.6, -0.2)
"""Where the small map opens when no council boundary is loaded (the map's own default)."""


NOT_ON_MAP = "This layer is not public, so it is not on the public map."
"""Said instead of a map link for a restricted layer: the public map shows public layers only."""


def on_public_map(ref: LayerRef) -> bool:
    """True when the public map can show the layer (it loads public layers only)."""
    return ref.sensitivity == "public"


def map_url(layer: str, *, boundary: str | None = None, area: str | None = None) -> str:
    """The map with ``layer`` shown (and, given one, the area zoomed to)."""
    query = {"layers": layer} | ({"boundary": boundary, "area": area} if boundary and area else {})
    return "/?" + urlencode(query)


def record_map_urls(engine: Engine, layer: str) -> dict[int, str]:
    """For each record of ``layer`` inside a ward: the map with the layer shown and that ward zoomed to."""
    with engine.connect() as conn:
        wards = store.newest_area_layer(conn, "ward")
    if wards is None:
        return {}
    located = feature_areas(engine, layer, wards)
    ids: list[int] = [int(i) for i in located["id"].tolist()]
    return {i: map_url(layer, boundary=wards, area=code)
            for i, code in zip(ids, located["code"].tolist(), strict=True) if isinstance(code, str)}


def map_centre(engine: Engine) -> tuple[float, float]:
    """(latitude, longitude) of the middle of the council's area, or :data:`DEFAULT_CENTRE`."""
    area = authority_geometry(engine)
    if area is None or area.is_empty:
        return DEFAULT_CENTRE
    point = area.representative_point()
    return round(point.y, 6), round(point.x, 6)


def layer_asset_kind(engine: Engine, name: str) -> str | None:
    """The asset kind a layer gives its records by default."""
    with engine.connect() as conn:
        return store.layer_asset_kind(conn, name)


def allow_tiles(response: Response, tile_url: str) -> Response:
    """Let the page show base map images from the tile server (the policy otherwise allows only this site's)."""
    parts = urlsplit(tile_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.netloc.replace("{s}", "*")
        policy = response.headers.get("Content-Security-Policy") or SECURITY_HEADERS["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = policy.replace(
            "img-src 'self' data:", f"img-src 'self' data: {parts.scheme}://{host}")
    return response
