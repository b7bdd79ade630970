"""Where a row is: coordinates read from cells or geometries, checked against the grid and the council's area.

Every check returns a reason a non-specialist can act on (swapped columns, grid metres
in longitude columns, a point in the Atlantic) instead of raising. Pure: no files,
no database.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPoint
from shapely.geometry.base import BaseGeometry

from insight.partner.value_checks import DECIMAL, ERROR, REPAIRED

GB_REGION = (-8.7, 49.8, 1.9, 60.9)
BNG_RANGE = (0.0, 0.0, 700_000.0, 1_300_000.0)
HUGE = 1e7


def parse_coordinate(text: object) -> tuple[float | None, str | None]:
    """A coordinate from a cell: ``(value, None)``, ``(None, None)`` if blank, or ``(None, reason)``.

    Decimal numbers only; NaN, infinity, degree-minute text, decimal commas and
    numbers too large to be coordinates are refused with a reason.
    """
    if text is None:
        return None, None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
        raw = repr(text)
    else:
        raw = str(text).strip()
        if not raw:
            return None, None
        if len(raw) > 40:
            return None, f"'{raw[:20]}…' is too long to be a coordinate"
        if not DECIMAL.fullmatch(raw):
            if re.fullmatch(r"[+-]?\d+,\d+", raw):
                return None, f"'{raw}' uses a decimal comma; write it with a point, e.g. {raw.replace(',', '.')}"
            if raw.lower().lstrip("+-") in {"nan", "inf", "infinity"}:
                return None, f"'{raw}' is not a number; give a decimal coordinate"
            if any(c in raw for c in "°'\"NSEWnsew"):
                return None, f"'{raw}' is not a decimal coordinate; write decimal degrees, e.g. 51.6123"
            return None, f"'{raw}' is not a number; give a decimal coordinate such as -0.1946"
        value = float(raw)
    if not math.isfinite(value):
        return None, f"'{raw}' is not a finite number; give a decimal coordinate"
    if abs(value) > HUGE:
        return None, f"'{raw}' is far too large to be a coordinate"
    return value, None



def _in_region(lon: float, lat: float, region: tuple[float, float, float, float]) -> bool:
    return region[0] <= lon <= region[2] and region[1] <= lat <= region[3]


def check_lonlat(lon: float, lat: float, *, region: tuple[float, float, float, float]) -> str | None:
    """Why a longitude/latitude pair is wrong, or None. ``region`` is where points are expected."""
    if abs(lon) > 180 or abs(lat) > 90:
        if 1000 <= lon <= BNG_RANGE[2] and 1000 <= lat <= BNG_RANGE[3]:
            return (f"({lon:g}, {lat:g}) look like British National Grid eastings and northings (metres), "
                    "not longitude and latitude: put them in columns named easting and northing")
        return f"({lon:g}, {lat:g}) is not a longitude/latitude: longitude runs -180 to 180, latitude -90 to 90"
    if lon == 0 and lat == 0:
        return "(0, 0) is in the Atlantic Ocean: the coordinates are probably missing"
    if not _in_region(lon, lat, region) and _in_region(lat, lon, region):
        return (f"longitude {lon:g} and latitude {lat:g} look swapped ({lat:g} is a longitude here and "
                f"{lon:g} a latitude): swap the two columns")
    return None


def check_grid(easting: float, northing: float) -> str | None:
    """Why a British National Grid pair is wrong before projecting it, or None."""
    if abs(easting) <= 180 and abs(northing) <= 90:
        return (f"({easting:g}, {northing:g}) look like longitude and latitude, not eastings and northings: "
                "put them in columns named longitude and latitude")
    if not (BNG_RANGE[0] <= easting <= BNG_RANGE[2] and BNG_RANGE[1] <= northing <= BNG_RANGE[3]):
        return (f"({easting:g}, {northing:g}) is outside the British National Grid "
                "(eastings 0–700000, northings 0–1300000)")
    return None


def _transformer(source: pyproj.CRS | str, target: pyproj.CRS | str) -> pyproj.Transformer:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Best transformation is not available.*")
        return pyproj.Transformer.from_crs(source, target, always_xy=True)


_TO_LONLAT = _transformer("EPSG:27700", "EPSG:4326")
_TO_METRES = _transformer("EPSG:4326", "EPSG:27700")


def grid_to_lonlat(easting: float, northing: float) -> tuple[float, float]:
    """British National Grid metres to WGS84 longitude and latitude."""
    lon, lat = _TO_LONLAT.transform(easting, northing)
    return float(lon), float(lat)


def region_of(authority: BaseGeometry | None) -> tuple[float, float, float, float]:
    """Where points are expected: the authority's bounds plus a margin, or Great Britain."""
    if authority is None or authority.is_empty:
        return GB_REGION
    minx, miny, maxx, maxy = authority.bounds
    return (minx - 0.2, miny - 0.2, maxx + 0.2, maxy + 0.2)


Note = tuple[str | None, str, str]


@dataclass(frozen=True)
class Located:
    """The location found for one row: a point, nothing, or the issues that stopped it."""

    lon: float | None = None
    lat: float | None = None
    issues: tuple[Note, ...] = ()


