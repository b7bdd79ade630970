"""Area profiles: population, deprivation, crime and assets for any area of any type.

Everything here is a pure function of a :class:`insight.analysis.places.Places` snapshot. Figures
for all areas of a layer are computed together from the counts stored at load time (per
area, month, category and asset kind), so one profile and a whole ward table cost the same.
Every figure carries its source, period, boundary vintage and method.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike
from shapely.geometry.base import BaseGeometry

from insight.analysis.places import BoundaryData, Counts, Places, PointData, month_label, month_number
from insight.errors import BadRequest, ConfigError
from insight.geo.apportion import TOTAL, apportion, bridge_codes, choose_weights, weighted_mean
from insight.geo.crs import STORAGE_CRS
from insight.layers import ASSET_KINDS
from insight.store.io import LayerSummary
from insight.store.points import PointQuery

AGE_PREFIX = "usual_residents_aged_"
T = TypeVar("T")
ASSET_KIND_LABELS = {
    "money": "Money (funding, grants, income)",
    "services_people": "Services and people",
    "insight": "Insight (data, knowledge, lived experience)",
    "spaces": "Spaces (buildings, venues, green space)",
}
COMPARATORS = ("borough", "average")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2]):(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> tuple[int, int]:
    """'YYYY-MM:YYYY-MM' as inclusive month numbers; a clear error otherwise."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ConfigError(f"period '{text}' is not YYYY-MM:YYYY-MM (e.g. 2017-07:2018-06)")
    start, end = month_number(text[:7]), month_number(text.strip()[-7:])
    if start > end:
        raise ConfigError(f"period '{text}' ends before it starts")
    return start, end


def period_query(period: tuple[int, int]) -> str:
    """The 'YYYY-MM:YYYY-MM' form that :func:`parse_period` reads, for URLs and commands."""
    return f"{month_label(period[0])}:{month_label(period[1])}"


def period_text(period: tuple[int, int]) -> str:
    """A period for people to read: 'YYYY-MM to YYYY-MM'."""
    return f"{month_label(period[0])} to {month_label(period[1])}"


def default_crime_layer(places: Places) -> str | None:
    """The crime layer with the most records: the richest default for a profile."""
    crime = [p for p in places.points.values() if p.meta.theme == "crime"]
    return max(crime, key=len).meta.name if crime else None


def default_period(points: PointData, months: int = 12) -> tuple[int, int]:
    """The latest ``months`` months the layer has data for."""
    span = points.months()
    if span is None:
        raise ConfigError(f"layer '{points.meta.name}' has no dated records")
    return max(span[0], span[1] - months + 1), span[1]


def check_period(points: PointData, period: tuple[int, int] | None) -> None:
    """BadRequest naming the layer's months when ``period`` lies wholly outside them (undated layers take any)."""
    span = points.months()
    if period is None or span is None or (period[0] <= span[1] and period[1] >= span[0]):
        return
    raise BadRequest(
        f"'{points.meta.title}' has records from {month_label(span[0])} to {month_label(span[1])} only, so the "
        f"period {period_text(period)} has none: choose months between those"
    )


def _source(meta: LayerSummary) -> str:
    return f"{meta.title} ({meta.publisher}; {meta.licence})"


@dataclass
class AreaTable:
    """Figures for every area of one boundary layer, aligned to its areas (rows by position)."""

    boundary: BoundaryData
    population: pd.DataFrame
    population_method: str
    deprivation: pd.DataFrame
    deprivation_method: str
    crime_counts: pd.DataFrame
    crime_previous: pd.DataFrame
    crime_monthly: np.ndarray
    crime_meta: LayerSummary | None
    period: tuple[int, int] | None
    assets: pd.DataFrame
    asset_kinds: pd.DataFrame
    asset_layers: dict[str, LayerSummary] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def residents(self) -> np.ndarray:
        """Usual residents per area (NaN for every area without a population layer)."""
        return self.population[TOTAL].to_numpy(dtype=float) if TOTAL in self.population else np.full(
            len(self.boundary.areas), np.nan
        )


