"""Reading and writing layers. A write is one transaction: all of a layer lands or none of it."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from insight.errors import ConfigError, NotFoundError
from insight.geo.crs import STORAGE_CRS, ewkt
from insight.store.models import Area, AreaLookup, Feature, FeatureTag, IndicatorValue, Layer, Organisation

Progress = Callable[[int, int], None]
AfterWrite = Callable[[Connection, int], None]
CHUNK = 5000

_CHILD: dict[str, type[Area] | type[Feature] | type[IndicatorValue] | type[AreaLookup]] = {
    "boundary": Area, "points": Feature, "indicator": IndicatorValue, "lookup": AreaLookup,
}


@dataclass(frozen=True)
class LayerSummary:
    """What the catalogue shows of a layer."""

    name: str
    kind: str
    title: str
    vintage: str | None
    area_type: str | None
    publisher: str
    licence: str
    attribution: str
    source: str
    sensitivity: str
    illustrative: bool
    is_authority: bool
    theme: str | None
    asset_kind: str | None
    geography: str | None
    description: str
    feature_count: int
    period_start: str | None
    period_end: str | None
    loaded_at: datetime
    load_report: dict[str, Any]


def _chunks(rows: list[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _none_if_na(values: pd.Series) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values.tolist()]


def _rows(kind: str, frame: pd.DataFrame, layer_id: int, meta: dict[str, Any]) -> list[dict[str, Any]]:
    n = len(frame)
    base = {"layer_id": [layer_id] * n}
    if kind == "boundary":
        cols = {
            "code": frame["code"].astype(str).tolist(),
            "name": frame["name"].astype(str).tolist(),
            "area_type": [meta["area_type"]] * n,
            "vintage": [meta.get("vintage")] * n,
            "properties": frame["properties"].tolist(),
            "geom": ewkt(frame.geometry),
        }
    elif kind == "points":
        inside = frame["inside_authority"] if "inside_authority" in frame else pd.Series([None] * n)
        cols = {
            "source_id": _none_if_na(frame["source_id"]),
            "name": _none_if_na(frame["name"]),
            "category": _none_if_na(frame["category"]),
            "month": _none_if_na(frame["month"]),
            "inside_authority": [None if v is None else bool(v) for v in inside.tolist()],
            "properties": frame["properties"].tolist(),
            "geom": ewkt(frame.geometry),
        }
    elif kind == "indicator":
        cols = {
            c: _none_if_na(frame[c]) for c in ("area_code", "area_name", "geography", "indicator", "period")
        }
        cols["value"] = frame["value"].astype(float).tolist()
    elif kind == "lookup":
        cols = {
            c: _none_if_na(frame[c])
            for c in ("from_code", "from_geography", "from_name", "to_code", "to_geography", "to_name")
        }
        cols["weight"] = frame["weight"].astype(float).tolist()
    else:
        raise ConfigError(f"unknown layer kind '{kind}'; expected boundary, points, indicator or lookup")
    cols.update(base)
    keys = list(cols)
    return [dict(zip(keys, values)) for values in zip(*(cols[k] for k in keys))]


def _organisation_id(conn: Connection, slug: str | None) -> int | None:
    if not slug:
        return None
    found = conn.execute(select(Organisation.id).where(Organisation.slug == slug)).scalar_one_or_none()
    if found is not None:
        return found
    return conn.execute(
        insert(Organisation)
        .values(slug=slug, name=slug, kind="vcfs", created_at=datetime.now(UTC))
        .returning(Organisation.id)
    ).scalar_one()


def write_layer(
    engine: Engine,
    meta: dict[str, Any],
    kind: str,
    frame: pd.DataFrame,
    *,
    report: dict[str, Any],
    source_file: str | None = None,
    checksum: str | None = None,
    is_authority: bool = False,
    owner: str | None = None,
    period: tuple[str | None, str | None] = (None, None),
    progress: Progress | None = None,
    after_write: AfterWrite | None = None,
) -> int:
    """Replace the layer ``meta['name']`` with ``frame`` in one transaction; return its id.

    ``frame`` has the columns of the loader contract for ``kind`` (plus
    ``inside_authority`` for points). On any error the transaction is rolled back
    and the store is exactly as before. ``after_write(conn, layer_id)`` runs in the
    same transaction (ingest uses it to tag points with their areas).
    """
    child = _CHILD[kind]
    values = {
        **meta,
        "kind": kind,
        "is_authority": is_authority,
        "loaded_at": datetime.now(UTC),
        "source_file": source_file,
        "source_checksum": checksum,
        "feature_count": len(frame),
        "period_start": period[0],
        "period_end": period[1],
        "load_report": report,
    }
    with engine.begin() as conn:
        values["owner_org_id"] = _organisation_id(conn, owner)
        if is_authority:
            conn.execute(update(Layer).where(Layer.is_authority.is_(True)).values(is_authority=False))
        layer_id = conn.execute(select(Layer.id).where(Layer.name == meta["name"])).scalar_one_or_none()
        if layer_id is None:
            layer_id = conn.execute(insert(Layer).values(**values).returning(Layer.id)).scalar_one()
        else:
            conn.execute(delete(FeatureTag).where(FeatureTag.boundary_layer_id == layer_id))
            conn.execute(
                delete(FeatureTag).where(
                    FeatureTag.feature_id.in_(select(Feature.id).where(Feature.layer_id == layer_id))
                )
            )
            for table in _CHILD.values():
                conn.execute(delete(table).where(table.layer_id == layer_id))
            conn.execute(update(Layer).where(Layer.id == layer_id).values(**values))
        rows = _rows(kind, frame, layer_id, meta)
        done = 0
        for chunk in _chunks(rows):
            conn.execute(insert(child), chunk)
            done += len(chunk)
            if progress:
                progress(done, len(rows))
        if after_write:
            after_write(conn, layer_id)
    return layer_id


def layer_summaries(engine: Engine) -> list[LayerSummary]:
    """Every layer with its provenance and counts, boundaries first."""
    with engine.connect() as conn:
        rows = conn.execute(select(Layer.__table__)).mappings().all()
    order = {"boundary": 0, "lookup": 1, "indicator": 2, "points": 3}
    out = [LayerSummary(**{k: r[k] for k in LayerSummary.__dataclass_fields__}) for r in rows]
    return sorted(out, key=lambda s: (order.get(s.kind, 9), s.name))


def _layer_id(conn: Connection, name: str) -> int:
    layer_id = conn.execute(select(Layer.id).where(Layer.name == name)).scalar_one_or_none()
    if layer_id is None:
        known = ", ".join(conn.execute(select(Layer.name).order_by(Layer.name)).scalars())
        raise NotFoundError(f"no layer named '{name}' (loaded layers: {known or 'none'})")
    return layer_id


def _geoms(wkb: list[bytes | None]) -> np.ndarray:
    return shapely.from_wkb(np.array([None if b is None else bytes(b) for b in wkb], dtype=object))


def read_areas(engine: Engine, layer: str) -> gpd.GeoDataFrame:
    """The areas of a boundary layer: code, name, area_type, vintage, properties, geometry (EPSG:4326)."""
    with engine.connect() as conn:
        layer_id = _layer_id(conn, layer)
        rows = conn.execute(
            select(
                Area.code, Area.name, Area.area_type, Area.vintage, Area.properties,
                func.ST_AsBinary(Area.geom).label("wkb"),
            ).where(Area.layer_id == layer_id).order_by(Area.code)
        ).all()
    frame = pd.DataFrame(rows, columns=["code", "name", "area_type", "vintage", "properties", "wkb"])
    return gpd.GeoDataFrame(
        frame.drop(columns="wkb"), geometry=_geoms(frame["wkb"].tolist()), crs=STORAGE_CRS
    )


def read_features(engine: Engine, layer: str) -> gpd.GeoDataFrame:
    """The points of a layer: id, source_id, name, category, month, inside_authority, properties, geometry."""
    with engine.connect() as conn:
        layer_id = _layer_id(conn, layer)
        rows = conn.execute(
            select(
                Feature.id, Feature.source_id, Feature.name, Feature.category, Feature.month,
                Feature.inside_authority, Feature.properties,
                func.ST_AsBinary(Feature.geom).label("wkb"),
            ).where(Feature.layer_id == layer_id).order_by(Feature.id)
        ).all()
    cols = ["id", "source_id", "name", "category", "month", "inside_authority", "properties", "wkb"]
    frame = pd.DataFrame(rows, columns=cols)
    return gpd.GeoDataFrame(
        frame.drop(columns="wkb"), geometry=_geoms(frame["wkb"].tolist()), crs=STORAGE_CRS
    )


def read_indicator_values(engine: Engine, layer: str) -> pd.DataFrame:
    """Tidy indicator values of a layer: area_code, area_name, geography, indicator, period, value."""
    cols = ["area_code", "area_name", "geography", "indicator", "period", "value"]
    with engine.connect() as conn:
        layer_id = _layer_id(conn, layer)
        rows = conn.execute(
            select(*(getattr(IndicatorValue, c) for c in cols)).where(IndicatorValue.layer_id == layer_id)
        ).all()
    return pd.DataFrame(rows, columns=cols)


def read_lookups(engine: Engine, layer: str) -> pd.DataFrame:
    """A lookup layer: from_code, from_geography, from_name, to_code, to_geography, to_name, weight."""
    cols = ["from_code", "from_geography", "from_name", "to_code", "to_geography", "to_name", "weight"]
    with engine.connect() as conn:
        layer_id = _layer_id(conn, layer)
        rows = conn.execute(
            select(*(getattr(AreaLookup, c) for c in cols)).where(AreaLookup.layer_id == layer_id)
        ).all()
    return pd.DataFrame(rows, columns=cols)


def authority_geometry(engine: Engine) -> BaseGeometry | None:
    """The union of the authority layer's areas (EPSG:4326), or None when none is loaded."""
    with engine.connect() as conn:
        name = conn.execute(select(Layer.name).where(Layer.is_authority.is_(True))).scalar_one_or_none()
    if name is None:
        return None
    areas = read_areas(engine, name)
    return shapely.union_all(areas.geometry.values) if len(areas) else None


