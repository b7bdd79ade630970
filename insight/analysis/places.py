"""A read-only, in-memory snapshot of the store for place-based analysis.

Profiles, ward tables and the map's figures are computed from this snapshot with pure
functions. It holds boundaries, small-area figures and the counts stored at load time
(per area, month, category and asset kind), never the points themselves: points are
read from the store through a :class:`PointSource` when a view asks for them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from insight.errors import NotFoundError, StoreError
from insight.store import Engine, LayerSummary, layer_summaries, read_areas, read_indicator_values, read_lookups
from insight.store.counts import read_counts
from insight.store.points import PointPage, PointQuery, StorePointSource
from insight.store.postcodes import PostcodeMatch

NO_MONTH = -1


def month_number(month: str) -> int:
    """'YYYY-MM' as a month count (year*12 + month-1), so periods are integer ranges."""
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def month_label(number: int) -> str:
    """Inverse of :func:`month_number`."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


@dataclass
class BoundaryData:
    """A boundary layer's areas (sorted by code; position = area index) and its provenance."""

    meta: LayerSummary
    areas: gpd.GeoDataFrame

    def index_of(self, code_or_name: str) -> int:
        """Position of an area given its code or (case-insensitive) name."""
        codes = self.areas["code"].tolist()
        if code_or_name in codes:
            return int(codes.index(code_or_name))
        names = self.areas["name"].str.casefold().tolist()
        if code_or_name.casefold() in names:
            return int(names.index(code_or_name.casefold()))
        sample = ", ".join(f"{c} ({n})" for c, n in zip(codes[:5], self.areas["name"].tolist()[:5]))
        raise NotFoundError(
            f"no area '{code_or_name}' in {self.meta.name}: give a code or name, e.g. {sample}"
        )


@dataclass(frozen=True)
class Counts:
    """Stored counts of one point layer, as arrays aligned by row.

    ``area`` is the area's position in its boundary layer (-1 on whole-layer rows),
    ``month`` a month number (:data:`NO_MONTH` when undated), ``category`` a code into
    the layer's ``categories``, ``kind`` an asset kind or None, ``n`` how many points.
    """

    area: np.ndarray
    month: np.ndarray
    category: np.ndarray
    kind: np.ndarray
    n: np.ndarray

    def where(self, mask: np.ndarray) -> Counts:
        """The rows where ``mask`` holds."""
        return Counts(self.area[mask], self.month[mask], self.category[mask], self.kind[mask], self.n[mask])

    def total(self) -> int:
        """How many points the rows count."""
        return int(self.n.sum())


def _months(values: pd.Series) -> np.ndarray:
    """Month numbers of 'YYYY-MM' labels (:data:`NO_MONTH` where missing), each distinct label parsed once."""
    codes, labels = pd.factorize(values, use_na_sentinel=True)
    numbers = np.array([month_number(str(m)) for m in labels] + [NO_MONTH], dtype=np.int64)
    return numbers[np.where(codes < 0, len(labels), codes)]


def counts_from_frame(frame: pd.DataFrame, area: np.ndarray, categories: list[str]) -> Counts:
    """:class:`Counts` from stored rows (``month, category, asset_kind, n``) and each row's area position."""
    codes = pd.Categorical(frame["category"].fillna("(none)"), categories=categories).codes.astype(np.int64)
    keep = codes >= 0
    return Counts(
        area=np.asarray(area, dtype=np.int64)[keep], month=_months(frame["month"])[keep], category=codes[keep],
        kind=frame["asset_kind"].to_numpy(dtype=object)[keep], n=frame["n"].to_numpy(dtype=np.int64)[keep],
    )


class PointSource(Protocol):
    """Where counts and points come from on demand (the store, in the app and the CLI)."""

    def counts(self, layer: str, boundary: str) -> pd.DataFrame:
        """Stored counts of ``layer`` in ``boundary``: area_code, month, category, asset_kind, n."""

    def counts_within(self, layer: str, polygons: list[BaseGeometry]) -> pd.DataFrame:
        """Counts of ``layer`` inside each polygon: area (position), month, category, asset_kind, n."""

    def points(self, layer: str, query: PointQuery) -> PointPage:
        """A page of ``layer``'s points matching ``query``."""

    def search(self, layers: list[str], text: str, limit: int) -> pd.DataFrame:
        """Named points of ``layers`` containing ``text``: layer, name, x, y."""

    def postcode(self, candidates: list[tuple[str, str]]) -> PostcodeMatch | None:
        """The first of ``candidates`` ((kind, key) readings of a search) found in the postcode lookup."""


@dataclass
class PointData:
    """A point layer as the app knows it: its whole-layer counts, and its counts per boundary layer on demand."""

    meta: LayerSummary
    totals: Counts
    categories: list[str]
    by_boundary: dict[str, Counts] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.totals.total()

    def months(self) -> tuple[int, int] | None:
        """First and last month number with records; None when no record is dated."""
        present = self.totals.month[(self.totals.month != NO_MONTH) & (self.totals.n > 0)]
        return (int(present.min()), int(present.max())) if len(present) else None

    def in_period(self, period: tuple[int, int] | None) -> int:
        """How many records fall in ``period`` (every record when None)."""
        if period is None:
            return len(self)
        t = self.totals
        return int(t.n[(t.month >= period[0]) & (t.month <= period[1])].sum())

    def kinds(self) -> list[str]:
        """The asset kinds the layer's records have."""
        return sorted({k for k in self.totals.kind.tolist() if k})