def area_query(boundary: BoundaryData, i: int, **filters: Any) -> PointQuery:
    """The query for the points in area ``i`` of ``boundary``: by its stored tags, or inside a drawn polygon."""
    if boundary.meta.area_type == "drawn":
        return PointQuery(polygon=boundary.areas.geometry.iloc[i], **filters)
    return PointQuery(boundary=boundary.meta.name, area=str(boundary.areas["code"].iloc[i]), **filters)


def _weights(places: Places, lsoa: BoundaryData, boundary: BoundaryData) -> tuple[pd.DataFrame, str]:
    """Small-area weights for a boundary layer, computed once per snapshot (not for drawn areas)."""
    return _cached(places, ("weights", boundary.meta.name), boundary,
                   lambda: choose_weights(lsoa.areas, boundary.areas, lookups=list(places.lookups.values())))


def _population(places: Places, boundary: BoundaryData) -> tuple[pd.DataFrame, str]:
    n = len(boundary.areas)
    lsoa = places.lsoa
    if places.population is None or lsoa is None:
        return pd.DataFrame(index=range(n)), "no population layer loaded"
    values = places.population.reindex(lsoa.areas["code"]).fillna(0.0).reset_index(drop=True)
    weights, method = _weights(places, lsoa, boundary)
    return apportion(values, weights, n), method


def _deprivation(places: Places, boundary: BoundaryData) -> tuple[pd.DataFrame, str]:
    n = len(boundary.areas)
    lsoa = places.lsoa
    if places.deprivation is None or lsoa is None or places.population is None:
        return pd.DataFrame(index=range(n)), "no deprivation layer loaded"
    deprivation = places.deprivation
    codes = pd.Index(lsoa.areas["code"])
    if not deprivation.index.isin(codes).all():
        bridges = [lk for lk in places.lookups.values() if lk["to_code"].isin(codes).any()
                   and lk["from_code"].isin(deprivation.index).any()]
        if not bridges:
            return pd.DataFrame(index=range(n)), "deprivation areas do not match the small areas"
        deprivation = bridge_codes(deprivation, bridges[0], codes)
    deprivation = deprivation.reindex(codes)
    residents = places.population.reindex(codes)[TOTAL].fillna(0.0).to_numpy()
    weights, method = _weights(places, lsoa, boundary)
    rank_col = next((c for c in deprivation.columns if c.endswith("imd_rank")), None)
    decile_col = next((c for c in deprivation.columns if c.endswith("imd_decile")), None)
    out = pd.DataFrame(index=range(n))
    if rank_col:
        out["imd_rank"] = weighted_mean(deprivation[rank_col].to_numpy(float), weights, residents, n)
    if decile_col:
        deciles = deprivation[decile_col].to_numpy(float)
        total = apportion(pd.DataFrame({"r": residents}), weights, n)["r"].to_numpy()
        for d in range(1, 11):
            people = np.where(deciles == d, residents, 0.0)
            in_d = apportion(pd.DataFrame({"r": people}), weights, n)["r"].to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"decile_{d}"] = np.where(total > 0, in_d / total, np.nan)
    return out, f"population-weighted ({method})"


def _counts(counts: Counts, mask: np.ndarray, n: int, categories: list[str]) -> pd.DataFrame:
    """Records per area (rows) and category (columns) among the count rows where ``mask`` holds."""
    keep = mask & (counts.area >= 0)
    k = len(categories)
    flat = np.bincount(counts.area[keep] * k + counts.category[keep], weights=counts.n[keep], minlength=n * k)
    table = pd.DataFrame(flat.astype(np.int64).reshape(n, k), columns=categories)
    return table.loc[:, table.sum(axis=0) > 0] if mask.any() else table.iloc[:, :0]


