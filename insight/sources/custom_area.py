"""A custom area from what people have to hand: a GeoJSON, zipped Shapefile or KML file, or a list of
postcodes or LSOA codes, read as hostile input into one (Multi)Polygon in EPSG:4326.

Every refusal is a :class:`~insight.errors.BadRequest` naming the file, the feature or line and the
reason in plain words. Files are checked before they are parsed: size, type, and for zip archives
the member count, their paths, their unpacked size and compression ratio. A coordinate system is taken
only as an authority code (GeoJSON) or as plain WKT naming a 2-D geographic or projected system (a
Shapefile's .prj, read here, never by GDAL): PROJ strings and grid files are refused, so an upload
cannot make PROJ open a file. A list of postcodes
becomes the union of the 2021 LSOAs that hold the postcodes' points (the postcode file places each
postcode at a point; the smallest areas with population figures are LSOAs, so that is the honest
outline); a list of LSOA codes, the union of those LSOAs.
"""
from __future__ import annotations

import json
import re
import stat
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from insight.errors import BadRequest
from insight.geo.crs import METRIC_CRS
from insight.sources.geo import OGR_ERRORS, looks_bng, looks_lonlat
from insight.sources.postcodes import POSTCODE, compact, display_form
from insight.store import Engine
from insight.store.postcodes import postcode_points

LSOA_CODE = re.compile(r"^[EW]01\d{6}$")
SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg"}
PROBLEMS_SHOWN = 10
MAX_PRJ_BYTES = 16_384
EPSG_CODE = re.compile(r"^(?:EPSG:|urn:ogc:def:crs:EPSG:[0-9.]*:)([0-9]{1,6})$", re.IGNORECASE)
CRS84 = re.compile(r"^(?:OGC:CRS84|urn:ogc:def:crs:OGC:(?:1\.3)?:CRS84)$", re.IGNORECASE)
UNSAFE_PRJ = re.compile(r"\+[a-z_]+=|\+proj|\+init|PARAMETERFILE|EXTENSION\s*\[", re.IGNORECASE)
_TO_METRES = pyproj.Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_WGS84 = pyproj.CRS.from_epsg(4326)


@dataclass(frozen=True)
class AreaLimits:
    """How large an upload and the area it describes may be."""

    max_bytes: int = 5_000_000
    max_features: int = 5_000
    max_vertices: int = 50_000
    max_km2: float = 1_000.0
    max_codes: int = 2_000
    max_zip_members: int = 10
    max_unzipped_bytes: int = 50_000_000
    max_zip_ratio: int = 100
    max_json_depth: int = 32


@dataclass(frozen=True)
class ParsedArea:
    """A checked area: its outline (Polygon or MultiPolygon, EPSG:4326), what it was made from, and remarks."""

    geometry: BaseGeometry
    source: str
    notes: list[str] = field(default_factory=list)


def _refuse(what: str, problems: Sequence[str]) -> BadRequest:
    shown = "; ".join(problems[:PROBLEMS_SHOWN])
    more = f"; and {len(problems) - PROBLEMS_SHOWN} more" if len(problems) > PROBLEMS_SHOWN else ""
    return BadRequest(f"{what}: {shown}{more}")


def read_area_file(filename: str, data: bytes, *, limits: AreaLimits = AreaLimits()) -> ParsedArea:
    """The area in an uploaded GeoJSON (.geojson/.json), zipped Shapefile (.zip) or KML (.kml) file."""
    name = PurePosixPath(filename.replace("\\", "/")).name[:100] or "the file"
    what = f"'{name}'"
    if not data:
        raise _refuse(what, ["the file is empty: there is nothing to read"])
    if len(data) > limits.max_bytes:
        raise _refuse(what, [f"the file is {len(data):,} bytes; the limit is {limits.max_bytes:,}. "
                             "Simplify the outline or send fewer features"])
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in (".geojson", ".json"):
        return area_from_geojson(json_document(what, data, limits), what=what, limits=limits)
    if suffix == ".zip":
        return _read_shapefile(what, data, limits)
    if suffix == ".kml":
        return _read_kml(what, data, limits)
    raise _refuse(what, [f"files ending '{suffix or '(none)'}' are not read: upload a GeoJSON (.geojson), "
                         "a zipped Shapefile (.zip) or a KML file (.kml)"])


