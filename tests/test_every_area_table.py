"""The every-area table (``/api/table/<boundary>.<fmt>`` and ``insight profiles``) holds every figure of a profile.

Expected values come from the profile JSON (for "the table says what the profile says"), from the raw
sample files (police.uk points, Census 2021, the LSOA-ward lookup, the GLA ward profiles) and from an
overlay of the raw boundary files, never from the code under test.
"""
from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook

from insight.cli import main
from insight.cli.engines import close_engines
from insight.layers import ASSET_KINDS
from insight.web import create_app
from insight.web.context import context_of
from tests.conftest import DATA_DIR

CENSUS = pd.read_csv(DATA_DIR / "indicators" / "census2021_residents_age6_lsoa21.csv")
RESIDENTS = CENSUS.groupby("lsoa21_code")["usual_residents"].sum()
LOOKUP = pd.read_csv(DATA_DIR / "indicators" / "lookup_lsoa21_ward2022.csv")
GLA = pd.read_csv(DATA_DIR / "indicators" / "gla_ward_profiles_2015.csv").set_index("New code")
WARDS = ("E05013630", "E05013628")
QUERY = {"layer": "crime_2016_2018", "period": "2017-07:2018-06"}
FORMATS = ("csv", "xlsx", "json", "gpkg", "metadata.csv")
GLA_PREFIX = "indicator:gla_ward_profiles_2015:"


@pytest.fixture(scope="module")
def client(sample_store) -> Iterator[Any]:
    app = create_app(sample_store.settings)
    with app.server.test_client() as c:
        yield c
    context_of(app.server).close()


@pytest.fixture(scope="module")
def wards_json(client) -> dict[str, Any]:
    response = client.get("/api/table/wards_2022.json", query_string=QUERY)
    assert response.status_code == 200, response.data[:300]
    return json.loads(response.data)


def _rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in body["areas"]}


def _same(a: Any, b: Any) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _profile_values(client, code: str) -> dict[str, Any]:
    body = client.get(f"/api/profile/wards_2022/{code}.json", query_string=QUERY).get_json()
    return {f["metric"]: f["value"] for f in body["figures"]}


def _differences(table: pd.DataFrame, profiles: dict[str, dict[str, Any]]) -> list[str]:
    rows = table.set_index("code")
    wrong = []
    for code, figures in profiles.items():
        for metric, value in figures.items():
            if metric not in rows.columns:
                wrong.append(f"{code}: no column {metric}")
            elif not _same(rows.loc[code, metric], value):
                wrong.append(f"{code}: {metric} {rows.loc[code, metric]} != {value}")
    return wrong


@pytest.fixture(scope="module")
def profiles(client) -> dict[str, dict[str, Any]]:
    found = {code: _profile_values(client, code) for code in WARDS}
    assert all(any(m.startswith("perception:") for m in f) for f in found.values())
    return found


def test_every_format_holds_every_figure_of_the_profile(client, wards_json, profiles, tmp_path: Path) -> None:
    assert _differences(pd.DataFrame(wards_json["areas"]), profiles) == []
    csv = pd.read_csv(io.BytesIO(client.get("/api/table/wards_2022.csv", query_string=QUERY).data))
    assert _differences(csv, profiles) == []
    wb = load_workbook(io.BytesIO(client.get("/api/table/wards_2022.xlsx", query_string=QUERY).data))
    sheet = list(wb["Areas"].values)
    assert _differences(pd.DataFrame(sheet[1:], columns=sheet[0]), profiles) == []
    path = tmp_path / "wards.gpkg"
    path.write_bytes(client.get("/api/table/wards_2022.gpkg", query_string=QUERY).data)
    assert {name for name, _ in pyogrio.list_layers(path)} == {"areas", "about", "columns"}
    assert _differences(pd.DataFrame(gpd.read_file(path, layer="areas").drop(columns="geometry")), profiles) == []


