"""The ``boundary`` loader: area polygons (wards, LSOAs, constituencies…) with a code and a name.

Code and name columns follow ONS naming when not given: a code column ends in
``CD``, ``_code`` or ``Code`` and a name column in ``NM``, ``_name`` or ``Name``
(or is called ``code``/``name``). If several columns qualify, the name column
sharing the code column's prefix is taken (``WD22CD`` -> ``WD22NM``); if that
still leaves a choice, or none qualifies, the load fails and lists the columns.
"""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from insight.errors import Problem
from insight.sources.base import Loaded, columns_found, fail, none_where, raise_if, register, text_values
from insight.sources.geo import (
    WGS84,
    coordinate_bounds,
    outside_lonlat,
    read_vector,
    resolve_crs,
    to_wgs84,
)

_CODE = re.compile(r"(CD|_code|Code)$")
_NAME = re.compile(r"(NM|_name|Name)$")
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


@register("boundary")
def load_boundary(
    path: Path,
    *,
    code_field: str | None = None,
    name_field: str | None = None,
    crs: str | None = None,
    layer: str | None = None,
) -> Loaded:
    """Load area polygons as ``code, name, properties, geometry`` (MultiPolygon, EPSG:4326).

    Invalid polygons are repaired with ``make_valid`` keeping the polygonal
    parts, and counted. Missing, empty or non-polygon geometry and blank or
    duplicate codes are problems. A blank name falls back to the code (noted).

    Parameters
    ----------
    path
        GeoJSON, a shapefile (``.shp`` or a ``.zip`` holding one) or a GeoPackage.
    code_field, name_field
        Attribute columns; detected from ONS-style names when omitted (see module).
    crs
        CRS of the coordinates, for files that declare none; it also overrides a
        declared CRS, with a note, since a user passing it knows the file is wrong.
    layer
        Layer of a GeoPackage or of a zip holding several shapefiles.
    """
    data = read_vector(path, layer=layer)
    problems = list(data.problems)
    notes: list[str] = []
    n = len(data.records)
    unique = {c for c in data.columns if n > 1 and len({str(v) for v in data.column(c)}) == n}
    code_col, name_col = _pick_fields(path, data.columns, code_field, name_field, unique)

    codes = text_values(data.column(code_col))
    names = text_values(data.column(name_col))
    problems += [Problem("blank code", int(i) + 1, code_col) for i in np.flatnonzero(pd.isna(codes))]
    problems += _duplicate_codes(codes, code_col)
    unnamed = pd.isna(names) & ~pd.isna(codes)
    if unnamed.any():
        names[unnamed] = codes[unnamed]
        notes.append(f"{int(unnamed.sum())} feature(s) have no name in '{name_col}'; their code is used as the name")

    geometry = data.geometry
    reported = {p.row for p in data.problems}
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    kinds = shapely.get_type_id(geometry)
    polygonal = np.isin(kinds, _POLYGONAL)
    for i in np.flatnonzero(missing):
        if i + 1 not in reported:
            problems.append(Problem("no geometry (null or empty)", int(i) + 1, "geometry"))
    for i in np.flatnonzero(~missing & ~polygonal):
        problems.append(Problem(f"expected a polygon, found a {geometry[i].geom_type}", int(i) + 1, "geometry"))

    usable = ~missing & polygonal
    target = resolve_crs(path, declared=data.crs, declared_text=data.crs_text, option=crs,
                         bounds=coordinate_bounds(none_where(~usable, geometry)), notes=notes)
    geometry = none_where(~usable, geometry)
    geometry = to_wgs84(geometry, target)
    outside = outside_lonlat(geometry)
    problems += [Problem("coordinates fall outside longitude/latitude ranges after reading them as "
                         f"{target.to_string()} (is the CRS right?)", int(i) + 1, "geometry")
                 for i in np.flatnonzero(outside)]

    geometry, repaired, empty_after = _repair(geometry)
    problems += [Problem("invalid polygon with no area left after repair", int(i) + 1, "geometry")
                 for i in np.flatnonzero(empty_after)]
    raise_if(path, sorted(problems, key=lambda p: (p.row or 0)))
    if repaired:
        notes.append(f"{repaired} invalid polygon(s) repaired with make_valid (polygonal parts kept)")

    used = {code_col, name_col}
    properties = [{k: v for k, v in r.items() if k not in used} for r in data.records]
    frame = gpd.GeoDataFrame(
        {"code": codes.astype(object), "name": names.astype(object), "properties": properties},
        geometry=gpd.GeoSeries(_multi(geometry), crs=WGS84),
    )
    return Loaded(frame=frame, kind="boundary", rows_read=len(data.records), repaired=repaired, notes=notes)


