"""The record checks, called directly: coordinates, geometries, single values and whole tables.

Expected values are worked out by hand from the inputs (a haversine distance, a known grid
origin, a category list) or read from the real Barnet data in ``data/``; the upload tests
(tests/test_uploads.py) cover the same checks end to end through files and the database.
"""
from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from insight.errors import LoadError
from insight.partner.coordinates import (
    GB_REGION,
    check_grid,
    check_lonlat,
    grid_to_lonlat,
    locate_cells,
    locate_geometry,
    parse_coordinate,
    region_of,
    to_metres,
)
from insight.partner.record_checks import Context, ExistingRecord, Rules, check_table, map_columns
from insight.partner.tables import RawTable
from insight.partner.value_checks import (
    canonical_json,
    deep_clean,
    formula_like,
    has_markup,
    identifier_format_ok,
    match_category,
    neutralise_formula,
    normalise_identifier,
    parse_assured,
    strip_control,
)
from tests.conftest import DATA_DIR

CATEGORIES = ("Culture", "Museum", "Nightlife", "Urban sport")
BARNET_BOX = (-0.306, 51.555, -0.129, 51.671)
TODAY = date(2026, 6, 1)


def _venues() -> list[tuple[str, float, float]]:
    features = json.loads((DATA_DIR / "points" / "cultural_venues.geojson").read_text(encoding="utf-8"))["features"]
    return [(f["properties"]["name"], *f["geometry"]["coordinates"]) for f in features]


def _borough() -> shapely.Geometry:
    document = json.loads((DATA_DIR / "boundaries" / "borough.geojson").read_text(encoding="utf-8"))
    return shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in document["features"]])


def _haversine_metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _table(rows: list[dict[str, object]], columns: list[str] | None = None) -> RawTable:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    return RawTable("csv", columns, [dict.fromkeys(columns) | r for r in rows])


def _context(**kwargs: Any) -> Context:
    return Context(today=TODAY, **kwargs)


# --- coordinates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("51.6536034", (51.6536034, None)), (" -0.2009637 ", (-0.2009637, None)), ("", (None, None)),
    (None, (None, None)), (12, (12.0, None)), (-0.5, (-0.5, None)), ("1e3", (1000.0, None)),
])
def test_coordinates_that_parse(text: object, expected: tuple[float | None, None]) -> None:
    assert parse_coordinate(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("-0,17", "decimal comma; write it with a point, e.g. -0.17"),
    ("51°36'N", "write decimal degrees, e.g. 51.6123"),
    ("NaN", "'NaN' is not a number"),
    ("-inf", "'-inf' is not a number"),
    ("1e308", "far too large to be a coordinate"),
    ("10000001", "far too large to be a coordinate"),
    ("51.6.1", "is not a number; give a decimal coordinate"),
    ("1" * 41, "is too long to be a coordinate"),
    (float("inf"), "is not a finite number"),
])
def test_coordinates_refused_with_the_reason(text: object, reason: str) -> None:
    value, why = parse_coordinate(text)
    assert value is None and why is not None and reason in why


@given(st.integers(-999, 999), st.integers(0, 99_999))
def test_a_decimal_comma_is_named_and_the_point_form_suggested(whole: int, fraction: int) -> None:
    value, why = parse_coordinate(f"{whole},{fraction}")
    assert value is None and why is not None
    assert f"e.g. {whole}.{fraction}" in why


def test_real_barnet_venues_pass_and_their_mistakes_are_named() -> None:
    region = region_of(_borough())
    venues = _venues()
    assert len(venues) == 90
    for name, lon, lat in venues:
        assert check_lonlat(lon, lat, region=region) is None, name
        assert "look swapped" in (check_lonlat(lat, lon, region=region) or ""), name
    x, y = to_metres(np.array([v[1] for v in venues]), np.array([v[2] for v in venues]))
    for easting, northing in zip(x.tolist(), y.tolist()):
        assert "British National Grid eastings and northings" in (check_lonlat(easting, northing, region=region) or "")
        assert check_grid(easting, northing) is None


@pytest.mark.parametrize("lon, lat, reason", [
    (0, 0, "(0, 0) is in the Atlantic Ocean"),
    (200, 95, "(200, 95) is not a longitude/latitude: longitude runs -180 to 180"),
    (-181, 51.6, "(-181, 51.6) is not a longitude/latitude"),
    (522235, 190317, "(522235, 190317) look like British National Grid eastings and northings"),
])
def test_impossible_longitude_latitude_pairs(lon: float, lat: float, reason: str) -> None:
    assert reason in (check_lonlat(lon, lat, region=GB_REGION) or "")


