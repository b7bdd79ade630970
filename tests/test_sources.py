"""Tests for insight.sources: every loader against small real excerpts and broken copies of them.

Expected values are read from the fixture files here with the csv/json
modules, independently of the loaders. The fixtures are made by
tests/fixtures/sources/make_fixtures.py from the shared sample data.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insight.errors import ConfigError, LoadError
from insight.sources import LOADERS, Loaded, get_loader, loader_names, register
from insight.sources.police import LEGACY_CATEGORIES, POLICE_CATEGORIES, canonical_category

FIX = Path(__file__).parent / "fixtures" / "sources"
SHARED = Path(os.environ.get("INSIGHT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"

WARD_PROFILE_OPTIONS = {"code_field": "New code", "name_field": "Ward name", "geography": "ward2011",
                        "period": "2015", "encoding": "latin-1"}
LOOKUP_OPTIONS = {"from_field": "lsoa21_code", "to_field": "ward24_code", "from_geography": "lsoa21",
                  "to_geography": "ward24"}

# loader, fixture, options, a required column (for the missing-column test)
CASES = [
    ("boundary", "os_boundaryline_wards_3.geojson", {}, None),
    ("police-api", "police_api_2024-04_flat.csv", {}, "category"),
    ("police-bulk", "police_bulk_burglary_sample.csv", {}, "Crime type"),
    ("points-csv", "stop_and_search_sample.csv", {"x": "Longitude", "y": "Latitude"}, "Longitude"),
    ("points-geojson", "places_of_worship_sample.geojson", {"name_field": "name"}, None),
    ("imd", "iod2019_sample.csv", {}, "lsoa11_code"),
    ("census-population", "census21_sample.csv", {}, "age_group"),
    ("indicator-csv", "gla_ward_profiles_sample_latin1.csv", WARD_PROFILE_OPTIONS, "New code"),
    ("mopac-pas", "mopac_pas_2016_sample.csv", {}, "Code"),
    ("lookup", "lookup_lsoa21_ward24_sample.csv", LOOKUP_OPTIONS, "ward24_code"),
]
CSV_CASES = [c for c in CASES if c[3] is not None]


def load(name: str, path: Path | str, **options: object) -> Loaded:
    return get_loader(name)(path, **options)


def load_error(name: str, path: Path, **options: object) -> LoadError:
    """Load expecting failure; check the error names the file."""
    with pytest.raises(LoadError) as info:
        load(name, path, **options)
    assert info.value.source == path.name
    assert path.name in str(info.value)
    return info.value


def rows_of(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding=encoding) as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def copy(tmp_path: Path, fixture: str, name: str | None = None) -> Path:
    return Path(shutil.copy(FIX / fixture, tmp_path / (name or fixture)))


def is_json_safe(records: object) -> bool:
    json.dumps(list(records), allow_nan=False)
    return True


# --- registry and options -----------------------------------------------------------------


def test_registry_lists_every_loader():
    assert loader_names() == sorted([
        "boundary", "census-population", "imd", "indicator-csv", "lookup", "mopac-pas", "points-csv",
        "points-geojson", "points-postcode", "police-api", "police-bulk", "survey-responses",
    ])
    assert set(LOADERS) == set(loader_names())


def test_unknown_loader_lists_known_names():
    with pytest.raises(ConfigError) as info:
        get_loader("shapefile")
    assert "shapefile" in str(info.value) and "police-bulk" in str(info.value)


def test_unknown_option_names_it_and_the_allowed_ones():
    with pytest.raises(ConfigError) as info:
        load("boundary", FIX / "os_boundaryline_wards_3.geojson", code_feild="x")
    message = str(info.value)
    assert "code_feild" in message and "code_field" in message and "name_field" in message


def test_missing_required_option_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        load("indicator-csv", FIX / "gla_ward_profiles_sample_latin1.csv", code_field="New code")
    assert "geography" in str(info.value) and "period" in str(info.value)


def test_option_of_wrong_type_is_a_config_error():
    with pytest.raises(ConfigError):
        load("imd", FIX / "iod2019_sample.csv", period={"year": 2019})


def test_toml_numbers_are_accepted_for_text_options():
    loaded = load("imd", FIX / "iod2019_sample.csv", period=2019)
    assert set(loaded.frame["period"]) == {"2019"}


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ConfigError):
        register("boundary")(lambda path: None)


# --- generic file problems, for every loader ------------------------------------------------


@pytest.mark.parametrize("name, fixture, options, _", CASES)
def test_missing_file(tmp_path, name, fixture, options, _):
    error = load_error(name, tmp_path / fixture, **options)
    assert "not found" in str(error)


@pytest.mark.parametrize("name, fixture, options, _", CASES)
def test_empty_file(tmp_path, name, fixture, options, _):
    path = tmp_path / fixture
    path.write_bytes(b"")
    error = load_error(name, path, **options)
    assert "empty" in str(error) and "no data rows" in str(error)


@pytest.mark.parametrize("name, fixture, options, _", CASES)
def test_header_only(tmp_path, name, fixture, options, _):
    path = tmp_path / fixture
    source = (FIX / fixture).read_bytes()
    if fixture.endswith(".geojson"):
        doc = json.loads(source)
        doc["features"] = []
        path.write_text(json.dumps(doc))
    else:
        path.write_bytes(source.splitlines(keepends=True)[0])
    error = load_error(name, path, **options)
    assert "no data rows" in str(error)


@pytest.mark.parametrize("name, fixture, options, _", CASES)
def test_binary_file_renamed(tmp_path, name, fixture, options, _):
    path = tmp_path / fixture
    path.write_bytes(PNG + bytes(range(256)) * 4)
    error = load_error(name, path, **options)
    assert "PNG" in str(error)


@pytest.mark.parametrize("name, fixture, options, _", CASES)
def test_truncated_file(tmp_path, name, fixture, options, _):
    text = (FIX / fixture).read_bytes()
    lines = text.splitlines(keepends=True)
    keep = max(2, len(lines) // 2)
    path = tmp_path / fixture
    path.write_bytes(text[: len(text) // 2] if fixture.endswith("json") else b"".join(lines[:keep]) + lines[keep][:3])
    error = load_error(name, path, **options)
    if fixture.endswith("json"):
        assert "not valid JSON" in str(error)
    else:
        assert any(p.row is not None and "field(s)" in p.reason for p in error.problems), str(error)


@pytest.mark.parametrize("name, fixture, options, column", CSV_CASES)
def test_missing_column_is_named_with_the_columns_found(tmp_path, name, fixture, options, column):
    lines = (FIX / fixture).read_bytes().splitlines(keepends=True)
    encoded = column.encode("latin-1")
    path = tmp_path / fixture
    path.write_bytes(lines[0].replace(encoded, b"Renamed", 1) + b"".join(lines[1:]))
    error = load_error(name, path, **options)
    missing = [p for p in error.problems if p.column == column]
    assert missing and "missing required column" in missing[0].reason and "Renamed" in missing[0].reason


def test_broken_quote_is_reported(tmp_path):
    lines = (FIX / "police_bulk_burglary_sample.csv").read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace("On or near", '"On or near', 1)
    path = tmp_path / "bulk.csv"
    path.write_text("".join(lines))
    error = load_error("police-bulk", path)
    assert "quote" in str(error)


def test_loaders_write_nothing():
    before = {p.name: p.stat().st_mtime_ns for p in FIX.iterdir()}
    for name, fixture, options, _ in CASES:
        load(name, FIX / fixture, **options)
    assert {p.name: p.stat().st_mtime_ns for p in FIX.iterdir()} == before


# --- police categories ----------------------------------------------------------------------

KNOWN_KEYS = {" ".join(k.split()).casefold() for k in [*POLICE_CATEGORIES, *POLICE_CATEGORIES.values(),
                                                       *LEGACY_CATEGORIES]}


def test_category_vocabulary_is_the_fourteen_api_slugs():
    assert len(POLICE_CATEGORIES) == 14
    assert POLICE_CATEGORIES["violent-crime"] == "Violence and sexual offences"
    assert POLICE_CATEGORIES["criminal-damage-arson"] == "Criminal damage and arson"


@given(slug=st.sampled_from(sorted(POLICE_CATEGORIES)), upper=st.booleans(), pad=st.sampled_from(["", " ", "  "]))
def test_every_slug_and_label_maps_and_round_trips(slug, upper, pad):
    label = POLICE_CATEGORIES[slug]
    assert canonical_category(slug) == slug
    assert canonical_category(pad + (label.upper() if upper else label) + pad) == slug
    assert POLICE_CATEGORIES[canonical_category(label)] == label


@pytest.mark.parametrize("value, slug", [
    ("public-disorder-weapons", "public-order"), ("Public disorder and weapons", "public-order"),
    ("Violent crime", "violent-crime"), ("violence-and-sexual-offences", "violent-crime"),
])
def test_legacy_categories_map(value, slug):
    assert canonical_category(value) == slug


@given(st.text(max_size=40).filter(lambda s: " ".join(s.split()).casefold() not in KNOWN_KEYS))
def test_other_strings_are_rejected(value):
    with pytest.raises(ValueError, match="unknown crime category"):
        canonical_category(value)


def test_legacy_category_in_bulk_file_is_mapped_and_noted(tmp_path):
    rows = rows_of(FIX / "police_bulk_burglary_sample.csv")
    for row in rows[:3]:
        row["Crime type"] = "Public disorder and weapons"
    path = write_rows(tmp_path / "bulk.csv", rows, list(rows[0]))
    loaded = load("police-bulk", path)
    assert list(loaded.frame["category"][:4]) == ["public-order"] * 3 + ["burglary"]
    assert loaded.frame["properties"][0]["source_category"] == "Public disorder and weapons"
    assert any("3 row(s) with legacy category 'Public disorder and weapons'" in n for n in loaded.notes)


# --- police-api -----------------------------------------------------------------------------

POINT_COLUMNS = ["source_id", "name", "category", "month", "properties", "geometry"]


def test_police_api_flat_csv_matches_the_raw_text():
    raw = rows_of(FIX / "police_api_2024-04_flat.csv")
    loaded = load("police-api", FIX / "police_api_2024-04_flat.csv")
    frame = loaded.frame
    assert loaded.kind == "points" and loaded.rows_read == len(raw) == len(frame) == 200
    assert list(frame.columns) == POINT_COLUMNS
    assert frame.crs.to_epsg() == 4326
    assert list(frame["source_id"]) == [r["id"] for r in raw]
    assert list(frame["category"]) == [r["category"] for r in raw]
    btp = next(i for i, r in enumerate(raw) if r["location_type"] == "BTP")
    record, expected = frame.iloc[btp], raw[btp]
    assert record["name"] == expected["street_name"]
    assert record["month"] == expected["month"] == "2024-04"
    assert record.geometry.x == float(expected["longitude"]) and record.geometry.y == float(expected["latitude"])
    assert record["properties"]["location_type"] == "BTP"
    assert record["properties"]["location_subtype"] == expected["location_subtype"]
    assert record["properties"]["persistent_id"] is None
    assert record["properties"]["outcome_category"] == expected["outcome_category"]
    assert is_json_safe(frame["properties"])
    assert loaded.notes == []


@pytest.mark.parametrize("fixture", ["police_api_2024-04_raw.csv", "police_api_2024-04.json"])
def test_police_api_raw_csv_and_json_give_the_same_records(fixture):
    flat = load("police-api", FIX / "police_api_2024-04_flat.csv").frame
    other = load("police-api", FIX / fixture).frame
    assert list(other.columns) == POINT_COLUMNS
    for column in ["source_id", "name", "category", "month"]:
        assert list(other[column]) == list(flat[column])
    assert shapely.equals(other.geometry.values, flat.geometry.values).all()
    for mine, theirs in zip(other["properties"], flat["properties"]):
        assert mine == theirs


def test_police_api_json_record_matches_the_raw_json():
    records = json.loads((FIX / "police_api_2024-04.json").read_text())
    frame = load("police-api", FIX / "police_api_2024-04.json").frame
    item = next(r for r in records if r["outcome_status"])
    row = frame[frame["source_id"] == str(item["id"])].iloc[0]
    assert row["name"] == item["location"]["street"]["name"]
    assert row["properties"]["street_id"] == str(item["location"]["street"]["id"])
    assert row["properties"]["outcome_date"] == item["outcome_status"]["date"]
    assert row.geometry.y == float(item["location"]["latitude"])


def test_police_api_gzipped_csv_with_query_ward():
    raw = rows_of(FIX / "police_api_2016-2018_sample.csv.gz")
    loaded = load("police-api", FIX / "police_api_2016-2018_sample.csv.gz")
    assert loaded.rows_read == len(loaded.frame) == len(raw) == 200
    assert [p["query_ward_code_2018"] for p in loaded.frame["properties"]] == [r["query_ward_code_2018"] for r in raw]
    assert list(loaded.frame["month"]) == [r["month"] for r in raw]


def test_police_api_rows_without_location_are_kept(tmp_path):
    rows = rows_of(FIX / "police_api_2024-04_flat.csv")
    for row in rows[10:13]:
        row["latitude"] = row["longitude"] = ""
    path = write_rows(tmp_path / "api.csv", rows, list(rows[0]))
    loaded = load("police-api", path)
    assert len(loaded.frame) == 200
    assert loaded.frame.geometry.isna().sum() == 3 and loaded.frame.geometry[10] is None
    assert any(n.startswith("3 row(s) have no coordinates") for n in loaded.notes)


def test_police_api_json_without_location_is_kept(tmp_path):
    records = json.loads((FIX / "police_api_2024-04.json").read_text())
    records[4]["location"] = None
    path = tmp_path / "api.json"
    path.write_text(json.dumps(records))
    frame = load("police-api", path).frame
    assert frame.geometry[4] is None and frame["name"][4] is None and len(frame) == len(records)


def test_police_api_collects_every_row_problem(tmp_path):
    rows = rows_of(FIX / "police_api_2024-04_flat.csv")
    rows[0]["category"] = "littering"
    rows[1]["month"] = "2024-13"
    rows[2]["latitude"] = "north"
    rows[3]["longitude"] = "-200"
    rows[4]["id"] = rows[5]["id"]
    path = write_rows(tmp_path / "api.csv", rows, list(rows[0]))
    error = load_error("police-api", path)
    found = {(p.row, p.column) for p in error.problems}
    assert found == {(1, "category"), (2, "month"), (3, "latitude"), (4, "longitude"), (6, "id")}
    text = str(error)
    assert "row 1, column 'category': unknown crime category 'littering'" in text
    assert "row 2, column 'month'" in text and "'2024-13'" in text
    assert "row 3, column 'latitude': not a finite number: 'north'" in text
    assert "row 6, column 'id'" in text and "repeats row 5" in text


def test_police_api_raw_csv_bad_dict_text(tmp_path):
    rows = rows_of(FIX / "police_api_2024-04_raw.csv")
    rows[7]["location"] = "{'latitude': '51.5', 'street': "
    rows[8]["location"] = "__import__('os').system('echo no')"
    path = write_rows(tmp_path / "raw.csv", rows, list(rows[0]))
    error = load_error("police-api", path)
    assert {(p.row, p.column) for p in error.problems} == {(8, "location"), (9, "location")}


def test_police_api_json_must_be_an_array(tmp_path):
    path = tmp_path / "api.json"
    path.write_text('{"error": "too many requests"}')
    assert "JSON array" in str(load_error("police-api", path))


# --- police-bulk ----------------------------------------------------------------------------

BULK_PROPERTY_KEYS = ["reported_by", "falls_within", "lsoa_code", "lsoa_name", "last_outcome_category", "context"]


def test_police_bulk_matches_the_raw_text():
    raw = rows_of(FIX / "police_bulk_burglary_sample.csv")
    loaded = load("police-bulk", FIX / "police_bulk_burglary_sample.csv")
    frame = loaded.frame
    assert loaded.rows_read == len(frame) == len(raw) == 200
    assert list(frame.columns) == POINT_COLUMNS
    assert list(frame["source_id"]) == [r["Crime ID"] or None for r in raw]
    blank_ids = sum(1 for r in raw if not r["Crime ID"])
    assert blank_ids > 0 and frame["source_id"].isna().sum() == blank_ids
    assert any(n.startswith(f"{blank_ids} row(s) have no Crime ID") for n in loaded.notes)
    assert set(frame["category"]) == {"burglary"}
    assert list(frame["month"]) == [r["Month"] for r in raw]
    last = raw[-1]
    record = frame.iloc[-1]
    assert record["name"] == last["Location"]
    assert (record.geometry.x, record.geometry.y) == (float(last["Longitude"]), float(last["Latitude"]))
    assert list(record["properties"]) == BULK_PROPERTY_KEYS
    assert record["properties"]["lsoa_code"] == last["LSOA code"]
    blank_reporter = next(i for i, r in enumerate(raw) if not r["Reported by"])
    assert frame["properties"][blank_reporter]["reported_by"] is None
    assert is_json_safe(frame["properties"])


def test_police_bulk_blank_coordinates_are_kept_and_counted(tmp_path):
    rows = rows_of(FIX / "police_bulk_burglary_sample.csv")
    for row in rows[50:54]:
        row["Longitude"] = row["Latitude"] = ""
        row["Location"] = "No Location"
    path = write_rows(tmp_path / "bulk.csv", rows, list(rows[0]))
    loaded = load("police-bulk", path)
    assert len(loaded.frame) == 200
    assert list(np.flatnonzero(loaded.frame.geometry.isna())) == [50, 51, 52, 53]
    assert any(n.startswith("4 row(s) have no coordinates") for n in loaded.notes)


def test_police_bulk_gzip(tmp_path):
    path = tmp_path / "bulk.csv.gz"
    path.write_bytes(gzip.compress((FIX / "police_bulk_burglary_sample.csv").read_bytes()))
    assert len(load("police-bulk", path).frame) == 200


def test_police_bulk_row_problems(tmp_path):
    rows = rows_of(FIX / "police_bulk_burglary_sample.csv")
    rows[9]["Crime type"] = "Jaywalking"
    rows[19]["Month"] = "Dec 2010"
    rows[29]["Latitude"] = "51.6.1"
    rows[39]["Latitude"] = ""
    path = write_rows(tmp_path / "bulk.csv", rows, list(rows[0]))
    error = load_error("police-bulk", path)
    assert {(p.row, p.column) for p in error.problems} == {
        (10, "Crime type"), (20, "Month"), (30, "Latitude"), (40, "Latitude")}
    assert "'Jaywalking'" in str(error)


def test_police_bulk_truncated_gzip(tmp_path):
    data = gzip.compress((FIX / "police_bulk_burglary_sample.csv").read_bytes())
    path = tmp_path / "bulk.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    assert "gzip" in str(load_error("police-bulk", path))


# --- boundary -------------------------------------------------------------------------------


def test_boundary_os_wards_match_the_raw_geojson():
    doc = json.loads((FIX / "os_boundaryline_wards_3.geojson").read_text())
    loaded = load("boundary", FIX / "os_boundaryline_wards_3.geojson")
    frame = loaded.frame
    assert loaded.kind == "boundary" and loaded.rows_read == len(frame) == len(doc["features"]) == 3
    assert list(frame.columns) == ["code", "name", "properties", "geometry"]
    assert frame.crs.to_epsg() == 4326
    assert list(frame["code"]) == [f["properties"]["ONSWardCode"] for f in doc["features"]]
    assert list(frame["name"]) == [f["properties"]["WardName"] for f in doc["features"]]
    assert set(frame.geom_type) == {"MultiPolygon"}
    for geometry, feature in zip(frame.geometry, doc["features"]):
        assert geometry.equals(shapely.geometry.shape(feature["geometry"]))
    assert not any("declares no CRS" in n for n in loaded.notes)  # GeoJSON is lon/lat by its standard


def test_boundary_repairs_the_invalid_lsoa_with_legacy_crs_member():
    text = (FIX / "martinjc_lsoa11_invalid.geojson").read_text()
    assert "urn:ogc:def:crs:OGC:1.3:CRS84" in text
    doc = json.loads(text)
    invalid = [i for i, f in enumerate(doc["features"]) if not shapely.geometry.shape(f["geometry"]).is_valid]
    assert len(invalid) == 1
    loaded = load("boundary", FIX / "martinjc_lsoa11_invalid.geojson")
    assert loaded.repaired == 1
    assert any("1 invalid polygon(s) repaired" in n for n in loaded.notes)
    assert loaded.frame.is_valid.all() and set(loaded.frame.geom_type) == {"MultiPolygon"}
    repaired = loaded.frame.iloc[invalid[0]]
    assert repaired["code"] == doc["features"][invalid[0]]["properties"]["LSOA11CD"] == "E01000285"
    original = shapely.geometry.shape(doc["features"][invalid[0]]["geometry"])
    assert abs(repaired.geometry.area - shapely.make_valid(original).area) < 1e-12
    assert loaded.frame.crs.to_epsg() == 4326


def test_boundary_code_column_with_distinct_values_wins_over_a_repeated_one():
    doc = json.loads((FIX / "ons_wards_dec2022_3.geojson").read_text())
    frame = load("boundary", FIX / "ons_wards_dec2022_3.geojson").frame
    assert list(frame["code"]) == [f["properties"]["WD22CD"] for f in doc["features"]]
    assert list(frame["name"]) == [f["properties"]["WD22NM"] for f in doc["features"]]


def test_boundary_ambiguous_ons_columns_are_listed(tmp_path):
    doc = json.loads((FIX / "ons_wards_dec2022_3.geojson").read_text())
    for i, feature in enumerate(doc["features"]):
        feature["properties"]["LAD22CD"] = f"E0900000{i}"
    path = tmp_path / "three_lads.geojson"
    path.write_text(json.dumps(doc))
    error = load_error("boundary", path)
    assert "WD22CD" in str(error) and "LAD22CD" in str(error) and "code_field" in str(error)


def test_boundary_name_pairs_with_the_chosen_code_and_properties_are_json_safe():
    doc = json.loads((FIX / "ons_wards_dec2022_3.geojson").read_text())
    frame = load("boundary", FIX / "ons_wards_dec2022_3.geojson", code_field="WD22CD").frame
    first = doc["features"][0]["properties"]
    assert frame["name"][0] == first["WD22NM"]
    assert frame["properties"][0] == {k: v for k, v in first.items() if k not in ("WD22CD", "WD22NM")}
    assert type(frame["properties"][0]["BNG_E"]) is int
    assert is_json_safe(frame["properties"])


def test_boundary_zipped_shapefile_in_british_national_grid():
    raw = pyogrio.read_dataframe(f"/vsizip/{FIX / 'barnet_lsoa21_27700.zip'}/barnet_lsoa21_27700.shp")
    assert raw.crs.to_epsg() == 27700
    loaded = load("boundary", FIX / "barnet_lsoa21_27700.zip", code_field="LSOA21CD", name_field="LSOA21NM")
    frame = loaded.frame
    assert list(frame["code"]) == list(raw["LSOA21CD"]) and len(frame) == loaded.rows_read == 4
    assert frame["properties"][0]["LAD22CD"] == "E09000003"
    transformer = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
    x, y = raw.geometry[0].exterior.coords[0]
    lon, lat = transformer.transform(x, y)
    first = frame.geometry[0].geoms[0].exterior.coords[0]
    assert first == pytest.approx((lon, lat), abs=1e-9)


def unzip(tmp_path: Path) -> Path:
    with zipfile.ZipFile(FIX / "barnet_lsoa21_27700.zip") as archive:
        archive.extractall(tmp_path)
    return tmp_path / "barnet_lsoa21_27700.shp"


def test_boundary_shapefile_without_crs_asks_for_it(tmp_path):
    shp = unzip(tmp_path)
    shp.with_suffix(".prj").unlink()
    options = {"code_field": "LSOA21CD", "name_field": "LSOA21NM"}
    error = load_error("boundary", shp, **options)
    assert "British National Grid" in str(error) and "crs=EPSG:27700" in str(error)
    loaded = load("boundary", shp, crs="EPSG:27700", **options)
    assert loaded.frame.total_bounds[0] == pytest.approx(-0.2, abs=0.1)


def test_boundary_crs_option_overrides_a_declared_crs_with_a_note(tmp_path):
    shp = unzip(tmp_path)
    loaded = load("boundary", shp, code_field="LSOA21CD", name_field="LSOA21NM", crs="EPSG:27700")
    assert loaded.notes == []
    overridden = load("boundary", shp, code_field="LSOA21CD", name_field="LSOA21NM", crs="EPSG:3857")
    assert overridden.notes == ["the file declares CRS EPSG:27700; option crs=EPSG:3857 was used instead"]
    geojson = tmp_path / "wards.geojson"
    geojson.write_text((FIX / "os_boundaryline_wards_3.geojson").read_text())
    doc = json.loads(geojson.read_text())
    doc["crs"] = {"type": "name", "properties": {"name": "EPSG:4258"}}
    geojson.write_text(json.dumps(doc))
    loaded = load("boundary", geojson, crs="EPSG:4326")
    assert any("declares CRS EPSG:4258" in n for n in loaded.notes)


@pytest.mark.parametrize("crs", ["EPSG:99999", "not a crs"])
def test_boundary_bad_crs_string(crs):
    error = load_error("boundary", FIX / "os_boundaryline_wards_3.geojson", crs=crs)
    assert crs in str(error) and "CRS" in str(error)


def test_boundary_bad_declared_crs(tmp_path):
    doc = json.loads((FIX / "martinjc_lsoa11_invalid.geojson").read_text())
    doc["crs"]["properties"]["name"] = "urn:ogc:def:crs:EPSG::123456789"
    path = tmp_path / "lsoa.geojson"
    path.write_text(json.dumps(doc))
    assert "declares an unknown or invalid CRS" in str(load_error("boundary", path))


def test_boundary_bng_coordinates_without_crs_are_refused(tmp_path):
    frame = gpd.read_file(FIX / "barnet_lsoa21_27700.zip")
    doc = json.loads(frame.to_json())
    doc.pop("crs", None)
    path = tmp_path / "bng.geojson"
    path.write_text(json.dumps(doc))
    error = load_error("boundary", path, code_field="LSOA21CD", name_field="LSOA21NM")
    assert "crs=EPSG:27700" in str(error)


def test_boundary_geometry_and_code_problems_are_all_reported(tmp_path):
    doc = json.loads((FIX / "martinjc_lsoa11_invalid.geojson").read_text())
    features = doc["features"]
    extra = [json.loads(json.dumps(features[0])) for _ in range(5)]
    extra[0]["geometry"] = {"type": "Polygon", "coordinates": "garbage"}
    extra[1]["geometry"] = None
    extra[2]["geometry"] = {"type": "Point", "coordinates": [-0.2, 51.6]}
    extra[3]["properties"]["LSOA11CD"] = " "
    extra[4]["properties"]["LSOA11CD"] = features[1]["properties"]["LSOA11CD"]
    for i, feature in enumerate(extra[:3]):
        feature["properties"]["LSOA11CD"] = f"X{i}"
    doc["features"] = features + extra
    path = tmp_path / "broken.geojson"
    path.write_text(json.dumps(doc))
    error = load_error("boundary", path)
    found = {(p.row, p.column) for p in error.problems}
    assert found == {(4, "geometry"), (5, "geometry"), (6, "geometry"), (7, "LSOA11CD"), (8, "LSOA11CD")}
    text = str(error)
    assert "row 4, column 'geometry': unreadable geometry" in text
    assert "row 6, column 'geometry': expected a polygon, found a Point" in text
    assert "row 8, column 'LSOA11CD': duplicate code" in text and "first in row 2" in text


def test_boundary_geopackage_layers(tmp_path):
    frame = gpd.read_file(FIX / "barnet_lsoa21_27700.zip")
    path = tmp_path / "areas.gpkg"
    frame.to_file(path, layer="lsoa", engine="pyogrio")
    frame.head(2).to_file(path, layer="other", engine="pyogrio")
    error = load_error("boundary", path, code_field="LSOA21CD", name_field="LSOA21NM")
    assert "lsoa" in str(error) and "other" in str(error) and "layer" in str(error)
    loaded = load("boundary", path, code_field="LSOA21CD", name_field="LSOA21NM", layer="lsoa")
    assert list(loaded.frame["code"]) == list(frame["LSOA21CD"])
    assert "no layer 'nope'" in str(load_error("boundary", path, layer="nope"))


def test_boundary_png_renamed_gpkg(tmp_path):
    path = tmp_path / "areas.gpkg"
    path.write_bytes(PNG)
    assert "not a GeoPackage" in str(load_error("boundary", path))


# --- points-csv -----------------------------------------------------------------------------


def test_points_csv_stop_and_search_matches_the_raw_text():
    raw = rows_of(FIX / "stop_and_search_sample.csv")
    loaded = load("points-csv", FIX / "stop_and_search_sample.csv", month_field="Date",
                  category_field="Object of search")
    frame = loaded.frame
    assert loaded.rows_read == len(frame) == len(raw)
    no_location = [i for i, r in enumerate(raw) if not r["Latitude"] and not r["Longitude"]]
    assert no_location and list(np.flatnonzero(frame.geometry.isna())) == no_location
    assert any(n.startswith(f"{len(no_location)} row(s) have no coordinates") for n in loaded.notes)
    assert list(frame["month"]) == [r["Date"][:7] for r in raw]
    assert list(frame["category"]) == [r["Object of search"] or None for r in raw]
    assert frame.geometry[0].x == float(raw[0]["Longitude"])
    assert "Latitude" not in frame["properties"][0] and frame["properties"][0]["Gender"] == raw[0]["Gender"]


def test_points_csv_easting_northing_are_reprojected():
    raw = rows_of(FIX / "town_centres_bng.csv")
    frame = load("points-csv", FIX / "town_centres_bng.csv", id_field="layerreference", name_field="sitename",
                  category_field="classification").frame
    transformer = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
    for point, row in zip(frame.geometry, raw):
        assert (point.x, point.y) == pytest.approx(transformer.transform(float(row["easting"]),
                                                                         float(row["northing"])), abs=1e-9)
    assert list(frame["name"]) == [r["sitename"] for r in raw]
    assert frame["category"][raw.index(next(r for r in raw if r["sitename"] == "Edgware"))] == "Major"


def test_points_csv_bng_named_x_y_needs_crs(tmp_path):
    rows = [{"x": r["easting"], "y": r["northing"]} for r in rows_of(FIX / "town_centres_bng.csv")]
    path = write_rows(tmp_path / "xy.csv", rows, ["x", "y"])
    assert "crs=EPSG:27700" in str(load_error("points-csv", path))
    assert len(load("points-csv", path, crs="EPSG:27700").frame) == len(rows)


def test_points_csv_no_coordinate_columns(tmp_path):
    path = write_rows(tmp_path / "p.csv", [{"a": "1", "b": "2"}], ["a", "b"])
    assert "no coordinate columns" in str(load_error("points-csv", path))


def test_points_csv_bad_crs(tmp_path):
    assert "EPSG:0" in str(load_error("points-csv", FIX / "town_centres_bng.csv", crs="EPSG:0"))


def test_points_csv_latin1_needs_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name,lon,lat\nCaf\u00e9 \u00a3,-0.2,51.6\n".encode("latin-1"))
    assert "latin-1" in str(load_error("points-csv", path))
    assert load("points-csv", path, encoding="latin-1", name_field="name").frame["name"][0] == "Caf\u00e9 \u00a3"


coordinate = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-180, max_value=180),
    st.sampled_from(["abc", "1,5", "NaN", "--1", "0x10"]),
)


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else repr(value)


def _valid_pair(lon: object, lat: object) -> bool:
    if lon is None and lat is None:
        return True
    if not isinstance(lon, float) or not isinstance(lat, float):
        return False
    return math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=12))
def test_points_csv_coordinate_validation(pairs):
    invalid = {i + 1 for i, (lon, lat) in enumerate(pairs) if not _valid_pair(lon, lat)}
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{"id": str(i), "longitude": _text(a), "latitude": _text(b)} for i, (a, b) in enumerate(pairs)]
        path = write_rows(Path(tmp) / "points.csv", rows, ["id", "longitude", "latitude"])
        if invalid:
            with pytest.raises(LoadError) as info:
                load("points-csv", path, id_field="id")
            assert {p.row for p in info.value.problems} == invalid
            assert all(p.column in ("longitude", "latitude") for p in info.value.problems)
            return
        loaded = load("points-csv", path, id_field="id")
    assert loaded.rows_read == len(loaded.frame) == len(pairs)
    for point, (lon, lat) in zip(loaded.frame.geometry, pairs):
        assert (point is None) if lon is None else (point.x, point.y) == (lon, lat)


# --- rows are conserved -----------------------------------------------------------------------

BULK_ROWS = rows_of(FIX / "police_bulk_burglary_sample.csv")
API_ROWS = rows_of(FIX / "police_api_2024-04_flat.csv")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 199), min_size=1, max_size=80))
def test_row_counts_are_conserved_for_random_subsets(picks):
    with tempfile.TemporaryDirectory() as tmp:
        bulk = write_rows(Path(tmp) / "bulk.csv", [BULK_ROWS[i] for i in picks], list(BULK_ROWS[0]))
        api = write_rows(Path(tmp) / "api.csv", [API_ROWS[i] for i in sorted(set(picks))], list(API_ROWS[0]))
        loaded_bulk = load("police-bulk", bulk)
        loaded_api = load("police-api", api)
    assert loaded_bulk.rows_read == len(loaded_bulk.frame) == len(picks)
    assert list(loaded_bulk.frame["source_id"]) == [BULK_ROWS[i]["Crime ID"] or None for i in picks]
    assert loaded_api.rows_read == len(loaded_api.frame) == len(set(picks))


# --- points-geojson -------------------------------------------------------------------------


def test_points_geojson_places_of_worship_match_the_raw_file():
    doc = json.loads((FIX / "places_of_worship_sample.geojson").read_text())
    loaded = load("points-geojson", FIX / "places_of_worship_sample.geojson", name_field="name",
                  category_field="religion")
    frame = loaded.frame
    assert loaded.rows_read == len(frame) == len(doc["features"]) == 15
    assert list(frame.columns) == POINT_COLUMNS
    for point, feature in zip(frame.geometry, doc["features"]):
        assert [point.x, point.y] == feature["geometry"]["coordinates"]
    assert list(frame["category"]) == [f["properties"]["religion"] for f in doc["features"]]
    assert frame["properties"][0] == {k: v for k, v in doc["features"][0]["properties"].items()
                                      if k not in ("name", "religion")}
    assert frame["source_id"].isna().all() and frame["month"].isna().all()


def test_points_geojson_declared_bng_is_reprojected(tmp_path):
    raw = rows_of(FIX / "town_centres_bng.csv")
    features = [{"type": "Feature", "properties": {"ref": r["layerreference"]},
                 "geometry": {"type": "Point", "coordinates": [float(r["easting"]), float(r["northing"])]}}
                for r in raw]
    features[2]["geometry"] = None
    doc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
           "features": features}
    path = tmp_path / "centres.geojson"
    path.write_text(json.dumps(doc))
    loaded = load("points-geojson", path, id_field="ref")
    transformer = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
    point = loaded.frame.geometry[0]
    assert (point.x, point.y) == pytest.approx(transformer.transform(float(raw[0]["easting"]),
                                                                     float(raw[0]["northing"])), abs=1e-9)
    assert loaded.frame.geometry[2] is None and len(loaded.frame) == len(raw)
    assert any(n.startswith("1 row(s) have no coordinates") for n in loaded.notes)


def test_points_geojson_non_point_geometry_is_a_problem(tmp_path):
    doc = json.loads((FIX / "places_of_worship_sample.geojson").read_text())
    doc["features"][3]["geometry"] = {"type": "LineString", "coordinates": [[0, 51], [1, 52]]}
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps(doc))
    error = load_error("points-geojson", path)
    assert [(p.row, p.column) for p in error.problems] == [(4, "geometry")]
    assert "LineString" in str(error)


def test_points_geojson_missing_field(tmp_path):
    error = load_error("points-geojson", FIX / "places_of_worship_sample.geojson", name_field="title")
    assert "'title'" in str(error) and "'religion'" in str(error)


# --- indicators -------------------------------------------------------------------------------

INDICATOR_COLUMNS = ["area_code", "area_name", "geography", "indicator", "period", "value"]


def test_imd_matches_the_raw_text():
    raw = rows_of(FIX / "iod2019_sample.csv")
    measures = [c for c in raw[0] if c.endswith(("_rank", "_decile"))]
    loaded = load("imd", FIX / "iod2019_sample.csv")
    frame = loaded.frame
    assert list(frame.columns) == INDICATOR_COLUMNS
    assert loaded.rows_read == len(raw) and len(frame) == len(raw) * len(measures) == 25 * 16
    assert set(frame["indicator"]) == set(measures)
    assert set(frame["geography"]) == {"lsoa11"} and set(frame["period"]) == {"2019"}
    barnet = next(r for r in raw if r["lad19_name"] == "Barnet")
    row = frame[(frame["area_code"] == barnet["lsoa11_code"])
                & (frame["indicator"] == "index_of_multiple_deprivation_imd_decile")].iloc[0]
    assert row["value"] == float(barnet["index_of_multiple_deprivation_imd_decile"])
    assert row["area_name"] == barnet["lsoa11_name"]
    assert any("lad19_code" in n for n in loaded.notes)


def test_imd_bad_values(tmp_path):
    rows = rows_of(FIX / "iod2019_sample.csv")
    rows[2]["crime_decile"] = "11"
    rows[3]["income_rank"] = "high"
    rows[4]["lsoa11_code"] = rows[0]["lsoa11_code"]
    path = write_rows(tmp_path / "imd.csv", rows, list(rows[0]))
    error = load_error("imd", path)
    assert {(p.row, p.column) for p in error.problems} == {(3, "crime_decile"), (4, "income_rank"),
                                                           (5, "lsoa11_code")}


def test_census_population_totals_match_the_raw_text():
    raw = rows_of(FIX / "census21_sample.csv")
    loaded = load("census-population", FIX / "census21_sample.csv")
    frame = loaded.frame
    areas = list(dict.fromkeys(r["lsoa21_code"] for r in raw))
    assert loaded.rows_read == len(raw) == 30 and len(frame) == len(raw) + len(areas)
    totals = frame[frame["indicator"] == "usual_residents_total"].set_index("area_code")["value"]
    for code in areas:
        assert totals[code] == sum(int(r["usual_residents"]) for r in raw if r["lsoa21_code"] == code)
    first = raw[0]
    assert first["age_group"] == "Aged 15 years and under"
    row = frame[(frame["area_code"] == first["lsoa21_code"])
                & (frame["indicator"] == "usual_residents_aged_15_years_and_under")].iloc[0]
    assert row["value"] == float(first["usual_residents"]) and row["period"] == "2021"
    assert set(frame["geography"]) == {"lsoa21"}


def test_census_population_bad_counts(tmp_path):
    rows = rows_of(FIX / "census21_sample.csv")
    rows[1]["usual_residents"] = "-4"
    rows[2]["usual_residents"] = "12.5"
    rows[3]["usual_residents"] = "many"
    path = write_rows(tmp_path / "census.csv", rows, list(rows[0]))
    error = load_error("census-population", path)
    assert {(p.row, p.column) for p in error.problems} == {(2, "usual_residents"), (3, "usual_residents"),
                                                           (4, "usual_residents")}


def test_census_population_incomplete_area(tmp_path):
    rows = rows_of(FIX / "census21_sample.csv")
    path = write_rows(tmp_path / "census.csv", rows[:-1], list(rows[0]))
    assert "incomplete" in str(load_error("census-population", path))


def test_ward_profiles_match_the_raw_latin1_text():
    raw = rows_of(FIX / "gla_ward_profiles_sample_latin1.csv", encoding="latin-1")
    loaded = load("indicator-csv", FIX / "gla_ward_profiles_sample_latin1.csv", **WARD_PROFILE_OPTIONS)
    frame = loaded.frame
    assert list(frame.columns) == INDICATOR_COLUMNS and loaded.rows_read == len(raw)
    ward = next(r for r in raw if r["Ward name"] == "Barnet - Brunswick Park")
    price = frame[(frame["area_code"] == ward["New code"]) & (frame["indicator"] == "median_house_price")].iloc[0]
    assert price["value"] == float(ward["Median House Price (\u00a3) - 2014"]) and price["period"] == "2014"
    assert price["area_name"] == "Barnet - Brunswick Park" and price["geography"] == "ward2011"
    area = frame[(frame["area_code"] == ward["New code"]) & (frame["indicator"] == "area_square_kilometres")]
    assert list(area["period"]) == ["2015"]
    markers = sum(1 for r in raw[1:] for v in r.values() if v == "n/a")
    assert markers > 0 and any(n.startswith(f"{markers} cell(s) marked missing") for n in loaded.notes)
    assert any("'Old code'" in n for n in loaded.notes)
    assert any("repeating an earlier row" in n for n in loaded.notes)


def test_ward_profiles_need_latin1(tmp_path):
    options = {k: v for k, v in WARD_PROFILE_OPTIONS.items() if k != "encoding"}
    error = load_error("indicator-csv", FIX / "gla_ward_profiles_sample_latin1.csv", **options)
    assert "encoding='latin-1'" in str(error)
    utf8 = tmp_path / "profiles.csv"
    utf8.write_text((FIX / "gla_ward_profiles_sample_latin1.csv").read_bytes().decode("latin-1"), encoding="utf-8")
    expected = load("indicator-csv", FIX / "gla_ward_profiles_sample_latin1.csv", **WARD_PROFILE_OPTIONS).frame
    assert load("indicator-csv", utf8, **options).frame.equals(expected)


def test_indicator_csv_code_prefix_and_listed_columns(tmp_path):
    loaded = load("indicator-csv", FIX / "gla_ward_profiles_sample_latin1.csv", code_prefix="E05",
                  columns=["Population - 2015", "Crime rate - 2014/15"], **WARD_PROFILE_OPTIONS)
    assert set(loaded.frame["indicator"]) == {"population", "crime_rate"}
    assert set(loaded.frame["period"]) == {"2015", "2014/15"}
    assert loaded.frame["area_code"].str.startswith("E05").all()
    assert any("left out" in n for n in loaded.notes)
    error = load_error("indicator-csv", FIX / "gla_ward_profiles_sample_latin1.csv",
                       columns=["Population - 2015", "Old code"], **WARD_PROFILE_OPTIONS)
    assert all(p.column == "Old code" for p in error.problems) and error.problems[0].row == 1


def test_indicator_csv_garbage_in_unlisted_column_is_skipped(tmp_path):
    rows = rows_of(FIX / "gla_ward_profiles_sample_latin1.csv", encoding="latin-1")
    rows[3]["Population - 2015"] = "about 12k"
    path = write_rows(tmp_path / "profiles.csv", rows, list(rows[0]))
    options = {k: v for k, v in WARD_PROFILE_OPTIONS.items() if k != "encoding"}
    loaded = load("indicator-csv", path, **options)
    assert "population" not in set(loaded.frame["indicator"])
    assert any("'Population - 2015' (e.g. 'about 12k' in row 4)" in n for n in loaded.notes)
    error = load_error("indicator-csv", path, columns=["Population - 2015"], **options)
    assert [(p.row, p.column) for p in error.problems] == [(4, "Population - 2015")]


def test_mopac_pas_matches_the_raw_text():
    raw_lines = list(csv.reader(io.StringIO((FIX / "mopac_pas_2016_sample.csv").read_text(encoding="utf-8-sig"))))
    header, measures, *areas = raw_lines
    loaded = load("mopac-pas", FIX / "mopac_pas_2016_sample.csv", borough="Barnet")
    frame = loaded.frame
    barnet = [a for a in areas if a[0].startswith("Barnet - ")]
    assert len(barnet) == 4 and set(frame["area_code"]) == {a[1] for a in barnet}
    assert loaded.rows_read == len(areas)
    safe = header.index("How safe do you feel walking alone in this area after dark?")
    assert measures[safe] == "% Safe"
    colindale = next(a for a in barnet if a[0] == "Barnet - Colindale")
    row = frame[(frame["area_code"] == colindale[1])
                & (frame["indicator"] == "how_safe_do_you_feel_walking_alone_in_this_area_after_dark__safe")]
    assert row["value"].tolist() == [int(colindale[safe]) / 100]
    assert row["area_name"].tolist() == ["Barnet - Colindale"]
    assert set(frame["geography"]) == {"mps_neighbourhood"} and set(frame["period"]) == {"2016"}
    assert frame["value"].between(0, 1).all()
    assert any("4 cell(s) marked missing" in n for n in loaded.notes)
    assert len(load("mopac-pas", FIX / "mopac_pas_2016_sample.csv").frame["area_code"].unique()) == len(areas)


def test_mopac_pas_unknown_borough_lists_the_boroughs():
    error = load_error("mopac-pas", FIX / "mopac_pas_2016_sample.csv", borough="Narnia")
    assert "Narnia" in str(error) and "Barnet" in str(error)


def test_mopac_pas_bad_percentage(tmp_path):
    lines = (FIX / "mopac_pas_2016_sample.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    assert lines[3].startswith("Barnet - Barnet,")
    lines[3] = lines[3].replace(",72,", ",720,", 1)
    path = tmp_path / "pas.csv"
    path.write_text("".join(lines), encoding="utf-8")
    error = load_error("mopac-pas", path)
    assert [p.row for p in error.problems] == [2] and "outside 0..100" in str(error)


# --- lookup ---------------------------------------------------------------------------------

LOOKUP_COLUMNS = ["from_code", "from_geography", "to_code", "to_geography", "from_name", "to_name", "weight"]


def test_lookup_filtered_matches_the_raw_text():
    raw = rows_of(FIX / "lookup_lsoa21_ward24_sample.csv")
    loaded = load("lookup", FIX / "lookup_lsoa21_ward24_sample.csv", from_name_field="lsoa21_name",
                  to_name_field="ward24_name", filter_field="ltla24_code", filter_value="E09000003", **LOOKUP_OPTIONS)
    frame = loaded.frame
    expected = [r for r in raw if r["ltla24_code"] == "E09000003"]
    assert list(frame.columns) == LOOKUP_COLUMNS and loaded.rows_read == len(raw)
    assert list(frame["from_code"]) == [r["lsoa21_code"] for r in expected]
    assert list(frame["to_name"]) == [r["ward24_name"] for r in expected]
    assert set(frame["weight"]) == {1.0} and set(frame["to_geography"]) == {"ward24"}


def test_lookup_many_to_many_and_collapsed_pairs():
    raw = rows_of(FIX / "lookup_lsoa11_lsoa21_sample.csv")
    split = load("lookup", FIX / "lookup_lsoa11_lsoa21_sample.csv", from_field="lsoa11_code", to_field="lsoa21_code",
                 from_geography="lsoa11", to_geography="lsoa21").frame
    assert len(split) == len(raw)
    assert (split["from_code"] == "E01000262").sum() == sum(1 for r in raw if r["lsoa11_code"] == "E01000262") > 1
    wards = load("lookup", FIX / "lookup_lsoa21_ward24_sample.csv", from_field="ward24_code", to_field="ltla24_code",
                 from_geography="ward24", to_geography="lad24")
    pairs = {(r["ward24_code"], r["ltla24_code"]) for r in rows_of(FIX / "lookup_lsoa21_ward24_sample.csv")}
    assert len(wards.frame) == len(pairs) and any("collapsed" in n for n in wards.notes)


def test_lookup_blank_codes_use_file_row_numbers(tmp_path):
    rows = rows_of(FIX / "lookup_lsoa21_ward24_sample.csv")
    barnet = [i for i, r in enumerate(rows) if r["ltla24_code"] == "E09000003"]
    rows[barnet[2]]["ward24_code"] = ""
    path = write_rows(tmp_path / "lookup.csv", rows, list(rows[0]))
    error = load_error("lookup", path, filter_field="ltla24_code", filter_value="E09000003", **LOOKUP_OPTIONS)
    assert [(p.row, p.column) for p in error.problems] == [(barnet[2] + 1, "ward24_code")]


def test_lookup_filter_needs_both_options():
    with pytest.raises(ConfigError):
        load("lookup", FIX / "lookup_lsoa21_ward24_sample.csv", filter_field="ltla24_code", **LOOKUP_OPTIONS)


# --- the full sample data (skipped when the shared folder is absent) ----------------------


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "SOURCES.md").exists(), reason="shared sample data not available")
@pytest.mark.parametrize("name, relative, rows", [
    ("police-api", "police_api_ward_crime_policerewired/barnet_police_api_crimes_2016-01_2018-06.csv", 83_723),
    ("police-bulk", "police_bulk_barnet_burglary_sdumarais/barnet_street_burglary_2010-12_2023-03.csv", 44_138),
])
def test_full_police_files_load_every_row(name, relative, rows):
    # How fast is measured by bench/bench_ingest.py, not asserted here: a timed test fails on a busy machine.
    loaded = load(name, SHARED / relative)
    assert loaded.rows_read == len(loaded.frame) == rows


def test_police_bulk_ingest_reader_gives_the_loader_rows_with_properties_as_json_text(tmp_path):
    from insight.sources.police import read_police_bulk

    rows = rows_of(FIX / "police_bulk_burglary_sample.csv")
    rows[3]["Crime type"] = "Violent crime"
    rows[4]["LSOA name"] = 'Café "quoted" \\ name'
    rows[5]["Context"] = "   "
    path = write_rows(tmp_path / "bulk.csv", rows, list(rows[0]))
    loaded, text = load("police-bulk", path), read_police_bulk(path)
    assert text.rows_read == loaded.rows_read == 200 and text.notes == loaded.notes
    assert list(text.frame.columns) == list(loaded.frame.columns)
    for column in ("source_id", "name", "category", "month"):
        assert text.frame[column].tolist() == loaded.frame[column].tolist()
    assert text.frame.geometry.equals(loaded.frame.geometry)
    texts = text.frame["properties"].tolist()
    assert all(isinstance(t, str) for t in texts)
    assert texts == [json.dumps(p) for p in loaded.frame["properties"]]
    assert json.loads(texts[3])["source_category"] == "Violent crime"


_csv_lines = st.lists(
    st.one_of(st.just([]), st.lists(st.text("ab ;é", max_size=4), min_size=1, max_size=5)), min_size=1, max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(header_width=st.integers(1, 4), lines=_csv_lines, newline=st.sampled_from(["\n", "\r\n"]),
       trailing=st.booleans(), bom=st.booleans(), quoted=st.booleans())
def test_csv_field_counts_agree_with_the_csv_module(header_width, lines, newline, trailing, bom, quoted):
    from insight.sources.base import read_csv_text

    header = [f"c{i}" for i in range(header_width)]
    if quoted:
        header[0] = '"c0"'
    body = newline.join(",".join(fields) for fields in [header, *lines]) + (newline if trailing else "")
    data = (b"\xef\xbb\xbf" if bom else b"") + body.encode()
    records = [r for r in csv.reader(io.StringIO(body, newline="")) if r][1:]
    want = [(n, f"has {len(r)} field(s) but the header has {header_width} (truncated line or unbalanced quote?)")
            for n, r in enumerate(records, start=1) if len(r) != header_width]
    path = Path("x.csv")
    if not records:
        with pytest.raises(LoadError, match="header but no data rows"):
            read_csv_text(path, data=data)
    elif want:
        with pytest.raises(LoadError) as info:
            read_csv_text(path, data=data)
        assert [(p.row, p.reason) for p in info.value.problems] == want
    else:
        frame = read_csv_text(path, data=data)
        assert list(frame.columns) == ["c" + str(i) for i in range(header_width)]
        assert frame.values.tolist() == records
