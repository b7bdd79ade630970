"""Pre-aggregated point counts: per area, month, category and asset kind, kept beside the tags.

:func:`recount` runs in the transaction that writes a layer's tags (a load, a partner
commit or a restore), so the counts can never disagree with the points they count.
Readers sum these rows instead of holding or scanning every point.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Integer, String, delete, func, insert, literal, null, select

from insight.store.models import Area, AreaCount, Feature, FeatureTag, Layer

LARGE_WRITE = 50_000
COUNT_COLUMNS = ["area_id", "month", "category", "asset_kind", "n"]
_TARGET = ["point_layer_id", "boundary_layer_id", "area_id", "month", "category", "asset_kind", "n"]


def _kind_expression(conn: Connection, point_layer_id: int) -> tuple[Any, list[Any]]:
    """Each feature's asset kind (its own on asset layers, else the layer's) and what to group it by."""
    theme, layer_kind = conn.execute(
        select(Layer.theme, Layer.asset_kind).where(Layer.id == point_layer_id)
    ).one()
    kind = asset_kind_expression(theme, layer_kind)
    return kind, ([kind] if theme == "assets" else [])


def asset_kind_expression(theme: str | None, layer_kind: str | None) -> Any:
    """A feature's asset kind in SQL: its own non-empty ``asset_kind`` on asset layers, else the layer's."""
    default = literal(layer_kind, String) if layer_kind else null()
    if theme != "assets":
        return default
    return func.coalesce(func.nullif(Feature.properties["asset_kind"].as_string(), ""), default)


def recount(conn: Connection, *, point_layer_id: int, boundary_layer_id: int) -> None:
    """Replace the stored counts of one point layer in one boundary layer, from its tags."""
    conn.execute(delete(AreaCount).where(
        AreaCount.point_layer_id == point_layer_id, AreaCount.boundary_layer_id == boundary_layer_id
    ))
    kind, by_kind = _kind_expression(conn, point_layer_id)
    grouped = (
        select(
            literal(point_layer_id, Integer), literal(boundary_layer_id, Integer), FeatureTag.area_id,
            Feature.month, Feature.category, kind, func.count(),
        )
        .select_from(Feature)
        .join(FeatureTag, FeatureTag.feature_id == Feature.id)
        .where(Feature.layer_id == point_layer_id, FeatureTag.boundary_layer_id == boundary_layer_id)
        .group_by(FeatureTag.area_id, Feature.month, Feature.category, *by_kind)
    )
    conn.execute(insert(AreaCount).from_select(_TARGET, grouped))


def recount_totals(conn: Connection, point_layer_id: int) -> None:
    """Replace the whole-layer counts of a point layer (every feature, located or not)."""
    conn.execute(delete(AreaCount).where(
        AreaCount.point_layer_id == point_layer_id, AreaCount.boundary_layer_id.is_(None)
    ))
    kind, by_kind = _kind_expression(conn, point_layer_id)
    grouped = (
        select(
            literal(point_layer_id, Integer), null(), null(), Feature.month, Feature.category, kind, func.count(),
        )
        .where(Feature.layer_id == point_layer_id)
        .group_by(Feature.month, Feature.category, *by_kind)
    )
    conn.execute(insert(AreaCount).from_select(_TARGET, grouped))


@dataclass(frozen=True)
class PointValues:
    """What counting needs of every point of a layer: id, x, y (NaN without a location), month, category, kind."""

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    month: np.ndarray
    category: np.ndarray
    kind: np.ndarray


def point_values(conn: Connection, point_layer_id: int) -> PointValues:
    """Read every point of a layer once, with the values its counts are grouped by.

    The asset kind comes from the same SQL expression :func:`recount` groups by, so the
    two ways of counting cannot disagree on it.
    """
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    cursor.execute(f"SELECT id, ST_X(geom), ST_Y(geom), month, category FROM features WHERE layer_id = {mark}",
                   (point_layer_id,))
    rows = cursor.fetchall()
    cursor.close()
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    x = np.fromiter((np.nan if r[1] is None else r[1] for r in rows), dtype=float, count=n)
    y = np.fromiter((np.nan if r[2] is None else r[2] for r in rows), dtype=float, count=n)
    month = np.array([r[3] for r in rows] + [None], dtype=object)[:n]
    category = np.array([r[4] for r in rows] + [None], dtype=object)[:n]
    del rows
    kind_of, by_kind = _kind_expression(conn, point_layer_id)
    kind = np.empty(n, dtype=object)
    if by_kind:
        found = conn.execute(select(Feature.id, kind_of).where(Feature.layer_id == point_layer_id)).all()
        lookup = pd.Series([k for _, k in found], index=[i for i, _ in found], dtype=object)
        kind[:] = lookup.reindex(ids).to_numpy(dtype=object)
    else:
        kind[:] = conn.execute(select(kind_of)).scalar()
    return PointValues(ids, x, y, month, category, kind)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``values`` (0 for missing) and the value of each code."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    decoded = np.empty(len(uniques) + 1, dtype=object)
    decoded[1:] = np.asarray(uniques, dtype=object)
    return codes.astype(np.int64) + 1, decoded


def grouped_counts(columns: Sequence[np.ndarray]) -> list[tuple[Any, ...]]:
    """The distinct combinations of ``columns`` (missing as None) and how many rows have each, like SQL GROUP BY."""
    coded = [_codes(c) for c in columns]
    sizes = [len(d) for _, d in coded]
    if not len(columns[0]):
        return []
    counts: np.ndarray
    codes_out: list[np.ndarray]
    if float(np.prod(np.array(sizes, dtype=float))) < 2.0**62:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for (codes, _), size in zip(coded, sizes):
            key = key * size + codes
        keys, counts = np.unique(key, return_counts=True)
        parts = []
        for size in reversed(sizes):
            parts.append(keys % size)
            keys = keys // size
        codes_out = parts[::-1]
    else:
        table = pd.DataFrame({i: c for i, (c, _) in enumerate(coded)}).value_counts(sort=False)
        codes_out = [table.index.get_level_values(i).to_numpy() for i in range(len(coded))]
        counts = table.to_numpy()
    values = [d[c] for (_, d), c in zip(coded, codes_out)]
    return list(zip(*(v.tolist() for v in values), counts.tolist()))


def store_counts(
    conn: Connection, values: PointValues, *, point_layer_id: int, boundary_layer_id: int | None,
    area_ids: np.ndarray | None = None,
) -> None:
    """Replace one point layer's counts in one boundary layer (None: the whole layer), counted in memory.

    ``area_ids`` gives each point's area (-1 for none) in ``boundary_layer_id``, as just
    written to the tags; the rows equal what :func:`recount` would make from those tags.
    """
    pair = (AreaCount.boundary_layer_id.is_(None) if boundary_layer_id is None
            else AreaCount.boundary_layer_id == boundary_layer_id)
    conn.execute(delete(AreaCount).where(AreaCount.point_layer_id == point_layer_id, pair))
    if area_ids is None:
        groups = [(None, *g) for g in grouped_counts([values.month, values.category, values.kind])]
    else:
        keep = area_ids >= 0
        groups = grouped_counts([area_ids[keep], values.month[keep], values.category[keep], values.kind[keep]])
    rows = [(point_layer_id, boundary_layer_id, *g) for g in groups]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        with cursor.copy(f"COPY area_counts ({', '.join(_TARGET)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(f"INSERT INTO area_counts ({', '.join(_TARGET)}) VALUES ({', '.join('?' * 7)})", rows)
    cursor.close()


def refresh_statistics(conn: Connection, *, rows: int) -> None:
    """Let the query planner see the new sizes of the point tables after writing ``rows`` points.

    SQLite keeps no statistics until asked, and without them it may scan every tag of an area to
    find a layer's few points, so it is asked after every write (a sampled ANALYZE takes tens of
    milliseconds). PostgreSQL's autovacuum keeps up with small writes; it is asked only after a
    large load, because ANALYZE inside many small concurrent commits can deadlock them.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE features")
        conn.exec_driver_sql("ANALYZE feature_tags")
        conn.exec_driver_sql("ANALYZE area_counts")
    elif rows >= LARGE_WRITE:
        conn.exec_driver_sql("ANALYZE features, feature_tags, area_counts")


