"""Point-in-area assignment: every point counted once, edges by the documented rule."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from insight.geo.joins import NO_AREA, assign_points, count_by_area, tag_points
from tests.conftest import DATA_DIR


def _grid(nx: int, ny: int) -> gpd.GeoSeries:
    """A partition of [0, nx] x [0, ny] into unit squares, row by row."""
    return gpd.GeoSeries([box(i, j, i + 1, j + 1) for j in range(ny) for i in range(nx)])


def _expected_cell(x: float, y: float, nx: int, ny: int) -> int:
    """The first unit square (row-major) whose closed box holds the point: independent arithmetic."""
    if not (0 <= x <= nx and 0 <= y <= ny):
        return NO_AREA
    for j in range(ny):
        for i in range(nx):
            if i <= x <= i + 1 and j <= y <= j + 1:
                return j * nx + i
    raise AssertionError("unreachable")


# Coordinates snapped to a quarter grid so that many points fall exactly on shared edges and corners.
snapped = st.integers(-4, 24).map(lambda v: v / 4)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.lists(st.tuples(snapped, snapped), max_size=80))
def test_assignment_follows_the_first_area_rule_on_edges(nx: int, ny: int, pts) -> None:
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    got = assign_points(x, y, _grid(nx, ny))
    assert got.tolist() == [_expected_cell(a, b, nx, ny) for a, b in pts]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 9),
    st.lists(st.tuples(st.floats(-1, 10, allow_nan=False), st.floats(-1, 10, allow_nan=False)), max_size=200),
)
def test_counts_over_a_partition_sum_to_the_points_inside_it(n: int, pts) -> None:
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    counts = count_by_area(assign_points(x, y, _grid(n, n)), n * n)
    inside = int(((x >= 0) & (x <= n) & (y >= 0) & (y <= n)).sum())
    assert counts.sum() == inside


def test_many_areas_take_the_sorted_path_and_agree_with_the_scan() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-0.5, 20.5, 5000), rng.uniform(-0.5, 10.5, 5000)
    many = _grid(20, 10)  # 200 areas: above the threshold for the sorted candidate search
    got = assign_points(x, y, many)
    expected = [_expected_cell(a, b, 20, 10) for a, b in zip(x, y)]
    assert got.tolist() == expected


def test_missing_locations_are_in_no_area() -> None:
    got = assign_points(np.array([np.nan, 0.5]), np.array([np.nan, 0.5]), _grid(1, 1))
    assert got.tolist() == [NO_AREA, 0]


def test_tag_points_refuses_mixed_crs() -> None:
    pts = gpd.GeoDataFrame(geometry=[Point(0, 0)], crs="EPSG:4326")
    areas = gpd.GeoDataFrame({"code": ["A"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:27700")
    with pytest.raises(ValueError, match="reproject"):
        tag_points(pts, areas)


def test_real_wards_tag_april_2024_crime_like_geopandas() -> None:
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson").sort_values("ONSWardCode")
    wards = wards.rename(columns={"ONSWardCode": "code"}).reset_index(drop=True)
    raw = pd.read_csv(DATA_DIR / "points" / "police_api_2024-04.csv")
    pts = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["longitude"], raw["latitude"]), crs="EPSG:4326")
    tagged = tag_points(pts, wards)
    joined = gpd.sjoin(pts, wards[["code", "geometry"]], predicate="intersects", how="left")
    first = joined.sort_values("code").groupby(level=0)["code"].first()
    assert tagged.fillna("-").equals(first.reindex(pts.index).fillna("-").astype(object))
