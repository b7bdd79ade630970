"""CRS helpers and small geometry utilities shared by loaders, joins and the store.

Storage and web output are EPSG:4326 (lon/lat); distances and areas are measured in
EPSG:27700 (British National Grid, metres).
"""
from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from insight.errors import ConfigError

STORAGE_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:27700"


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to British National Grid for measuring.

    Offline, PROJ lacks the OSTN15 grid and falls back to a metre-level Helmert
    transformation; both sides of a comparison go through the same one, so the
    warning is silenced deliberately.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Best transformation is not available.*")
        return gdf.to_crs(METRIC_CRS)


def to_storage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326; raise if the frame has no CRS rather than guess."""
    if gdf.crs is None:
        raise ConfigError("the frame has no CRS; declare it where the data is read")
    if gdf.crs.to_epsg() == 4326:
        return gdf
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Best transformation is not available.*")
        return gdf.to_crs(STORAGE_CRS)


def inside_mask(points: gpd.GeoSeries, area: BaseGeometry) -> np.ndarray:
    """For each point: True inside or on the edge of ``area``, False outside, None without location.

    Both must be in the same CRS. Returns an object array so that missing
    locations stay distinguishable from "outside".
    """
    out = np.full(len(points), None, dtype=object)
    geoms = points.values
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if present.any():
        shapely.prepare(area)
        xs = shapely.get_x(geoms[present])
        ys = shapely.get_y(geoms[present])
        out[present] = shapely.intersects_xy(area, xs, ys)
    return out


def ewkt(geoms: np.ndarray | gpd.GeoSeries, *, srid: int = 4326, precision: int = 7) -> list[str | None]:
    """Extended WKT strings (``SRID=4326;POINT (…)``) for database insertion; None stays None."""
    values = np.asarray(geoms.values if isinstance(geoms, gpd.GeoSeries) else geoms, dtype=object)
    wkt = shapely.to_wkt(values, rounding_precision=precision, trim=True)
    return [None if w is None else f"SRID={srid};{w}" for w in wkt]
