"""The Dask path counts real points per ward exactly as the single-machine path does.

Real sample: 30 months of Barnet street-level crime (83,723 points) and the 24
wards of 2022 shipped in data/, written as Parquet files read by the workers of a
two-worker local cluster.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from insight.errors import ConfigError
from insight.geo.distributed import count_points_distributed, local_cluster
from insight.geo.joins import assign_points
from insight.sources.police import load_police_api
from tests.conftest import DATA_DIR

BY = ["month", "category"]


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    frame = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
    return frame.rename(columns={"ONSWardCode": "code"})[["code", "geometry"]]


@pytest.fixture(scope="module")
def points() -> gpd.GeoDataFrame:
    frame = load_police_api(DATA_DIR / "points" / "police_api_barnet_2016-01_2018-06.csv.gz").frame
    assert len(frame) > 80_000
    return frame[["month", "category", "geometry"]]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with local_cluster(2) as cluster:
        yield cluster.scheduler_address


def _write_xy(points: gpd.GeoDataFrame, folder: Path, parts: int) -> list[Path]:
    frame = pd.DataFrame({"month": points["month"], "category": points["category"],
                          "x": shapely.get_x(points.geometry.values), "y": shapely.get_y(points.geometry.values)})
    paths = []
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        paths.append(folder / f"points-{i}.parquet")
        frame.iloc[chunk].to_parquet(paths[-1], index=False)
    return paths


def _first_area_by_sjoin(points: gpd.GeoDataFrame, wards: gpd.GeoDataFrame) -> pd.DataFrame:
    """Plain geopandas: every ward a point intersects, keeping the lowest code (the documented edge rule)."""
    joined = gpd.sjoin(points, wards, how="inner", predicate="intersects")
    first = joined.sort_values("code").groupby(level=0)["code"].first()
    tagged = points.loc[first.index, BY].assign(code=first)
    return tagged.groupby(["code", *BY]).size().rename("n").reset_index()


def _by_assign_points(points: gpd.GeoDataFrame, wards: gpd.GeoDataFrame) -> pd.DataFrame:
    ordered = wards.sort_values("code").reset_index(drop=True)
    index = assign_points(shapely.get_x(points.geometry.values), shapely.get_y(points.geometry.values),
                          ordered.geometry)
    tagged = points.loc[index >= 0, BY].assign(code=ordered["code"].to_numpy()[index[index >= 0]])
    return tagged.groupby(["code", *BY]).size().rename("n").reset_index()


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[["code", *BY, "n"]].astype({"code": str, "month": str, "category": str, "n": "int64"})
    return frame.sort_values(["code", *BY]).reset_index(drop=True)


def test_counts_on_a_cluster_equal_the_single_machine_path(tmp_path: Path, wards: gpd.GeoDataFrame,
                                                           points: gpd.GeoDataFrame, scheduler: str) -> None:
    paths = _write_xy(points, tmp_path, 4)
    shuffled = wards.sample(frac=1.0, random_state=3)
    result = _normal(count_points_distributed(paths, shuffled, scheduler=scheduler))
    expected = _normal(_by_assign_points(points, wards))
    pd.testing.assert_frame_equal(result, expected)
    pd.testing.assert_frame_equal(result, _normal(_first_area_by_sjoin(points, wards)))
    inside = int(points.geometry.intersects(wards.union_all()).sum())
    assert result["n"].sum() == inside
    assert result["code"].nunique() == len(wards)


def test_geoparquet_files_and_an_own_local_cluster(tmp_path: Path, wards: gpd.GeoDataFrame,
                                                   points: gpd.GeoDataFrame) -> None:
    sample = points.iloc[::7]
    paths = []
    for i, chunk in enumerate(np.array_split(np.arange(len(sample)), 3)):
        paths.append(tmp_path / f"geo-{i}.parquet")
        sample.iloc[chunk].to_parquet(paths[-1], index=False)
    result = _normal(count_points_distributed(paths, wards, n_workers=2))
    pd.testing.assert_frame_equal(result, _normal(_first_area_by_sjoin(sample, wards)))


def test_a_point_on_a_shared_edge_goes_to_the_lowest_code(tmp_path: Path, scheduler: str) -> None:
    areas = gpd.GeoDataFrame({"code": ["B", "A"]}, geometry=[shapely.box(1, 0, 2, 1), shapely.box(0, 0, 1, 1)],
                             crs="EPSG:4326")
    frame = pd.DataFrame({"x": [1.0, 1.5, 0.5, 5.0], "y": [0.5, 0.5, 0.5, 5.0],
                          "month": ["2019-01"] * 4, "category": ["burglary"] * 4})
    frame.to_parquet(tmp_path / "edge.parquet", index=False)
    result = count_points_distributed([tmp_path / "edge.parquet"], areas, scheduler=scheduler)
    assert result[["code", "n"]].values.tolist() == [["A", 2], ["B", 1]]


def test_an_unreachable_scheduler_is_a_config_error_naming_it(tmp_path: Path, wards: gpd.GeoDataFrame,
                                                              points: gpd.GeoDataFrame) -> None:
    paths = _write_xy(points.iloc[:100], tmp_path, 1)
    with pytest.raises(ConfigError, match="tcp://127.0.0.1:1"):
        count_points_distributed(paths, wards, scheduler="tcp://127.0.0.1:1", connect_timeout=2)


def test_missing_files_and_columns_are_config_errors(tmp_path: Path, wards: gpd.GeoDataFrame) -> None:
    with pytest.raises(ConfigError, match="not found"):
        count_points_distributed([tmp_path / "nothing.parquet"], wards)
    pd.DataFrame({"x": [0.0], "y": [0.0], "month": ["2019-01"]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(ConfigError, match="category"):
        count_points_distributed([tmp_path / "p.parquet"], wards)
    with pytest.raises(ConfigError, match="EPSG:4326"):
        count_points_distributed([tmp_path / "p.parquet"], wards.to_crs("EPSG:27700"), by=["month"])
