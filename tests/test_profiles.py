"""Profiles, ward tables and exports on the real sample, checked against independent computations."""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from shapely.geometry import box

from insight.analysis.export import FORMULA_START, export_profile, export_table, safe_text
from insight.analysis.places import load_places
from insight.analysis.profiles import drawn_boundary, layer_table, parse_period, profile
from insight.cli import main
from insight.geo.apportion import apportion, choose_weights
from insight.store import read_features
from insight.store.points import feature_areas
from tests.conftest import DATA_DIR, FIXTURES

CENSUS = pd.read_csv(DATA_DIR / "indicators" / "census2021_residents_age6_lsoa21.csv")
LOOKUP = pd.read_csv(DATA_DIR / "indicators" / "lookup_lsoa21_ward2022.csv")
CRIME = pd.read_csv(DATA_DIR / "points" / "police_api_barnet_2016-01_2018-06.csv.gz")
WARDS_2022 = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")


@pytest.fixture(scope="module")
def places(sample_store):
    return load_places(sample_store.engine)


def _independent_ward_count(code: str, start: str, end: str) -> int:
    ward = WARDS_2022[WARDS_2022["ONSWardCode"] == code].geometry.iloc[0]
    rows = CRIME[(CRIME["month"] >= start) & (CRIME["month"] <= end)]
    pts = gpd.GeoSeries(gpd.points_from_xy(rows["longitude"], rows["latitude"]), crs="EPSG:4326")
    return int(pts.intersects(ward).sum())


def test_police_ward_agreement_is_at_least_95_percent(sample_store) -> None:
    tagged = feature_areas(sample_store.engine, "crime_2016_2018", "wards_2011")
    stored = read_features(sample_store.engine, "crime_2016_2018")
    assert tagged["id"].tolist() == stored["id"].tolist()
    queried = CRIME.set_index(CRIME["id"].astype(str)).loc[tagged["source_id"], "query_ward_code_2018"]
    agreement = float((tagged["code"].to_numpy() == queried.to_numpy()).mean())
    assert agreement >= 0.95, f"agreement {agreement:.4f}"


def test_ward_counts_sum_to_the_points_inside_the_wards(places) -> None:
    table = layer_table(places, "wards_2022", "crime_2016_2018", period=parse_period("2017-07:2018-06"))
    rows = CRIME[(CRIME["month"] >= "2017-07") & (CRIME["month"] <= "2018-06")]
    pts = gpd.GeoSeries(gpd.points_from_xy(rows["longitude"], rows["latitude"]), crs="EPSG:4326")
    assert table["count"].sum() == int(pts.intersects(WARDS_2022.geometry.union_all()).sum())
    categories = [c for c in table.columns if c not in ("code", "name", "count", "residents", "rate_per_1000")]
    assert (table[categories].sum(axis=1) == table["count"]).all()


def test_ward_populations_sum_to_the_borough_and_match_census(places) -> None:
    total = CENSUS["usual_residents"].sum()
    for boundary in ("wards_2022", "wards_2011", "lsoa_2021", "borough", "constituencies_2010"):
        table = layer_table(places, boundary, "crime_2024_04")
        assert table["residents"].sum() == pytest.approx(total, abs=len(table)), boundary
    ward = LOOKUP[LOOKUP["ward24_name"] == "Burnt Oak"]
    expected = CENSUS[CENSUS["lsoa21_code"].isin(ward["lsoa21_code"])]["usual_residents"].sum()
    table = layer_table(places, "wards_2022", "crime_2024_04").set_index("name")
    assert table.loc["Burnt Oak", "residents"] == expected


def test_every_figure_says_where_it_comes_from(places) -> None:
    result = profile(places, "town_centres", "Edgware", comparator="average")
    for col in ("source", "period", "boundary_vintage", "method"):
        assert result.figures[col].astype(str).str.len().gt(0).all(), col
    methods = set(result.figures.loc[result.figures["section"] == "Population", "method"])
    assert any("areal apportionment" in m for m in methods)
    ward = profile(places, "wards_2022", "Burnt Oak")
    assert "nesting lookup" in set(ward.figures.loc[ward.figures["metric"] == "residents", "method"])


def test_comparators_are_chosen_by_the_user(places) -> None:
    borough = profile(places, "wards_2022", "Burnt Oak", comparator="borough")
    average = profile(places, "wards_2022", "Burnt Oak", comparator="average")
    other = profile(places, "wards_2022", "Burnt Oak", comparator="wards_2022:Colindale North")
    get = lambda p: p.figures.set_index("metric").loc["residents", "comparator_value"]  # noqa: E731
    table = layer_table(places, "wards_2022", "crime_2024_04").set_index("name")
    assert get(borough) == CENSUS["usual_residents"].sum()
    assert get(average) == pytest.approx(table["residents"].mean())
    assert get(other) == table.loc["Colindale North", "residents"]


