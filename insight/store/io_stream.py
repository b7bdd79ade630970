"""Writing a large point layer chunk by chunk, still in one transaction: all of it lands or none of it.

Only what tagging and counting need is kept across chunks (ids, coordinates, and
codes for month and category: about 40 bytes a point), never the chunks themselves.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select, update

from insight.errors import StoreError
from insight.store.counts import PointValues, point_values
from insight.store.io import AfterWrite, large_cache, replace_layer, write_point_rows
from insight.store.models import Layer

Tagger = Callable[[Connection, int, PointValues], None]


class _Codes:
    """Text values as small integer codes shared across chunks (-1 for missing)."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.parts: list[np.ndarray] = []

    def add(self, values: pd.Series) -> None:
        codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
        lookup = np.array([self.index.setdefault(u, len(self.index)) for u in uniques] + [-1], dtype=np.int32)
        self.parts.append(lookup[codes])

    def values(self) -> np.ndarray:
        decoded = np.array([*self.index, None], dtype=object)
        codes = np.concatenate(self.parts) if self.parts else np.array([], dtype=np.int32)
        out: np.ndarray = decoded[codes]
        return out


class _Collected:
    """What counting needs of the points written so far."""

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.month, self.category = _Codes(), _Codes()
        self.rows = 0

    def add(self, ids: np.ndarray, x: np.ndarray, y: np.ndarray, frame: pd.DataFrame) -> None:
        self.ids.append(ids)
        self.x.append(x)
        self.y.append(y)
        self.month.add(frame["month"])
        self.category.add(frame["category"])
        self.rows += len(ids)

    def values(self, conn: Connection, layer_id: int) -> PointValues:
        """The points as :func:`~insight.store.counts.point_values` would read them back."""
        theme, asset_kind = conn.execute(select(Layer.theme, Layer.asset_kind).where(Layer.id == layer_id)).one()
        if theme == "assets":
            return point_values(conn, layer_id)
        n = self.rows
        kind = np.empty(n, dtype=object)
        kind[:] = asset_kind or None

        def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.array([], dtype=dtype)

        return PointValues(joined(self.ids, np.int64), joined(self.x, float), joined(self.y, float),
                           self.month.values(), self.category.values(), kind)


def write_points_stream(
    engine: Engine,
    meta: dict[str, Any],
    frames: Iterable[pd.DataFrame],
    *,
    finish: Callable[[], dict[str, Any]],
    source_file: str | None,
    is_authority: bool = False,
    owner: str | None = None,
    progress: Callable[[int], None] | None = None,
    tag: Tagger | None = None,
    after_write: AfterWrite | None = None,
) -> int:
    """Replace point layer ``meta['name']`` with the points of ``frames``, written as they come, in one
    transaction; return its id.

    ``frames`` may raise (e.g. a LoadError once the whole file is checked): the transaction is then
    rolled back and the store is exactly as before. Once every frame is written, ``finish()`` gives the
    layer's closing values (``feature_count``, period, ``load_report``, ``source_checksum``), then
    ``tag(conn, layer_id, values)`` tags and counts the points from what was kept of them, then
    ``after_write(conn, layer_id)`` runs, all in the same transaction. ``progress(rows)`` follows the writing.
    """
    values: dict[str, Any] = {
        **meta, "kind": "points", "is_authority": is_authority, "loaded_at": datetime.now(UTC),
        "source_file": source_file, "source_checksum": None, "feature_count": 0, "period_start": None,
        "period_end": None, "load_report": {},
    }
    with engine.begin() as conn, large_cache(conn):
        layer_id = replace_layer(conn, values, is_authority=is_authority, owner=owner)
        kept = _Collected()
        for frame in frames:
            ids, x, y = write_point_rows(conn, frame, layer_id, with_ids=True)
            if ids is None:
                raise StoreError("the store did not give ids for the new points; nothing was changed")
            kept.add(ids, x, y, frame)
            if progress:
                progress(kept.rows)
        conn.execute(update(Layer).where(Layer.id == layer_id).values(**finish()))
        if tag is not None:
            tag(conn, layer_id, kept.values(conn, layer_id))
        if after_write:
            after_write(conn, layer_id)
    return layer_id
