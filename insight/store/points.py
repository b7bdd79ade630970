"""Points read from the store on demand, through its indexes: by area, bounding box, drawn polygon or name.

No process holds every point: the map asks for the points in view (with a limit and
paging), an area page for the assets in one area, a drawn area for the points inside
it. Bounding boxes use the spatial index (SpatiaLite's R*Tree, PostGIS's GiST); a
polygon is then tested exactly with the same edge rule as the load-time tags.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, Select, and_, func, select, text

from insight.geo.joins import assign_points
from insight.store.counts import asset_kind_expression, read_counts, rows_frame
from insight.store.models import Area, Feature, FeatureTag, Layer
from insight.store.postcodes import PostcodeMatch, first_match

POINT_COLUMNS = ["id", "x", "y", "name", "category", "month", "asset_kind"]
BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class PointQuery:
    """Filters for the points of one layer; every filter given must hold.

    ``months`` is an inclusive ``(first, last)`` pair of 'YYYY-MM' labels; ``area`` is an
    area code of ``boundary``; ``bbox`` is ``(min lon, min lat, max lon, max lat)``.
    ``limit`` None returns every match; ``ids`` keeps only those feature ids.
    """

    boundary: str | None = None
    area: str | None = None
    categories: Sequence[str] = ()
    kinds: Sequence[str] = ()
    months: tuple[str, str] | None = None
    bbox: BBox | None = None
    polygon: BaseGeometry | None = None
    limit: int | None = None
    offset: int = 0
    ids: Sequence[int] = ()


@dataclass
class PointPage:
    """One page of matching points (``frame`` has :data:`POINT_COLUMNS`) and how many match in all."""

    frame: pd.DataFrame
    total: int
    extra: dict[str, Any] = field(default_factory=dict)


SMALL_LAYER = 20_000


def _layer(conn: Connection, name: str) -> tuple[int, str | None, str | None, int]:
    """A layer's id, theme, asset kind and size (NoResultFound when absent: callers check names first)."""
    row = conn.execute(
        select(Layer.id, Layer.theme, Layer.asset_kind, Layer.feature_count).where(Layer.name == name)
    ).one()
    return int(row[0]), row[1], row[2], int(row[3] or 0)


def _in_box(conn: Connection, box: BBox) -> Any:
    """A condition on ``features`` for a bounding box (edges included): the spatial index, then exact coordinates."""
    minx, miny, maxx, maxy = box
    exact = and_(func.ST_X(Feature.geom).between(minx, maxx), func.ST_Y(Feature.geom).between(miny, maxy))
    if conn.dialect.name == "postgresql":
        envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
        return and_(Feature.geom.op("&&")(envelope), exact)
    index = text(
        "SELECT pkid FROM idx_features_geom WHERE xmin <= :maxx AND xmax >= :minx AND ymin <= :maxy AND ymax >= :miny"
    ).bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
    return and_(Feature.id.in_(index), exact)


def _filtered(conn: Connection, layer: str, q: PointQuery, columns: Sequence[Any]) -> Select[Any]:
    """The SELECT of ``columns`` over a layer's located points passing every filter but the polygon."""
    layer_id, theme, layer_kind, size = _layer(conn, layer)
    kind = asset_kind_expression(theme, layer_kind)
    by_area = bool(q.boundary and q.area)
    # SQLite's planner cannot tell a layer of ten points from one of a million; "+ 0" keeps it off the
    # index that would be the slow way in: a small layer is read by layer, a large one by area.
    small, sqlite = size < SMALL_LAYER, conn.dialect.name == "sqlite"
    in_layer = Feature.layer_id + 0 if sqlite and by_area and not small else Feature.layer_id
    query = select(*columns, kind).where(in_layer == layer_id, Feature.geom.is_not(None))
    if by_area:
        area = (
            select(Area.id).join(Layer, Layer.id == Area.layer_id)
            .where(Layer.name == q.boundary, Area.code == q.area).scalar_subquery()
        )
        boundary = select(Layer.id).where(Layer.name == q.boundary).scalar_subquery()
        tag_area = FeatureTag.area_id + 0 if sqlite and small else FeatureTag.area_id
        query = query.join(FeatureTag, and_(FeatureTag.feature_id == Feature.id,
                                            FeatureTag.boundary_layer_id == boundary, tag_area == area))
    if q.ids:
        query = query.where(Feature.id.in_([int(i) for i in q.ids]))
    if q.categories:
        query = query.where(Feature.category.in_(list(q.categories)))
    if q.kinds:
        query = query.where(kind.in_(list(q.kinds)))
    if q.months:
        query = query.where(Feature.month >= q.months[0], Feature.month <= q.months[1])
    box = q.bbox or (tuple(shapely.bounds(q.polygon).tolist()) if q.polygon is not None else None)
    if box is not None:
        query = query.where(_in_box(conn, box))
    return query


def _located(rows: Sequence[Sequence[Any]], polygon: BaseGeometry) -> list[Sequence[Any]]:
    """The rows (x and y in columns 1 and 2) whose point lies in ``polygon``."""
    if not rows:
        return []
    xs = np.array([r[1] for r in rows], dtype=float)
    ys = np.array([r[2] for r in rows], dtype=float)
    inside = assign_points(xs, ys, np.array([polygon], dtype=object)) == 0
    return [r for r, keep in zip(rows, inside.tolist()) if keep]