@dataclass
class Places:
    """Everything the analyses read: boundaries, points, small-area population and deprivation."""

    boundaries: dict[str, BoundaryData]
    points: dict[str, PointData]
    layers: dict[str, LayerSummary]
    population: pd.DataFrame | None = None
    deprivation: pd.DataFrame | None = None
    lookups: dict[str, pd.DataFrame] = field(default_factory=dict)
    cache: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    source: PointSource | None = field(default=None, repr=False)

    @property
    def authority(self) -> BoundaryData | None:
        """The council's own outline, the default comparator."""
        return next((b for b in self.boundaries.values() if b.meta.is_authority), None)

    @property
    def lsoa(self) -> BoundaryData | None:
        """The small-area boundary layer that population and deprivation are published for."""
        candidates = [b for b in self.boundaries.values() if b.meta.area_type == "lsoa"]
        return candidates[0] if candidates else None

    def boundary(self, name: str) -> BoundaryData:
        """The boundary layer called ``name``; NotFoundError listing the boundary layers otherwise."""
        if name not in self.boundaries:
            raise NotFoundError(
                f"no boundary layer '{name}' (boundary layers: {', '.join(sorted(self.boundaries))})"
            )
        return self.boundaries[name]

    def point_layer(self, name: str) -> PointData:
        """The point layer called ``name``; NotFoundError listing the point layers otherwise."""
        if name not in self.points:
            raise NotFoundError(f"no point layer '{name}' (point layers: {', '.join(sorted(self.points))})")
        return self.points[name]

    def points_source(self) -> PointSource:
        """Where points and counts are read on demand; StoreError when the snapshot has none."""
        if self.source is None:
            raise StoreError("this snapshot was made without a store, so it cannot read points")
        return self.source

    def counts(self, layer: str | PointData, boundary: BoundaryData) -> Counts:
        """A point layer's counts in each area of ``boundary`` (stored ones, read once; drawn areas counted now)."""
        points = self.point_layer(layer) if isinstance(layer, str) else layer
        if boundary.meta.area_type == "drawn":
            frame = self.points_source().counts_within(points.meta.name, list(boundary.areas.geometry))
            return counts_from_frame(frame, frame["area"].to_numpy(), points.categories)
        name = boundary.meta.name
        if name not in points.by_boundary:
            frame = self.points_source().counts(points.meta.name, name)
            positions = pd.Index(boundary.areas["code"]).get_indexer(frame["area_code"])
            points.by_boundary[name] = counts_from_frame(frame, positions, points.categories)
        return points.by_boundary[name]


def _point_data(meta: LayerSummary, totals: pd.DataFrame) -> PointData:
    """A point layer from its whole-layer counts."""
    categories = sorted(set(totals["category"].fillna("(none)").tolist()))
    counts = counts_from_frame(totals, np.full(len(totals), -1, dtype=np.int64), categories)
    return PointData(meta=meta, totals=counts, categories=categories)


def _population(engine: Engine, layers: dict[str, LayerSummary]) -> tuple[pd.DataFrame | None, str | None]:
    for meta in layers.values():
        if meta.kind == "indicator" and meta.theme == "population":
            values = read_indicator_values(engine, meta.name)
            wide = values.pivot_table(index="area_code", columns="indicator", values="value", aggfunc="sum")
            return wide, meta.name
    return None, None


def _deprivation(engine: Engine, layers: dict[str, LayerSummary]) -> tuple[pd.DataFrame | None, str | None]:
    for meta in layers.values():
        if meta.kind == "indicator" and meta.theme == "deprivation":
            values = read_indicator_values(engine, meta.name)
            wide = values.pivot_table(index="area_code", columns="indicator", values="value", aggfunc="first")
            wide.attrs["geography"] = values["geography"].iloc[0] if len(values) else None
            return wide, meta.name
    return None, None


def load_places(engine: Engine, *, include_restricted: bool = False) -> Places:
    """Read the store into a :class:`Places` snapshot (public layers unless ``include_restricted``).

    Boundaries, small-area figures and each point layer's whole-layer counts are read now;
    counts per boundary layer when first used; points only when asked for, through the store.
    """
    summaries = {
        s.name: s for s in layer_summaries(engine) if include_restricted or s.sensitivity == "public"
    }
    boundaries = {
        name: BoundaryData(meta=meta, areas=read_areas(engine, name).reset_index(drop=True))
        for name, meta in summaries.items() if meta.kind == "boundary"
    }
    points = {
        name: _point_data(meta, read_counts(engine, name, None))
        for name, meta in summaries.items() if meta.kind == "points"
    }
    population, _ = _population(engine, summaries)
    deprivation, _ = _deprivation(engine, summaries)
    lookups = {name: read_lookups(engine, name) for name, meta in summaries.items() if meta.kind == "lookup"}
    return Places(boundaries, points, summaries, population, deprivation, lookups, source=StorePointSource(engine))
