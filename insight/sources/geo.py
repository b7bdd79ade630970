"""Reading vector files and settling their coordinate reference system.

GeoJSON is parsed here rather than through GDAL so that each feature's problem
keeps its feature number and so that a missing ``crs`` member can be told apart
from a declared one. Shapefiles (``.shp`` or a ``.zip`` holding one) and
GeoPackages are read with pyogrio.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import pyproj
import shapely
from pyproj.exceptions import CRSError

from insight.errors import Problem
from insight.sources.base import binary_content, decode_text, fail, json_records, json_value, read_bytes

WGS84 = pyproj.CRS.from_epsg(4326)
BNG_BOUNDS = (0.0, 0.0, 700_000.0, 1_300_000.0)
OGR_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FieldError,
)
_SIGNATURES = {
    ".zip": (b"PK\x03\x04", "a ZIP archive"),
    ".shp": (b"\x00\x00\x27\x0a", "an ESRI shapefile"),
    ".gpkg": (b"SQLite format 3\x00", "a GeoPackage"),
}


@dataclass
class VectorData:
    """Features read from a vector file, before any checking.

    ``records`` holds each feature's attributes as JSON-safe dicts, ``geometry``
    the shapely geometries (None where absent or unreadable), ``crs`` the CRS the
    file declares (None if it declares none) and ``crs_text`` how it declared it.
    """

    columns: list[str]
    records: list[dict[str, Any]]
    geometry: np.ndarray
    crs: pyproj.CRS | None
    crs_text: str | None
    problems: list[Problem] = field(default_factory=list)

    def column(self, name: str) -> list[object]:
        """The values of one attribute, None where a feature lacks it."""
        return [r.get(name) for r in self.records]


def read_vector(path: Path, *, layer: str | None = None) -> VectorData:
    """Read GeoJSON (by content), a shapefile, a zipped shapefile or a GeoPackage."""
    data = read_bytes(path)
    suffix = path.suffix.lower()
    if suffix in _SIGNATURES:
        magic, what = _SIGNATURES[suffix]
        if not data.startswith(magic):
            looks = binary_content(data) or "text"
            fail(path, [Problem(f"not {what}: the content does not start like one (it looks like {looks})")])
        return _read_ogr(path, layer)
    if layer is not None:
        fail(path, [Problem("option 'layer' applies only to GeoPackages and zipped shapefiles")])
    if suffix not in (".geojson", ".json") and data.lstrip()[:1] not in (b"{", b"["):
        fail(path, [Problem(
            f"unsupported file type '{suffix}': expected GeoJSON (.geojson/.json), "
            "a shapefile (.shp or .zip) or a GeoPackage (.gpkg)"
        )])
    return _read_geojson(path, data)


def _read_geojson(path: Path, data: bytes) -> VectorData:
    text = decode_text(path, data, "utf-8", what="GeoJSON")
    try:
        doc = json.loads(text, parse_constant=lambda _: None)
    except json.JSONDecodeError as err:
        fail(path, [Problem(
            f"not valid JSON (is the file truncated?): {err.msg} at line {err.lineno}, column {err.colno}"
        )])
    kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
    if kind == "Feature":
        features = [doc]
    elif kind == "FeatureCollection":
        features = doc.get("features")
    else:
        fail(path, [Problem(f"not a GeoJSON FeatureCollection (the top level is {kind!r})")])
    if not isinstance(features, list):
        fail(path, [Problem("the FeatureCollection has no 'features' list")])
    if not features:
        fail(path, [Problem("the FeatureCollection has no features: no data rows")])
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    texts: list[str | None] = []
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(Problem("not a GeoJSON Feature", number))
            records.append({})
            texts.append(None)
            continue
        properties = feature.get("properties")
        if properties is not None and not isinstance(properties, dict):
            problems.append(Problem("'properties' is not an object", number, "properties"))
            properties = None
        records.append(properties or {})
        geometry = feature.get("geometry")
        texts.append(None if geometry is None else json.dumps(geometry))
    geometry = shapely.from_geojson(np.array(texts, dtype=object), on_invalid="ignore")
    for i in np.flatnonzero(np.array([t is not None for t in texts]) & shapely.is_missing(geometry)):
        try:
            shapely.from_geojson(texts[i])
        except shapely.errors.GEOSException as err:
            problems.append(Problem(f"unreadable geometry: {err}", int(i) + 1, "geometry"))
    columns = list(dict.fromkeys(k for r in records for k in r))
    crs, crs_text = _declared_geojson_crs(path, doc)
    return VectorData(columns, _json_safe(records), geometry, crs, crs_text, problems)


def _declared_geojson_crs(path: Path, doc: dict[str, Any]) -> tuple[pyproj.CRS | None, str | None]:
    member = doc.get("crs")
    if member is None:
        return None, None
    name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str):
        fail(path, [Problem(f"the GeoJSON 'crs' member is not a named CRS: {json.dumps(member)[:200]}")])
    return parse_crs(path, name, declared=True), name


def _json_safe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{str(k): json_value(v) for k, v in r.items()} for r in records]


def _read_ogr(path: Path, layer: str | None) -> VectorData:
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except OGR_ERRORS as err:
        fail(path, [Problem(f"cannot be opened: {err}")])
    if not layers:
        fail(path, [Problem("contains no layers")])
    if layer is None and len(layers) > 1:
        fail(path, [Problem(f"holds several layers ({', '.join(layers)}); choose one with the 'layer' option")])
    if layer is not None and layer not in layers:
        fail(path, [Problem(f"has no layer '{layer}'; layers: {', '.join(layers)}")])
    try:
        frame = pyogrio.read_dataframe(path, layer=layer or layers[0])
    except OGR_ERRORS as err:
        fail(path, [Problem(f"cannot be read: {err}")])
    if len(frame) == 0:
        fail(path, [Problem("the layer has no features: no data rows")])
    attributes = frame.drop(columns=frame.geometry.name)
    columns = [str(c) for c in attributes.columns]
    crs = frame.crs
    return VectorData(
        columns,
        json_records(attributes, blank_is_none=False),
        np.asarray(frame.geometry.values, dtype=object),
        crs,
        crs.to_string() if crs is not None else None,
    )


def parse_crs(path: Path, text: str, *, declared: bool) -> pyproj.CRS:
    """A pyproj CRS from user text; LoadError naming the file if unknown."""
    try:
        return pyproj.CRS.from_user_input(text)
    except CRSError as err:
        where = "the file declares" if declared else "option 'crs' gives"
        fail(path, [Problem(f"{where} an unknown or invalid CRS {text!r}: {err}")])


def coordinate_bounds(geometry: np.ndarray) -> tuple[float, float, float, float] | None:
    """Bounds of all present geometries, or None if there are none."""
    bounds = shapely.bounds(geometry[~shapely.is_missing(geometry) & ~shapely.is_empty(geometry)])
    if bounds.size == 0 or not np.isfinite(bounds).all():
        return None
    return (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())


def looks_lonlat(bounds: tuple[float, float, float, float]) -> bool:
    """True if the bounds fit within longitude −180..180 and latitude −90..90."""
    return bounds[0] >= -180 and bounds[2] <= 180 and bounds[1] >= -90 and bounds[3] <= 90


def looks_bng(bounds: tuple[float, float, float, float]) -> bool:
    """True if the bounds fit British National Grid metres (0..700 000 E, 0..1 300 000 N)."""
    return (
        bounds[0] >= BNG_BOUNDS[0] and bounds[2] <= BNG_BOUNDS[2]
        and bounds[1] >= BNG_BOUNDS[1] and bounds[3] <= BNG_BOUNDS[3]
    )


def resolve_crs(
    path: Path,
    *,
    declared: pyproj.CRS | None,
    declared_text: str | None,
    option: str | None,
    bounds: tuple[float, float, float, float] | None,
    notes: list[str],
) -> pyproj.CRS:
    """Settle the CRS of a file's coordinates.

    An explicit ``crs`` option wins, even over a CRS the file declares (a note
    records the override: the option is how a user corrects a wrong ``.prj``).
    Otherwise the declared CRS is used. With neither, coordinates within lon/lat
    ranges are taken as EPSG:4326 (silently for GeoJSON, whose standard says so;
    with a note for other formats); anything else, notably British
    National Grid metres, is an error asking for the ``crs`` option, because a
    silent guess would put every feature in the wrong place.
    """
    if option is not None:
        crs = parse_crs(path, option, declared=False)
        if declared is not None and not crs.equals(declared, ignore_axis_order=True):
            notes.append(f"the file declares CRS {declared_text}; option crs={option} was used instead")
        return crs
    if declared is not None:
        return declared
    if bounds is None or looks_lonlat(bounds):
        if path.suffix.lower() not in (".geojson", ".json"):
            notes.append("the file declares no CRS; its coordinates are within longitude/latitude ranges, "
                         "so EPSG:4326 (WGS84 lon/lat) was assumed")
        return WGS84
    if looks_bng(bounds):
        fail(path, [Problem(
            "the file declares no CRS and its coordinates look like British National Grid metres; "
            "pass crs=EPSG:27700 (or the right CRS) to load it"
        )])
    fail(path, [Problem(
        f"the file declares no CRS and its coordinates (bounds {bounds}) are not longitude/latitude; "
        "pass the crs option"
    )])


def to_wgs84(geometry: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """Reproject geometries (None kept) to EPSG:4326 lon/lat, dropping any Z."""
    geometry = shapely.force_2d(geometry)
    if crs.equals(WGS84, ignore_axis_order=True):
        return geometry
    transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    moved: np.ndarray = shapely.transform(
        geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    return moved


def outside_lonlat(geometry: np.ndarray) -> np.ndarray:
    """True where a present geometry has non-finite coordinates or lies outside lon/lat ranges."""
    bounds = shapely.bounds(geometry)
    present = ~shapely.is_missing(geometry) & ~shapely.is_empty(geometry)
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
        )
    outside: np.ndarray = present & ~inside
    return outside
