"""A checked survey file's respondents kept as JSON, and written from it as the layer's new contents.

The survey loader's frame is turned into JSON when the file is staged and back into
the same frame when it is committed, so the file is read and checked once. Writing
follows :func:`insight.sources.ingest.load_layer` from the point where the file has
been read: points are flagged against the council boundary, the layer is replaced
in one transaction, and its points are tagged with their areas.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from insight.errors import ConfigError, LoadError, Problem
from insight.geo.crs import inside_mask
from insight.layers import LayerSpec
from insight.sources import Loaded
from insight.sources.ingest import LoadReport, retag
from insight.sources.points import points_frame
from insight.store import Connection, Engine, authority_geometry, write_layer
from insight.store.io import layer_ids

TEXT_COLUMNS = ("source_id", "name", "category", "month")
TEXT_LIMITS = {"source_id": 100, "name": 300, "category": 100}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def check_loaded(loaded: Loaded, spec: LayerSpec, source: str) -> None:
    """Refuse a loaded file the store could not hold: the wrong kind, or text longer than its column."""
    if loaded.kind != spec.kind:
        raise ConfigError(f"layer '{spec.name}' is declared as kind '{spec.kind}' but loader '{spec.loader}' "
                          f"produces '{loaded.kind}'")
    problems = []
    for column, limit in TEXT_LIMITS.items():
        values = [_text(v) for v in loaded.frame[column]]
        problems += [Problem(f"text is longer than {limit} characters", row=row, column=column)
                     for row, v in enumerate(values, start=1) if v is not None and len(v) > limit][:50]
    if problems:
        raise LoadError(source, problems)


def frame_as_json(frame: gpd.GeoDataFrame) -> dict[str, list[Any]]:
    """A survey points frame as JSON-safe columns (geometries as hexadecimal WKB)."""
    columns: dict[str, list[Any]] = {c: [_text(v) for v in frame[c]] for c in TEXT_COLUMNS}
    columns["properties"] = [dict(p or {}) for p in frame["properties"]]
    columns["geometry"] = [None if g is None else shapely.to_wkb(g, hex=True) for g in frame.geometry]
    return columns


def frame_from_json(columns: dict[str, list[Any]]) -> gpd.GeoDataFrame:
    """The frame kept by :func:`frame_as_json`."""
    text = {c: np.array(columns[c], dtype=object) for c in TEXT_COLUMNS}
    geometry = np.array([None if g is None else shapely.from_wkb(g) for g in columns["geometry"]], dtype=object)
    return points_frame(source_id=text["source_id"], name=text["name"], category=text["category"],
                        month=text["month"], properties=list(columns["properties"]), geometry=geometry)


def _period(frame: gpd.GeoDataFrame) -> tuple[str | None, str | None]:
    months = [m for m in frame["month"] if isinstance(m, str)]
    return (min(months), max(months)) if months else (None, None)


def write_respondents(
    engine: Engine,
    spec: LayerSpec,
    frame: gpd.GeoDataFrame,
    *,
    rows_read: int,
    notes: list[str],
    filename: str,
    sha256: str,
    after_write: Callable[[Connection, int], None],
) -> None:
    """Replace layer ``spec`` with ``frame`` in one transaction; ``after_write(conn, layer_id)`` runs last in it."""
    started = time.perf_counter()
    frame = frame.copy()
    report = LoadReport(layer=spec.name, kind=spec.kind, rows_read=rows_read, stored=len(frame), notes=list(notes))
    missing = frame.geometry.isna() | frame.geometry.is_empty
    report.no_location = int(missing.sum())
    authority = authority_geometry(engine)
    if authority is not None:
        frame["inside_authority"] = inside_mask(frame.geometry, authority)
        report.outside_authority = sum(1 for v in frame["inside_authority"] if v is not None and not v)
    else:
        frame["inside_authority"] = None
        report.notes.append("no authority boundary loaded: points were not checked against it")

    def tag_then(conn: Connection, layer_id: int) -> None:
        retag(conn, point_layers=[layer_id], boundary_layers=layer_ids(conn, "boundary"))
        after_write(conn, layer_id)

    write_layer(engine, spec.metadata(), spec.kind, frame,
                report=report.as_dict() | {"seconds": round(time.perf_counter() - started, 3)},
                source_file=filename, checksum=sha256, is_authority=spec.authority, owner=spec.owner,
                period=_period(frame), after_write=tag_then)