def _monthly(counts: Counts, mask: np.ndarray, n: int, period: tuple[int, int]) -> np.ndarray:
    """Records per area (rows) and month of ``period`` (columns) among the rows where ``mask`` holds."""
    monthly = np.zeros((n, period[1] - period[0] + 1), dtype=np.int64)
    sel = mask & (counts.area >= 0)
    np.add.at(monthly, (counts.area[sel], counts.month[sel] - period[0]), counts.n[sel])
    return monthly


def _cached(places: Places, key: tuple[str, str], boundary: BoundaryData, compute: Callable[[], T]) -> T:
    """``compute()`` once per snapshot and boundary layer (every time for a drawn area, which is not kept)."""
    if boundary.meta.area_type == "drawn":
        return compute()
    if key not in places.cache:
        places.cache[key] = compute()
    value: T = places.cache[key]
    return value


def area_table(
    places: Places,
    boundary: str | BoundaryData,
    *,
    crime_layer: str | None = None,
    period: tuple[int, int] | None = None,
) -> AreaTable:
    """Population, deprivation, crime in ``period`` and assets for every area of ``boundary``."""
    data = places.boundary(boundary) if isinstance(boundary, str) else boundary
    n = len(data.areas)
    population, pop_method = _cached(places, ("population", data.meta.name), data, lambda: _population(places, data))
    deprivation, dep_method = _cached(
        places, ("deprivation", data.meta.name), data, lambda: _deprivation(places, data)
    )
    crime_name = crime_layer or default_crime_layer(places)
    notes: list[str] = []
    if crime_name and places.point_layer(crime_name).months() is None:
        crime = places.point_layer(crime_name)
        if period is not None:
            notes.append(f"'{crime.meta.title}' has no dates, so every record is counted and the period is not used.")
        stored = places.counts(crime, data)
        counts = _counts(stored, np.ones(len(stored.n), dtype=bool), n, crime.categories)
        previous = counts * np.nan
        monthly = np.zeros((n, 0), dtype=np.int64)
        crime_meta, period = crime.meta, None
    elif crime_name:
        crime = places.point_layer(crime_name)
        check_period(crime, period)
        period = period or default_period(crime)
        stored = places.counts(crime, data)
        length = period[1] - period[0] + 1
        now = (stored.month >= period[0]) & (stored.month <= period[1])
        before = (stored.month >= period[0] - length) & (stored.month < period[0])
        counts = _counts(stored, now, n, crime.categories)
        previous = _counts(stored, before, n, crime.categories).reindex(columns=counts.columns, fill_value=0)
        span = crime.months()
        if span and period[0] - length < span[0]:
            notes.append(
                f"the previous period ({period_text((period[0] - length, period[0] - 1))}) starts before "
                f"the data ({month_label(span[0])}): no change is reported"
            )
            previous = previous * np.nan
        monthly = _monthly(stored, now, n, period)
        crime_meta = crime.meta
    else:
        counts = previous = pd.DataFrame(index=range(n))
        monthly = np.zeros((n, 0), dtype=np.int64)
        crime_meta = None
    assets = {}
    asset_layers = {}
    kinds = {k: np.zeros(n, dtype=np.int64) for k in ASSET_KINDS}
    for name, points in places.points.items():
        if points.meta.theme != "assets":
            continue
        stored = places.counts(points, data)
        inside = stored.area >= 0
        assets[name] = np.bincount(stored.area[inside], weights=stored.n[inside], minlength=n).astype(np.int64)
        asset_layers[name] = points.meta
        for kind in ASSET_KINDS:
            chosen = inside & (stored.kind == kind)
            kinds[kind] += np.bincount(stored.area[chosen], weights=stored.n[chosen], minlength=n).astype(np.int64)
    return AreaTable(
        boundary=data, population=population, population_method=pop_method, deprivation=deprivation,
        deprivation_method=dep_method, crime_counts=counts, crime_previous=previous, crime_monthly=monthly,
        crime_meta=crime_meta, period=period, assets=pd.DataFrame(assets, index=range(n)),
        asset_kinds=pd.DataFrame(kinds, index=range(n)), asset_layers=asset_layers, notes=notes,
    )


