"""Point loaders: ``points-csv`` (coordinate columns) and ``points-geojson`` (point features).

Rows without a location are kept with a null geometry and counted in a note:
nothing is silently dropped. Output columns are ``source_id, name, category,
month, properties, geometry`` in EPSG:4326.

A month field may hold ``YYYY-MM`` or an ISO date or timestamp
(``2016-05-31T23:01:00+00:00``), which is reduced to its ``YYYY-MM``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from insight.errors import ConfigError, Problem
from insight.sources.base import (
    Loaded,
    blank_to_none,
    columns_found,
    fail,
    json_records,
    missing_columns,
    none_where,
    parse_numbers,
    raise_if,
    read_csv_text,
    register,
    row_problems,
    text_values,
)
from insight.sources.geo import (
    WGS84,
    coordinate_bounds,
    looks_bng,
    looks_lonlat,
    outside_lonlat,
    parse_crs,
    read_vector,
    resolve_crs,
    to_wgs84,
)

POINT_COLUMNS = ["source_id", "name", "category", "month", "properties", "geometry"]
COORDINATE_PAIRS = (
    ("longitude", "latitude"),
    ("lon", "lat"),
    ("lng", "lat"),
    ("long", "lat"),
    ("x", "y"),
    ("easting", "northing"),
)
_LONLAT_NAMES = {"longitude", "lon", "lng", "long"}
_MONTH_OR_DATE = re.compile(r"(\d{4}-(?:0[1-9]|1[0-2]))(?:-(?:0[1-9]|[12]\d|3[01])(?:[T ].*)?)?")


POSTCODE_COLUMN = "_postcode"

def points_frame(
    *,
    source_id: np.ndarray,
    name: np.ndarray,
    category: np.ndarray,
    month: np.ndarray,
    properties: list[dict[str, Any]],
    geometry: np.ndarray,
) -> gpd.GeoDataFrame:
    """Assemble the standard points GeoDataFrame (object columns keep None as None)."""
    return gpd.GeoDataFrame(
        {
            "source_id": pd.Series(source_id, dtype=object),
            "name": pd.Series(name, dtype=object),
            "category": pd.Series(category, dtype=object),
            "month": pd.Series(month, dtype=object),
            "properties": pd.Series(properties, dtype=object),
        },
        geometry=gpd.GeoSeries(geometry, crs=WGS84),
    )


def coordinate_points(
    x_text: pd.Series, y_text: pd.Series, *, x_name: str, y_name: str, crs: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Validate coordinate text and build EPSG:4326 points.

    Returns ``(geometry, missing, problems)``. Rows with both coordinates blank
    are ``missing`` (null geometry, not an error). Text that is not a finite
    number, one blank coordinate, values outside lon/lat ranges for a geographic
    CRS and points outside a projected CRS's area of use are problems.
    """
    x, x_blank, x_bad = parse_numbers(x_text)
    y, y_blank, y_bad = parse_numbers(y_text)
    problems = row_problems(x_bad, [f"not a finite number: {v!r}" for v in x_text], x_name) if x_bad.any() else []
    if y_bad.any():
        problems += row_problems(y_bad, [f"not a finite number: {v!r}" for v in y_text], y_name)
    problems += row_problems(x_blank & ~y_blank, f"blank while {y_name} has a value", x_name)
    problems += row_problems(y_blank & ~x_blank, f"blank while {x_name} has a value", y_name)
    missing = x_blank & y_blank
    usable = ~x_blank & ~y_blank & ~x_bad & ~y_bad
    if crs.is_geographic:
        bad_x = usable & (np.abs(np.where(usable, x, 0.0)) > 180)
        bad_y = usable & (np.abs(np.where(usable, y, 0.0)) > 90)
        if bad_x.any():
            problems += row_problems(bad_x, [f"longitude {v} is outside -180..180" for v in x], x_name)
        if bad_y.any():
            problems += row_problems(bad_y, [f"latitude {v} is outside -90..90" for v in y], y_name)
        usable &= ~bad_x & ~bad_y
    lon = np.full(len(x), np.nan)
    lat = np.full(len(x), np.nan)
    if crs.equals(WGS84, ignore_axis_order=True):
        lon[usable], lat[usable] = x[usable], y[usable]
    elif usable.any():
        transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
        lon[usable], lat[usable] = transformer.transform(x[usable], y[usable], errcheck=False)
        area = crs.area_of_use
        with np.errstate(invalid="ignore"):
            outside = usable & ~(
                np.isfinite(lon) & np.isfinite(lat)
                & (lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)
            )
            if area is not None and not crs.is_geographic:
                outside |= usable & ~(
                    (lon >= area.west - 0.5) & (lon <= area.east + 0.5)
                    & (lat >= area.south - 0.5) & (lat <= area.north + 0.5)
                )
        if outside.any():
            reasons = [f"({a}, {b}) lies outside the area where {crs.to_string()} applies" for a, b in zip(x, y)]
            problems += row_problems(outside, reasons, f"{x_name}/{y_name}")
        usable &= ~outside
    geometry = np.full(len(x), None, dtype=object)
    geometry[usable] = shapely.points(lon[usable], lat[usable])
    return geometry, missing, sorted(problems, key=lambda p: p.row or 0)


