"""Points read from the store on demand: by bounding box, area, drawn polygon and name, with paging.

Each answer is checked against the raw features read back and filtered here with plain pandas and
shapely, on both back ends.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from insight.store import read_areas, read_features
from insight.store.points import PointQuery, count_within, feature_areas, search_points, select_points

LAYER = "crime_2024_04"


@pytest.fixture(scope="module")
def raw(sample_store) -> gpd.GeoDataFrame:
    frame = read_features(sample_store.engine, LAYER)
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()].copy()
    frame["x"], frame["y"] = frame.geometry.x, frame.geometry.y
    return frame


def _box(raw: gpd.GeoDataFrame, a: float, b: float, c: float, d: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = raw.total_bounds
    xs = sorted([minx + a * (maxx - minx), minx + b * (maxx - minx)])
    ys = sorted([miny + c * (maxy - miny), miny + d * (maxy - miny)])
    return xs[0], ys[0], xs[1], ys[1]


FRACTION = st.floats(0, 1, allow_nan=False)


@settings(max_examples=15, deadline=None)
@given(a=FRACTION, b=FRACTION, c=FRACTION, d=FRACTION)
def test_a_bounding_box_returns_exactly_the_points_inside_it(sample_store, raw, a, b, c, d) -> None:
    box = _box(raw, a, b, c, d)
    page = select_points(sample_store.engine, LAYER, PointQuery(bbox=box))
    inside = raw[raw["x"].between(box[0], box[2]) & raw["y"].between(box[1], box[3])]
    assert sorted(page.frame["id"].tolist()) == sorted(inside["id"].tolist())
    assert page.total == len(inside)


def test_pages_join_up_to_the_whole_answer_in_id_order(sample_store, raw) -> None:
    box = _box(raw, 0.2, 0.8, 0.2, 0.8)
    whole = select_points(sample_store.engine, LAYER, PointQuery(bbox=box))
    assert whole.total > 250
    pages, offset = [], 0
    while True:
        page = select_points(sample_store.engine, LAYER, PointQuery(bbox=box, limit=100, offset=offset))
        assert page.total == whole.total
        if page.frame.empty:
            break
        pages.extend(page.frame["id"].tolist())
        offset += 100
    assert pages == whole.frame["id"].tolist() == sorted(pages)
    counted = select_points(sample_store.engine, LAYER, PointQuery(bbox=box, limit=0))
    assert counted.frame.empty and counted.total == whole.total


def test_filters_by_area_category_and_month_match_the_tags(sample_store, raw) -> None:
    tags = feature_areas(sample_store.engine, LAYER, "wards_2022")
    code = tags["code"].dropna().value_counts().index[0]
    category = raw["category"].value_counts().index[0]
    query = PointQuery(boundary="wards_2022", area=code, categories=(category,), months=("2024-04", "2024-04"))
    page = select_points(sample_store.engine, LAYER, query)
    expected = raw[raw["id"].isin(tags.loc[tags["code"] == code, "id"]) & (raw["category"] == category)
                   & (raw["month"] == "2024-04")]
    assert page.total == len(expected) > 0
    assert sorted(page.frame["id"].tolist()) == sorted(expected["id"].tolist())


def test_a_drawn_polygon_counts_the_points_inside_it(sample_store, raw) -> None:
    ward = read_areas(sample_store.engine, "wards_2022").geometry.iloc[3]
    hull = shapely.convex_hull(ward).buffer(0.002)
    counted = count_within(sample_store.engine, LAYER, [hull])
    inside = raw[shapely.intersects_xy(hull, raw["x"].to_numpy(), raw["y"].to_numpy())]
    assert int(counted["n"].sum()) == len(inside) > 0
    by_category = counted.groupby("category")["n"].sum().sort_index()
    assert by_category.to_dict() == inside.groupby("category").size().sort_index().to_dict()
    page = select_points(sample_store.engine, LAYER, PointQuery(polygon=hull, limit=50))
    assert page.total == len(inside) and len(page.frame) == 50


def test_search_finds_named_points_case_insensitively(sample_store) -> None:
    schools = read_features(sample_store.engine, "schools")
    word = schools["name"].iloc[0].split()[0]
    found = search_points(sample_store.engine, ["schools"], word.upper(), limit=500)
    expected = schools[schools["name"].str.casefold().str.contains(word.casefold(), regex=False)]
    assert sorted(found["name"]) == sorted(expected["name"])
    assert search_points(sample_store.engine, ["schools"], "%", limit=5).empty
    assert np.isfinite(found[["x", "y"]].to_numpy(dtype=float)).all()
