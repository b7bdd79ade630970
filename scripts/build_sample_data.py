"""Build the small, deterministic Barnet sample data set in ``data/``.

The sample is derived from the open source files in ``../shared/data`` (relative to the
repository root; see ``shared/data/SOURCES.md``). Every output is written with fixed options
so that two runs give byte-identical files, and ``data/SHA256SUMS`` records the result. The
build ends by generating the illustrative resident survey (``scripts/generate_survey.py``) from
the files it has just written.

Usage::

    python scripts/build_sample_data.py            # rebuild data/
    python scripts/build_sample_data.py --check    # rebuild in a temp dir, compare to SHA256SUMS
    python scripts/build_sample_data.py --shared /path/to/shared/data
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import struct
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import generate_survey  # the sibling script: running this file puts scripts/ first on sys.path
import numpy as np
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_RELATIVE = Path("..") / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data"
SUMS_NAME = "SHA256SUMS"
UNHASHED = {SUMS_NAME, "README.md"}
MAX_BYTES = 5_000_000

BARNET_LAD = "E09000003"
PCON_2024_BARNET = ("E14001169", "E14001238", "E14001279")
PCON_2024_HORNSEY_FRIERN_BARNET = "E14001293"
PCON_2024_SOURCE = "hack25usefuldata/london_pcon2024.geojson"
LAD22_SOURCE = "london_data_millington/geographies/london-2021-lad22-gen20.shp"
LSOA21_SOURCE = "london_data_millington/geographies/london-2021-lsoa-gen20.shp"
WARDS_2022_SOURCE = "barnet_dashboard_samab74/barnet_wards_2022_os_boundaryline.geojson"
WORSHIP_SOURCE = "osm_london_worship_culture_dwenger/london_places_of_worship_osm2021.geojson"
WARDS_2011_RANGE = ("E05000043", "E05000063")
WARDS_2022_RANGE = ("E05013628", "E05013651")

SEED = 9000003
"""Seed for the illustrative generators: the digits of Barnet's LAD code E09000003."""

WGS84_DP = 7
BNG_DP = 1

OSGB36_TO_WGS84 = (
    "+proj=pipeline "
    "+step +inv +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 "
    "+ellps=airy "
    "+step +proj=push +v_3 "
    "+step +proj=cart +ellps=airy "
    "+step +proj=helmert +x=446.448 +y=-125.157 +z=542.06 +rx=0.15 +ry=0.247 +rz=0.842 "
    "+s=-20.489 +convention=position_vector "
    "+step +inv +proj=cart +ellps=WGS84 "
    "+step +proj=pop +v_3 "
    "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
)
"""EPSG:27700 -> EPSG:4326 via "OSGB36 to WGS 84 (6)" (7-parameter Helmert, ~2 m).

Pinned so that the output does not change when a machine happens to have the OSTN15 grid,
which PROJ would otherwise prefer.
"""

BNG_CRS_MEMBER = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}

POI_CAFE_CATEGORY = "coffee"
"""In ``london_pois.geojson`` the OSM cafés have category "coffee" (subcategory "Cafe")."""

POI_COLUMNS = ("name", "category", "category_label", "subcategory", "source_type")


class BuildError(RuntimeError):
    """A source file did not look the way SOURCES.md says it should."""


@dataclass
class Report:
    """What a build produced: rows per file and notes on the in-Barnet selections."""

    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


def expect(actual: int, expected: int, what: str) -> None:
    """Stop the build if a count differs from the one documented in SOURCES.md."""
    if actual != expected:
        raise BuildError(f"{what}: expected {expected}, got {actual}")


# ---------------------------------------------------------------------------------------------
# Deterministic writers


def write_bytes(out: Path, rel: str, data: bytes, report: Report, rows: int) -> None:
    """Write ``data`` to ``out/rel`` and record its row count."""
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    report.rows[rel] = rows


def gzip_deterministic(raw: bytes) -> bytes:
    """Gzip ``raw`` with a fixed header (mtime 0, no name, OS unknown) and level 9.

    The header is written here rather than by :mod:`gzip` because the OS byte and name
    field written by the standard library vary between Python versions.
    """
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY)
    body = compressor.compress(raw) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(raw) & 0xFFFFFFFF, len(raw) & 0xFFFFFFFF)
    return header + body + trailer


