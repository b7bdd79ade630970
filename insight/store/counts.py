"""Pre-aggregated point counts: per area, month, category and asset kind, kept beside the tags.

:func:`recount` runs in the transaction that writes a layer's tags (a load, a partner
commit or a restore), so the counts can never disagree with the points they count.
Readers sum these rows instead of holding or scanning every point.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Integer, String, delete, func, insert, literal, null, select

from insight.store.models import Area, AreaCount, Feature, FeatureTag, Layer

COUNT_COLUMNS = ["area_id", "month", "category", "asset_kind", "n"]
_TARGET = ["point_layer_id", "boundary_layer_id", "area_id", "month", "category", "asset_kind", "n"]


def _kind_expression(conn: Connection, point_layer_id: int) -> tuple[Any, list[Any]]:
    """Each feature's asset kind (its own on asset layers, else the layer's) and what to group it by."""
    theme, layer_kind = conn.execute(
        select(Layer.theme, Layer.asset_kind).where(Layer.id == point_layer_id)
    ).one()
    default = literal(layer_kind, String) if layer_kind else null()
    if theme != "assets":
        return default, []
    own = func.coalesce(func.nullif(Feature.properties["asset_kind"].as_string(), ""), default)
    return own, [own]


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


def refresh_statistics(conn: Connection) -> None:
    """Let the query planner see the new sizes of the point tables (after a load or commit).

    SQLite keeps no statistics until asked, and without them it may scan every tag of an
    area to find a layer's few points; PostgreSQL's autovacuum catches up only later.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE features")
        conn.exec_driver_sql("ANALYZE feature_tags")
        conn.exec_driver_sql("ANALYZE area_counts")
    else:
        conn.exec_driver_sql("ANALYZE features, feature_tags, area_counts")


def recount_all(conn: Connection) -> None:
    """Recount every point layer in every boundary layer (used when the table is first made)."""
    boundaries = list(conn.execute(select(Layer.id).where(Layer.kind == "boundary")).scalars())
    for point_layer_id in conn.execute(select(Layer.id).where(Layer.kind == "points")).scalars().all():
        recount_totals(conn, point_layer_id)
        for boundary_layer_id in boundaries:
            recount(conn, point_layer_id=point_layer_id, boundary_layer_id=boundary_layer_id)


def _frame(rows: Sequence[Sequence[Any]], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame(dict(zip(columns, (list(c) for c in zip(*rows)))))


def read_counts(engine: Engine, point_layer: str, boundary_layer: str | None) -> pd.DataFrame:
    """Stored counts of ``point_layer`` in ``boundary_layer`` (None: the whole layer).

    Columns ``area_code`` (None for whole-layer rows), ``month``, ``category``, ``asset_kind``, ``n``.
    """
    with engine.connect() as conn:
        point_id = conn.execute(select(Layer.id).where(Layer.name == point_layer)).scalar_one()
        query = select(Area.code, AreaCount.month, AreaCount.category, AreaCount.asset_kind, AreaCount.n)
        if boundary_layer is None:
            query = query.select_from(AreaCount).outerjoin(Area, Area.id == AreaCount.area_id).where(
                AreaCount.point_layer_id == point_id, AreaCount.boundary_layer_id.is_(None)
            )
        else:
            boundary_id = conn.execute(select(Layer.id).where(Layer.name == boundary_layer)).scalar_one()
            query = query.join(Area, Area.id == AreaCount.area_id).where(
                AreaCount.point_layer_id == point_id, AreaCount.boundary_layer_id == boundary_id
            )
        rows = conn.execute(query).all()
    frame = _frame(rows, ["area_code", "month", "category", "asset_kind", "n"])
    frame["n"] = frame["n"].astype("int64")
    return frame


def stored_count_rows(conn: Connection, point_layer_id: int) -> list[tuple[Any, ...]]:
    """Every stored count row of a point layer, sorted: (boundary layer id, area id, month, category, kind, n)."""
    rows = conn.execute(
        select(AreaCount.boundary_layer_id, AreaCount.area_id, AreaCount.month, AreaCount.category,
               AreaCount.asset_kind, AreaCount.n).where(AreaCount.point_layer_id == point_layer_id)
    ).all()
    return sorted((tuple(r) for r in rows), key=repr)
