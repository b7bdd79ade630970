"""Point-in-area assignment and counting: the core of every place-based figure.

Pure functions on arrays and frames; no database. Points and areas must share a CRS
(the store's EPSG:4326 is fine: point-in-polygon needs no metric CRS).

Edge rule: a point inside or on the boundary of several areas (a shared edge or
an overlap) is counted once, in the first of them in the order given. Areas read
from the store come sorted by code, so on a shared edge the lowest code wins.
"""
from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from insight.errors import BadRequest, ConfigError

NO_AREA = -1
_SORT_THRESHOLD = 64


def _candidates_scan(x: np.ndarray, y: np.ndarray, bounds: np.ndarray) -> Iterator[np.ndarray]:
    """Per area, the points inside its bounding box, by scanning every point (few areas)."""
    for minx, miny, maxx, maxy in bounds:
        yield np.flatnonzero((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))


def _candidates_sorted(x: np.ndarray, y: np.ndarray, bounds: np.ndarray) -> Iterator[np.ndarray]:
    """Per area, the points inside its bounding box, by binary search on sorted x (many areas)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    lo = np.searchsorted(xs, bounds[:, 0], side="left")
    hi = np.searchsorted(xs, bounds[:, 2], side="right")
    ys = y[order]
    for (_minx, miny, _maxx, maxy), a, b in zip(bounds, lo, hi):
        window = ys[a:b]
        yield order[a:b][(window >= miny) & (window <= maxy)]


def assign_points(x: np.ndarray, y: np.ndarray, areas: np.ndarray | gpd.GeoSeries) -> np.ndarray:
    """Index of the area each point falls in (inside or on its edge), or ``NO_AREA`` (-1).

    ``x``/``y`` are coordinate arrays (NaN for points without a location, which
    get -1); ``areas`` are polygons in the same CRS, in priority order for the
    edge rule. Each area is prepared once and tested only against the points
    inside its bounding box that no earlier area has taken.
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if x.shape != y.shape:
        raise BadRequest(f"x and y differ in length ({len(x)} and {len(y)})")
    geoms = np.asarray(areas.values if isinstance(areas, gpd.GeoSeries) else areas, dtype=object)
    result = np.full(len(x), NO_AREA, dtype=np.int64)
    if len(x) == 0 or len(geoms) == 0:
        return result
    bounds = shapely.bounds(geoms)
    finder = _candidates_sorted if len(geoms) > _SORT_THRESHOLD else _candidates_scan
    for i, candidates in enumerate(finder(x, y, bounds)):
        geom = geoms[i]
        if geom is None or shapely.is_empty(geom) or len(candidates) == 0:
            continue
        candidates = candidates[result[candidates] == NO_AREA]
        if len(candidates) == 0:
            continue
        shapely.prepare(geom)
        hit = shapely.intersects_xy(geom, x[candidates], y[candidates])
        result[candidates[hit]] = i
    return result


def point_coordinates(points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """x and y of point geometries, NaN where a point has no location."""
    values = points.values
    missing = shapely.is_missing(values) | shapely.is_empty(values)
    x = np.full(len(values), np.nan)
    y = np.full(len(values), np.nan)
    x[~missing] = shapely.get_x(values[~missing])
    y[~missing] = shapely.get_y(values[~missing])
    return x, y


def tag_points(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, code_column: str = "code") -> pd.Series:
    """The area code each point falls in (None outside every area), aligned to ``points``."""
    if points.crs != areas.crs:
        raise ConfigError(f"points are in {points.crs} but areas are in {areas.crs}; reproject one side")
    x, y = point_coordinates(points.geometry)
    index = assign_points(x, y, areas.geometry)
    codes = areas[code_column].to_numpy(dtype=object)
    tagged = np.where(index >= 0, codes[np.clip(index, 0, None)], None)
    return pd.Series(tagged, index=points.index, name=code_column, dtype=object)


def count_by_area(area_index: np.ndarray, n_areas: int) -> np.ndarray:
    """Points per area from :func:`assign_points` output; points in no area are not counted."""
    inside = area_index[area_index >= 0]
    return np.bincount(inside, minlength=n_areas)
