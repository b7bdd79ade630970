"""Checks on the committed Barnet sample data in ``data/``.

The files are read with pandas/geopandas directly, not with the build script, so these tests
catch a wrong or stale sample independently. Only the rebuild test runs the script (``--check``),
and it needs the shared source data at ``../shared/data``: it is skipped when that is absent,
unless the ``CI`` environment variable is set, in which case it fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED = REPO / ".." / "shared" / "data"
SCRIPT = REPO / "scripts" / "build_sample_data.py"
MAX_BYTES = 5_000_000
UNHASHED = {"SHA256SUMS", "README.md"}

GEOJSON: dict[str, tuple[int, list[str] | None, int]] = {
    "boundaries/borough.geojson": (1, ["LAD22CD", "LAD22NM"], 4326),
    "boundaries/wards_2022.geojson": (24, ["ONSWardCode", "WardName"], 4326),
    "boundaries/wards_2011.geojson": (21, ["WD13CD", "WD13CDO", "WD13NM", "WD13NMW"], 4326),
    "boundaries/town_centres.geojson": (14, None, 4326),
    "boundaries/constituencies_2010.geojson": (3, ["PCON13CD", "PCON13CDO", "PCON13NM"], 4326),
    "boundaries/constituencies_2024.geojson": (3, ["pcon24_code", "pcon24_name"], 4326),
    "boundaries/lsoa_2021_bng.geojson": (220, ["LSOA21CD", "LSOA21NM", "MSOA21CD", "MSOA21NM"], 27700),
    "points/places_of_worship.geojson": (91, ["name", "religion"], 4326),
    "points/schools.geojson": (
        116,
        ["school_name", "urn", "phase", "type", "ofsted_rating", "rating_basis", "rating_sort",
         "inspection_date", "inspection_detail", "borough"],
        4326,
    ),
    "points/hospitals.geojson": (
        6,
        ["hospital_name", "site_code", "provider_id", "type", "operator", "cqc_rating", "rating_sort",
         "inspection_date", "borough", "postcode", "location_url"],
        4326,
    ),
    "points/cultural_venues.geojson": (90, ["name", "category", "category_label", "subcategory", "source_type"], 4326),
    "points/cafes.geojson": (123, ["name", "category", "category_label", "subcategory", "source_type"], 4326),
}

CSV: dict[str, tuple[int, int]] = {
    "points/police_api_barnet_2016-01_2018-06.csv.gz": (83_723, 14),
    "points/police_api_2024-04.csv": (5_537, 13),
    "points/police_bulk_barnet_burglary_2010-12_2023-03.csv.gz": (44_138, 12),
    "points/vcfs_organisations_illustrative.csv": (150, 9),
    "points/assets_of_community_value_illustrative.csv": (20, 10),
    "indicators/imd2019_lsoa11.csv": (211, 20),
    "indicators/census2021_residents_age6_lsoa21.csv": (1_320, 4),
    "indicators/lookup_lsoa21_ward2022.csv": (220, 6),
    "indicators/lookup_lsoa11_lsoa21.csv": (220, 7),
    "indicators/gla_ward_profiles_2015.csv": (21, 67),
    "indicators/mopac_pas_2016_neighbourhood.csv": (5, 22),
}

POINT_LAYERS = [p for p in GEOJSON if p.startswith("points/")]
ASSET_KINDS = {"money", "services_people", "insight", "spaces"}


def data_files() -> list[str]:
    """Every file under data/ that SHA256SUMS should cover."""
    rels = (p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file())
    return sorted(r for r in rels if r not in UNHASHED)


@pytest.fixture(scope="module")
def borough() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "boundaries/borough.geojson")


@pytest.mark.parametrize("rel", sorted(GEOJSON))
def test_geojson_rows_columns_crs(rel: str) -> None:
    rows, columns, epsg = GEOJSON[rel]
    gdf = gpd.read_file(DATA / rel)
    assert len(gdf) == rows
    if columns is not None:
        assert [c for c in gdf.columns if c != "geometry"] == columns
    assert gdf.crs is not None and gdf.crs.to_epsg() == epsg
    assert gdf.geometry.notna().all()


@pytest.mark.parametrize("rel", sorted(CSV))
def test_csv_rows_and_columns(rel: str) -> None:
    rows, ncols = CSV[rel]
    df = pd.read_csv(DATA / rel, low_memory=False)
    assert df.shape == (rows, ncols)


def test_codes_identify_barnet() -> None:
    borough = gpd.read_file(DATA / "boundaries/borough.geojson")
    assert borough.loc[0, "LAD22CD"] == "E09000003"
    wards = gpd.read_file(DATA / "boundaries/wards_2022.geojson")
    assert sorted(wards["ONSWardCode"]) == [f"E05013{n}" for n in range(628, 652)]
    old = gpd.read_file(DATA / "boundaries/wards_2011.geojson")
    assert sorted(old["WD13CD"]) == [f"E050000{n}" for n in range(43, 64)]
    pcon = gpd.read_file(DATA / "boundaries/constituencies_2024.geojson")
    assert sorted(pcon["pcon24_code"]) == ["E14001169", "E14001238", "E14001279"]
    imd = pd.read_csv(DATA / "indicators/imd2019_lsoa11.csv")
    assert (imd["lad19_code"] == "E09000003").all()
    profiles = pd.read_csv(DATA / "indicators/gla_ward_profiles_2015.csv")
    assert sorted(profiles["New code"]) == sorted(old["WD13CD"])


def test_lsoa_file_is_british_national_grid() -> None:
    lsoa = gpd.read_file(DATA / "boundaries/lsoa_2021_bng.geojson")
    minx, miny, maxx, maxy = lsoa.total_bounds
    assert 500_000 < minx < maxx < 560_000 and 180_000 < miny < maxy < 210_000
    assert lsoa["LSOA21CD"].is_unique
    assert lsoa.is_valid.all()


def test_lookups_and_census_cover_the_same_lsoas() -> None:
    lsoa = set(gpd.read_file(DATA / "boundaries/lsoa_2021_bng.geojson")["LSOA21CD"])
    ward_lookup = pd.read_csv(DATA / "indicators/lookup_lsoa21_ward2022.csv")
    assert set(ward_lookup["lsoa21_code"]) == lsoa
    assert sorted(ward_lookup["ward24_code"].unique()) == [f"E05013{n}" for n in range(628, 652)]
    census = pd.read_csv(DATA / "indicators/census2021_residents_age6_lsoa21.csv")
    assert set(census["lsoa21_code"]) == lsoa
    assert (census.groupby("lsoa21_code").size() == 6).all()
    bridge = pd.read_csv(DATA / "indicators/lookup_lsoa11_lsoa21.csv")
    assert set(bridge["lsoa21_code"]) == lsoa
    imd = pd.read_csv(DATA / "indicators/imd2019_lsoa11.csv")
    assert set(bridge["lsoa11_code"]) == set(imd["lsoa11_code"])


def test_mopac_keeps_measure_row_and_barnet_rows() -> None:
    raw = (DATA / "indicators/mopac_pas_2016_neighbourhood.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(DATA / "indicators/mopac_pas_2016_neighbourhood.csv")
    assert df.columns[0] == "Neighbourhood"
    assert pd.isna(df.loc[0, "Neighbourhood"]) and df.iloc[0, 3].startswith("%")
    assert list(df["Code"][1:]) == ["SX-SA", "SX-SC", "SX-SG", "SX-SK"]


def test_ward_profiles_are_utf8() -> None:
    text = (DATA / "indicators/gla_ward_profiles_2015.csv").read_bytes().decode("utf-8")
    assert "Median House Price (£) - 2014" in text


@pytest.mark.parametrize("rel", POINT_LAYERS)
def test_points_inside_borough(rel: str, borough: gpd.GeoDataFrame) -> None:
    points = gpd.read_file(DATA / rel)
    outline = borough.geometry.iloc[0]
    assert points.geometry.intersects(outline).all()


def real_venues(rels: list[tuple[str, str]]) -> pd.DataFrame:
    """Names and coordinates of the real venues in the given point layers."""
    frames = []
    for rel, name in rels:
        gdf = gpd.read_file(DATA / rel)
        frames.append(pd.DataFrame({"name": gdf[name], "lon": gdf.geometry.x, "lat": gdf.geometry.y}))
    return pd.concat(frames, ignore_index=True)


def unplaced(records: pd.DataFrame, name_col: str, venues: pd.DataFrame) -> list[str]:
    """Names of records not at a venue of that name (to within the 6 dp the CSVs carry)."""
    missing = []
    for name, lon, lat in zip(records[name_col], records["longitude"], records["latitude"]):
        same = venues[venues["name"] == name]
        close = (np.abs(same["lon"] - lon) < 1e-6) & (np.abs(same["lat"] - lat) < 1e-6)
        if not close.any():
            missing.append(name)
    return missing


ALL_VENUES = [
    ("points/places_of_worship.geojson", "name"),
    ("points/schools.geojson", "school_name"),
    ("points/cultural_venues.geojson", "name"),
    ("points/cafes.geojson", "name"),
]


def test_vcfs_organisations_are_illustrative_and_at_real_venues() -> None:
    orgs = pd.read_csv(DATA / "points/vcfs_organisations_illustrative.csv")
    assert list(orgs["org_id"]) == [f"ILL-ORG-{n:04d}" for n in range(1, len(orgs) + 1)]
    assert orgs["name"].str.match(r"^Example [A-Za-z ]+ \d{2}$").all()
    assert orgs["name"].is_unique
    assert (orgs["illustrative"] == True).all()  # noqa: E712
    assert set(orgs["asset_kind"]) == ASSET_KINDS
    assert orgs["category"].nunique() >= 8
    assert orgs["last_assured"].str.match(r"^202[56]-\d{2}-\d{2}$").all()
    pd.to_datetime(orgs["last_assured"], format="%Y-%m-%d")
    assert unplaced(orgs, "venue_name", real_venues(ALL_VENUES)) == []


def test_acv_listings_are_illustrative_and_at_real_venues() -> None:
    acv = pd.read_csv(DATA / "points/assets_of_community_value_illustrative.csv")
    assert list(acv["acv_id"]) == [f"ILL-ACV-{n:03d}" for n in range(1, len(acv) + 1)]
    assert list(acv["name"]) == [f"Illustrative ACV {n:02d}" for n in range(1, len(acv) + 1)]
    assert (acv["status"] == "Listed").all() and (acv["asset_kind"] == "spaces").all()
    assert (acv["illustrative"] == True).all()  # noqa: E712
    pd.to_datetime(acv["listed_date"], format="%Y-%m-%d")
    assert unplaced(acv, "placed_at", real_venues([("points/cultural_venues.geojson", "name")])) == []
    assert "pub" in set(acv["asset_type"])


def test_every_file_is_under_5_mb() -> None:
    sizes = {p.relative_to(DATA).as_posix(): p.stat().st_size for p in DATA.rglob("*") if p.is_file()}
    assert sizes and all(size < MAX_BYTES for size in sizes.values()), sizes


def test_sha256sums_match_files() -> None:
    lines = (DATA / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    recorded = {}
    for line in lines:
        match = re.fullmatch(r"([0-9a-f]{64})  (\S.*)", line)
        assert match, line
        recorded[match.group(2)] = match.group(1)
    assert list(recorded) == sorted(recorded)
    assert sorted(recorded) == data_files()
    for rel, digest in recorded.items():
        assert hashlib.sha256((DATA / rel).read_bytes()).hexdigest() == digest, rel


def test_readme_flags_illustrative_layers() -> None:
    text = (DATA / "README.md").read_text(encoding="utf-8")
    assert "Illustrative layers" in text
    assert "© OpenStreetMap contributors" in text
    assert "Open Government Licence v3.0" in text


def test_rebuild_reproduces_sample_exactly() -> None:
    if not SHARED.is_dir():
        message = f"shared source data not found at {SHARED}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so the rebuild check must run)")
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--shared", str(SHARED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