@pytest.mark.parametrize("easting, northing, reason", [
    (-0.2, 51.6, "look like longitude and latitude, not eastings and northings"),
    (800_000, 100, "outside the British National Grid (eastings 0–700000, northings 0–1300000)"),
    (100, 1_400_000, "outside the British National Grid"),
])
def test_impossible_grid_pairs(easting: float, northing: float, reason: str) -> None:
    assert reason in (check_grid(easting, northing) or "")


def test_grid_metres_convert_to_degrees() -> None:
    lon, lat = grid_to_lonlat(400_000, -100_000)
    assert abs(lon - -2.0) < 0.01 and abs(lat - 49.0) < 0.01
    lon, lat = grid_to_lonlat(522_235, 190_317)
    assert abs(lon - -0.2392) < 0.005 and abs(lat - 51.5967) < 0.005


@given(st.floats(BARNET_BOX[0], BARNET_BOX[2]), st.floats(BARNET_BOX[1], BARNET_BOX[3]))
def test_degrees_to_metres_and_back_agree_within_a_centimetre(lon: float, lat: float) -> None:
    x, y = to_metres(np.array([lon]), np.array([lat]))
    back = grid_to_lonlat(float(x[0]), float(y[0]))
    assert _haversine_metres(lon, lat, *back) < 0.01


def test_the_expected_region_is_the_outline_plus_a_margin() -> None:
    assert region_of(None) == GB_REGION
    assert region_of(shapely.Polygon()) == GB_REGION
    assert region_of(shapely.box(0, 50, 1, 51)) == pytest.approx((-0.2, 49.8, 1.2, 51.2))
    minx, miny, maxx, maxy = region_of(_borough())
    assert minx < BARNET_BOX[0] - 0.1 and maxx > BARNET_BOX[2] + 0.1
    assert miny < BARNET_BOX[1] - 0.1 and maxy > BARNET_BOX[3] + 0.1


def test_cells_are_located_in_the_declared_system() -> None:
    region = (-0.5, 51.35, 0.1, 51.9)
    lonlat = locate_cells("-0.2009637", "51.6536034", x_name="longitude", y_name="latitude", system="lonlat",
                          region=region)
    assert (lonlat.lon, lonlat.lat, lonlat.issues) == (-0.2009637, 51.6536034, ())
    auto_small = locate_cells("-0.2", "51.6", x_name="x", y_name="y", system="auto", region=region)
    assert (auto_small.lon, auto_small.lat) == (-0.2, 51.6)
    grid = locate_cells("522235", "190317", x_name="x", y_name="y", system="auto", region=region)
    assert grid.lon is not None and abs(grid.lon - -0.2392) < 0.005
    swapped = locate_cells("190317", "522235", x_name="easting", y_name="northing", system="grid", region=region)
    assert swapped.issues == (("easting/northing", "easting 190317 and northing 522235 look swapped: swap the two "
                                                   "columns", "error"),)
    half = locate_cells("", "51.6", x_name="longitude", y_name="latitude", system="lonlat", region=region)
    assert half.issues == (("longitude", "blank while latitude has a value: give both coordinates or neither",
                            "error"),)
    both_bad = locate_cells("x", "y", x_name="lon", y_name="lat", system="lonlat", region=region)
    assert [i[0] for i in both_bad.issues] == ["lon", "lat"]
    assert locate_cells(None, "", x_name="lon", y_name="lat", system="lonlat", region=region).issues == ()


# --- geometries ------------------------------------------------------------------------------------


def test_geometries_are_located_and_repairs_said() -> None:
    region = GB_REGION
    assert locate_geometry(None, declared=None, region=region) == locate_geometry(shapely.Point(), declared=None,
                                                                                region=region)
    point = locate_geometry(shapely.Point(-0.1778995, 51.6134613), declared=None, region=region)
    assert (point.lon, point.lat, point.issues) == (-0.1778995, 51.6134613, ())
    single = locate_geometry(shapely.MultiPoint([(-0.17, 51.6)]), declared=None, region=region)
    assert (single.lon, single.lat) == (-0.17, 51.6) and single.issues[0][2] == "repaired"
    two = locate_geometry(shapely.MultiPoint([(-0.17, 51.6), (-0.18, 51.6)]), declared=None, region=region)
    assert two.lon is None and "one feature holds 2 points" in two.issues[0][1]
    line = locate_geometry(shapely.LineString([(-0.17, 51.6), (-0.18, 51.61)]), declared=None, region=region)
    assert "found a LineString" in line.issues[0][1] and line.issues[0][2] == "error"
    square = shapely.box(-0.18, 51.61, -0.17, 51.62)
    inside = locate_geometry(square, declared=None, region=region)
    assert square.contains(shapely.Point(inside.lon, inside.lat))
    assert [i[2] for i in inside.issues] == ["repaired"]