def drawn_boundary(
    geometry: BaseGeometry | None, *, name: str = "Drawn area", code: str = "drawn"
) -> BoundaryData:
    """A one-area boundary layer for a polygon a user drew or uploaded (EPSG:4326)."""
    if geometry is None or shapely.is_empty(geometry) or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise ConfigError("a drawn area must be a non-empty polygon")
    if not shapely.is_valid(geometry):
        geometry = shapely.make_valid(geometry)
    meta = LayerSummary(
        name=f"drawn:{code}", kind="boundary", title=name, vintage="drawn by the user", area_type="drawn",
        publisher="the user", licence="", attribution="", source="drawn or uploaded polygon",
        sensitivity="public", illustrative=False, is_authority=False, theme=None, asset_kind=None,
        geography=None, description="", feature_count=1, period_start=None, period_end=None,
        loaded_at=pd.Timestamp.now(tz="UTC").to_pydatetime(), load_report={},
    )
    areas = gpd.GeoDataFrame({"code": [code], "name": [name]}, geometry=[geometry], crs=STORAGE_CRS)
    return BoundaryData(meta=meta, areas=areas)


@dataclass(frozen=True)
class Metric:
    """What a column of :func:`metrics` means and where it comes from."""

    section: str
    label: str
    unit: str
    source: str
    period: str
    vintage: str
    method: str
    rank: bool = False


@dataclass
class _Columns:
    """Figure columns being assembled for :func:`metrics`, each with what it means."""

    vintage: str
    cols: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Metric] = field(default_factory=dict)

    def add(self, key: str, values: ArrayLike, **kw: Any) -> None:
        """Add column ``key`` (as floats) with its :class:`Metric` fields ``kw``."""
        self.cols[key] = np.asarray(values, dtype=float)
        self.meta[key] = Metric(vintage=self.vintage, **kw)


def metrics(table: AreaTable) -> tuple[pd.DataFrame, dict[str, Metric]]:
    """One row per area, one column per figure, and what each column means.

    Rates are per 1,000 usual residents (Census 2021); shares are 0–1.
    """
    out = _Columns(vintage=table.boundary.meta.vintage or "")
    _population_metrics(out, table)
    _deprivation_metrics(out, table)
    _crime_metrics(out, table)
    _asset_metrics(out, table)
    return pd.DataFrame(out.cols, index=table.boundary.areas["code"]), out.meta


def _population_metrics(out: _Columns, table: AreaTable) -> None:
    """Residents (with the bounds of the apportionment) and the share in each age group."""
    if TOTAL not in table.population:
        return
    residents = table.residents
    pop_source = "Census 2021 usual residents (ONS)"
    method = table.population_method
    out.add("residents", residents, section="Population", label="Usual residents", unit="people",
            source=pop_source, period="2021", method=method)
    out.add("residents_lower", table.population[f"{TOTAL}_lower"], section="Population",
            label="Usual residents, lower bound", unit="people", source=pop_source, period="2021",
            method=f"{method}: small areas wholly inside")
    out.add("residents_upper", table.population[f"{TOTAL}_upper"], section="Population",
            label="Usual residents, upper bound", unit="people", source=pop_source, period="2021",
            method=f"{method}: every small area touching")
    for col in table.population.columns:
        if col.startswith(AGE_PREFIX) and not col.endswith(("_lower", "_upper")):
            label = "Aged " + col[len(AGE_PREFIX):].replace("_", " ")
            with np.errstate(invalid="ignore", divide="ignore"):
                out.add(f"share_{col[len(AGE_PREFIX):]}", table.population[col] / residents,
                        section="Population", label=f"{label} (share of residents)", unit="share",
                        source=pop_source, period="2021", method=method)