def locate_cells(x: object, y: object, *, x_name: str, y_name: str, system: str,
                 region: tuple[float, float, float, float]) -> Located:
    """Locate a CSV row from two cells. ``system`` is ``lonlat``, ``grid`` or ``auto`` (x/y columns)."""
    xv, x_why = parse_coordinate(x)
    yv, y_why = parse_coordinate(y)
    found = []
    if x_why:
        found.append((x_name, f"unreadable coordinate: {x_why}", ERROR))
    if y_why:
        found.append((y_name, f"unreadable coordinate: {y_why}", ERROR))
    if found:
        return Located(issues=tuple(found))
    if xv is None and yv is None:
        return Located()
    if xv is None or yv is None:
        blank, other = (x_name, y_name) if xv is None else (y_name, x_name)
        return Located(issues=((blank, f"blank while {other} has a value: give both coordinates or neither", ERROR),))
    if system == "auto":
        system = "lonlat" if abs(xv) <= 180 and abs(yv) <= 90 else "grid"
    pair = f"{x_name}/{y_name}"
    if system == "grid":
        why = check_grid(xv, yv)
        if why:
            return Located(issues=((pair, why, ERROR),))
        lon, lat = grid_to_lonlat(xv, yv)
        if not _in_region(lon, lat, region):
            slon, slat = grid_to_lonlat(yv, xv) if check_grid(yv, xv) is None else (math.inf, math.inf)
            if _in_region(slon, slat, region):
                return Located(issues=((pair, f"easting {xv:g} and northing {yv:g} look swapped: swap the two columns",
                                        ERROR),))
        return Located(lon, lat)
    why = check_lonlat(xv, yv, region=region)
    if why:
        return Located(issues=((pair, why, ERROR),))
    return Located(xv, yv)


def _point_of(geom: BaseGeometry) -> tuple[BaseGeometry | None, list[Note], str | None]:
    """The point that stands for a feature, the repairs made to find it, or why there is none."""
    kind = geom.geom_type
    if isinstance(geom, MultiPoint):
        if len(geom.geoms) != 1:
            return None, [], f"one feature holds {len(geom.geoms)} points; give each place its own feature"
        return geom.geoms[0], [("geometry", "a single-point MultiPoint was read as a point", REPAIRED)], None
    if kind in ("Polygon", "MultiPolygon"):
        notes: list[Note] = []
        if not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom) or "self-intersecting"
            geom = shapely.make_valid(geom)
            notes.append(("geometry", f"the {kind} was invalid ({reason}); it was repaired", REPAIRED))
        if geom.is_empty or not np.isfinite(shapely.get_coordinates(geom)).all():
            return None, notes, f"the {kind} has no usable coordinates"
        notes.append(("geometry", f"a {kind} was given; a point inside it is used as the location", REPAIRED))
        return geom.point_on_surface(), notes, None
    if kind != "Point":
        return None, [], f"expected a point (or an area), found a {kind}"
    return geom, [], None


def _projected(x: float, y: float, declared: pyproj.CRS, notes: list[Note]) -> Located:
    """Locate a point given in a projected CRS (British National Grid checked first)."""
    if declared.equals(pyproj.CRS.from_epsg(27700)):
        why = check_grid(x, y)
        if why:
            return Located(issues=(("geometry", why, ERROR),))
    lon, lat = _transformer(declared, "EPSG:4326").transform(x, y)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return Located(issues=(("geometry", f"({x:g}, {y:g}) cannot be placed using the file's CRS "
                                            f"{declared.to_string()}", ERROR),))
    return Located(float(lon), float(lat), tuple(notes))


def locate_geometry(geom: object, *, declared: pyproj.CRS | None,
                    region: tuple[float, float, float, float]) -> Located:
    """Locate a feature from its geometry, repairing what is safe to repair and saying so."""
    if geom is None or not isinstance(geom, BaseGeometry) or geom.is_empty:
        return Located()
    point, notes, why = _point_of(geom)
    if point is None:
        return Located(issues=(("geometry", why or "the geometry has no usable point", ERROR),))
    x, y = float(shapely.get_x(point)), float(shapely.get_y(point))
    if not (math.isfinite(x) and math.isfinite(y)):
        return Located(issues=(("geometry", "the coordinates are not finite numbers (NaN or infinity)", ERROR),))
    if abs(x) > HUGE or abs(y) > HUGE:
        return Located(issues=(("geometry", f"({x:g}, {y:g}) is far too large to be a coordinate", ERROR),))
    if declared is not None and not declared.is_geographic:
        return _projected(x, y, declared, notes)
    why = check_lonlat(x, y, region=region)
    if why:
        return Located(issues=(("geometry", why.replace("put them in columns named easting and northing",
                                                         "declare the file's CRS (EPSG:27700) or export it as WGS84"),
                                ERROR),))
    return Located(x, y, tuple(notes))


def to_metres(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude to British National Grid metres (for distances)."""
    x, y = _TO_METRES.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
