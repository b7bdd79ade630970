"""CRS helpers and the authority flag."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from insight.geo.crs import ewkt, inside_mask, to_metric, to_storage

BOX = (-0.30, 51.55, -0.10, 51.65)
coords = st.tuples(st.floats(-0.4, 0.0, allow_nan=False), st.floats(51.5, 51.7, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(coords, st.none()), max_size=60))
def test_inside_mask_matches_rectangle_arithmetic_and_keeps_missing(points) -> None:
    series = gpd.GeoSeries([None if p is None else Point(p) for p in points], crs="EPSG:4326")
    mask = inside_mask(series, box(*BOX))
    xmin, ymin, xmax, ymax = BOX
    expected = [None if p is None else (xmin <= p[0] <= xmax and ymin <= p[1] <= ymax) for p in points]
    assert list(mask) == expected


def test_edge_points_count_as_inside() -> None:
    series = gpd.GeoSeries([Point(-0.30, 51.60), Point(-0.20, 51.65)], crs="EPSG:4326")
    assert list(inside_mask(series, box(*BOX))) == [True, True]


def test_to_storage_refuses_to_guess_a_missing_crs() -> None:
    with pytest.raises(ValueError, match="no CRS"):
        to_storage(gpd.GeoDataFrame(geometry=[Point(0, 0)]))


def test_bng_round_trip_is_within_a_few_metres() -> None:
    # lon -0.2, lat 51.58 lies in OS grid square TQ28, near easting 524 800, northing 188 300.
    frame = gpd.GeoDataFrame(geometry=[Point(-0.2, 51.58)], crs="EPSG:4326")
    metric = to_metric(frame)
    x, y = metric.geometry.iloc[0].x, metric.geometry.iloc[0].y
    assert 524_000 < x < 525_500 and 187_500 < y < 189_000
    back = to_storage(metric).geometry.iloc[0]
    assert np.hypot(back.x + 0.2, back.y - 51.58) < 1e-6


def test_ewkt_keeps_none_and_srid() -> None:
    assert ewkt(np.array([Point(1, 2), None], dtype=object)) == ["SRID=4326;POINT (1 2)", None]
