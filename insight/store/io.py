"""Reading and writing layers. A write is one transaction: all of a layer lands or none of it."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from insight.store.models import Area, AreaCount, AreaLookup, Feature, FeatureTag, IndicatorValue, Layer, Organisation

Progress = Callable[[int, int], None]
AfterWrite = Callable[[Connection, int], None]
CHUNK = 5000
DEFER_TAG_INDEXES = 50_000
BULK_CHUNK = 50_000
WRITE_CACHE_KIB = 131_072

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


def _is_text(values: pd.Series) -> bool:
    """True for a properties column of JSON text (a string column), False for one of dicts."""
    return pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype)


def _property_values(values: pd.Series) -> list[Any]:
    """Properties as Python values for the ORM path (JSON text decoded)."""
    return [json.loads(v) for v in values.tolist()] if _is_text(values) else values.tolist()


def _property_texts(values: pd.Series) -> list[str]:
    """Properties as JSON text for the bulk path (text columns pass as they are)."""
    if _is_text(values):
        return list(values.tolist())
    encode = json.JSONEncoder().encode
    return [encode(p) for p in values.tolist()]


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
            "properties": _property_values(frame["properties"]),
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


_POINT_COLUMNS = ("layer_id", "source_id", "name", "category", "month", "inside_authority", "properties")
_SUSPENDED = ("ggi_features_geom", "tmi_features_geom", "gii_features_geom")
_POINT_TYPE = 0


def _all_points(geometry: gpd.GeoSeries) -> bool:
    """True when every geometry is a point or missing (the fast write path's case)."""
    types = shapely.get_type_id(np.asarray(geometry.values, dtype=object))
    return bool(np.isin(types, (_POINT_TYPE, -1)).all())


def _objects(values: pd.Series) -> list[Any]:
    """A column as Python values, None where missing."""
    array = values.to_numpy(dtype=object, copy=True)
    array[pd.isna(array)] = None
    return list(array.tolist())


def _point_columns(frame: pd.DataFrame, layer_id: int) -> tuple[list[list[Any]], np.ndarray, np.ndarray]:
    """The non-spatial columns of a points frame as lists, plus x and y (NaN where no location).

    Coordinates are rounded to 7 decimals (about 1 cm), the precision the store has always kept.
    """
    n = len(frame)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    x = np.round(shapely.get_x(geoms), 7)
    y = np.round(shapely.get_y(geoms), 7)
    inside = frame["inside_authority"] if "inside_authority" in frame else pd.Series([None] * n, dtype=object)
    columns = [
        [layer_id] * n,
        *(_objects(frame[c]) for c in ("source_id", "name", "category", "month")),
        [None if v is None or v is pd.NA or v != v else bool(v) for v in inside.tolist()],
        _property_texts(frame["properties"]),
    ]
    return columns, x, y


def _write_points(conn: Connection, frame: pd.DataFrame, layer_id: int, progress: Progress | None) -> None:
    """Insert a points frame with the back end's bulk path (COPY on PostGIS, raw batches on SpatiaLite)."""
    write_point_rows(conn, frame, layer_id, progress)


def write_point_rows(
    conn: Connection, frame: pd.DataFrame, layer_id: int, progress: Progress | None = None, *, with_ids: bool = False
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Insert the points of ``frame`` (every geometry a point or missing) into layer ``layer_id`` on the
    connection's transaction; return the new feature ids (when asked; always on SpatiaLite) and the x
    and y stored (NaN where no location)."""
    columns, x, y = _point_columns(frame, layer_id)
    if conn.dialect.name != "postgresql":
        return _batch_points(conn, columns, x, y, progress), x, y
    ids = None
    if with_ids:
        found = conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('features', 'id')) FROM generate_series(1, %(n)s)", {"n": len(x)}
        ).scalars().all()
        ids = np.asarray(found, dtype=np.int64)
    _copy_points(conn, columns, x, y, progress, ids)
    return ids, x, y


def _coordinate_params(values: np.ndarray) -> list[float | None]:
    """Coordinates as DB parameters, None where missing."""
    out = values.astype(object)
    out[np.isnan(values)] = None
    return list(out.tolist())


def _copy_points(
    conn: Connection, columns: list[list[Any]], x: np.ndarray, y: np.ndarray, progress: Progress | None,
    ids: np.ndarray | None = None,
) -> None:
    """COPY the rows into ``features`` on the connection's own transaction (EWKB hex geometry)."""
    located = ~np.isnan(x)
    wkb = np.full(len(x), None, dtype=object)
    wkb[located] = shapely.to_wkb(
        shapely.set_srid(shapely.points(x[located], y[located]), 4326), hex=True, include_srid=True
    )
    columns = [*columns, wkb.tolist()] if ids is None else [ids.tolist(), *columns, wkb.tolist()]
    sql = f"COPY features ({'' if ids is None else 'id, '}{', '.join(_POINT_COLUMNS)}, geom) FROM STDIN"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    n = len(x)
    with cursor.copy(sql) as copy:
        for start in range(0, n, BULK_CHUNK):
            for row in zip(*(c[start : start + BULK_CHUNK] for c in columns)):
                copy.write_row(row)
            if progress:
                progress(min(start + BULK_CHUNK, n), n)


def _batch_points(
    conn: Connection, columns: list[list[Any]], x: np.ndarray, y: np.ndarray, progress: Progress | None
) -> np.ndarray:
    """Insert the rows into SpatiaLite with ``executemany`` and fill the spatial index in one pass.

    The per-row geometry triggers are suspended inside the transaction and recreated
    before it commits (a failure rolls them back with everything else): every
    geometry here is a ``MakePoint(x, y, 4326)``, so the type check cannot fail, and
    the R-tree gets the same boxes the trigger would have written, in Hilbert order.
    Returns the new ids.
    """
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    first = int(cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM features").fetchone()[0])
    n = len(x)
    ids = list(range(first, first + n))
    saved = cursor.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'features' AND name IN "
        f"({', '.join('?' * len(_SUSPENDED))})", _SUSPENDED,
    ).fetchall()
    for name, _ in saved:
        cursor.execute(f'DROP TRIGGER "{name}"')
    sql = (f"INSERT INTO features (id, {', '.join(_POINT_COLUMNS)}, geom) "
           f"VALUES (?, {', '.join('?' * len(_POINT_COLUMNS))}, MakePoint(?, ?, 4326))")
    xs, ys = _coordinate_params(x), _coordinate_params(y)
    for start in range(0, n, BULK_CHUNK):
        part = slice(start, start + BULK_CHUNK)
        cursor.executemany(sql, zip(ids[part], *(c[part] for c in columns), xs[part], ys[part]))
        if progress:
            progress(min(start + BULK_CHUNK, n), n)
    if any(name == "gii_features_geom" for name, _ in saved):
        _index_points(cursor, np.arange(first, first + n), x, y)
    if any(name == "tmi_features_geom" for name, _ in saved) and n:
        cursor.execute("UPDATE geometry_columns_time SET last_insert = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                       "WHERE lower(f_table_name) = 'features' AND lower(f_geometry_column) = 'geom'")
    for _, trigger in saved:
        cursor.execute(trigger)
    return np.arange(first, first + n, dtype=np.int64)


def _z_order(values: np.ndarray) -> np.ndarray:
    """Each value scaled to 16 bits with its bits spread to the even positions (half a Morton code)."""
    low, span = values.min(), np.ptp(values)
    v: np.ndarray = ((values - low) / (span if span > 0 else 1.0) * 65535).astype(np.uint64)
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def _index_points(cursor: Any, ids: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Add located points to the SpatiaLite R-tree in Z order (neighbours together, as the tree likes)."""
    located = ~np.isnan(x)
    ids, x, y = ids[located], x[located], y[located]
    if not len(ids):
        return
    order = np.argsort(_z_order(x) | (_z_order(y) << np.uint64(1)), kind="stable")
    xs, ys = x[order].tolist(), y[order].tolist()
    cursor.executemany(
        "INSERT INTO idx_features_geom (pkid, xmin, xmax, ymin, ymax) VALUES (?, ?, ?, ?, ?)",
        zip(ids[order].tolist(), xs, xs, ys, ys),
    )


@contextmanager
def large_cache(conn: Connection) -> Iterator[None]:
    """On SpatiaLite, a page cache big enough for a bulk write's indexes, back to its size before it ends."""
    if conn.dialect.name != "sqlite":
        yield
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    before = cursor.execute("PRAGMA cache_size").fetchone()[0]
    cursor.execute(f"PRAGMA cache_size = {-WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(before)}")
        cursor.close()


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


def replace_layer(conn: Connection, values: dict[str, Any], *, is_authority: bool, owner: str | None) -> int:
    """Make the layer row ``values['name']`` hold ``values`` and empty it of areas, points, values, tags and
    counts (a new layer when there is none); return its id. Runs in the caller's transaction."""
    values["owner_org_id"] = _organisation_id(conn, owner)
    if is_authority:
        conn.execute(update(Layer).where(Layer.is_authority.is_(True)).values(is_authority=False))
    layer_id = conn.execute(select(Layer.id).where(Layer.name == values["name"])).scalar_one_or_none()
    if layer_id is None:
        layer_id = conn.execute(insert(Layer).values(**values).returning(Layer.id)).scalar_one()
    else:
        conn.execute(delete(AreaCount).where(
            (AreaCount.point_layer_id == layer_id) | (AreaCount.boundary_layer_id == layer_id)
        ))
        conn.execute(delete(FeatureTag).where(FeatureTag.boundary_layer_id == layer_id))
        conn.execute(
            delete(FeatureTag).where(
                FeatureTag.feature_id.in_(select(Feature.id).where(Feature.layer_id == layer_id))
            )
        )
        for table in _CHILD.values():
            conn.execute(delete(table).where(table.layer_id == layer_id))
        conn.execute(update(Layer).where(Layer.id == layer_id).values(**values))
    return layer_id


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
    with engine.begin() as conn, large_cache(conn):
        layer_id = replace_layer(conn, values, is_authority=is_authority, owner=owner)
        if kind == "points" and _all_points(frame.geometry):
            _write_points(conn, frame, layer_id, progress)
        else:
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
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM features WHERE layer_id = "
        + ("%s" if conn.dialect.name == "postgresql" else "?"),
        (layer_id,),
    )
    rows = cursor.fetchall()
    cursor.close()
    if not rows:
        empty = np.array([], dtype=float)
        return np.array([], dtype=np.int64), empty, empty
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    table = np.array(rows, dtype=float)
    return ids, np.ascontiguousarray(table[:, 1]), np.ascontiguousarray(table[:, 2])


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
    keep = np.flatnonzero(area_ids >= 0)
    keep = keep[np.argsort(feature_ids[keep], kind="stable")]
    features, areas = feature_ids[keep].tolist(), area_ids[keep].tolist()
    layer = [boundary_layer_id] * len(features)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        with cursor.copy("COPY feature_tags (boundary_layer_id, feature_id, area_id) FROM STDIN") as copy:
            for row in zip(layer, features, areas):
                copy.write_row(row)
    else:
        cursor.executemany(
            "INSERT INTO feature_tags (boundary_layer_id, feature_id, area_id) VALUES (?, ?, ?)",
            zip(layer, features, areas),
        )
    cursor.close()


_PG_TAG_SIZE = "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'feature_tags'::regclass"
_PG_TAG_CHECKS = ("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                  "WHERE conrelid = 'feature_tags'::regclass AND contype = 'f' ORDER BY conname")
_PG_TAG_INDEXES = ("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                   "WHERE indrelid = 'feature_tags'::regclass AND NOT indisprimary ORDER BY 1")
_SQLITE_TAG_INDEXES = ("SELECT name, sql FROM sqlite_master "
                       "WHERE type = 'index' AND tbl_name = 'feature_tags' AND sql IS NOT NULL ORDER BY name")


def _tag_suspension(cursor: Any, postgres: bool) -> tuple[list[str], list[str]]:
    """The statements that drop the secondary indexes (and, on PostGIS, the foreign keys) of
    ``feature_tags``, and those that make them again, as they are now."""
    if not postgres:
        found = cursor.execute(_SQLITE_TAG_INDEXES).fetchall()
        return [f'DROP INDEX "{name}"' for name, _ in found], [sql for _, sql in found]
    checks = cursor.execute(_PG_TAG_CHECKS).fetchall()
    indexes = cursor.execute(_PG_TAG_INDEXES).fetchall()
    drop = [f'ALTER TABLE feature_tags DROP CONSTRAINT "{name}"' for name, _ in checks]
    drop += [f"DROP INDEX {name}" for name, _ in indexes]
    make = [sql for _, sql in indexes]
    make += [f'ALTER TABLE feature_tags ADD CONSTRAINT "{name}" {sql}' for name, sql in checks]
    return drop, make


@contextmanager
def tag_indexes_deferred(conn: Connection, coming: int) -> Iterator[None]:
    """Build the secondary indexes of ``feature_tags`` (and check its foreign keys on PostGIS) once,
    after ``coming`` new tags, instead of row by row.

    Only when the new tags are many (at least :data:`DEFER_TAG_INDEXES`) and outnumber the stored
    ones (a first or a replaced large layer; never a partner's commit, which may run beside others):
    one sorted build, and on PostGIS one validating join per foreign key, then cost far
    less than per-row index inserts and per-row foreign-key triggers. Everything is
    dropped and remade inside the caller's transaction, so a failure (including a tag
    that breaks a foreign key) rolls back to the store as it was. On PostGIS this holds
    an exclusive lock on ``feature_tags`` until the load commits: readers of the tags
    wait for the end of such a load.
    """
    postgres = conn.dialect.name == "postgresql"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        size = _PG_TAG_SIZE if postgres else "SELECT coalesce(max(rowid), 0) FROM feature_tags"
        stored = int(cursor.execute(size).fetchone()[0] or 0)
        drop, make = _tag_suspension(cursor, postgres) if coming > max(stored, DEFER_TAG_INDEXES) else ([], [])
        for statement in drop:
            cursor.execute(statement)
        yield
        for statement in make:
            cursor.execute(statement)
    finally:
        cursor.close()