def test_an_invalid_polygon_is_repaired_and_the_reason_named() -> None:
    bow_tie = shapely.Polygon([(-0.18, 51.61), (-0.17, 51.62), (-0.17, 51.61), (-0.18, 51.62)])
    found = locate_geometry(bow_tie, declared=None, region=GB_REGION)
    reasons = [i[1] for i in found.issues]
    assert "Self-intersection" in reasons[0] and "it was repaired" in reasons[0]
    assert shapely.make_valid(bow_tie).covers(shapely.Point(found.lon, found.lat))


def test_projected_geometries_are_placed_with_the_declared_crs() -> None:
    bng = pyproj.CRS.from_epsg(27700)
    placed = locate_geometry(shapely.Point(522235, 190317), declared=bng, region=GB_REGION)
    assert placed.lon is not None and abs(placed.lon - -0.2392) < 0.005
    degrees_as_metres = locate_geometry(shapely.Point(-0.2, 51.6), declared=bng, region=GB_REGION)
    assert "look like longitude and latitude" in degrees_as_metres.issues[0][1]
    undeclared = locate_geometry(shapely.Point(522235, 190317), declared=None, region=GB_REGION)
    assert "declare the file's CRS (EPSG:27700)" in undeclared.issues[0][1]
    nan = locate_geometry(shapely.Point(float("nan"), 51.6), declared=None, region=GB_REGION)
    assert "not finite numbers" in nan.issues[0][1]


# --- single values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("=SUM(A1)", True), ("+44 20 7946 0000", True), ("-abc", True), ("@user", True), ("\tx", True),
    ("\rx", True), ("-5", False), ("+1.5e3", False), ("hello", False), ("a=b", False), (5, False), (None, False),
])
def test_formula_like_cells(value: object, expected: bool) -> None:
    assert formula_like(value) is expected


def test_formulas_are_neutralised_for_export_and_other_values_kept() -> None:
    assert neutralise_formula('=HYPERLINK("http://x.example")') == '\'=HYPERLINK("http://x.example")'
    assert neutralise_formula("-12.5") == "-12.5"
    assert neutralise_formula(3) == 3


@given(st.text(alphabet="=+-@", min_size=1, max_size=1), st.text(alphabet="abcXYZ(", min_size=1, max_size=10))
def test_text_starting_like_a_formula_always_gets_an_apostrophe(start: str, rest: str) -> None:
    assert neutralise_formula(start + rest) == "'" + start + rest


@given(st.text(alphabet=st.characters(blacklist_characters="=+-@\t\r"), min_size=1, max_size=1).flatmap(
    lambda first: st.text(max_size=30).map(lambda rest: first + rest)))
def test_text_not_starting_like_a_formula_is_unchanged(text: str) -> None:
    assert neutralise_formula(text) == text


def test_markup_and_control_characters() -> None:
    assert has_markup('<script>alert("x")</script>') and has_markup("<img src=x onerror=alert(1)>")
    assert not has_markup("3 < 4") and not has_markup("fish & chips") and not has_markup(7)
    assert strip_control("a\x00b\x07c\td\ne\x7f") == "abc\td\ne"
    cleaned, changed = deep_clean({"a": ["x\x00", 1.5, float("nan")], "b\x01": {"c": "ok"}})
    assert (cleaned, changed) == ({"a": ["x", 1.5, None], "b": {"c": "ok"}}, True)
    assert deep_clean({"a": [1, "two"]}) == ({"a": [1, "two"]}, False)


@pytest.mark.parametrize("value, expected", [
    ("Museum", ("Museum", None)), ("  urban   SPORT ", ("Urban sport", None)), ("nightlife", ("Nightlife", None)),
    ("Musuem", (None, "Museum")), ("Culturr", (None, "Culture")), ("Swimming pool", (None, None)),
])
def test_categories_match_or_suggest_the_closest(value: str, expected: tuple[str | None, str | None]) -> None:
    assert match_category(value, CATEGORIES) == expected