def round_coords(coords: Any, ndigits: int) -> Any:
    """Round a GeoJSON coordinate array (any nesting) and turn tuples into lists."""
    if isinstance(coords, (int, float)):
        return round(float(coords), ndigits)
    return [round_coords(c, ndigits) for c in coords]


def geometry_json(geom: BaseGeometry | dict[str, Any], ndigits: int) -> dict[str, Any]:
    """Return a GeoJSON geometry dict with coordinates rounded to ``ndigits``."""
    gj = mapping(geom) if isinstance(geom, BaseGeometry) else geom
    return {"type": gj["type"], "coordinates": round_coords(gj["coordinates"], ndigits)}


def feature(properties: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    """Build one GeoJSON Feature with properties in the given order."""
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def geojson_bytes(name: str, features: Sequence[dict[str, Any]], crs: dict | None = None) -> bytes:
    """Serialise a FeatureCollection, one feature per line, UTF-8, stable float repr."""
    head: dict[str, Any] = {"type": "FeatureCollection", "name": name}
    if crs is not None:
        head["crs"] = crs

    def dump(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    lines = [dump(head)[:-1] + ',"features":[']
    lines.extend(dump(f) + ("," if i < len(features) - 1 else "") for i, f in enumerate(features))
    lines.append("]}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """Serialise rows as UTF-8 CSV with LF line endings and minimal quoting."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def filter_csv_lines(
    text: str, keep: Callable[[dict[str, str]], bool], extra_keep: int = 0
) -> tuple[str, int]:
    """Keep the header, the next ``extra_keep`` lines and the lines whose record passes ``keep``.

    Lines are copied verbatim (line endings normalised to LF), so values and quoting are
    exactly as in the source. Returns the text and the number of lines kept after the header.
    """
    lines = text.replace("\r\n", "\n").removesuffix("\n").split("\n")
    header = next(csv.reader([lines[0]]))
    kept = [lines[0], *lines[1 : 1 + extra_keep]]
    for line in lines[1 + extra_keep :]:
        record = next(csv.reader([line]))
        if len(record) != len(header):
            raise BuildError(f"CSV line has {len(record)} fields, header has {len(header)}")
        if keep(dict(zip(header, record))):
            kept.append(line)
    return "\n".join(kept) + "\n", len(kept) - 1


def load_json(path: Path) -> dict[str, Any]:
    """Read a JSON/GeoJSON file as UTF-8."""
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Boundaries


def build_borough(src: Path, out: Path, report: Report) -> BaseGeometry:
    """Write the Barnet outline in EPSG:4326 and return it (as written) for point-in-polygon."""
    gdf = pyogrio.read_dataframe(src / LAD22_SOURCE)
    if gdf.crs is None or gdf.crs.to_epsg() != 27700:
        raise BuildError(f"LAD22 shapefile CRS is {gdf.crs}, expected EPSG:27700")
    barnet = gdf[gdf["LAD22CD"] == BARNET_LAD]
    expect(len(barnet), 1, "Barnet rows in the LAD22 shapefile")
    row = barnet.iloc[0]
    wgs84 = reproject(row.geometry, to_wgs84=True)
    wgs84 = orient(wgs84, sign=1.0) if wgs84.geom_type == "Polygon" else wgs84
    geometry = geometry_json(wgs84, WGS84_DP)
    props = {"LAD22CD": row["LAD22CD"], "LAD22NM": row["LAD22NM"]}
    data = geojson_bytes("borough", [feature(props, geometry)])
    write_bytes(out, "boundaries/borough.geojson", data, report, 1)
    outline = shape(geometry)
    shapely.prepare(outline)
    return outline


def copy_file(src_file: Path, out: Path, rel: str, report: Report, rows: int) -> None:
    """Copy a source file byte-for-byte."""
    write_bytes(out, rel, src_file.read_bytes(), report, rows)


def build_copied_boundaries(src: Path, out: Path, report: Report) -> None:
    """Copy the four boundary files that are already Barnet-only, checking their counts."""
    copies = [
        (WARDS_2022_SOURCE, "boundaries/wards_2022.geojson", 24),
        ("uk_geojson_martinjc/barnet_wards_2013.geojson", "boundaries/wards_2011.geojson", 21),
        ("gla_town_centres_casa0006/barnet_town_centres.geojson", "boundaries/town_centres.geojson", 14),
        ("uk_geojson_martinjc/barnet_pcon_2010.geojson", "boundaries/constituencies_2010.geojson", 3),
    ]
    for source, rel, n in copies:
        count = len(load_json(src / source)["features"])
        expect(count, n, source)
        copy_file(src / source, out, rel, report, count)


def build_constituencies_2024(src: Path, out: Path, report: Report) -> None:
    """Write the three 2024 constituencies that are mostly in Barnet."""
    source = load_json(src / PCON_2024_SOURCE)["features"]
    by_code = {f["properties"]["pcon24_code"]: f for f in source}
    features = []
    for code in PCON_2024_BARNET:
        f = by_code[code]
        props = {"pcon24_code": code, "pcon24_name": f["properties"]["pcon24_name"]}
        features.append(feature(props, geometry_json(f["geometry"], WGS84_DP)))
    data = geojson_bytes("constituencies_2024", features)
    write_bytes(out, "boundaries/constituencies_2024.geojson", data, report, len(features))


@functools.cache
def osgb36_to_wgs84() -> Transformer:
    """The pinned EPSG:27700 -> EPSG:4326 transformer (see ``OSGB36_TO_WGS84``)."""
    return Transformer.from_pipeline(OSGB36_TO_WGS84)


def reproject(geom: BaseGeometry, to_wgs84: bool) -> BaseGeometry:
    """Reproject between British National Grid and WGS84 lon/lat with the pinned pipeline."""
    direction = "FORWARD" if to_wgs84 else "INVERSE"

    def apply(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(osgb36_to_wgs84().transform(xy[:, 0], xy[:, 1], direction=direction))

    return shapely.transform(geom, apply)


def to_bng(geom: BaseGeometry) -> BaseGeometry:
    """Project a WGS84 geometry to British National Grid."""
    return reproject(geom, to_wgs84=False)


def measure_constituency_coverage(
    src: Path, out: Path, outline: BaseGeometry, report: Report
) -> None:
    """Report how much of Barnet the three 2024 constituencies leave out, by area, LSOA and ward.

    The constituency polygons are ONS "BUC" (ultra-generalised), so small slivers shared with
    other neighbouring constituencies are most likely generalisation artefacts; Friern Barnet
    ward, almost wholly in Hornsey and Friern Barnet, is not.
    """
    pcons = {
        f["properties"]["pcon24_code"]: (
            f["properties"]["pcon24_name"],
            to_bng(shape(f["geometry"])),
        )
        for f in load_json(src / PCON_2024_SOURCE)["features"]
    }
    borough = to_bng(outline)
    three = shapely.union_all([pcons[c][1] for c in PCON_2024_BARNET])
    hfb = pcons[PCON_2024_HORNSEY_FRIERN_BARNET][1]
    outside = borough.difference(three).area
    in_hfb = borough.intersection(hfb).area
    report.note(
        f"Constituencies 2024 (area): {100 * outside / borough.area:.1f}% of Barnet "
        f"({outside / 1e6:.2f} of {borough.area / 1e6:.2f} km2) is outside the 3 Barnet "
        f"constituencies; {100 * in_hfb / borough.area:.1f}% ({in_hfb / 1e6:.2f} km2) is in "
        f"Hornsey and Friern Barnet"
    )

    residents: Counter[str] = Counter()
    census = out / "indicators/census2021_residents_age6_lsoa21.csv"
    with open(census, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            residents[row["lsoa21_code"]] += int(row["usual_residents"])
    lsoas = load_json(out / "boundaries/lsoa_2021_bng.geojson")["features"]
    lsoa_count: Counter[str] = Counter()
    lsoa_residents: Counter[str] = Counter()
    for f in lsoas:
        point = shape(f["geometry"]).representative_point()
        code = next((c for c in sorted(pcons) if pcons[c][1].covers(point)), "none")
        lsoa_count[code] += 1
        lsoa_residents[code] += residents[f["properties"]["LSOA21CD"]]
    total = sum(lsoa_residents.values())
    report.note(
        f"Constituencies 2024 (LSOA representative points; {total:,} Census 2021 residents):"
    )
    for code in sorted(lsoa_count, key=lambda c: -lsoa_residents[c]):
        name = pcons[code][0] if code in pcons else "(none)"
        report.note(
            f"  {code} {name}: {lsoa_count[code]} LSOAs, {lsoa_residents[code]:,} residents "
            f"({100 * lsoa_residents[code] / total:.1f}%)"
        )

    wards = load_json(src / WARDS_2022_SOURCE)
    for w in sorted(wards["features"], key=lambda f: f["properties"]["ONSWardCode"]):
        ward = to_bng(shape(w["geometry"]))
        share = ward.intersection(hfb).area / ward.area
        if share > 0.01:
            report.note(
                f"  ward {w['properties']['ONSWardCode']} {w['properties']['WardName']}: "
                f"{100 * share:.1f}% of its area in Hornsey and Friern Barnet"
            )


def build_lsoa(src: Path, out: Path, report: Report) -> list[str]:
    """Write Barnet's 2021 LSOAs in EPSG:27700 (declared via a ``crs`` member); return the codes."""
    gdf = pyogrio.read_dataframe(src / LSOA21_SOURCE)
    if gdf.crs is None or gdf.crs.to_epsg() != 27700:
        raise BuildError(f"LSOA shapefile CRS is {gdf.crs}, expected EPSG:27700")
    barnet = gdf[gdf["LAD22CD"] == BARNET_LAD].sort_values("LSOA21CD")
    expect(len(barnet), 220, "Barnet LSOAs (2021)")
    columns = ("LSOA21CD", "LSOA21NM", "MSOA21CD", "MSOA21NM")
    features = []
    invalid = 0
    for _, row in barnet.iterrows():
        geometry = geometry_json(row.geometry, BNG_DP)
        invalid += not shape(geometry).is_valid
        features.append(feature({c: row[c] for c in columns}, geometry))
    if invalid:
        report.note(f"LSOA 2021: {invalid} geometries invalid after rounding to {BNG_DP} dp")
    data = geojson_bytes("lsoa_2021_bng", features, crs=BNG_CRS_MEMBER)
    write_bytes(out, "boundaries/lsoa_2021_bng.geojson", data, report, len(features))
    return list(barnet["LSOA21CD"])


# ---------------------------------------------------------------------------------------------
# Points


@dataclass(frozen=True)
class Venue:
    """A real venue that the illustrative generators may place a record at."""

    layer: str
    name: str
    subcategory: str
    lon: float
    lat: float


def inside(outline: BaseGeometry, features: Sequence[dict[str, Any]]) -> list[bool]:
    """Point-in-polygon (boundary counts as inside) for rounded GeoJSON point features."""
    xy = np.array([round_coords(f["geometry"]["coordinates"][:2], WGS84_DP) for f in features])
    return list(shapely.intersects_xy(outline, xy[:, 0], xy[:, 1]))


def point_feature(f: dict[str, Any], columns: Sequence[str] | None) -> dict[str, Any]:
    """Copy a point feature, optionally keeping only ``columns``, with rounded coordinates."""
    props = f["properties"] if columns is None else {c: f["properties"][c] for c in columns}
    return feature(dict(props), geometry_json(f["geometry"], WGS84_DP))


def build_crime(src: Path, out: Path, report: Report) -> None:
    """Gzip the two long police extracts and copy the April 2024 month, unchanged."""
    gz = [
        (
            "police_api_ward_crime_policerewired/barnet_police_api_crimes_2016-01_2018-06.csv",
            "points/police_api_barnet_2016-01_2018-06.csv.gz",
            83_723,
        ),
        (
            "police_bulk_barnet_burglary_sdumarais/barnet_street_burglary_2010-12_2023-03.csv",
            "points/police_bulk_barnet_burglary_2010-12_2023-03.csv.gz",
            44_138,
        ),
    ]
    for source, rel, n in gz:
        raw = (src / source).read_bytes()
        rows = raw.count(b"\n") - 1
        expect(rows, n, source)
        write_bytes(out, rel, gzip_deterministic(raw), report, rows)
    source = src / "barnet_dashboard_samab74/police_api_crimes_2024-04.csv"
    rows = source.read_bytes().count(b"\n") - 1
    expect(rows, 5_537, source.name)
    copy_file(source, out, "points/police_api_2024-04.csv", report, rows)


def build_worship(src: Path, out: Path, outline: BaseGeometry, report: Report) -> list[Venue]:
    """Write OSM places of worship flagged ``in_barnet``, cross-checked by point-in-polygon."""
    feats = load_json(src / WORSHIP_SOURCE)["features"]
    flag = [bool(f["properties"]["in_barnet"]) for f in feats]
    pip = inside(outline, feats)
    disagree = sum(a != b for a, b in zip(flag, pip))
    report.note(
        f"Places of worship: in_barnet flag {sum(flag)}, point-in-polygon {sum(pip)}, "
        f"disagreements {disagree}"
    )
    chosen = [f for f, keep in zip(feats, flag) if keep]
    expect(len(chosen), 91, "places of worship in Barnet")
    out_feats = [point_feature(f, ("name", "religion")) for f in chosen]
    data = geojson_bytes("places_of_worship", out_feats)
    write_bytes(out, "points/places_of_worship.geojson", data, report, len(out_feats))
    return venues("worship", out_feats, "name", "religion")


def build_schools(src: Path, out: Path, outline: BaseGeometry, report: Report) -> list[Venue]:
    """Write schools inside the Barnet outline, noting disagreements with the ``borough`` column."""
    feats = load_json(src / "london_bible_pois/london_schools_ofsted.geojson")["features"]
    pip = inside(outline, feats)
    column = [f["properties"]["borough"] == "Barnet" for f in feats]
    report.note(f"Schools: point-in-polygon {sum(pip)}, borough column 'Barnet' {sum(column)}")
    for f, a, b in zip(feats, pip, column):
        if a != b:
            p = f["properties"]
            report.note(
                f"  {p['school_name']} (URN {p['urn']}): borough column {p['borough']!r}, "
                f"inside outline {a}"
            )
    chosen = [point_feature(f, None) for f, keep in zip(feats, pip) if keep]
    expect(len(chosen), 116, "schools in Barnet")
    data = geojson_bytes("schools", chosen)
    write_bytes(out, "points/schools.geojson", data, report, len(chosen))
    return venues("school", chosen, "school_name", "phase")


def build_hospitals(src: Path, out: Path, outline: BaseGeometry, report: Report) -> None:
    """Write hospital sites inside the Barnet outline."""
    feats = load_json(src / "london_bible_pois/london_hospitals.geojson")["features"]
    pip = inside(outline, feats)
    column = [f["properties"]["borough"] == "Barnet" for f in feats]
    chosen = [point_feature(f, None) for f, keep in zip(feats, pip) if keep]
    places = {tuple(f["geometry"]["coordinates"]) for f in chosen}
    report.note(
        f"Hospitals: point-in-polygon {sum(pip)}, borough column 'Barnet' {sum(column)}, "
        f"distinct locations {len(places)}"
    )
    expect(len(chosen), 6, "hospitals in Barnet")
    data = geojson_bytes("hospitals", chosen)
    write_bytes(out, "points/hospitals.geojson", data, report, len(chosen))


def build_pois(
    src: Path, out: Path, outline: BaseGeometry, report: Report
) -> tuple[list[Venue], list[Venue]]:
    """Split the POIs inside Barnet into GLA cultural venues and OSM cafés."""
    feats = load_json(src / "london_bible_pois/london_pois.geojson")["features"]
    barnet = [f for f, keep in zip(feats, inside(outline, feats)) if keep]
    is_cafe = [f["properties"]["category"] == POI_CAFE_CATEGORY for f in barnet]
    cafes = [point_feature(f, POI_COLUMNS) for f, cafe in zip(barnet, is_cafe) if cafe]
    culture = [point_feature(f, POI_COLUMNS) for f, cafe in zip(barnet, is_cafe) if not cafe]
    kinds = Counter(f["properties"]["subcategory"] for f in culture)
    breakdown = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    report.note(
        f"POIs inside Barnet: {len(barnet)} = {len(cafes)} cafes + {len(culture)} cultural venues "
        f"({breakdown})"
    )
    expect(len(cafes), 123, "cafes in Barnet")
    data = geojson_bytes("cultural_venues", culture)
    write_bytes(out, "points/cultural_venues.geojson", data, report, len(culture))
    write_bytes(out, "points/cafes.geojson", geojson_bytes("cafes", cafes), report, len(cafes))
    return (
        venues("culture", culture, "name", "subcategory"),
        venues("cafe", cafes, "name", "subcategory"),
    )


def venues(layer: str, feats: Iterable[dict[str, Any]], name_key: str, sub_key: str) -> list[Venue]:
    """Turn written point features into named venues for the illustrative generators."""
    result = []
    for f in feats:
        name = (f["properties"].get(name_key) or "").strip()
        if name:
            lon, lat = f["geometry"]["coordinates"][:2]
            result.append(Venue(layer, name, str(f["properties"].get(sub_key) or ""), lon, lat))
    return result


# ---------------------------------------------------------------------------------------------
# Illustrative layers

VCFS_CATEGORIES: tuple[tuple[str, str, str, tuple[str, ...], int], ...] = (
    ("Advice and advocacy", "insight", "Advice Centre", ("worship", "cafe"), 14),
    ("Arts and culture", "spaces", "Arts Collective", ("culture",), 14),
    ("Children and young people", "services_people", "Youth Club", ("school", "worship"), 20),
    ("Community funding", "money", "Community Fund", ("cafe", "worship", "culture"), 8),
    ("Disability", "insight", "Disability Forum", ("worship", "school"), 8),
    ("Environment", "services_people", "Green Group", ("school", "cafe"), 10),
    ("Faith", "spaces", "Faith Community", ("worship",), 22),
    ("Food support", "services_people", "Food Bank", ("worship", "cafe"), 14),
    ("Health and wellbeing", "services_people", "Wellbeing Group", ("worship", "cafe", "school"), 14),
    ("Older people", "services_people", "Lunch Club", ("worship", "cafe"), 14),
    ("Sport and recreation", "spaces", "Sports Club", ("school", "culture"), 12),
)
"""(category, asset_kind, fictional name stem, venue layers it may sit at, how many)."""

ACV_TYPES = {
    "Pub": "pub",
    "Cinema": "cinema",
    "Theatre": "theatre",
    "Music venue": "music venue",
    "Arts centre": "arts centre",
    "Museum / gallery": "museum or gallery",
    "Skate park": "sports facility",
}
ACV_PUBS = 14
ACV_OTHER = 6

VCFS_ASSURED = (dt.date(2025, 1, 1), dt.date(2026, 10, 31))
ACV_LISTED = (dt.date(2022, 1, 1), dt.date(2026, 10, 31))


def venue_key(v: Venue) -> tuple[str, str, float, float]:
    """Stable sort key so sampling never depends on source order."""
    return (v.layer, v.name, v.lon, v.lat)


def random_date(rng: np.random.Generator, span: tuple[dt.date, dt.date]) -> str:
    """Draw an ISO date uniformly from an inclusive span."""
    days = (span[1] - span[0]).days
    return (span[0] + dt.timedelta(days=int(rng.integers(0, days + 1)))).isoformat()


def build_vcfs(out: Path, pool: Sequence[Venue], report: Report) -> None:
    """Generate ~150 fictional VCFS organisations, each placed at a distinct real venue.

    For each category in a fixed order, venues are drawn without replacement from the
    category's allowed venue layers (sorted, minus venues already used). The organisations
    are then shuffled before IDs are given, so IDs do not group by category.
    """
    rng = np.random.default_rng(SEED)
    pool = sorted(pool, key=venue_key)
    used: set[Venue] = set()
    drafts: list[tuple[str, str, str, Venue]] = []
    for category, kind, stem, layers, count in VCFS_CATEGORIES:
        eligible = [v for v in pool if v.layer in layers and v not in used]
        picks = rng.choice(len(eligible), size=count, replace=False)
        for i in sorted(int(p) for p in picks):
            used.add(eligible[i])
            drafts.append((category, kind, stem, eligible[i]))
    order = rng.permutation(len(drafts))
    numbers: Counter[str] = Counter()
    rows = []
    for n, idx in enumerate(order, start=1):
        category, kind, stem, venue = drafts[int(idx)]
        numbers[stem] += 1
        rows.append(
            (
                f"ILL-ORG-{n:04d}",
                f"Example {stem} {numbers[stem]:02d}",
                category,
                kind,
                venue.name,
                f"{venue.lon:.6f}",
                f"{venue.lat:.6f}",
                random_date(rng, VCFS_ASSURED),
                "true",
            )
        )
    header = (
        "org_id", "name", "category", "asset_kind", "venue_name",
        "longitude", "latitude", "last_assured", "illustrative",
    )
    data = csv_bytes(header, rows)
    write_bytes(out, "points/vcfs_organisations_illustrative.csv", data, report, len(rows))
    layers = dict(sorted(Counter(d[3].layer for d in drafts).items()))
    report.note(f"Illustrative VCFS organisations: {len(rows)}, venues used by layer {layers}")


def build_acv(out: Path, culture: Sequence[Venue], report: Report) -> None:
    """Generate ~20 illustrative Asset of Community Value listings at real pubs and venues.

    A second, independent generator (seed ``SEED + 1``) so the two layers can change separately.
    """
    rng = np.random.default_rng(SEED + 1)
    pubs = sorted((v for v in culture if v.subcategory == "Pub"), key=venue_key)
    others = sorted(
        (v for v in culture if v.subcategory in ACV_TYPES and v.subcategory != "Pub"), key=venue_key
    )
    picks = [pubs[int(i)] for i in sorted(rng.choice(len(pubs), ACV_PUBS, replace=False))]
    picks += [others[int(i)] for i in sorted(rng.choice(len(others), ACV_OTHER, replace=False))]
    rows = []
    for n, idx in enumerate(rng.permutation(len(picks)), start=1):
        venue = picks[int(idx)]
        rows.append(
            (
                f"ILL-ACV-{n:03d}",
                f"Illustrative ACV {n:02d}",
                venue.name,
                ACV_TYPES[venue.subcategory],
                random_date(rng, ACV_LISTED),
                "Listed",
                f"{venue.lon:.6f}",
                f"{venue.lat:.6f}",
                "spaces",
                "true",
            )
        )
    header = (
        "acv_id", "name", "placed_at", "asset_type", "listed_date", "status",
        "longitude", "latitude", "asset_kind", "illustrative",
    )
    data = csv_bytes(header, rows)
    write_bytes(out, "points/assets_of_community_value_illustrative.csv", data, report, len(rows))


# ---------------------------------------------------------------------------------------------
# Indicators


def build_indicators(src: Path, out: Path, lsoa21: Sequence[str], report: Report) -> None:
    """Filter the LSOA, ward and neighbourhood tables to Barnet, copying kept lines verbatim."""
    barnet_lsoa21 = set(lsoa21)

    def filtered(
        source: str,
        rel: str,
        keep: Callable[[dict[str, str]], bool],
        expected: int,
        encoding: str = "utf-8",
        extra_keep: int = 0,
    ) -> str:
        text = (src / source).read_bytes().decode(encoding)
        text = text.removeprefix("\ufeff")
        result, rows = filter_csv_lines(text, keep, extra_keep)
        expect(rows - extra_keep, expected, source)
        write_bytes(out, rel, result.encode("utf-8"), report, rows)
        return result

    filtered(
        "hack25usefuldata/iod2019_lsoa11_london.csv",
        "indicators/imd2019_lsoa11.csv",
        lambda r: r["lad19_code"] == BARNET_LAD,
        211,
    )
    lookup = filtered(
        "geographr/lookup_lsoa21_ward24_ltla24_london.csv",
        "indicators/lookup_lsoa21_ward2022.csv",
        lambda r: r["ltla24_code"] == BARNET_LAD,
        220,
    )
    wards = {r["ward24_code"] for r in csv.DictReader(io.StringIO(lookup))}
    lookup_lsoas = {r["lsoa21_code"] for r in csv.DictReader(io.StringIO(lookup))}
    low, high = WARDS_2022_RANGE
    if lookup_lsoas != barnet_lsoa21 or len(wards) != 24 or min(wards) != low or max(wards) != high:
        raise BuildError("LSOA21 -> ward lookup does not match the 220 LSOAs / 24 May 2022 wards")
    report.note(
        f"Lookup LSOA21 -> ward24: {len(wards)} ward codes {min(wards)}..{max(wards)}, "
        f"the May 2022 wards"
    )
    filtered(
        "hack25usefuldata/census21_usual_residents_by_age6_lsoa21_london.csv",
        "indicators/census2021_residents_age6_lsoa21.csv",
        lambda r: r["lsoa21_code"] in barnet_lsoa21,
        1_320,
    )
    filtered(
        "geographr/lookup_lsoa11_lsoa21_ltla22_london.csv",
        "indicators/lookup_lsoa11_lsoa21.csv",
        lambda r: r["ltla22_code"] == BARNET_LAD,
        220,
    )
    first, last = WARDS_2011_RANGE
    filtered(
        "gla_ward_profiles_2015/ward-profiles-excel-version.csv",
        "indicators/gla_ward_profiles_2015.csv",
        lambda r: first <= r["New code"] <= last,
        21,
        encoding="latin-1",
    )
    filtered(
        "mopac_pas_ward_atlas_offner/mopac_pas_2016_neighbourhood.csv",
        "indicators/mopac_pas_2016_neighbourhood.csv",
        lambda r: r["Neighbourhood"].startswith("Barnet - "),
        4,
        extra_keep=1,
    )


# ---------------------------------------------------------------------------------------------
# Illustrative survey


def build_survey(out: Path, report: Report) -> None:
    """Generate the illustrative Resident Perception Survey from the files already built in ``out``.

    Runs last because it reads the wards, Census, IMD, police and PAS files written above; see
    ``scripts/generate_survey.py`` for the method and its seed.
    """
    for rel, (data, rows) in generate_survey.survey_files(out).items():
        write_bytes(out, rel, data, report, rows)
    for line in generate_survey.summary(out):
        report.note(line)


# ---------------------------------------------------------------------------------------------
# Build, sums and check


def build(src: Path, out: Path) -> Report:
    """Build every sample file into ``out`` and write ``out/SHA256SUMS``."""
    if not src.is_dir():
        raise BuildError(f"shared data directory not found: {src}")
    report = Report()
    outline = build_borough(src, out, report)
    build_copied_boundaries(src, out, report)
    build_constituencies_2024(src, out, report)
    lsoa21 = build_lsoa(src, out, report)
    build_crime(src, out, report)
    worship = build_worship(src, out, outline, report)
    schools = build_schools(src, out, outline, report)
    build_hospitals(src, out, outline, report)
    culture, cafes = build_pois(src, out, outline, report)
    build_vcfs(out, [*worship, *schools, *culture, *cafes], report)
    build_acv(out, culture, report)
    build_indicators(src, out, lsoa21, report)
    measure_constituency_coverage(src, out, outline, report)
    build_survey(out, report)
    too_big = [rel for rel in report.rows if (out / rel).stat().st_size >= MAX_BYTES]
    if too_big:
        raise BuildError(f"files of {MAX_BYTES:,} bytes or more: {too_big}")
    stray = sorted(set(hashed_files(out)) - set(report.rows))
    if stray:
        report.note(f"WARNING: files in {out} not made by this build (hashed anyway): {stray}")
    (out / SUMS_NAME).write_text(format_sums(compute_sums(out)), encoding="utf-8")
    return report


def hashed_files(root: Path) -> list[str]:
    """Relative POSIX paths of every file under ``root`` except SHA256SUMS and README.md."""
    rels = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(rel for rel in rels if rel not in UNHASHED)


def compute_sums(root: Path) -> dict[str, str]:
    """SHA-256 of every hashed file under ``root``."""
    return {
        rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in hashed_files(root)
    }


def format_sums(sums: dict[str, str]) -> str:
    """Render sums in ``sha256sum`` format, sorted by path."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(sums.items()))


def parse_sums(text: str) -> dict[str, str]:
    """Parse ``sha256sum`` output into {path: digest}."""
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, rel = line.split(maxsplit=1)
            sums[rel.lstrip("*")] = digest
    return sums


def diff_sums(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Describe every path that is missing, extra or different between two sum tables."""
    problems = []
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            problems.append(f"missing: {rel}")
        elif rel not in expected:
            problems.append(f"not in {SUMS_NAME}: {rel}")
        elif expected[rel] != actual[rel]:
            problems.append(f"differs: {rel}")
    return problems


def check(src: Path, data_dir: Path) -> int:
    """Rebuild into a temp dir and compare with ``data/SHA256SUMS`` and the files in ``data/``."""
    sums_path = data_dir / SUMS_NAME
    if not sums_path.is_file():
        print(f"{sums_path} not found", file=sys.stderr)
        return 1
    recorded = parse_sums(sums_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="sample-data-") as tmp:
        build(src, Path(tmp))
        rebuilt = compute_sums(Path(tmp))
    problems = [f"rebuild {p}" for p in diff_sums(recorded, rebuilt)]
    problems += [f"{data_dir.name}/ {p}" for p in diff_sums(recorded, compute_sums(data_dir))]
    if problems:
        print("Sample data check FAILED:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"Sample data check passed: {len(recorded)} files match {sums_path}")
    return 0


def print_summary(out: Path, report: Report) -> None:
    """Print the file/rows/bytes table and the in-Barnet notes."""
    width = max(len(rel) for rel in report.rows)
    print(f"{'file':<{width}}  {'rows':>7}  {'bytes':>9}")
    for rel in sorted(report.rows):
        print(f"{rel:<{width}}  {report.rows[rel]:>7,}  {(out / rel).stat().st_size:>9,}")
    print()
    for note in report.notes:
        print(note)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO_ROOT / SHARED_RELATIVE,
        help=f"shared source data (default: {SHARED_RELATIVE.as_posix()} from the repo root)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory (default: data/)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild in a temp dir and compare with SHA256SUMS; exit 1 on any difference",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            return check(args.shared, args.out)
        report = build(args.shared, args.out)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
