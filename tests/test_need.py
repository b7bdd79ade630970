"""Need beside assets: the composite against hand computations, its properties, and the sample store."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insight.analysis.need import (
    Ingredient,
    composite_score,
    flag_areas,
    simulate,
    terciles,
)
from insight.analysis.need_areas import need_beside_assets
from insight.analysis.places import load_places
from insight.errors import BadRequest
from insight.layers import load_specs
from tests.conftest import DATA_DIR, LAYERS_DIR, Store


def test_composite_equals_a_hand_computation() -> None:
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [10.0, 10.0, 40.0]})
    # x: mean 2, sd 1 -> -1, 0, 1; y: mean 20, sd sqrt(300) -> -10/17.3205, -10/17.3205, 20/17.3205
    sd_y = math.sqrt(300)
    expected = [(-1 + -10 / sd_y) / 2, (0 + -10 / sd_y) / 2, (1 + 20 / sd_y) / 2]
    got = composite_score(values, {"x": 1, "y": 1})
    assert got.tolist() == pytest.approx(expected)
    weighted = composite_score(values, {"x": 3, "y": 1})
    assert weighted.iloc[0] == pytest.approx((3 * -1 + -10 / sd_y) / 4)


def test_direction_turns_a_rank_round_and_percentile_ranks_by_hand() -> None:
    values = pd.DataFrame({"rank": [100.0, 300.0, 200.0, 400.0]})
    got = composite_score(values, {"rank": 1}, directions={"rank": -1}, method="percentile")
    # ranks of -rank: 4, 2, 3, 1 -> (r - 0.5) / 4
    assert got.tolist() == pytest.approx([0.875, 0.375, 0.625, 0.125])


def test_missing_ingredient_rescales_the_other_weights() -> None:
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [np.nan, 5.0, 7.0]})
    got = composite_score(values, {"x": 1, "y": 2})
    assert got.iloc[0] == pytest.approx(-1.0)
    z_y = (7.0 - 6.0) / math.sqrt(2)
    assert got.iloc[2] == pytest.approx((1 + 2 * z_y) / 3)


def test_weights_change_the_ranking_as_expected() -> None:
    values = pd.DataFrame({"crime": [10.0, 1.0, 5.0], "deprivation": [1.0, 10.0, 5.0]}, index=["a", "b", "c"])
    crime_first = composite_score(values, {"crime": 5, "deprivation": 1}).sort_values(ascending=False)
    deprivation_first = composite_score(values, {"crime": 1, "deprivation": 5}).sort_values(ascending=False)
    assert crime_first.index.tolist() == ["a", "c", "b"]
    assert deprivation_first.index.tolist() == ["b", "c", "a"]


def test_bad_weights_are_refused_in_words() -> None:
    values = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(BadRequest, match="at least one ingredient"):
        composite_score(values, {"x": 0})
    with pytest.raises(BadRequest, match="zero or more"):
        composite_score(values, {"x": -1})


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(st.lists(st.floats(-100, 100), min_size=3, max_size=3), min_size=3, max_size=8),
    weights=st.lists(st.floats(0.1, 10), min_size=3, max_size=3),
    area=st.integers(0, 7), column=st.integers(0, 2), bump=st.floats(0.01, 50),
    method=st.sampled_from(["zscore", "percentile"]),
)
def test_composite_is_monotone_in_each_positively_weighted_ingredient(base, weights, area, column, bump, method):
    values = pd.DataFrame(base, columns=["a", "b", "c"])
    area %= len(values)
    w = dict(zip(values.columns, weights))
    before = composite_score(values, w, method=method).iloc[area]
    raised = values.copy()
    raised.iloc[area, column] += bump
    after = composite_score(raised, w, method=method).iloc[area]
    assert after >= before - 1e-9


def _ingredients(n: int = 6) -> list[Ingredient]:
    rng = np.random.default_rng(3)
    residents = rng.integers(5000, 20000, n).astype(float)
    counts = rng.integers(20, 400, n).astype(float)
    previous = rng.integers(20, 400, n).astype(float)
    scale = 1000 / residents
    nan = np.full(n, np.nan)
    share = rng.uniform(0.1, 0.5, n)
    return [
        Ingredient("rate", "rate", 1, counts * scale, nan, nan, "poisson", counts=counts, scale=scale),
        Ingredient("trend", "trend", 1, counts / previous, nan, nan, "ratio", counts=counts, previous=previous),
        Ingredient("survey", "survey", 1, share, share - 0.08, share + 0.08, "normal"),
        Ingredient("rank", "rank", -1, rng.uniform(1, 30000, n), nan, nan),
    ]


def test_simulation_intervals_contain_the_point_estimate() -> None:
    ingredients = _ingredients()
    weights = {i.key: 1.0 for i in ingredients}
    point = composite_score(pd.DataFrame({i.key: i.values for i in ingredients}), weights,
                            directions={i.key: i.direction for i in ingredients})
    ranks = point.rank(ascending=False, method="min")
    sim = simulate(ingredients, weights, draws=500, seed=1)
    assert ((sim["composite_low"] <= point) & (point <= sim["composite_high"])).all()
    assert ((sim["rank_low"] <= ranks) & (ranks <= sim["rank_high"])).all()
    assert (sim["composite_high"] > sim["composite_low"]).all()
    again = simulate(ingredients, weights, draws=500, seed=1)
    pd.testing.assert_frame_equal(sim, again)


def test_simulation_of_exact_ingredients_collapses_to_the_point() -> None:
    values = pd.DataFrame({"x": [1.0, 4.0, 2.0, 8.0], "y": [3.0, 1.0, 2.0, 0.5]})
    nan = np.full(4, np.nan)
    ingredients = [Ingredient(k, k, 1, values[k].to_numpy(), nan, nan) for k in values]
    for method in ("zscore", "percentile"):
        point = composite_score(values, {"x": 2, "y": 1}, method=method)
        sim = simulate(ingredients, {"x": 2, "y": 1}, method=method, draws=20)
        assert sim["composite_low"].tolist() == pytest.approx(point.tolist())
        assert sim["composite_high"].tolist() == pytest.approx(point.tolist())


def test_terciles_and_flags_by_hand() -> None:
    rows = pd.DataFrame({"need_percentile": [100.0, 80.0, 50.0, 20.0], "assets_per_1000": [0.5, 3.0, 0.2, 0.1]})
    assert terciles(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])).tolist() == [1, 1, 2, 2, 3, 3]
    assert flag_areas(rows, need_min=66.7, assets_max=1.0).tolist() == [True, False, False, False]
    assert flag_areas(rows, need_min=40, assets_max=1.0).tolist() == [True, False, True, False]
    with pytest.raises(BadRequest, match="percentile"):
        flag_areas(rows, need_min=120, assets_max=1.0)


@pytest.fixture(scope="module")
def sample_need(sample_store: Store):
    places = load_places(sample_store.engine)
    return places, need_beside_assets(places, "wards_2022", draws=300)


def test_every_ward_has_a_row_and_its_interval(sample_need) -> None:
    places, result = sample_need
    rows = result.rows
    assert rows["code"].tolist() == places.boundary("wards_2022").areas["code"].tolist()
    assert len(rows) == 24
    assert {"deprivation", "crime_rate", "asb_rate", "crime_trend"} <= {i.key for i in result.ingredients}
    assert rows["composite"].notna().all()
    assert ((rows["composite_low"] <= rows["composite"]) & (rows["composite"] <= rows["composite_high"])).all()
    assert sorted(rows["rank"].astype(int)) == list(range(1, 25))


def test_crime_rates_match_counts_over_the_latest_year(sample_need) -> None:
    places, result = sample_need
    rows = result.rows
    crime = next(i for i in result.ingredients if i.key == "crime_rate")
    assert crime.period == "2017-07 to 2018-06"
    asb = rows["asb_rate"] * rows["residents"] / 1000
    assert np.allclose(asb, np.round(asb))
    assert ((rows["crime_rate_low"] < rows["crime_rate"]) & (rows["crime_rate"] < rows["crime_rate_high"])).all()


def _asset_points(spec) -> gpd.GeoDataFrame:
    """An asset layer's file read straight from data/, each point with its kind (the record's, else the layer's)."""
    path = DATA_DIR / spec.file
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
        x, y = spec.options.get("x", "longitude"), spec.options.get("y", "latitude")
        points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame[x], frame[y]), crs="EPSG:4326")
    else:
        points = gpd.read_file(path)
    kind = points["asset_kind"] if "asset_kind" in points else pd.Series(None, index=points.index, dtype=object)
    return points.assign(kind=kind.fillna(spec.asset_kind))


def test_asset_rates_equal_a_spatial_join_of_the_point_files(sample_need) -> None:
    places, result = sample_need
    wards = places.boundary("wards_2022").areas[["code", "geometry"]]
    specs = [s for s in load_specs(LAYERS_DIR) if s.theme == "assets" and s.name in places.points]
    assert len(specs) >= 5
    joined = pd.concat([gpd.sjoin(_asset_points(s).to_crs(wards.crs), wards, predicate="within")[["code", "kind"]]
                        for s in specs])
    counts = joined.groupby(["code", "kind"]).size().unstack(fill_value=0).reindex(wards["code"], fill_value=0)
    rows = result.rows.set_index("code")
    for kind in ("services_people", "spaces", "money", "insight"):
        expected = counts.get(kind, pd.Series(0, index=counts.index)) / rows["residents"] * 1000
        assert rows[f"assets_{kind}_per_1000"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-9), kind
    total = counts.sum(axis=1) / rows["residents"] * 1000
    assert rows["assets_per_1000"].to_numpy() == pytest.approx(total.to_numpy(), abs=1e-9)
    assert rows["assets_total"].sum() > 100