def test_a_drawn_area_is_compared_with_the_average_ward_of_a_named_layer(places) -> None:
    drawn = drawn_boundary(box(-0.2000, 51.6000, -0.1990, 51.6005), name="Tiny")
    result = profile(places, drawn, "drawn", comparator="average:wards_2022")
    residents = result.figures.set_index("metric").loc["residents"]
    assert residents["comparator_value"] == pytest.approx(CENSUS["usual_residents"].sum() / 24, abs=1)
    assert result.comparator == "average of the 24 areas in " + places.boundary("wards_2022").meta.title
    assert residents["difference"] == pytest.approx(residents["value"] - residents["comparator_value"])


def test_xlsx_profile_figures_match_independent_counts(places, tmp_path: Path) -> None:
    result = profile(places, "wards_2022", "E05013630", period=parse_period("2017-01:2017-12"))
    path = export_profile(result, places, "xlsx", tmp_path / "p.xlsx")
    wb = load_workbook(path)
    assert {"Population", "Deprivation", "Crime and ASB", "Assets", "Sources and methods"} <= set(wb.sheetnames)
    rows = list(wb["Crime and ASB"].values)
    header = rows[0]
    by_metric = {r[header.index("metric")]: r for r in rows[1:]}
    total = by_metric["points_total"][header.index("value")]
    assert total == _independent_ward_count("E05013630", "2017-01", "2017-12")
    pop = list(wb["Population"].values)
    residents = next(r for r in pop[1:] if r[pop[0].index("metric")] == "residents")[pop[0].index("value")]
    lsoas = LOOKUP[LOOKUP["ward24_code"] == "E05013630"]["lsoa21_code"]
    assert residents == CENSUS[CENSUS["lsoa21_code"].isin(lsoas)]["usual_residents"].sum()
    sources = [r[1] for r in wb["Sources and methods"].values]
    assert any("Open Government Licence" in str(s) or "data.police.uk" in str(s) for s in sources)


def test_geopackage_holds_the_area_its_assets_and_its_crime(places, tmp_path: Path) -> None:
    result = profile(places, "wards_2022", "E05013630", period=parse_period("2017-01:2017-12"))
    path = export_profile(result, places, "gpkg", tmp_path / "p.gpkg")
    import pyogrio

    assert {name for name, _ in pyogrio.list_layers(path)} == {"area", "assets", "crime"}
    crime = gpd.read_file(path, layer="crime")
    assert len(crime) == _independent_ward_count("E05013630", "2017-01", "2017-12")
    assets = gpd.read_file(path, layer="assets")
    ward = WARDS_2022[WARDS_2022["ONSWardCode"] == "E05013630"].geometry.iloc[0]
    schools = gpd.read_file(DATA_DIR / "points" / "schools.geojson")
    assert (assets["layer"] == "schools").sum() == int(schools.intersects(ward).sum())


def test_html_report_is_standalone(places, tmp_path: Path) -> None:
    result = profile(places, "constituencies_2024", "Hendon")
    text = export_profile(result, places, "html", tmp_path / "p.html").read_text(encoding="utf-8")
    assert "<svg" in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text and "<script" not in text


def test_drawn_area_smaller_than_an_lsoa_gets_an_answer_with_bounds(places) -> None:
    tiny = drawn_boundary(box(-0.2000, 51.6000, -0.1990, 51.6005), name="Tiny")
    result = profile(places, tiny, "drawn")
    figures = result.figures.set_index("metric")["value"]
    assert figures["residents_lower"] == 0
    assert 0 < figures["residents"] < figures["residents_upper"]
    note = next(n for n in result.notes if "depending on where in those areas people live" in n)
    assert f"About {figures['residents']:,.0f} residents" in note
    assert f"between {figures['residents_lower']:,.0f} and {figures['residents_upper']:,.0f}" in note


def test_csv_and_json_table_exports(places, tmp_path: Path) -> None:
    table = layer_table(places, "town_centres", "burglary_2010_2023", period=parse_period("2019-01:2019-12"))
    csv = pd.read_csv(export_table(table, "csv", tmp_path / "t.csv"))
    assert list(csv["code"]) == list(table["code"]) and csv["count"].sum() == table["count"].sum()
    data = json.loads(export_table(table, "json", tmp_path / "t.json").read_text())
    assert data["about"]["period"] == "2019-01 to 2019-12" and len(data["areas"]) == 14


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_no_exported_text_can_start_a_formula(text: str) -> None:
    out = safe_text(text)
    assert not str(out).startswith(FORMULA_START)
    assert str(out).lstrip("'") == text.lstrip("'") or str(out) == "'" + text