def select_points(engine: Engine, layer: str, q: PointQuery) -> PointPage:
    """A page of a layer's located points after the filters, in id order, and the number matching in all."""
    columns = [Feature.id, func.ST_X(Feature.geom), func.ST_Y(Feature.geom), Feature.name, Feature.category,
               Feature.month]
    with engine.connect() as conn:
        query = _filtered(conn, layer, q, columns).order_by(Feature.id)
        if q.polygon is not None:
            rows = _located(conn.execute(query).all(), q.polygon)
            total = len(rows)
            end = None if q.limit is None else q.offset + q.limit
            rows = rows[q.offset:end]
        else:
            paged = query.limit(q.limit) if q.limit is not None else query
            rows = list(conn.execute(paged.offset(q.offset) if q.offset else paged).all())
            whole = q.limit is None or (len(rows) < q.limit and (rows or not q.offset))
            total = q.offset + len(rows) if whole else int(
                conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            )
    return PointPage(frame=rows_frame(rows, POINT_COLUMNS), total=total)


def count_within(engine: Engine, layer: str, polygons: Sequence[BaseGeometry]) -> pd.DataFrame:
    """Counts of a layer's points inside each polygon (first polygon wins on a shared edge).

    Columns ``area`` (the polygon's position), ``month``, ``category``, ``asset_kind``, ``n``.
    """
    columns = ["area", "month", "category", "asset_kind", "n"]
    if not polygons:
        return rows_frame([], columns)
    box = tuple(np.concatenate([shapely.bounds(np.array(polygons, dtype=object)).min(axis=0)[:2],
                                shapely.bounds(np.array(polygons, dtype=object)).max(axis=0)[2:]]).tolist())
    with engine.connect() as conn:
        query = _filtered(conn, layer, PointQuery(bbox=box),
                          [func.ST_X(Feature.geom), func.ST_Y(Feature.geom), Feature.month, Feature.category])
        rows = conn.execute(query).all()
    if not rows:
        return rows_frame([], columns)
    frame = rows_frame(rows, ["x", "y", "month", "category", "asset_kind"])
    frame["area"] = assign_points(frame["x"].to_numpy(float), frame["y"].to_numpy(float),
                                  np.array(polygons, dtype=object))
    inside = frame[frame["area"] >= 0]
    grouped = inside.groupby(["area", "month", "category", "asset_kind"], dropna=False).size()
    return grouped.rename("n").reset_index()[columns]


def search_points(engine: Engine, layers: Sequence[str], query: str, *, limit: int = 20) -> pd.DataFrame:
    """Located points of ``layers`` whose name contains ``query`` (case-insensitive), by name: layer, name, x, y."""
    columns = ["layer", "name", "x", "y"]
    if not layers:
        return rows_frame([], columns)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Layer.name, Feature.name, func.ST_X(Feature.geom), func.ST_Y(Feature.geom))
            .join(Layer, Layer.id == Feature.layer_id)
            .where(Layer.name.in_(list(layers)), Feature.geom.is_not(None),
                   func.lower(Feature.name).contains(query.casefold(), autoescape=True))
            .order_by(Feature.name, Feature.id).limit(limit)
        ).all()
    return rows_frame(rows, columns)


def feature_areas(engine: Engine, layer: str, boundary: str) -> pd.DataFrame:
    """Each feature of ``layer`` (``id``, ``source_id``) with the code of its area in ``boundary`` (None outside)."""
    with engine.connect() as conn:
        layer_id = _layer(conn, layer)[0]
        boundary_id = _layer(conn, boundary)[0]
        rows = conn.execute(
            select(Feature.id, Feature.source_id, Area.code)
            .select_from(Feature)
            .outerjoin(FeatureTag, and_(FeatureTag.feature_id == Feature.id,
                                        FeatureTag.boundary_layer_id == boundary_id))
            .outerjoin(Area, Area.id == FeatureTag.area_id)
            .where(Feature.layer_id == layer_id).order_by(Feature.id)
        ).all()
    return rows_frame(rows, ["id", "source_id", "code"])


class StorePointSource:
    """Counts and points read from the store on demand (what :class:`insight.analysis.places.Places` asks of it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def counts(self, layer: str, boundary: str) -> pd.DataFrame:
        """Stored counts of ``layer`` in ``boundary``: area_code, month, category, asset_kind, n."""
        return read_counts(self.engine, layer, boundary)

    def counts_within(self, layer: str, polygons: list[BaseGeometry]) -> pd.DataFrame:
        """Counts of ``layer`` inside each polygon: area (position), month, category, asset_kind, n."""
        return count_within(self.engine, layer, polygons)

    def points(self, layer: str, query: PointQuery) -> PointPage:
        """A page of ``layer``'s points matching ``query``."""
        return select_points(self.engine, layer, query)

    def search(self, layers: list[str], text: str, limit: int) -> pd.DataFrame:
        """Named points of ``layers`` containing ``text``: layer, name, x, y."""
        return search_points(self.engine, layers, text, limit=limit)

    def postcode(self, candidates: list[tuple[str, str]]) -> PostcodeMatch | None:
        """The first of ``candidates`` ((kind, key) readings of a search) found in the postcode lookup."""
        return first_match(self.engine, candidates)