@pytest.mark.parametrize("value, expected", [
    (" 1084 418 ", "1084418"), (1084418.0, "1084418"), (1084418, "1084418"), ("sc012345", "SC012345"),
    (None, None), ("  ", None),
])
def test_identifiers_are_normalised(value: object, expected: str | None) -> None:
    assert normalise_identifier(value) == expected


@pytest.mark.parametrize("kind, value, expected", [
    ("charity_number", "1084418", True), ("charity_number", "1084418-1", True), ("charity_number", "SC012345", True),
    ("charity_number", "NI12345", True), ("charity_number", "NIC123456", True), ("charity_number", "12345", False),
    ("charity_number", "ABC", False), ("company_number", "01234567", True), ("company_number", "1234567", True),
    ("company_number", "SC123456", True), ("company_number", "ABC12345", False),
    ("company_number", "123456789", False),
])
def test_identifier_shapes(kind: str, value: str, expected: bool) -> None:
    assert identifier_format_ok(kind, value) is expected


@pytest.mark.parametrize("value, expected", [
    ("2025-03-31", datetime(2025, 3, 31, tzinfo=UTC)), ("31/03/2025", datetime(2025, 3, 31, tzinfo=UTC)),
    ("2025-03-31T23:10:00Z", datetime(2025, 3, 31, tzinfo=UTC)), ("", None), (None, None),
])
def test_assured_dates_that_parse(value: object, expected: datetime | None) -> None:
    assert parse_assured(value, today=TODAY) == (expected, None)


@pytest.mark.parametrize("value, reason", [
    ("yesterday", "'yesterday' is not a date; write it as YYYY-MM-DD"),
    ("2026-06-02", "2026-06-02 is in the future"),
    ("31/02/2025", "is not a date"),
])
def test_assured_dates_refused_with_the_reason(value: str, reason: str) -> None:
    when, why = parse_assured(value, today=TODAY)
    assert when is None and why is not None and reason in why


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a": [1, "é"], "b": 1}'
    assert canonical_json({"a": {"y": 1, "x": 2}}) == canonical_json({"a": {"x": 2, "y": 1}})


# --- columns and whole tables ----------------------------------------------------------------------


def test_columns_are_recognised_by_their_usual_names() -> None:
    table = _table([{}], ["Venue_ID", "Name", "Type", "Easting", "Northing", "Postcode", "Charity_No", "Organisation"])
    assert map_columns(table, Rules()) == {
        "name": "Name", "category": "Type", "postcode": "Postcode", "organisation": "Organisation",
        "charity_number": "Charity_No", "key": "Venue_ID", "x": "Easting", "y": "Northing", "system": "grid",
    }
    keyed = _table([{}], ["site", "name", "lon", "lat"])
    assert map_columns(keyed, Rules(key_field="Site")) == {"name": "name", "key": "site", "x": "lon", "y": "lat",
                                                           "system": "lonlat"}


def test_a_file_that_cannot_be_used_is_refused_with_every_reason() -> None:
    table = _table([{"title2": "x", "longitude": -0.17, "latitude": 51.6}])
    rules = Rules(categories=CATEGORIES, key_field="venue_id", required_fields=("opening_hours",))
    with pytest.raises(LoadError) as info:
        check_table(table, rules, _context(), source="v.csv")
    reasons = [p.reason for p in info.value.problems]
    assert len(reasons) == 4
    assert "there is no 'name' column" in reasons[0]
    assert "identifies records by the column 'venue_id'" in reasons[1]
    assert "requires a column 'opening_hours'" in reasons[2]
    assert "needs a 'category' column" in reasons[3]