def test_the_cli_table_holds_every_figure_of_the_profile(sample_store, profiles, capsys, tmp_path: Path) -> None:
    out = tmp_path / "wards.csv"
    try:
        code = main(["--database-url", sample_store.settings.resolved_database_url, "profiles", "--boundary",
                     "wards_2022", "--layer", QUERY["layer"], "--period", QUERY["period"], "--format", "csv",
                     "-o", str(out)])
    finally:
        close_engines()
    assert code == 0, capsys.readouterr().err
    assert _differences(pd.read_csv(out), profiles) == []
    capsys.readouterr()


def test_every_crime_category_has_a_count_and_a_rate(wards_json) -> None:
    raw = pd.read_csv(DATA_DIR / "points" / "police_api_barnet_2016-01_2018-06.csv.gz")
    raw = raw[(raw["month"] >= "2017-07") & (raw["month"] <= "2018-06")]
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
    points = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["longitude"], raw["latitude"]), crs=4326)
    inside = gpd.sjoin(points, wards[["ONSWardCode", "geometry"]], predicate="intersects")
    expected = inside.groupby(["ONSWardCode", "category"]).size()
    rows = _rows(wards_json)
    code = WARDS[0]
    residents = RESIDENTS[LOOKUP.loc[LOOKUP["ward24_code"] == code, "lsoa21_code"]].sum()
    for category in sorted(set(inside["category"])):
        assert {f"count:{category}", f"rate:{category}"} <= set(rows[code]), category
        count = int(expected.get((code, category), 0))
        assert rows[code][f"count:{category}"] == count, category
        assert rows[code][f"rate:{category}"] == pytest.approx(count / residents * 1000), category


def test_asset_kinds_are_counted_and_per_1000_residents(wards_json) -> None:
    columns = {c["id"]: c for c in wards_json["columns"]}
    for code, row in _rows(wards_json).items():
        residents = RESIDENTS[LOOKUP.loc[LOOKUP["ward24_code"] == code, "lsoa21_code"]].sum()
        for kind in ASSET_KINDS:
            assert columns[f"kind_rate:{kind}"]["unit"] == "per 1,000"
            assert row[f"kind_rate:{kind}"] == pytest.approx(row[f"kind:{kind}"] / residents * 1000)


def test_survey_shares_appear_only_where_the_survey_places_respondents(client, wards_json) -> None:
    shares = [c for c in wards_json["columns"] if c["id"].startswith("perception:") and c["id"].endswith(":share")]
    assert shares and all("ILLUSTRATIVE" in c["caveat"] and "ILLUSTRATIVE" in c["label"] for c in shares)
    old = client.get("/api/table/wards_2011.json").get_json()
    assert not any(c["id"].startswith("perception:") for c in old["columns"])


def test_gla_ward_profiles_are_published_for_the_old_wards_with_vintage_and_caveat(client) -> None:
    body = client.get("/api/table/wards_2011.json").get_json()
    columns = {c["id"]: c for c in body["columns"]}
    bame = columns[f"{GLA_PREFIX}pct_bame"]
    assert bame["period"] == "2011" and bame["vintage"] == "wards 2002-2022" and bame["caveat"]
    assert "Greater London Authority" in bame["source"] and "as published" in bame["method"]
    rows = _rows(body)
    assert set(rows) == set(GLA.index)
    for code, row in rows.items():
        assert row[f"{GLA_PREFIX}pct_bame"] == pytest.approx(GLA.loc[code, "% BAME - 2011"])
        assert row[f"{GLA_PREFIX}population"] == pytest.approx(GLA.loc[code, "Population - 2015"])


def _shared_residents() -> pd.DataFrame:
    """Residents each 2022 ward shares with each old ward: LSOAs split over old wards by area, whole to new ones."""
    lsoa = gpd.read_file(DATA_DIR / "boundaries" / "lsoa_2021_bng.geojson")[["LSOA21CD", "geometry"]]
    old = gpd.read_file(DATA_DIR / "boundaries" / "wards_2011.geojson")[["WD13CD", "geometry"]].to_crs(27700)
    lsoa["whole"] = lsoa.area
    pieces = gpd.overlay(lsoa, old, how="intersection", keep_geom_type=True)
    pieces["fraction"] = pieces.area / pieces["whole"]
    covered = pieces.groupby("LSOA21CD")["fraction"].transform("sum")
    pieces.loc[covered >= 0.9, "fraction"] /= covered[covered >= 0.9]
    pieces["residents"] = pieces["fraction"] * pieces["LSOA21CD"].map(RESIDENTS)
    pieces["new"] = pieces["LSOA21CD"].map(LOOKUP.set_index("lsoa21_code")["ward24_code"])
    return pieces.groupby(["WD13CD", "new"])["residents"].sum().unstack(fill_value=0.0)