def json_document(what: str, data: bytes, limits: AreaLimits = AreaLimits()) -> object:
    """The JSON in ``data``, refused (BadRequest) when it is not UTF-8, not JSON or nested too deeply."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _refuse(what, [f"the file is not UTF-8 text (byte {err.start}): save it as GeoJSON"]) from None
    try:
        document = json.loads(text, parse_constant=lambda _: None)
    except RecursionError:
        raise _refuse(what, ["the JSON is nested too deeply to be a real file"]) from None
    except json.JSONDecodeError as err:
        raise _refuse(what, [f"line {err.lineno}, column {err.colno}: not valid JSON ({err.msg}); "
                             "is the file cut short?"]) from None
    if _depth(document) > limits.max_json_depth:
        raise _refuse(what, [f"the JSON nests more than {limits.max_json_depth} levels deep; refused as unsafe"])
    return document


def _depth(document: object) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def area_from_geojson(document: object, *, what: str = "the GeoJSON",
                      limits: AreaLimits = AreaLimits()) -> ParsedArea:
    """The area a GeoJSON Feature, FeatureCollection or Polygon/MultiPolygon geometry describes."""
    kind = document.get("type") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(kind, str):
        raise _refuse(what, ["the top level is not a GeoJSON object with a 'type'"])
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise _refuse(what, ["the FeatureCollection has no features"])
    elif kind == "Feature":
        features = [document]
    else:
        features = [{"type": "Feature", "geometry": document}]
    if len(features) > limits.max_features:
        raise _refuse(what, [f"it has {len(features):,} features; at most {limits.max_features:,} are read"])
    problems: list[str] = []
    shapes: list[BaseGeometry | None] = []
    for number, feature in enumerate(features, start=1):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(f"feature {number}: not a GeoJSON Feature")
        elif not isinstance(geometry, dict):
            problems.append(f"feature {number}: it has no geometry")
        else:
            try:
                shapes.append(shapely.from_geojson(json.dumps(geometry)))
                continue
            except (shapely.errors.GEOSException, ValueError, TypeError) as err:
                problems.append(f"feature {number}: the geometry cannot be read ({str(err)[:120]})")
        shapes.append(None)
    crs = _declared_crs(what, document.get("crs"))
    return _combine(what, np.array(shapes, dtype=object), crs, "feature", problems, limits,
                    source=f"GeoJSON {what}" if what != "the GeoJSON" else "GeoJSON")


def _declared_crs(what: str, member: object) -> pyproj.CRS | None:
    """The coordinate system a GeoJSON 'crs' member names: authority codes only, never a PROJ string."""
    if member is None:
        return None
    properties = member.get("properties") if isinstance(member, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    if not isinstance(name, str):
        raise _refuse(what, ["the 'crs' member does not name a coordinate system"])
    text = name.strip()
    if CRS84.match(text):
        return pyproj.CRS.from_user_input("OGC:CRS84")
    code = EPSG_CODE.match(text)
    if code is None:
        raise _refuse(what, [f"the coordinate system '{name[:60]}' is not an EPSG code: name it like "
                             "EPSG:27700 or urn:ogc:def:crs:EPSG::27700, or save the file as WGS84 (EPSG:4326)"])
    try:
        crs = pyproj.CRS.from_epsg(int(code.group(1)))
    except pyproj.exceptions.ProjError:
        raise _refuse(what, [f"the coordinate system '{name[:60]}' it names is not known"]) from None
    return _flat_crs(what, crs, f"'{name[:60]}'")


def _prj_crs(what: str, data: bytes) -> pyproj.CRS:
    """The coordinate system in a Shapefile's .prj: plain WKT of a 2-D geographic or projected system."""
    text = data.decode("latin-1").strip()
    if len(data) > MAX_PRJ_BYTES or UNSAFE_PRJ.search(text):
        raise _refuse(what, ["the .prj file is not a plain coordinate system description (it is too long, or "
                             "refers to PROJ settings or grid files): save the Shapefile again from GIS software"])
    try:
        crs = pyproj.CRS.from_wkt(text)
    except pyproj.exceptions.ProjError:
        raise _refuse(what, ["the .prj file does not describe a coordinate system that can be read"]) from None
    return _flat_crs(what, crs, "in the .prj file")


def _flat_crs(what: str, crs: pyproj.CRS, named: str) -> pyproj.CRS:
    """``crs`` if it is a 2-D geographic or projected system, which is all a flat outline can use."""
    base = crs.source_crs if crs.is_bound and crs.source_crs is not None else crs
    if base.type_name not in ("Geographic 2D CRS", "Projected CRS") or len(base.axis_info) != 2:
        kind = base.type_name.removesuffix(" CRS").lower().replace("3d", "three-dimensional")
        raise _refuse(what, [f"the coordinate system {named} is a {kind} one, not longitude/latitude "
                             "or map coordinates in two dimensions: save it as WGS84 (EPSG:4326) or British "
                             "National Grid (EPSG:27700)"])
    return crs