def recount_all(conn: Connection) -> None:
    """Recount every point layer in every boundary layer (used when the table is first made)."""
    boundaries = list(conn.execute(select(Layer.id).where(Layer.kind == "boundary")).scalars())
    for point_layer_id in conn.execute(select(Layer.id).where(Layer.kind == "points")).scalars().all():
        recount_totals(conn, point_layer_id)
        for boundary_layer_id in boundaries:
            recount(conn, point_layer_id=point_layer_id, boundary_layer_id=boundary_layer_id)


def rows_frame(rows: Sequence[Sequence[Any]], columns: list[str]) -> pd.DataFrame:
    """A frame from result rows, built column-wise (empty columns of objects when there are none)."""
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.DataFrame(dict(zip(columns, (list(c) for c in zip(*rows)))))


def read_counts(engine: Engine, point_layer: str, boundary_layer: str | None) -> pd.DataFrame:
    """Stored counts of ``point_layer`` in ``boundary_layer`` (None: the whole layer).

    Columns ``area_code`` (None for whole-layer rows), ``month``, ``category``, ``asset_kind``, ``n``.
    Rows are fetched through the driver's cursor and areas named from a small lookup, which keeps a
    national layer's million rows to about a second.
    """
    columns = ["area_id", "month", "category", "asset_kind", "n"]
    with engine.connect() as conn:
        point_id = conn.execute(select(Layer.id).where(Layer.name == point_layer)).scalar_one()
        boundary_id = None if boundary_layer is None else conn.execute(
            select(Layer.id).where(Layer.name == boundary_layer)
        ).scalar_one()
        in_boundary = (AreaCount.boundary_layer_id.is_(None) if boundary_id is None
                       else AreaCount.boundary_layer_id == boundary_id)
        result = conn.execute(
            select(AreaCount.area_id, AreaCount.month, AreaCount.category, AreaCount.asset_kind, AreaCount.n)
            .where(AreaCount.point_layer_id == point_id, in_boundary)
        )
        rows = result.cursor.fetchall() if result.cursor is not None else []
        codes = dict(conn.execute(select(Area.id, Area.code).where(Area.layer_id == boundary_id)).all()
                     ) if boundary_id is not None else {}
    frame = pd.DataFrame.from_records(rows, columns=columns) if rows else rows_frame([], columns)
    frame.insert(0, "area_code", frame.pop("area_id").map(codes) if codes else None)
    frame["asset_kind"] = frame["asset_kind"].astype(object).where(frame["asset_kind"].notna(), None)
    frame["n"] = frame["n"].astype("int64")
    return frame


def stored_count_rows(conn: Connection, point_layer_id: int) -> list[tuple[Any, ...]]:
    """Every stored count row of a point layer, sorted: (boundary layer id, area id, month, category, kind, n)."""
    rows = conn.execute(
        select(AreaCount.boundary_layer_id, AreaCount.area_id, AreaCount.month, AreaCount.category,
               AreaCount.asset_kind, AreaCount.n).where(AreaCount.point_layer_id == point_layer_id)
    ).all()
    return sorted((tuple(r) for r in rows), key=repr)
