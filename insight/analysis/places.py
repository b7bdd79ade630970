"""A read-only, in-memory snapshot of the store for place-based analysis.

Profiles, ward tables and the map's filters are computed from this snapshot with
pure functions. Points carry the area index they were tagged with at load time in
every boundary layer, so a view is an integer filter and a count, not a spatial join.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from insight.errors import NotFoundError
from insight.store import layer_summaries, read_areas, read_indicator_values, read_lookups
from insight.store.io import LayerSummary
from insight.store.models import Area, Feature, FeatureTag, Layer

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
            return codes.index(code_or_name)
        names = self.areas["name"].str.casefold().tolist()
        if code_or_name.casefold() in names:
            return names.index(code_or_name.casefold())
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
    categories: list = field(init=False)

    def __post_init__(self) -> None:
        known = pd.Series(self.category, dtype=object).fillna("(none)")
        codes, uniques = pd.factorize(known, sort=True)
        self.category_codes = codes.astype(np.int64)
        self.categories = list(uniques)

    def __len__(self) -> int:
        return len(self.ids)

    def months(self) -> tuple[int, int] | None:
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
    cache: dict = field(default_factory=dict, repr=False)

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
        if name not in self.boundaries:
            raise NotFoundError(
                f"no boundary layer '{name}' (boundary layers: {', '.join(sorted(self.boundaries))})"
            )
        return self.boundaries[name]

    def point_layer(self, name: str) -> PointData:
        if name not in self.points:
            raise NotFoundError(f"no point layer '{name}' (point layers: {', '.join(sorted(self.points))})")
        return self.points[name]


def _columns(rows: list, names: list[str]) -> pd.DataFrame:
    """A frame from result rows, built column-wise (much faster than from Row objects)."""
    if not rows:
        return pd.DataFrame({n: [] for n in names})
    return pd.DataFrame(dict(zip(names, (list(c) for c in zip(*rows)))))


def _point_data(engine: Engine, meta: LayerSummary, boundary_ids: dict[int, tuple[str, dict[int, int]]]) -> PointData:
    with engine.connect() as conn:
        layer_id = conn.execute(select(Layer.id).where(Layer.name == meta.name)).scalar_one()
        rows = conn.execute(
            select(
                Feature.id, Feature.name, Feature.category, Feature.month,
                func.ST_X(Feature.geom), func.ST_Y(Feature.geom),
            ).where(Feature.layer_id == layer_id).order_by(Feature.id)
        ).all()
        tag_rows = conn.execute(
            select(FeatureTag.boundary_layer_id, FeatureTag.feature_id, FeatureTag.area_id)
            .join(Feature, Feature.id == FeatureTag.feature_id)
            .where(Feature.layer_id == layer_id, FeatureTag.boundary_layer_id.in_(list(boundary_ids)))
        ).all()
    frame = _columns(rows, ["id", "name", "category", "month", "x", "y"])
    kinds = np.full(len(frame), meta.asset_kind, dtype=object)
    if meta.theme == "assets":
        with engine.connect() as conn:
            props = conn.execute(
                select(Feature.properties).where(Feature.layer_id == layer_id).order_by(Feature.id)
            ).scalars().all()
        kinds = np.array([p.get("asset_kind") or meta.asset_kind for p in props], dtype=object)
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
    tags = _columns(tag_rows, ["boundary", "feature", "area"])
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
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Layer.name, Layer.id)).all())
        area_ids = conn.execute(select(Area.layer_id, Area.id, Area.code)).all()
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
        boundary_ids[ids[name]] = (
            name, {aid: code_position[code] for lid, aid, code in area_ids if lid == ids[name]}
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