def _deprivation_metrics(out: _Columns, table: AreaTable) -> None:
    """The residents' average IMD rank and the share of them in each national decile."""
    if "imd_rank" not in table.deprivation:
        return
    dep_source = "English Indices of Deprivation 2019 (MHCLG), ranks of LSOAs"
    out.add("imd_rank", table.deprivation["imd_rank"], section="Deprivation",
            label="Average IMD rank of residents (1 = most deprived of 32,844 LSOAs)", unit="rank",
            source=dep_source, period="2019", method=table.deprivation_method)
    for d in range(1, 11):
        if f"decile_{d}" in table.deprivation:
            out.add(f"imd_decile_{d}", table.deprivation[f"decile_{d}"], section="Deprivation",
                    label=f"Residents in national IMD decile {d}" + (" (most deprived)" if d == 1 else ""),
                    unit="share", source=dep_source, period="2019", method=table.deprivation_method)


def _crime_metrics(out: _Columns, table: AreaTable) -> None:
    """Records in the period: all and per category, as counts, rates and change against the previous period."""
    if table.crime_meta is None:
        return
    cm = table.crime_meta
    residents = table.residents
    period = period_text(table.period) if table.period else "all records"
    source = _source(cm)
    counts = table.crime_counts
    total = counts.sum(axis=1).to_numpy(dtype=float)
    section = "Crime and ASB" if cm.theme == "crime" else cm.title
    out.add("points_total", total, section=section, label=f"{cm.title}: all records", unit="records",
            source=source, period=period, method="point in area (counted when loaded)")
    with np.errstate(invalid="ignore", divide="ignore"):
        out.add("points_rate", total / residents * 1000, section=section, label="All records per 1,000 residents",
                unit="per 1,000", source=source, period=period, method="count / Census 2021 residents", rank=True)
    if table.period is not None:
        prev = table.crime_previous.sum(axis=1, min_count=1).to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.add("points_change", (total - prev) / prev, section=section,
                    label="Change against the previous equal period", unit="share", source=source,
                    period=period, method="(this period - previous period) / previous period")
    for category in counts.columns:
        label = str(category).replace("-", " ").capitalize()
        out.add(f"count:{category}", counts[category], section=section, label=f"{label}: records",
                unit="records", source=source, period=period, method="point in area (counted when loaded)")
        with np.errstate(invalid="ignore", divide="ignore"):
            out.add(f"rate:{category}", counts[category].to_numpy(float) / residents * 1000, section=section,
                    label=f"{label} per 1,000 residents", unit="per 1,000", source=source, period=period,
                    method="count / Census 2021 residents", rank=True)


def _asset_metrics(out: _Columns, table: AreaTable) -> None:
    """Places per asset layer, and per kind of asset as counts and per 1,000 residents."""
    n = len(table.boundary.areas)
    for name, layer in table.asset_layers.items():
        out.add(f"assets:{name}", table.assets[name].to_numpy(dtype=float), section="Assets", label=layer.title,
                unit="places", source=_source(layer), period="as loaded", method="point in area (counted when loaded)"
                + ("; ILLUSTRATIVE data" if layer.illustrative else ""))
    sources = "; ".join(sorted({_source(m) for m in table.asset_layers.values()})) or "no asset layers loaded"
    for kind in ASSET_KINDS:
        count = table.asset_kinds[kind].to_numpy(dtype=float) if kind in table.asset_kinds else np.zeros(n)
        out.add(f"kind:{kind}", count, section="Assets", label=f"{ASSET_KIND_LABELS[kind]}: places",
                unit="places", source=sources, period="as loaded",
                method="each asset layer's kind, or the record's own")
        with np.errstate(invalid="ignore", divide="ignore"):
            out.add(f"kind_rate:{kind}", count / table.residents * 1000, section="Assets",
                    label=f"{ASSET_KIND_LABELS[kind]} per 1,000 residents", unit="per 1,000", source=sources,
                    period="as loaded", method="count / Census 2021 residents", rank=True)