def test_gla_ward_profiles_are_carried_to_the_2022_wards_by_residents(wards_json) -> None:
    columns = {c["id"]: c for c in wards_json["columns"]}
    for key in (f"{GLA_PREFIX}pct_bame", f"{GLA_PREFIX}population"):
        assert "carried from the Wards (2002 to May 2022)" in columns[key]["method"]
        assert "Census 2021 residents" in columns[key]["method"] and "ESTIMATED" in columns[key]["caveat"]
    assert f"{GLA_PREFIX}area_square_kilometres" not in columns
    shared = _shared_residents()
    row = _rows(wards_json)["E05013630"]
    with_new = shared["E05013630"]
    bame = GLA.loc[with_new.index, "% BAME - 2011"]
    assert row[f"{GLA_PREFIX}pct_bame"] == pytest.approx((bame * with_new).sum() / with_new.sum(), rel=1e-4)
    people = GLA.loc[shared.index, "Population - 2015"] * with_new / shared.sum(axis=1)
    assert row[f"{GLA_PREFIX}population"] == pytest.approx(people.sum(), rel=1e-4)


def test_the_xlsx_metadata_sheet_has_one_row_per_column(client) -> None:
    wb = load_workbook(io.BytesIO(client.get("/api/table/wards_2022.xlsx", query_string=QUERY).data))
    header = [c.value for c in next(wb["Areas"].iter_rows(max_row=1))]
    meta = list(wb["metadata"].values)
    assert list(meta[0]) == ["id", "section", "label", "unit", "source", "period", "vintage", "method", "caveat"]
    assert [r[0] for r in meta[1:]] == header
    assert all(r[2] and r[4] for r in meta[1:])
    csv = pd.read_csv(io.BytesIO(client.get("/api/table/wards_2022.metadata.csv", query_string=QUERY).data))
    assert csv["id"].tolist() == header


def test_indicators_can_be_chosen_or_left_out(client) -> None:
    none = client.get("/api/table/wards_2011.json?indicators=none").get_json()
    assert not any(c["id"].startswith("indicator:") for c in none["columns"])
    one = client.get("/api/table/wards_2011.json?indicators=pct_bame").get_json()
    assert [c["id"] for c in one["columns"] if c["id"].startswith("indicator:")] == [f"{GLA_PREFIX}pct_bame"]
    unknown = client.get("/api/table/wards_2011.json?indicators=pct_bame,no_such_thing")
    assert unknown.status_code == 400 and "no_such_thing" in unknown.get_json()["error"]


def test_every_boundary_answers_in_every_format(client) -> None:
    layers = client.get("/api/layers.json").get_json()["layers"]
    boundaries = [la["name"] for la in layers if la["kind"] == "boundary"]
    assert len(boundaries) >= 5
    starts = {"csv": b"code,name", "metadata.csv": b"id,section", "xlsx": b"PK", "json": b"{", "gpkg": b"SQLite"}
    wrong = []
    for boundary in boundaries:
        for fmt in FORMATS:
            response = client.get(f"/api/table/{boundary}.{fmt}")
            if response.status_code != 200 or not response.data.startswith(starts[fmt]):
                wrong.append(f"{boundary}.{fmt}: {response.status_code} {response.data[:80]!r}")
    assert wrong == []
    for url, status in (("/api/table/wards_2022.pdf", 400), ("/api/table/nowhere.csv", 404),
                        ("/api/table/wards_2022.csv?period=2018-13:2019-01", 400)):
        response = client.get(url)
        assert response.status_code == status and response.get_json()["error"], url
