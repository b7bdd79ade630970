"""A read-only, in-memory snapshot of the store for place-based analysis.

Profiles, ward tables and the map's filters are computed from this snapshot with
pure functions. Points carry the area index they were tagged with at load time in
every boundary layer, so a view is an integer filter and a count, not a spatial join.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from insight.errors import NotFoundError
from insight.store import Engine, LayerSummary, layer_summaries, read_areas, read_indicator_values, read_lookups
from insight.store.snapshot import layer_and_area_ids, read_point_rows

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


@dataclass
class PointData:
    """A point layer as arrays aligned by position, with its tags in each boundary layer."""

    meta: LayerSummary
    ids: np.ndarray
    names: np.ndarray
    category: np.ndarray
    month: np.ndarray
    x: np.ndarray
    y: np.ndarray
    asset_kind: np.ndarray
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    category_codes: np.ndarray = field(init=False)
    categories: list[str] = field(init=False)

    def __post_init__(self) -> None:
        known = pd.Series(self.category, dtype=object).fillna("(none)")
        codes, uniques = pd.factorize(known, sort=True)
        self.category_codes = codes.astype(np.int64)
        self.categories = list(uniques)

    def __len__(self) -> int:
        return len(self.ids)

    def months(self) -> tuple[int, int] | None:
        """First and last month number with records; None when no record is dated."""
        present = self.month[self.month != NO_MONTH]
        return (int(present.min()), int(present.max())) if len(present) else None


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


def _point_data(engine: Engine, meta: LayerSummary, boundary_ids: dict[int, tuple[str, dict[int, int]]]) -> PointData:
    """A point layer's arrays, with each point's area position in every tagged boundary layer."""
    found = read_point_rows(engine, meta.name, boundary_layer_ids=list(boundary_ids),
                            properties=meta.theme == "assets")
    frame = found.frame
    kinds = np.full(len(frame), meta.asset_kind, dtype=object)
    if found.properties is not None:
        kinds = np.array([p.get("asset_kind") or meta.asset_kind for p in found.properties], dtype=object)
    ids = frame["id"].to_numpy(dtype=np.int64)
    position = pd.Series(np.arange(len(ids)), index=ids)
    months = np.array(
        [NO_MONTH if not isinstance(m, str) else month_number(m) for m in frame["month"]], dtype=np.int64
    )
    data = PointData(
        meta=meta,
        ids=ids,
        names=frame["name"].to_numpy(dtype=object),
        category=frame["category"].to_numpy(dtype=object),
        month=months,
        x=frame["x"].to_numpy(dtype=float, na_value=np.nan),
        y=frame["y"].to_numpy(dtype=float, na_value=np.nan),
        asset_kind=kinds,
    )
    tags = found.tags
    for boundary_id, (boundary_name, area_position) in boundary_ids.items():
        index = np.full(len(ids), -1, dtype=np.int32)
        these = tags[tags["boundary"] == boundary_id]
        if len(these):
            index[position.loc[these["feature"].to_numpy()].to_numpy()] = (
                these["area"].map(area_position).to_numpy(dtype=np.int32)
            )
        data.tags[boundary_name] = index
    return data


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


def load_places(
    engine: Engine, *, include_restricted: bool = False, tagged: set[str] | None = None
) -> Places:
    """Read the store into a :class:`Places` snapshot (public layers unless ``include_restricted``).

    ``tagged`` limits which boundary layers' load-time tags are read (default: all);
    points are joined to the others on demand. A one-off command reads only what it needs.
    """
    summaries = {
        s.name: s for s in layer_summaries(engine) if include_restricted or s.sensitivity == "public"
    }
    ids, area_ids = layer_and_area_ids(engine)
    boundaries: dict[str, BoundaryData] = {}
    boundary_ids: dict[int, tuple[str, dict[int, int]]] = {}
    for name, meta in summaries.items():
        if meta.kind != "boundary":
            continue
        areas = read_areas(engine, name).reset_index(drop=True)
        boundaries[name] = BoundaryData(meta=meta, areas=areas)
        if tagged is not None and name not in tagged:
            continue
        code_position = {c: i for i, c in enumerate(areas["code"])}
        these = area_ids[area_ids["layer_id"] == ids[name]]
        boundary_ids[ids[name]] = (
            name, {int(aid): code_position[code] for aid, code in zip(these["area_id"], these["code"])}
        )
    points = {
        name: _point_data(engine, meta, boundary_ids)
        for name, meta in summaries.items()
        if meta.kind == "points"
    }
    population, _ = _population(engine, summaries)
    deprivation, _ = _deprivation(engine, summaries)
    lookups = {name: read_lookups(engine, name) for name, meta in summaries.items() if meta.kind == "lookup"}
    return Places(boundaries, points, summaries, population, deprivation, lookups)