@dataclass
class Profile:
    """One area's figures against a comparator, with its monthly trend and its assets."""

    boundary: BoundaryData
    code: str
    name: str
    geometry: BaseGeometry
    comparator: str
    figures: pd.DataFrame
    monthly: pd.DataFrame
    assets: pd.DataFrame
    notes: list[str]
    monthly_by_category: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["month", "category", "records"])
    )

    @property
    def title(self) -> str:
        """The area's name with its boundary layer's title."""
        return f"{self.name} ({self.boundary.meta.title})"


def _comparator_row(
    places: Places, table: AreaTable, wide: pd.DataFrame, comparator: str, *,
    crime_layer: str | None, period: tuple[int, int] | None,
) -> tuple[pd.Series[Any], str]:
    """The comparator's figures and its name: the borough, the average area, or any area of any layer."""
    kw: dict[str, Any] = {"crime_layer": crime_layer, "period": period}
    if comparator == "average" or comparator.startswith("average:"):
        layer = comparator.partition(":")[2]
        data = places.boundary(layer) if layer else table.boundary
        rows = metrics(area_table(places, data, **kw))[0] if layer else wide
        return rows.mean(numeric_only=True), f"average of the {len(rows)} areas in {data.meta.title}"
    if comparator == "borough":
        authority = places.authority
        if authority is None:
            raise ConfigError("no authority boundary is loaded to compare with: choose another comparator")
        other, _ = metrics(area_table(places, authority, **kw))
        return other.iloc[0], authority.areas["name"].iloc[0]
    layer, _, code = comparator.partition(":")
    if not code:
        raise ConfigError(
            f"comparator '{comparator}' is not one of {', '.join(COMPARATORS)} or BOUNDARY_LAYER:AREA_CODE"
        )
    boundary = places.boundary(layer)
    i = boundary.index_of(code)
    other, _ = metrics(area_table(places, boundary, **kw))
    return other.iloc[i], f"{boundary.areas['name'].iloc[i]} ({boundary.meta.title})"


def profile(
    places: Places,
    boundary: str | BoundaryData,
    area: str,
    *,
    comparator: str = "borough",
    crime_layer: str | None = None,
    period: tuple[int, int] | None = None,
) -> Profile:
    """The full profile of one area (code or name) of a boundary layer or a drawn area."""
    data = places.boundary(boundary) if isinstance(boundary, str) else boundary
    i = data.index_of(area)
    table = area_table(places, data, crime_layer=crime_layer, period=period)
    wide, meta = metrics(table)
    other, other_name = _comparator_row(places, table, wide, comparator, crime_layer=crime_layer,
                                        period=table.period)
    row = wide.iloc[i]
    ranks = wide.rank(ascending=False, method="min")
    rows = []
    for key, m in meta.items():
        value = row[key]
        comp = other.get(key, np.nan)
        ranked = (
            m.rank and data.meta.area_type != "drawn" and wide[key].nunique() > 1 and not np.isnan(value)
        )
        rows.append({
            "section": m.section, "metric": key, "label": m.label, "value": value, "unit": m.unit,
            "comparator": other_name, "comparator_value": comp,
            "difference": value - comp if not (np.isnan(value) or np.isnan(comp)) else np.nan,
            "rank": ranks[key].iloc[i] if ranked else np.nan,
            "of": len(wide) if ranked else np.nan,
            "ties": int((wide[key] == value).sum()) - 1 if ranked else 0,
            "source": m.source, "period": m.period, "boundary_vintage": m.vintage, "method": m.method,
        })
    figures = pd.DataFrame(rows)
    monthly = pd.DataFrame(columns=["month", "records"])
    if table.period and table.crime_monthly.shape[1]:
        months = [month_label(table.period[0] + k) for k in range(table.crime_monthly.shape[1])]
        monthly = pd.DataFrame({"month": months, "records": table.crime_monthly[i]})
    by_category = pd.DataFrame(columns=["month", "category", "records"])
    if table.crime_meta is not None and table.period:
        points = places.point_layer(table.crime_meta.name)
        stored = places.counts(points, data)
        named = np.array([c != "(none)" for c in points.categories], dtype=bool)
        chosen = ((stored.area == i) & (stored.month >= table.period[0]) & (stored.month <= table.period[1])
                  & named[stored.category] if len(named) else np.zeros(len(stored.n), dtype=bool))
        if chosen.any():
            by_category = (
                pd.DataFrame({"month": stored.month[chosen],
                              "category": np.array(points.categories, dtype=object)[stored.category[chosen]],
                              "records": stored.n[chosen]})
                .groupby(["month", "category"], as_index=False).agg(records=("records", "sum"))
                .sort_values(["month", "category"])
            )
            by_category["month"] = by_category["month"].map(month_label)
            by_category = by_category.reset_index(drop=True)
    notes = list(table.notes)
    if data.meta.area_type == "drawn" and "residents" in wide:
        lower, upper = row["residents_lower"], row["residents_upper"]
        notes.append(
            f"About {row['residents']:,.0f} residents (estimated from the small areas it overlaps, by "
            f"{table.population_method}; between {lower:,.0f} and {upper:,.0f} depending on where in those "
            "areas people live)."
        )
    if any(m.illustrative for m in table.asset_layers.values()):
        notes.append("Some asset layers are ILLUSTRATIVE (generated, not real records): see the sources.")
    return Profile(
        boundary=data, code=data.areas["code"].iloc[i], name=data.areas["name"].iloc[i],
        geometry=data.areas.geometry.iloc[i], comparator=other_name, figures=figures, monthly=monthly,
        assets=area_assets(places, data, i), notes=notes, monthly_by_category=by_category,
    )