def _combine(what: str, shapes: np.ndarray, crs: pyproj.CRS | None, noun: str, problems: list[str],
             limits: AreaLimits, *, source: str) -> ParsedArea:
    """Check each feature is a polygon, settle the coordinate system, and join them into one area."""
    for i, shape in enumerate(shapes):
        if shape is None or problems and any(p.startswith(f"{noun} {i + 1}:") for p in problems):
            continue
        if shapely.is_empty(shape):
            problems.append(f"{noun} {i + 1}: its geometry is empty")
        elif shape.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(f"{noun} {i + 1}: it is a {shape.geom_type}; only polygons (Polygon or MultiPolygon) "
                            "can make an area")
    if problems:
        raise _refuse(what, problems)
    shapes = shapely.force_2d(shapes)
    bounds = shapely.total_bounds(shapes)
    if not np.isfinite(bounds).all():
        raise _refuse(what, ["some coordinates are not numbers"])
    notes: list[str] = []
    if crs is None:
        if looks_lonlat(tuple(bounds)):
            crs = _WGS84
        elif looks_bng(tuple(bounds)):
            raise _refuse(what, ["its coordinates look like British National Grid metres but it does not say so: "
                                 "save it with its coordinate system (e.g. EPSG:27700, or as WGS84 lon/lat)"])
        else:
            raise _refuse(what, ["its coordinates are not longitude and latitude and it names no coordinate "
                                 "system: save it as WGS84 (EPSG:4326)"])
    if not crs.equals(_WGS84, ignore_axis_order=True):
        shapes = _reprojected(what, shapes, crs)
        notes.append(f"Reprojected from {crs.name} to longitude/latitude (EPSG:4326).")
    if not looks_lonlat(tuple(shapely.total_bounds(shapes))):
        raise _refuse(what, ["its coordinates fall outside longitude/latitude ranges once reprojected"])
    merged = shapely.union_all(shapely.make_valid(shapes))
    polygons = [p for p in shapely.get_parts(merged) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise _refuse(what, ["the polygons have no area once their outlines are tidied"])
    count = f"{len(shapes)} {noun}{'s' if len(shapes) != 1 else ''}"
    return ParsedArea(shapely.union_all(polygons), f"{source} ({count})", notes)


def _reprojected(what: str, shapes: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """The shapes moved from ``crs`` to longitude/latitude (EPSG:4326); BadRequest when PROJ cannot do it."""
    try:
        moved = pyproj.Transformer.from_crs(crs, _WGS84, always_xy=True)
        result: np.ndarray = shapely.transform(
            shapes, lambda xy: np.column_stack(moved.transform(xy[:, 0], xy[:, 1], errcheck=True)))
    except pyproj.exceptions.ProjError:
        raise _refuse(what, [f"its coordinates cannot be converted from {crs.name[:60]} to longitude/latitude: "
                             "save it as WGS84 (EPSG:4326)"]) from None
    return result


def _read_shapefile(what: str, data: bytes, limits: AreaLimits) -> ParsedArea:
    with tempfile.TemporaryDirectory(prefix="insight-area-") as work:
        folder = Path(work)
        archive_path = folder / "upload.zip"
        archive_path.write_bytes(data)
        try:
            archive = zipfile.ZipFile(archive_path)
        except (zipfile.BadZipFile, OSError) as err:
            raise _refuse(what, [f"the zip archive cannot be read ({err})"]) from None
        crs = None
        with archive:
            for member in _shapefile_members(what, archive.infolist(), limits):
                suffix = PurePosixPath(member.filename).suffix.lower()
                if suffix == ".prj":
                    crs = _prj_crs(what, _member_bytes(what, archive, member))
                    continue
                _extract(what, archive, member, folder / f"area{suffix}", limits.max_unzipped_bytes)
        return _read_ogr(what, folder / "area.shp", limits, noun="feature", source="zipped Shapefile", crs=crs)


def _shapefile_members(what: str, members: list[zipfile.ZipInfo], limits: AreaLimits) -> list[zipfile.ZipInfo]:
    """The shapefile's parts, after refusing archives that are too big, climb out of their folder or are bombs."""
    files = [m for m in members if not m.is_dir()]
    if len(files) > limits.max_zip_members:
        raise _refuse(what, [f"the archive holds {len(files)} files; at most {limits.max_zip_members} are read"])
    for member in members:
        path = PurePosixPath(member.filename)
        if ("\\" in member.filename or "\x00" in member.filename or path.is_absolute() or ".." in path.parts
                or stat.S_ISLNK(member.external_attr >> 16) or member.flag_bits & 0x1):
            raise _refuse(what, [f"the archive member '{member.filename[:80]}' is a link, is password-protected "
                                 "or leads outside the archive; such archives are refused"])
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 65_536 and ratio > limits.max_zip_ratio:
            raise _refuse(what, [f"'{member.filename[:80]}' is compressed {ratio:,.0f} times; refused as a zip bomb"])
    if sum(m.file_size for m in files) > limits.max_unzipped_bytes:
        raise _refuse(what, [f"the archive unpacks to more than {limits.max_unzipped_bytes:,} bytes"])
    shp = [m for m in files if m.filename.lower().endswith(".shp")]
    if len(shp) != 1:
        raise _refuse(what, [f"a zipped Shapefile must hold exactly one .shp file; this one holds {len(shp)}"])
    stem = PurePosixPath(shp[0].filename).with_suffix("")
    parts = [m for m in files if PurePosixPath(m.filename).with_suffix("") == stem
             and PurePosixPath(m.filename).suffix.lower() in SHAPEFILE_PARTS]
    missing = sorted({".shp", ".shx", ".dbf"} - {PurePosixPath(m.filename).suffix.lower() for m in parts})
    if missing:
        raise _refuse(what, [f"the Shapefile is missing its {', '.join(missing)} part: zip all its files together"])
    return parts


def _extract(what: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> None:
    written = 0
    try:
        with archive.open(member) as src, target.open("wb") as dst:
            while block := src.read(1 << 16):
                written += len(block)
                if written > member.file_size or written > budget:
                    raise _refuse(what, [f"'{member.filename[:80]}' unpacks to more than it declares; refused"])
                dst.write(block)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as err:
        raise _refuse(what, [f"'{member.filename[:80]}' cannot be unpacked ({err})"]) from None


def _member_bytes(what: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A small archive member's bytes (at most :data:`MAX_PRJ_BYTES` and one more, so a longer one is caught)."""
    try:
        with archive.open(member) as src:
            return src.read(MAX_PRJ_BYTES + 1)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as err:
        raise _refuse(what, [f"'{member.filename[:80]}' cannot be unpacked ({err})"]) from None


def _read_ogr(what: str, path: Path, limits: AreaLimits, *, noun: str, source: str,
              crs: pyproj.CRS | None) -> ParsedArea:
    """Every layer of a file GDAL reads (a Shapefile, or each folder of a KML file) as one area in ``crs``."""
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        frames = [pyogrio.read_dataframe(path, layer=n, max_features=limits.max_features + 1) for n in layers]
    except OGR_ERRORS as err:
        raise _refuse(what, [f"the file cannot be read ({str(err)[:160]})"]) from None
    shapes = [g for frame in frames for g in frame.geometry.values]
    if not shapes:
        raise _refuse(what, [f"it holds no {noun}s"])
    if len(shapes) > limits.max_features:
        raise _refuse(what, [f"it has more than {limits.max_features:,} {noun}s, the limit"])
    problems = [f"{noun} {i}: it has no geometry" for i, g in enumerate(shapes, start=1) if g is None]
    return _combine(what, np.array(shapes, dtype=object), crs, noun, problems, limits, source=source)


def _read_kml(what: str, data: bytes, limits: AreaLimits) -> ParsedArea:
    head = data[:65_536].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise _refuse(what, ["the KML declares a DOCTYPE or entities, which KML never needs; refused as unsafe"])
    if b"<kml" not in head:
        raise _refuse(what, ["the file is named as KML but has no <kml> element"])
    with tempfile.TemporaryDirectory(prefix="insight-area-") as work:
        path = Path(work) / "area.kml"
        path.write_bytes(data)
        return _read_ogr(what, path, limits, noun="placemark", source="KML", crs=_WGS84)


def area_from_codes(text: str, *, small_areas: gpd.GeoDataFrame, engine: Engine | None,
                    limits: AreaLimits = AreaLimits()) -> ParsedArea:
    """The union of the LSOAs named, and of those holding the postcodes listed (one or more per line).

    ``small_areas`` are the loaded 2021 LSOAs (``code``, geometry in EPSG:4326); ``engine`` the store
    whose postcode file places each postcode (None when no postcode can be looked up).
    """
    what = "the list of postcodes and LSOA codes"
    tokens = [(n, t.strip()) for n, line in enumerate(text.splitlines(), start=1)
              for t in line.replace(";", ",").replace("\t", ",").split(",") if t.strip()]
    if not tokens:
        raise _refuse(what, ["it is empty: give one postcode or LSOA code per line"])
    if len(tokens) > limits.max_codes:
        raise _refuse(what, [f"it has {len(tokens):,} entries; at most {limits.max_codes:,} are read"])
    codes = small_areas["code"].astype(str).tolist()
    position = {c: i for i, c in enumerate(codes)}
    chosen: set[int] = set()
    problems: list[str] = []
    wanted: list[tuple[int, str]] = []
    for line, token in tokens:
        upper = token.upper()
        if LSOA_CODE.match(upper):
            if upper in position:
                chosen.add(position[upper])
            else:
                problems.append(f"line {line}: {upper} is not one of the {len(codes):,} loaded LSOAs (2021)")
        elif POSTCODE.match(display_form(compact(upper))):
            wanted.append((line, compact(upper)))
        else:
            problems.append(f"line {line}: '{token[:20]}' is neither a postcode (like NW9 5AB) nor an LSOA code "
                            "(like E01000115)")
    chosen |= _postcode_areas(wanted, small_areas, engine, problems)
    if problems:
        raise _refuse(what, problems)
    geometry = shapely.union_all(small_areas.geometry.values[sorted(chosen)])
    kinds = f"{len(tokens)} entr{'y' if len(tokens) == 1 else 'ies'}"
    note = ("Postcodes are placed at their points in the postcode file; the area is the union of the LSOAs (2021) "
            "that hold them." if wanted else "The area is the union of the LSOAs (2021) listed.")
    return ParsedArea(geometry, f"a list of postcodes and LSOA codes ({kinds}, {len(chosen)} LSOAs)", [note])


def _postcode_areas(wanted: list[tuple[int, str]], small_areas: gpd.GeoDataFrame, engine: Engine | None,
                    problems: list[str]) -> set[int]:
    """Positions of the small areas holding each postcode's point; a problem per postcode that cannot be placed."""
    if not wanted:
        return set()
    if engine is None:
        problems.append("no postcode file is loaded, so postcodes cannot be placed: give LSOA codes instead")
        return set()
    points = postcode_points(engine, [key for _, key in wanted])
    found: set[int] = set()
    tree = shapely.STRtree(small_areas.geometry.values)
    for line, key in wanted:
        if key not in points:
            problems.append(f"line {line}: {display_form(key)} is not in the loaded postcode file, or has no location")
            continue
        hits = tree.query(shapely.Point(points[key]), predicate="intersects")
        if not len(hits):
            problems.append(f"line {line}: {display_form(key)} lies outside the loaded LSOAs (2021)")
        found.update(int(h) for h in hits[:1])
    return found


def checked_area(parsed: ParsedArea, *, coverage: BaseGeometry | None, where: str = "the loaded boundaries",
                 limits: AreaLimits = AreaLimits()) -> ParsedArea:
    """The area if it is small and simple enough and overlaps ``coverage`` (the council's outline)."""
    geometry = parsed.geometry
    what = parsed.source
    if geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise _refuse(what, ["it describes no area"])
    vertices = int(shapely.get_num_coordinates(geometry))
    if vertices > limits.max_vertices:
        raise _refuse(what, [f"the outline has {vertices:,} corner points; at most {limits.max_vertices:,} are "
                             "accepted: simplify it (e.g. QGIS: Vector, Geometry Tools, Simplify)"])
    km2 = shapely.area(shapely.transform(geometry, lambda xy: np.column_stack(
        _TO_METRES.transform(xy[:, 0], xy[:, 1])))) / 1e6
    if km2 > limits.max_km2:
        raise _refuse(what, [f"the area covers {km2:,.0f} km²; at most {limits.max_km2:,.0f} km² is accepted"])
    notes = list(parsed.notes)
    if coverage is not None:
        if not geometry.intersects(coverage):
            raise _refuse(what, [f"the area does not overlap {where}, so there are no figures for it: check it "
                                 "is the right place and in the right coordinate system"])
        outside = 1 - shapely.area(shapely.intersection(geometry, coverage)) / max(shapely.area(geometry), 1e-18)
        if outside > 0.01:
            notes.append(f"About {outside:.0%} of the area lies outside {where}, where no data are loaded.")
    return ParsedArea(geometry, parsed.source, notes)