def test_names_categories_and_dates_are_checked_row_by_row() -> None:
    rows = [
        {"id": "A", "name": "The Bull Theatre", "category": " culture ", "longitude": -0.2009637,
         "latitude": 51.6536034, "last_assured": "2025-01-31"},
        {"id": "B", "name": None, "category": "Culture", "longitude": -0.1778995, "latitude": 51.6134613},
        {"id": "C", "name": "x" * 301, "category": "Culture", "longitude": -0.163686, "latitude": 51.588503},
        {"id": "D", "name": "MoDDA", "category": "Musuem", "longitude": -0.2403401, "latitude": 51.5956141},
        {"id": "E", "name": "Lord Kitchener", "category": None, "longitude": -0.1712547, "latitude": 51.6499249},
        {"id": "F", "name": "Phoenix", "category": "Culture", "longitude": -0.163686, "latitude": 51.598503,
         "last_assured": "2027-01-01"},
    ]
    result = check_table(_table(rows), Rules(categories=CATEGORIES), _context())
    errors = {(i.row, i.column): i.reason for i in result.errors}
    assert errors[(2, "name")].startswith("missing required field 'name'")
    assert errors[(3, "name")] == "the name is 301 characters; at most 300 are allowed"
    assert errors[(4, "category")].startswith("unknown category 'Musuem'. Did you mean 'Museum'?")
    assert errors[(5, "category")] == "missing category: choose one of the layer's categories"
    assert errors[(6, "last_assured")].startswith("2027-01-01 is in the future")
    assert result.rejected_rows == [2, 3, 4, 5, 6]
    assert [(c.key, c.category, c.last_assured) for c in result.candidates] == [
        ("A", "Culture", datetime(2025, 1, 31, tzinfo=UTC))]
    repaired = [i for i in result.issues if i.row == 1]
    assert [(i.severity, i.reason) for i in repaired] == [("repaired", "category 'culture' read as 'Culture'")]
    assert result.protected_keys == {"B", "C", "D", "E", "F"}


def test_duplicates_in_the_file_and_against_existing_records() -> None:
    rows = [
        {"id": "A", "name": "The Stephens Collection", "longitude": -0.1929961, "latitude": 51.5961004},
        {"id": "B", "name": "Next door", "longitude": -0.1929961, "latitude": 51.5962004},
        {"id": "A", "name": "Again", "longitude": -0.2009637, "latitude": 51.6536034},
        {"name": "No id", "longitude": -0.1, "latitude": 51.6},
        {"name": "No  ID ", "longitude": -0.15, "latitude": 51.62},
    ]
    artsdepot = ExistingRecord("X", "artsdepot", -0.1778995, 51.6134613)
    rows.append({"id": "N", "name": "New arts centre", "longitude": -0.1779500, "latitude": 51.6134613})
    result = check_table(_table(rows), Rules(), _context(existing=(artsdepot,)))
    reasons = {(i.row, i.severity): i.reason for i in result.issues}
    metres = round(_haversine_metres(-0.1929961, 51.5961004, -0.1929961, 51.5962004))
    assert metres == 11
    assert reasons[(2, "warning")] == (f"within {metres} m of row 1 ('The Stephens Collection'): check it is not the "
                                       "same place twice")
    assert reasons[(3, "error")].startswith("the same id as row 1")
    assert reasons[(5, "error")].startswith("the same name (and no id) as row 4")
    existing_metres = round(_haversine_metres(-0.1779500, 51.6134613, -0.1778995, 51.6134613))
    assert reasons[(6, "warning")].startswith(f"within {existing_metres} m of the existing record 'artsdepot' (id X)")
    assert result.rejected_rows == [3, 5]


def test_charity_numbers_may_not_belong_to_two_organisations() -> None:
    existing = (
        ExistingRecord("X", "artsdepot", None, None, identifiers={"charity_number": "1084418"},
                       organisation="Artsdepot Trust"),
        ExistingRecord("Y", "Finchley Youth", None, None, identifiers={"charity_number": "1100000"}),
    )
    rows = [
        {"id": "A", "name": "Branch", "organisation": "Artsdepot  trust", "charity_number": "1084 418",
         "longitude": -0.19, "latitude": 51.64},
        {"id": "B", "name": "Another", "charity_number": "1100000", "longitude": -0.2, "latitude": 51.65},
        {"id": "C", "name": "Third", "charity_number": "5555555", "longitude": -0.18, "latitude": 51.63},
        {"id": "D", "name": "Fourth", "charity_number": "5555555", "longitude": -0.17, "latitude": 51.62},
        {"id": "E", "name": "Odd", "charity_number": "12", "longitude": -0.16, "latitude": 51.61},
    ]
    result = check_table(_table(rows), Rules(), _context(existing=existing))
    reasons = {(i.row, i.severity): i.reason for i in result.issues}
    assert (1, "error") not in reasons
    assert reasons[(2, "error")].startswith("charity number 1100000 already belongs to the record 'Finchley Youth' "
                                            "(id Y)")
    assert reasons[(4, "error")].startswith("charity number 5555555 is also on row 3 under another name")
    assert reasons[(5, "warning")] == "'12' does not look like a charity number; check it"
    assert result.rejected_rows == [2, 4]
    unchecked = check_table(_table(rows), Rules(unique_identifiers=False), _context(existing=existing))
    assert unchecked.rejected_rows == []