def layer_ids(conn: Connection, kind: str) -> list[int]:
    """Ids of every layer of ``kind``, oldest first."""
    return list(conn.execute(select(Layer.id).where(Layer.kind == kind).order_by(Layer.id)).scalars())


def areas_for_tagging(conn: Connection, layer_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Area ids and geometries (EPSG:4326) of a boundary layer, sorted by code (the edge rule's order)."""
    rows = conn.execute(
        select(Area.id, func.ST_AsBinary(Area.geom)).where(Area.layer_id == layer_id).order_by(Area.code)
    ).all()
    return np.array([r[0] for r in rows], dtype=np.int64), _geoms([r[1] for r in rows])


def feature_coordinates(conn: Connection, layer_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature ids with x (longitude) and y (latitude); NaN where a feature has no location."""
    rows = conn.execute(
        select(Feature.id, func.ST_X(Feature.geom), func.ST_Y(Feature.geom)).where(Feature.layer_id == layer_id)
    ).all()
    if not rows:
        empty = np.array([], dtype=float)
        return np.array([], dtype=np.int64), empty, empty
    ids, xs, ys = zip(*rows)
    return np.array(ids, dtype=np.int64), _floats(xs), _floats(ys)


def _floats(values: Sequence[float | None]) -> np.ndarray:
    """Coordinates as floats, NaN where missing."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def replace_tags(
    conn: Connection, *, boundary_layer_id: int, point_layer_id: int, feature_ids: np.ndarray, area_ids: np.ndarray
) -> None:
    """Replace the tags of one point layer in one boundary layer (rows only where a point has an area)."""
    stale = select(Feature.id).where(Feature.layer_id == point_layer_id)
    conn.execute(
        delete(FeatureTag).where(
            FeatureTag.boundary_layer_id == boundary_layer_id, FeatureTag.feature_id.in_(stale)
        )
    )
    keep = area_ids >= 0
    rows = [
        {"boundary_layer_id": boundary_layer_id, "feature_id": int(f), "area_id": int(a)}
        for f, a in zip(feature_ids[keep].tolist(), area_ids[keep].tolist())
    ]
    for chunk in _chunks(rows, 20_000):
        conn.execute(insert(FeatureTag), chunk)