def month_values(values: pd.Series, column: str) -> tuple[np.ndarray, list[Problem]]:
    """Months from ``YYYY-MM`` or ISO dates; blanks are None."""
    stripped = values.astype(str).str.strip()
    found = stripped.str.extract(f"^{_MONTH_OR_DATE.pattern}$", expand=False)
    blank = (stripped == "").to_numpy()
    bad = found.isna().to_numpy() & ~blank
    problems = row_problems(
        bad, [f"{v!r} is not a month (YYYY-MM) or an ISO date" for v in stripped], column
    ) if bad.any() else []
    return none_where(found.isna().to_numpy(), found.to_numpy(dtype=object)), problems


def missing_note(missing: np.ndarray) -> list[str]:
    """The note for rows kept without a location, if any."""
    count = int(missing.sum())
    return [f"{count} row(s) have no coordinates; they are kept with an empty geometry"] if count else []


@register("points-csv")
def load_points_csv(
    path: Path,
    *,
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    category_field: str | None = None,
    month_field: str | None = None,
    encoding: str = "utf-8",
) -> Loaded:
    """Load a CSV of points from two coordinate columns, reprojected to EPSG:4326.

    All columns other than the coordinates and the mapped fields go into
    ``properties``. Rows with both coordinates blank are kept without geometry.

    Parameters
    ----------
    x, y
        Coordinate columns; detected by name when omitted (longitude/latitude,
        lon/lat, lng/lat, long/lat, x/y, easting/northing, any case).
    crs
        CRS of the coordinates. Default: EPSG:4326 for lon/lat names,
        EPSG:27700 for easting/northing; for other names EPSG:4326 if the
        values fit lon/lat ranges (noted), otherwise the load fails asking for it.
    id_field, name_field, category_field, month_field
        Columns for ``source_id``, ``name``, ``category`` and ``month``.
    encoding
        Text encoding, e.g. ``latin-1``.
    """
    if (x is None) != (y is None):
        raise ConfigError("loader 'points-csv': give both x and y, or neither")
    fields = {"id_field": id_field, "name_field": name_field, "category_field": category_field,
              "month_field": month_field}
    frame = read_csv_text(path, encoding=encoding, required=[x, y, *fields.values()])
    notes: list[str] = []
    if x is None or y is None:
        x, y = _detect_pair(path, list(frame.columns))
    target = _points_crs(path, frame, x, y, crs, notes)
    geometry, missing, problems = coordinate_points(frame[x], frame[y], x_name=x, y_name=y, crs=target)
    month = np.full(len(frame), None, dtype=object)
    if month_field is not None:
        month, month_problems = month_values(frame[month_field], month_field)
        problems += month_problems
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))
    used = {x, y, *(f for f in fields.values() if f is not None)}
    rest = frame[[c for c in frame.columns if c not in used]]
    empty = np.full(len(frame), None, dtype=object)
    result = points_frame(
        source_id=blank_to_none(frame[id_field]) if id_field else empty,
        name=blank_to_none(frame[name_field]) if name_field else empty,
        category=blank_to_none(frame[category_field]) if category_field else empty,
        month=month,
        properties=json_records(rest),
        geometry=geometry,
    )
    return Loaded(frame=result, kind="points", rows_read=len(frame), notes=notes + missing_note(missing))


@register("points-postcode")
def load_points_postcode(
    path: Path,
    *,
    postcode_field: str = "postcode",
    id_field: str | None = None,
    name_field: str | None = None,
    category_field: str | None = None,
    encoding: str = "utf-8",
) -> Loaded:
    """Load a CSV of places that have a postcode but no coordinates (e.g. a list of libraries).

    Nothing is placed here: each row carries its postcode in :data:`POSTCODE_COLUMN`, and the
    import places it at its postcode's centre from the loaded postcode file. Rows it cannot
    place are kept without a location and listed in the load report.
    """
    fields = {"id_field": id_field, "name_field": name_field, "category_field": category_field}
    frame = read_csv_text(path, encoding=encoding, required=[postcode_field, *fields.values()])
    used = {f for f in fields.values() if f is not None}
    empty = np.full(len(frame), None, dtype=object)
    result = points_frame(
        source_id=blank_to_none(frame[id_field]) if id_field else empty,
        name=blank_to_none(frame[name_field]) if name_field else empty,
        category=blank_to_none(frame[category_field]) if category_field else empty,
        month=empty, properties=json_records(frame[[c for c in frame.columns if c not in used]]),
        geometry=np.full(len(frame), None, dtype=object),
    )
    result[POSTCODE_COLUMN] = frame[postcode_field].str.strip().to_numpy(dtype=object)
    return Loaded(frame=result, kind="points", rows_read=len(frame))


