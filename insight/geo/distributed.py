"""Count points per area on a Dask distributed cluster, for national batches.

The points are Parquet files (one partition per file, read on the workers, never
shipped from the client); the areas are scattered to every worker once. Each
partition is joined with :func:`insight.geo.joins.assign_points` against the
areas sorted by code, so the counts are exactly those of the single-machine path,
edge rule included (a point on a shared edge goes to the lowest code).

A local cluster (one process per CPU) is started and closed when no scheduler
address is given; with ``tcp://host:8786`` the work runs on that cluster, whose
workers must be able to read the same Parquet paths (shared storage).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from insight.errors import ConfigError
from insight.geo.joins import assign_points, point_coordinates

COUNT_COLUMNS = ("code", "month", "category", "n")
CONNECT_TIMEOUT_S = 10


def _schema_columns(path: Path) -> list[str]:
    """Column names of one Parquet file (metadata only)."""
    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable Parquet file: {exc}") from exc


def _point_format(paths: Sequence[Path], by: Sequence[str]) -> str:
    """``"xy"`` or ``"geometry"``: how the files give the points; every file must have the ``by`` columns."""
    if not paths:
        raise ConfigError("no point files given: pass at least one Parquet file")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise ConfigError(f"point file(s) not found: {', '.join(missing[:5])}"
                          + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    columns = _schema_columns(Path(paths[0]))
    lacking = [c for c in by if c not in columns]
    if lacking:
        raise ConfigError(f"{paths[0]} has no column(s) {', '.join(lacking)} (it has {', '.join(columns)})")
    if "x" in columns and "y" in columns:
        return "xy"
    if "geometry" in columns:
        return "geometry"
    raise ConfigError(f"{paths[0]} has neither x/y columns nor a geometry column: cannot place its points")


def read_points_file(path: str, columns: list[str], geo: bool) -> pd.DataFrame:
    """One Parquet file of points, read where it runs (on a worker); GeoParquet must be in EPSG:4326."""
    if not geo:
        plain: pd.DataFrame = pq.read_table(path, columns=columns).to_pandas()
        return plain
    frame: gpd.GeoDataFrame = gpd.read_parquet(path, columns=columns)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise ConfigError(f"the points in {path} are in {frame.crs}, not EPSG:4326: reproject them first")
    return cast(pd.DataFrame, frame)


def _file_meta(path: str, columns: list[str], geo: bool) -> pd.DataFrame:
    """An empty frame shaped like :func:`read_points_file`'s result, from the file's schema only."""
    empty = pq.read_schema(path).empty_table().select(columns if not geo else [c for c in columns
                                                                                if c != "geometry"])
    frame: pd.DataFrame = empty.to_pandas()
    if not geo:
        return frame
    import dask_geopandas  # noqa: F401  (registers GeoDataFrame collections with Dask)

    shaped: pd.DataFrame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs="EPSG:4326"))[columns]
    return shaped


def _sorted_areas(areas: gpd.GeoDataFrame, code_column: str) -> gpd.GeoDataFrame:
    """The areas in code order (the edge rule's priority), checked to be in EPSG:4326."""
    if areas.crs is None or areas.crs.to_epsg() != 4326:
        raise ConfigError(f"the areas are in {areas.crs}, not EPSG:4326: reproject them (to_storage) first")
    if code_column not in areas.columns:
        raise ConfigError(f"the areas have no {code_column!r} column")
    ordered = areas[[code_column, areas.geometry.name]].sort_values(code_column, kind="stable")
    return ordered.reset_index(drop=True)


def count_partition(points: pd.DataFrame, areas: gpd.GeoDataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Counts of one partition: area position (in ``areas``' order), the ``by`` columns and ``n``.

    Points in no area are dropped. Runs on a worker; ``areas`` must already be sorted.
    """
    if "x" in points.columns and "y" in points.columns:
        x = points["x"].to_numpy(dtype="float64", na_value=np.nan)
        y = points["y"].to_numpy(dtype="float64", na_value=np.nan)
    else:
        x, y = point_coordinates(gpd.GeoSeries(points.geometry))
    index = assign_points(x, y, areas.geometry)
    frame = pd.DataFrame({"area": index.astype("int32")})
    for column in by:
        frame[column] = points[column].to_numpy()
    frame = frame[frame["area"] >= 0]
    counts = frame.groupby(["area", *by], sort=False, observed=True).size()
    return counts.rename("n").reset_index()


def _empty_partition(by: Sequence[str]) -> pd.DataFrame:
    """The shape of :func:`count_partition`'s output, for Dask's metadata."""
    columns: dict[str, Any] = {"area": pd.Series(dtype="int32")}
    columns.update({c: pd.Series(dtype=object) for c in by})
    columns["n"] = pd.Series(dtype="int64")
    return pd.DataFrame(columns)


@contextmanager
def local_cluster(n_workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.LocalCluster`` of one single-threaded process per CPU (or ``n_workers``), closed on exit.

    No dashboard; the scheduler's small HTTP server (health checks) listens on a
    free loopback port rather than 8787, so two clusters never collide.
    """
    from distributed import LocalCluster

    workers = n_workers or max(1, os.cpu_count() or 1)
    settings = {"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
                "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"}}
    with LocalCluster(**settings) as cluster:  # type: ignore[no-untyped-call]
        yield cluster


@contextmanager
def dask_client(scheduler: str | None = None, *, n_workers: int | None = None,
                connect_timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` if given, else to a local cluster closed on exit."""
    from distributed import Client

    if scheduler is None:
        with local_cluster(n_workers) as cluster, Client(cluster) as local:  # type: ignore[no-untyped-call]
            yield local
        return
    try:
        client = Client(scheduler, timeout=connect_timeout)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start it with "
                          "'dask scheduler' on that host, or leave the address out to use this machine") from exc
    with client:
        yield client


def count_points_distributed(points_paths: Sequence[Path], areas: gpd.GeoDataFrame, *,
                             scheduler: str | None = None, by: Sequence[str] = ("month", "category"),
                             code_column: str = "code", n_workers: int | None = None,
                             connect_timeout: float = CONNECT_TIMEOUT_S) -> pd.DataFrame:
    """Points per area and per ``by`` values, joined on a Dask cluster: columns code, ``by``…, n.

    ``points_paths`` are Parquet files of points in EPSG:4326 with ``x``/``y``
    columns (or a GeoParquet ``geometry``) and the ``by`` columns; each file is
    read by a worker. ``areas`` has ``code_column`` and polygons in EPSG:4326.
    ``n_workers`` sizes the local cluster (default: the CPU count);
    ``connect_timeout`` is how long to try reaching ``scheduler`` (seconds).
    Counts equal those of :func:`insight.geo.joins.assign_points` with the areas in
    code order; points in no area are not counted; only non-zero rows are returned.
    """
    import dask.dataframe as dd

    by = list(by)
    paths = [str(p) for p in points_paths]
    layout = _point_format([Path(p) for p in paths], by)
    ordered = _sorted_areas(areas, code_column)
    columns = (["x", "y"] if layout == "xy" else ["geometry"]) + by
    meta = _file_meta(paths[0], columns, layout == "geometry")
    with dask_client(scheduler, n_workers=n_workers, connect_timeout=connect_timeout) as client:
        points = dd.from_map(read_points_file, paths, columns=columns,  # type: ignore[no-untyped-call]
                             geo=layout == "geometry", meta=meta, enforce_metadata=False)
        shared = client.scatter(ordered, broadcast=True)
        counted = points.map_partitions(count_partition, shared, by, meta=_empty_partition(by),
                                        enforce_metadata=False)
        parts = counted.compute()
    return _combine(parts, ordered[code_column].to_numpy(dtype=object), by)


def _combine(parts: pd.DataFrame, codes: np.ndarray, by: list[str]) -> pd.DataFrame:
    """Sum the partitions' counts and put the area codes in place of their positions."""
    if parts.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "n" else object) for c in ["code", *by, "n"]})
    totals = parts.groupby(["area", *by], sort=True, observed=True)["n"].sum().reset_index()
    totals.insert(0, "code", codes[totals.pop("area").to_numpy()])
    totals["n"] = totals["n"].astype("int64")
    return totals.sort_values(["code", *by], kind="stable").reset_index(drop=True)