def test_places_outside_the_council_and_postcodes() -> None:
    borough = _borough()
    rows = [
        {"id": "A", "name": "artsdepot", "postcode": "N12 0GA", "longitude": -0.1778995, "latitude": 51.6134613},
        {"id": "B", "name": "Tate Modern", "postcode": None, "longitude": -0.0994, "latitude": 51.5076},
        {"id": "C", "name": "By postcode", "postcode": "n12 0ga", "longitude": None, "latitude": None},
        {"id": "D", "name": "Unknown postcode", "postcode": "ZZ1 1ZZ", "longitude": None, "latitude": None},
    ]
    context = _context(authority=borough, postcodes={"N12 0GA": (-0.1779, 51.6135)})
    result = check_table(_table(rows), Rules(), context)
    by_key = {c.key: c for c in result.candidates}
    assert by_key["A"].inside_authority is True and by_key["B"].inside_authority is False
    assert (by_key["C"].lon, by_key["C"].lat, by_key["C"].inside_authority) == (-0.1779, 51.6135, True)
    reasons = {(i.row, i.severity): i.reason for i in result.issues}
    assert reasons[(2, "warning")].startswith("(-0.09940, 51.50760) is outside the council's area")
    assert reasons[(3, "note")] == "placed at the centre of postcode n12 0ga"
    assert reasons[(4, "error")].startswith("postcode 'ZZ1 1ZZ' is not in the postcode lookup")
    assert result.rejected_rows == [4]


def test_text_hazards_are_kept_as_typed_and_flagged() -> None:
    rows = [{"id": "A", "name": '=HYPERLINK("http://x.example")', "notes": "<b>bold</b>", "longitude": -0.2,
             "latitude": 51.6, "extra": "tab\tkept\x00"}]
    result = check_table(_table(rows), Rules(), _context())
    severities = {(i.column, i.severity) for i in result.issues}
    assert severities == {("name", "warning"), ("notes", "note"), ("extra", "repaired")}
    candidate = result.candidates[0]
    assert candidate.name == '=HYPERLINK("http://x.example")'
    assert candidate.properties == {"notes": "<b>bold</b>", "extra": "tab\tkept"}


# --- properties of whole tables --------------------------------------------------------------------


_ROW = st.fixed_dictionaries({
    "name": st.one_of(st.none(), st.text(alphabet="abc =", min_size=1, max_size=8)),
    "category": st.sampled_from([None, "Culture", "culture", "Musuem", "Food"]),
    "longitude": st.one_of(st.none(), st.floats(-1, 1), st.sampled_from(["x", "-0,2", "522235"])),
    "latitude": st.one_of(st.none(), st.floats(51, 52), st.sampled_from(["nan", "190317"])),
})


@given(st.lists(_ROW, min_size=1, max_size=12))
def test_every_row_is_either_kept_or_rejected_and_errors_explain_rejections(rows: list[dict[str, object]]) -> None:
    table = _table([{"id": f"R{i}"} | r for i, r in enumerate(rows)], ["id", "name", "category", "longitude",
                                                                         "latitude"])
    result = check_table(table, Rules(categories=CATEGORIES, duplicate_metres=0), _context())
    kept = {c.row for c in result.candidates}
    rejected = set(result.rejected_rows)
    assert result.rows_read == len(rows)
    assert kept.isdisjoint(rejected) and kept | rejected <= set(range(1, len(rows) + 1))
    assert rejected == {i.row for i in result.errors}
    for candidate in result.candidates:
        source = rows[candidate.row - 1]
        assert candidate.name is not None and candidate.category in CATEGORIES
        assert (candidate.lon is None) == (source["longitude"] is None)
    nameless = {i + 1 for i, r in enumerate(rows) if r["name"] is None}
    assert nameless <= rejected


@given(st.lists(st.tuples(st.floats(BARNET_BOX[0], BARNET_BOX[2]), st.floats(BARNET_BOX[1], BARNET_BOX[3])),
                min_size=1, max_size=15))
def test_distinct_places_inside_barnet_all_pass(points: list[tuple[float, float]]) -> None:
    rows = [{"id": f"P{i}", "name": f"Place {i}", "longitude": lon, "latitude": lat} for i, (lon, lat) in
            enumerate(points)]
    result = check_table(_table(rows), Rules(duplicate_metres=0), _context())
    assert result.errors == []
    assert [(c.key, c.lon, c.lat) for c in result.candidates] == [(r["id"], r["longitude"], r["latitude"])
                                                                   for r in rows]