def _detect_pair(path: Path, columns: list[str]) -> tuple[str, str]:
    lower = {c.lower(): c for c in columns}
    pairs = [(lower[a], lower[b]) for a, b in COORDINATE_PAIRS if a in lower and b in lower]
    if len(pairs) == 1:
        return pairs[0]
    if pairs:
        fail(path, [Problem("several coordinate column pairs found (" + "; ".join(f"{a}/{b}" for a, b in pairs)
                            + "); choose one with the x and y options")])
    fail(path, [Problem("no coordinate columns found (looked for longitude/latitude, lon/lat, lng/lat, long/lat, "
                        f"x/y, easting/northing); columns found: {columns_found(columns)}; "
                        "name them with the x and y options")])


def _points_crs(path: Path, frame: pd.DataFrame, x: str, y: str, crs: str | None, notes: list[str]) -> pyproj.CRS:
    if crs is not None:
        return parse_crs(path, crs, declared=False)
    if x.lower() in _LONLAT_NAMES:
        return WGS84
    if x.lower() == "easting":
        return pyproj.CRS.from_epsg(27700)
    xs, _, x_bad = parse_numbers(frame[x])
    ys, _, y_bad = parse_numbers(frame[y])
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return WGS84
    bounds = (xs[ok].min(), ys[ok].min(), xs[ok].max(), ys[ok].max())
    if looks_lonlat(bounds):
        notes.append(f"no crs option; the values of {x}/{y} are within longitude/latitude ranges, "
                     "so EPSG:4326 (WGS84 lon/lat) was assumed")
        return WGS84
    hint = ("they look like British National Grid metres; pass crs=EPSG:27700" if looks_bng(bounds)
            else "pass the crs option")
    fail(path, [Problem(f"the CRS of columns {x}/{y} is not known and {hint}")])


@register("points-geojson")
def load_points_geojson(
    path: Path,
    *,
    crs: str | None = None,
    layer: str | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    category_field: str | None = None,
    month_field: str | None = None,
) -> Loaded:
    """Load point features in any declared CRS, reprojected to EPSG:4326.

    Null or empty geometries are kept as null and counted; a single-part
    MultiPoint is taken as its point; any other geometry type is a problem.

    Parameters
    ----------
    path
        GeoJSON, a GeoPackage or a shapefile (``.shp`` or ``.zip``).
    crs, layer
        As for the ``boundary`` loader.
    id_field, name_field, category_field, month_field
        Attributes for ``source_id``, ``name``, ``category`` and ``month``.
    """
    data = read_vector(path, layer=layer)
    problems = list(data.problems)
    fields = {"id_field": id_field, "name_field": name_field, "category_field": category_field,
              "month_field": month_field}
    problems += missing_columns(data.columns, fields.values())
    raise_if(path, problems)
    notes: list[str] = []
    geometry = data.geometry.copy()
    kinds = shapely.get_type_id(geometry)
    single = (kinds == shapely.GeometryType.MULTIPOINT) & (shapely.get_num_geometries(geometry) == 1)
    geometry[single] = shapely.get_geometry(geometry[single], 0)
    if single.any():
        notes.append(f"{int(single.sum())} single-part MultiPoint(s) read as points")
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    wrong = ~missing & (shapely.get_type_id(geometry) != shapely.GeometryType.POINT)
    problems += [Problem(f"expected a point, found a {geometry[i].geom_type}", int(i) + 1, "geometry")
                 for i in np.flatnonzero(wrong)]
    geometry = none_where(missing | wrong, geometry)
    target = resolve_crs(path, declared=data.crs, declared_text=data.crs_text, option=crs,
                         bounds=coordinate_bounds(geometry), notes=notes)
    geometry = to_wgs84(geometry, target)
    outside = outside_lonlat(geometry)
    problems += [Problem(f"coordinates fall outside longitude/latitude ranges after reading them as "
                         f"{target.to_string()} (is the CRS right?)", int(i) + 1, "geometry")
                 for i in np.flatnonzero(outside)]
    month = np.full(len(geometry), None, dtype=object)
    if month_field is not None:
        month, month_problems = month_values(pd.Series(_month_text(data.column(month_field))), month_field)
        problems += month_problems
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))
    used = {f for f in fields.values() if f is not None}
    empty = np.full(len(geometry), None, dtype=object)
    result = points_frame(
        source_id=text_values(data.column(id_field)) if id_field else empty,
        name=text_values(data.column(name_field)) if name_field else empty,
        category=text_values(data.column(category_field)) if category_field else empty,
        month=month,
        properties=[{k: v for k, v in r.items() if k not in used} for r in data.records],
        geometry=geometry,
    )
    return Loaded(frame=result, kind="points", rows_read=len(data.records), notes=notes + missing_note(missing))


def _month_text(values: list[object]) -> list[str]:
    return ["" if v is None else str(v) for v in values]