def _pick_fields(path: Path, columns: list[str], code_field: str | None, name_field: str | None,
                 unique: set[str]) -> tuple[str, str]:
    """The code and name columns: given by option, or detected by ONS-style endings.

    When several columns could hold the code (e.g. WD22CD and LAD22CD), the one whose
    values differ on every feature is taken; then the name column with the same
    prefix (WD22NM). Still ambiguous: the user is asked to choose.
    """
    problems = []
    for option, value in (("code_field", code_field), ("name_field", name_field)):
        if value is not None and value not in columns:
            problems.append(Problem(f"option {option}='{value}' names no column (columns found: "
                                    f"{columns_found(columns)})", column=value))
    raise_if(path, problems)
    code = code_field or _detect(path, columns, _CODE, "code", "code_field", "CD, _code or Code", problems, unique)
    name = name_field
    if name is None:
        candidates = [c for c in columns if _NAME.search(c) or c.lower() == "name"]
        paired = [c for c in candidates if code and _prefix(c, _NAME) == _prefix(code, _CODE)]
        if len(candidates) > 1 and len(paired) == 1:
            name = paired[0]
        else:
            name = _detect(path, columns, _NAME, "name", "name_field", "NM, _name or Name", problems, unique)
    if problems or code is None or name is None:
        fail(path, problems)
    return code, name


def _detect(path: Path, columns: list[str], pattern: re.Pattern[str], what: str, option: str, endings: str,
            problems: list[Problem], unique: set[str] | None = None) -> str | None:
    candidates = [c for c in columns if pattern.search(c) or c.lower() == what]
    if len(candidates) > 1 and unique is not None:
        distinct = [c for c in candidates if c in unique]
        candidates = distinct if len(distinct) == 1 else candidates
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        problems.append(Problem(f"several columns could hold the {what} ({', '.join(candidates)}); "
                                f"choose one with the {option} option"))
    else:
        problems.append(Problem(f"no {what} column found (looked for names ending in {endings}); columns found: "
                                f"{columns_found(columns)}; choose one with the {option} option"))
    return None


def _prefix(column: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub("", column).rstrip("_").lower()


def _duplicate_codes(codes: np.ndarray, column: str) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for i, code in enumerate(codes, start=1):
        if code is None:
            continue
        if code in first:
            problems.append(Problem(f"duplicate code '{code}' (first in row {first[code]})", i, column))
        else:
            first[code] = i
    return problems


def _repair(geometry: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Make invalid polygons valid, keeping only their polygonal parts.

    Returns the geometries, how many were repaired, and where nothing with
    area was left.
    """
    present = ~shapely.is_missing(geometry)
    invalid = present & ~shapely.is_valid(geometry)
    geometry = geometry.copy()
    empty_after = np.zeros(len(geometry), dtype=bool)
    for i in np.flatnonzero(invalid):
        fixed = shapely.make_valid(geometry[i])
        parts = shapely.get_parts(fixed)
        polygons = [p for p in parts if shapely.get_type_id(p) in _POLYGONAL and not p.is_empty]
        merged = shapely.union_all(polygons) if polygons else None
        if merged is None or merged.is_empty or merged.area == 0:
            empty_after[i] = True
        geometry[i] = merged
    return geometry, int(invalid.sum() - empty_after.sum()), empty_after


def _multi(geometry: np.ndarray) -> np.ndarray:
    """Promote Polygons to single-part MultiPolygons; MultiPolygons pass through."""
    parts, index = shapely.get_parts(geometry, return_index=True)
    return np.asarray(shapely.multipolygons(parts, indices=index), dtype=object)