def area_assets(places: Places, boundary: BoundaryData, i: int) -> pd.DataFrame:
    """Every asset inside area ``i``: layer, kind, name, category and location (read from the store once)."""
    key = ("assets", f"{boundary.meta.name}:{boundary.areas['code'].iloc[i]}")
    return _cached(places, key, boundary, lambda: _read_area_assets(places, boundary, i)).copy()


def _read_area_assets(places: Places, boundary: BoundaryData, i: int) -> pd.DataFrame:
    frames = []
    for name, points in places.points.items():
        if points.meta.theme != "assets":
            continue
        found = places.points_source().points(name, area_query(boundary, i)).frame
        if not len(found):
            continue
        frames.append(pd.DataFrame({
            "layer": name, "layer_title": points.meta.title, "asset_kind": found["asset_kind"],
            "name": found["name"], "category": found["category"],
            "longitude": found["x"].astype(float), "latitude": found["y"].astype(float),
            "illustrative": points.meta.illustrative,
        }))
    columns = ["layer", "layer_title", "asset_kind", "name", "category", "longitude", "latitude", "illustrative"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def layer_table(
    places: Places, boundary: str, layer: str, *, period: tuple[int, int] | None = None
) -> pd.DataFrame:
    """All areas of a boundary layer for one point layer: code, name, count, rate per 1,000, one column per category."""
    table = area_table(places, boundary, crime_layer=layer, period=period)
    areas = table.boundary.areas
    counts = table.crime_counts
    out = pd.DataFrame({"code": areas["code"], "name": areas["name"]})
    out["count"] = counts.sum(axis=1).to_numpy()
    residents = table.residents
    out["residents"] = np.round(residents)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate_per_1000"] = np.where(residents > 0, out["count"] / residents * 1000, np.nan)
    for category in counts.columns:
        out[str(category)] = counts[category].to_numpy()
    out.attrs.update(
        period=period_text(table.period) if table.period else "all records",
        layer=table.crime_meta.title if table.crime_meta else layer,
        boundary=table.boundary.meta.title, vintage=table.boundary.meta.vintage,
        population_method=table.population_method,
    )
    return out
