"""The queries behind the in-memory snapshot of :mod:`insight.analysis.places`: ids, points and their tags."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from insight.store.models import Area, Feature, FeatureTag, Layer

POINT_COLUMNS = ["id", "name", "category", "month", "x", "y"]
TAG_COLUMNS = ["boundary", "feature", "area"]
AREA_ID_COLUMNS = ["layer_id", "area_id", "code"]


@dataclass(frozen=True)
class PointRows:
    """A point layer's features in id order, with their load-time tags.

    ``frame`` has ``id, name, category, month, x, y`` (x and y None without a
    location); ``tags`` has ``boundary, feature, area`` (layer, feature and area
    ids); ``properties`` is each feature's properties in the same order, when asked for.
    """

    layer_id: int
    frame: pd.DataFrame
    tags: pd.DataFrame
    properties: list[dict[str, Any]] | None = None


def _columns(rows: Sequence[Sequence[Any]], names: list[str]) -> pd.DataFrame:
    """A frame from result rows, built column-wise (much faster than from Row objects)."""
    if not rows:
        return pd.DataFrame({n: [] for n in names})
    return pd.DataFrame(dict(zip(names, (list(c) for c in zip(*rows)))))


def layer_and_area_ids(engine: Engine) -> tuple[dict[str, int], pd.DataFrame]:
    """Every layer's id by name, and every area's ``layer_id, area_id, code``."""
    with engine.connect() as conn:
        ids = {name: int(layer_id) for name, layer_id in conn.execute(select(Layer.name, Layer.id)).all()}
        areas = conn.execute(select(Area.layer_id, Area.id, Area.code)).all()
    return ids, _columns(areas, AREA_ID_COLUMNS)


def read_point_rows(
    engine: Engine, layer: str, *, boundary_layer_ids: Sequence[int], properties: bool = False
) -> PointRows:
    """The features of point layer ``layer`` and their tags in the boundary layers ``boundary_layer_ids``."""
    with engine.connect() as conn:
        layer_id = conn.execute(select(Layer.id).where(Layer.name == layer)).scalar_one()
        rows = conn.execute(
            select(
                Feature.id, Feature.name, Feature.category, Feature.month,
                func.ST_X(Feature.geom), func.ST_Y(Feature.geom),
            ).where(Feature.layer_id == layer_id).order_by(Feature.id)
        ).all()
        tag_rows = conn.execute(
            select(FeatureTag.boundary_layer_id, FeatureTag.feature_id, FeatureTag.area_id)
            .join(Feature, Feature.id == FeatureTag.feature_id)
            .where(Feature.layer_id == layer_id, FeatureTag.boundary_layer_id.in_(list(boundary_layer_ids)))
        ).all()
        props = list(conn.execute(
            select(Feature.properties).where(Feature.layer_id == layer_id).order_by(Feature.id)
        ).scalars()) if properties else None
    return PointRows(layer_id=layer_id, frame=_columns(rows, POINT_COLUMNS), tags=_columns(tag_rows, TAG_COLUMNS),
                     properties=props)