def test_formula_text_stays_text_in_csv_and_xlsx(tmp_path: Path) -> None:
    table = pd.DataFrame({"code": ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "plain"], "count": [1, 2, 3, 4, -5]})
    csv = (export_table(table, "csv", tmp_path / "f.csv")).read_text()
    assert "'=1+1" in csv and "'+SUM(A1)" in csv and "'-2+3" in csv and "'@cmd" in csv and ",-5" in csv
    ws = load_workbook(export_table(table, "xlsx", tmp_path / "f.xlsx"))["Areas"]
    values = [c.value for c in ws["A"][1:]]
    assert values == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "plain"]
    assert all(c.data_type == "s" for c in ws["A"][1:])
    assert ws["B6"].value == -5


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 5000), min_size=16, max_size=16),
    st.lists(st.floats(0.05, 3.95), min_size=1, max_size=4, unique=True),
)
def test_areal_apportionment_conserves_population_over_a_partition(pops, cuts) -> None:
    small = gpd.GeoDataFrame(
        {"code": [f"s{i}" for i in range(16)]},
        geometry=[box(i % 4, i // 4, i % 4 + 1, i // 4 + 1) for i in range(16)], crs="EPSG:27700",
    ).to_crs("EPSG:4326")
    edges = [0.0, *sorted(cuts), 4.0]
    large = gpd.GeoDataFrame(
        {"code": [f"L{i}" for i in range(len(edges) - 1)]},
        geometry=[box(a, 0, b, 4) for a, b in zip(edges, edges[1:])], crs="EPSG:27700",
    ).to_crs("EPSG:4326")
    weights, method = choose_weights(small, large)
    values = pd.DataFrame({"usual_residents_total": np.array(pops, dtype=float)})
    out = apportion(values, weights, len(large))
    assert out["usual_residents_total"].sum() == pytest.approx(sum(pops), rel=1e-6, abs=1e-6)
    assert (out["usual_residents_total_lower"] <= out["usual_residents_total"] + 1e-6).all()
    assert (out["usual_residents_total"] <= out["usual_residents_total_upper"] + 1e-6).all()


def test_another_borough_works_with_no_code_or_layer_file_change(store, capsys, tmp_path: Path) -> None:
    url = store.settings.resolved_database_url
    wards = FIXTURES / "other_borough" / "brent_wards_2022.geojson"
    crimes = DATA_DIR / "points" / "police_api_2024-04.csv"
    base = ["--database-url", url, "import"]
    assert main([*base, str(wards), "--layer", "brent_wards", "--kind", "boundary", "--format", "boundary",
                 "--area-type", "ward", "--vintage", "2022", "--authority"]) == 0
    assert main([*base, str(crimes), "--layer", "brent_crime", "--kind", "points",
                 "--format", "police-api"]) == 0
    out = tmp_path / "brent.csv"
    assert main(["--database-url", url, "profiles", "--boundary", "brent_wards", "--layer", "brent_crime",
                 "--format", "csv", "-o", str(out)]) == 0
    table = pd.read_csv(out)
    polygons = gpd.read_file(wards)
    raw = pd.read_csv(crimes)
    pts = gpd.GeoSeries(gpd.points_from_xy(raw["longitude"], raw["latitude"]), crs="EPSG:4326")
    assert len(table) == 22
    assert table["points_total"].sum() == int(pts.intersects(polygons.geometry.union_all()).sum())
    assert "residents" not in table.columns and table["points_rate"].isna().all()
    capsys.readouterr()


@pytest.mark.parametrize(
    "where",
    [["--boundary", "wards_2022", "--area", "Burnt Oak"], ["--boundary", "town_centres", "--area", "Edgware"],
     ["--boundary", "constituencies_2024", "--area", "E14001279"], ["--polygon", "DRAWN"]],
    ids=["ward", "town_centre", "constituency_2024", "drawn"],
)
def test_cli_writes_every_export(sample_store, capsys, tmp_path: Path, where: list[str]) -> None:
    if where[0] == "--polygon":
        drawn = tmp_path / "drawn.geojson"
        gpd.GeoDataFrame(geometry=[box(-0.21, 51.60, -0.19, 51.61)], crs="EPSG:4326").to_file(drawn)
        where = ["--polygon", str(drawn), "--name", "My patch"]
    stem = tmp_path / "report"
    code = main(["--database-url", sample_store.settings.resolved_database_url, "profile", *where,
                 "--format", "csv,xlsx,json,geojson,gpkg,html", "-o", str(stem)])
    assert code == 0, capsys.readouterr().err
    for fmt in ("csv", "xlsx", "json", "geojson", "gpkg", "html"):
        assert (tmp_path / f"report.{fmt}").stat().st_size > 500, fmt
    figures = pd.read_csv(tmp_path / "report.csv")
    assert {"value", "comparator_value", "source", "period", "boundary_vintage", "method"} <= set(figures.columns)
    capsys.readouterr()


def test_counts_by_category_and_month_add_up(places) -> None:
    result = profile(places, "wards_2022", "Burnt Oak", period=parse_period("2017-01:2017-06"))
    by = result.monthly_by_category
    assert by["records"].sum() == result.monthly["records"].sum()
    assert set(by["month"]) <= {f"2017-0{m}" for m in range(1, 7)}
    totals = by.groupby("category")["records"].sum()
    figures = result.figures.set_index("metric")["value"]
    for category, count in totals.items():
        assert figures[f"count:{category}"] == count
