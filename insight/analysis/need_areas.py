"""Need beside assets for every area of a boundary layer, from a :class:`~insight.analysis.places.Places` snapshot.

The ingredients come from the area profiles (:func:`insight.analysis.profiles.area_table` and
:func:`~insight.analysis.profiles.metrics`): the residents' average deprivation rank, recorded
crime and ASB per 1,000 residents a year, the change in recorded incidents against the previous
equal period, and, when a survey covers the areas, the share of residents not feeling safe.
Assets by kind per 1,000 residents come from the same metrics. :mod:`insight.analysis.need`
combines and simulates them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from insight.analysis.need import (
    DEFAULT_DRAWS,
    DEFAULT_SEED,
    STANDARDISATIONS,
    Ingredient,
    bivariate_class,
    checked_weights,
    composite_score,
    percentile,
    simulate,
    terciles,
)
from insight.analysis.perception import ASB, PerceptionResult
from insight.analysis.places import Places, PointData
from insight.analysis.profiles import (
    ASSET_KIND_LABELS,
    AreaTable,
    area_table,
    default_crime_layer,
    metrics,
    period_text,
)
from insight.analysis.survey.gap import recorded_rates
from insight.errors import ConfigError
from insight.layers import ASSET_KINDS

INGREDIENTS = {
    "deprivation": "Deprivation (residents' average IMD 2019 rank; 1 = most deprived)",
    "crime_rate": "Recorded crime (excluding ASB) per 1,000 residents a year",
    "asb_rate": "Recorded anti-social behaviour (ASB) per 1,000 residents a year",
    "crime_trend": "Recorded crime and ASB: this period against the previous equal period (rate ratio)",
    "perception": "Residents not feeling safe (survey share)",
}
TREND_MONTHS = 24


@dataclass
class NeedResult:
    """The need score, its ingredients and the assets per 1,000 residents of every area of one boundary layer."""

    boundary: str
    boundary_title: str
    vintage: str
    rows: pd.DataFrame
    ingredients: list[Ingredient]
    weights: dict[str, float]
    method: str
    asset_sources: list[str]
    asset_illustrative: list[str]
    population_method: str
    draws: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def illustrative(self) -> bool:
        """Whether any figure rests on ILLUSTRATIVE (generated) data."""
        return bool(self.asset_illustrative) or any(i.illustrative for i in self.ingredients)


def default_need_layer(places: Places) -> str | None:
    """The crime layer need is measured on: one with at least 24 months (for a trend) and ASB, the most recent."""
    dated = [p for p in places.points.values() if p.meta.theme == "crime" and p.months() is not None]
    if not dated:
        return default_crime_layer(places)

    def score(p: PointData) -> tuple[bool, bool, int]:
        first, last = p.months() or (0, 0)
        return last - first + 1 >= TREND_MONTHS, ASB in p.categories, last

    return max(dated, key=score).meta.name


def _annual_rate(counts: np.ndarray, residents: np.ndarray, years: float) -> pd.DataFrame:
    """Rates per 1,000 residents a year with exact Poisson 95% intervals (NaN where there are no residents)."""
    ok = np.isfinite(residents) & (residents > 0)
    frame = pd.DataFrame({"count": counts, "population": np.where(ok, residents, 1.0)})
    rates = recorded_rates(frame, years=years)[["rate", "rate_ci_low", "rate_ci_high"]]
    rates.loc[~ok, :] = np.nan
    return rates


def _rate_ingredient(key: str, counts: np.ndarray, table: AreaTable, years: float, source: str,
                     period: str) -> Ingredient:
    residents = table.residents
    rates = _annual_rate(counts, residents, years)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(residents > 0, 1000.0 / (residents * years), np.nan)
    return Ingredient(
        key=key, label=INGREDIENTS[key], direction=1, values=rates["rate"].to_numpy(),
        lower=rates["rate_ci_low"].to_numpy(), upper=rates["rate_ci_high"].to_numpy(), sampler="poisson",
        counts=counts, scale=scale, source=source, period=period, vintage=table.boundary.meta.vintage or "",
        method="records in the area (point in area, counted when loaded) / Census 2021 residents x 1,000 / years",
        uncertainty="exact Poisson 95% interval (Garwood); simulated from the Gamma(count + 0.5) posterior",
    )


def _trend_ingredient(table: AreaTable, source: str, period: str) -> Ingredient | None:
    now = table.crime_counts.sum(axis=1).to_numpy(dtype=float)
    before = table.crime_previous.sum(axis=1, min_count=1).to_numpy(dtype=float)
    if not np.isfinite(before).any() or table.period is None:
        return None
    total = now + before
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(before > 0, now / before, np.nan)
        p_low = np.where(now > 0, stats.beta.ppf(0.025, now, before + 1), 0.0)
        p_high = np.where(before > 0, stats.beta.ppf(0.975, now + 1, before), 1.0)
        lower = np.where(total > 0, p_low / (1 - p_low), np.nan)
        upper = np.where(before > 0, p_high / (1 - p_high), np.inf)
    length = table.period[1] - table.period[0] + 1
    previous = period_text((table.period[0] - length, table.period[0] - 1))
    return Ingredient(
        key="crime_trend", label=INGREDIENTS["crime_trend"], direction=1, values=ratio, lower=lower, upper=upper,
        sampler="ratio", counts=now, previous=before, source=source, period=f"{period} against {previous}",
        vintage=table.boundary.meta.vintage or "",
        method="records this period / records in the previous equal period (residents unchanged, so a rate ratio)",
        uncertainty="exact 95% interval from the binomial split of the two counts (Clopper-Pearson); simulated "
                    "as a ratio of Gamma(count + 0.5) draws",
    )


def _perception_ingredient(result: PerceptionResult, codes: pd.Index, vintage: str) -> Ingredient | None:
    areas = result.areas.set_index("area_code").reindex(codes)
    published = areas["published"].fillna(False).astype(bool).to_numpy()
    share = np.where(published, pd.to_numeric(areas["share"], errors="coerce"), np.nan)
    if not np.isfinite(share).any():
        return None
    low = np.where(published, pd.to_numeric(areas["ci_low"], errors="coerce"), np.nan)
    high = np.where(published, pd.to_numeric(areas["ci_high"], errors="coerce"), np.nan)
    q = result.question
    prefix = "ILLUSTRATIVE: " if result.survey.illustrative else ""
    return Ingredient(
        key="perception", label=f"{prefix}Residents not answering '{q.reported_label}' to '{q.text}' (share)",
        direction=1, values=1 - share, lower=1 - high, upper=1 - low, sampler="normal",
        source=f"{result.survey.title} ({result.survey.layer.publisher})", period=f"survey wave {result.wave}",
        vintage=vintage, method=f"1 − published share; {result.method}",
        uncertainty="the survey's published 95% interval; simulated from a normal with that interval; areas whose "
                    "share is withheld (disclosure control) are scored on the other ingredients",
        illustrative=result.survey.illustrative,
    )


def _ingredients(places: Places, table: AreaTable, perception: PerceptionResult | None,
                 notes: list[str]) -> list[Ingredient]:
    """Every ingredient the store can give for the table's areas; what cannot be made is noted."""
    wide, meta = metrics(table)
    vintage = table.boundary.meta.vintage or ""
    out: list[Ingredient] = []
    if "imd_rank" in wide:
        m = meta["imd_rank"]
        values = wide["imd_rank"].to_numpy(dtype=float)
        out.append(Ingredient(
            key="deprivation", label=INGREDIENTS["deprivation"], direction=-1, values=values,
            lower=np.full(len(values), np.nan), upper=np.full(len(values), np.nan), source=m.source,
            period=m.period, vintage=vintage, method=f"average rank of the residents' small areas, {m.method}",
            uncertainty="published without an interval, so taken as exact",
        ))
    else:
        notes.append("No deprivation figures are loaded for these areas, so deprivation is left out.")
    if table.crime_meta is None or table.period is None:
        notes.append("No dated crime layer is loaded, so crime, ASB and their trend are left out.")
    else:
        cm = table.crime_meta
        source, period = f"{cm.title} ({cm.publisher}; {cm.licence})", period_text(table.period)
        years = (table.period[1] - table.period[0] + 1) / 12
        counts = table.crime_counts
        asb = counts[ASB].to_numpy(dtype=float) if ASB in counts else None
        total = counts.sum(axis=1).to_numpy(dtype=float)
        out.append(_rate_ingredient("crime_rate", total - (asb if asb is not None else 0.0), table, years, source,
                                    period))
        if asb is not None:
            out.append(_rate_ingredient("asb_rate", asb, table, years, source, period))
        else:
            notes.append(f"'{cm.title}' has no ASB records in {period}, so the ASB rate is left out.")
        trend = _trend_ingredient(table, source, period)
        if trend is None:
            notes.append(f"'{cm.title}' has no records for the 12 months before {period}, so the trend is left out.")
        else:
            out.append(trend)
    if perception is not None:
        found = _perception_ingredient(perception, pd.Index(table.boundary.areas["code"]), vintage)
        if found is None:
            notes.append("No survey share is published for these areas, so residents' perception is left out.")
        else:
            out.append(found)
            notes += [n for n in perception.notes if n not in notes]
    return out


def _asset_columns(table: AreaTable) -> pd.DataFrame:
    """Assets by kind: places and places per 1,000 residents, with the totals."""
    wide, _ = metrics(table)
    out = pd.DataFrame(index=range(len(wide)))
    for kind in ASSET_KINDS:
        out[f"assets_{kind}"] = wide[f"kind:{kind}"].to_numpy()
        out[f"assets_{kind}_per_1000"] = wide[f"kind_rate:{kind}"].to_numpy()
    out["assets_total"] = out[[f"assets_{k}" for k in ASSET_KINDS]].sum(axis=1)
    residents = table.residents
    with np.errstate(invalid="ignore", divide="ignore"):
        out["assets_per_1000"] = np.where(residents > 0, out["assets_total"] / residents * 1000, np.nan)
    return out


def asset_choices() -> dict[str, str]:
    """The asset figures the "few assets" threshold can use: column and label."""
    return {"assets_per_1000": "All assets", **{f"assets_{k}_per_1000": ASSET_KIND_LABELS[k] for k in ASSET_KINDS}}


def need_beside_assets(
    places: Places,
    boundary: str,
    *,
    crime_layer: str | None = None,
    period: tuple[int, int] | None = None,
    weights: Mapping[str, float] | None = None,
    method: str = "zscore",
    perception: PerceptionResult | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
) -> NeedResult:
    """Every area's need score (with its 90% interval and rank interval) beside its assets per 1,000 residents.

    ``weights`` default to equal for every ingredient that can be made; ``perception`` is a
    published survey result for the same boundary layer (left out when None). ConfigError
    when the areas have no population, since no rate can be made without it.
    """
    data = places.boundary(boundary)
    table = area_table(places, data, crime_layer=crime_layer or default_need_layer(places), period=period)
    if not np.isfinite(table.residents).any() or not np.nansum(table.residents) > 0:
        raise ConfigError(
            f"there are no population figures for the areas of {data.meta.title}, so need and assets per 1,000 "
            "residents cannot be worked out: load the Census 2021 population and the small-area boundaries"
        )
    notes = list(table.notes)
    ingredients = _ingredients(places, table, perception, notes)
    if not ingredients:
        raise ConfigError(f"no ingredient of need can be made for {data.meta.title}: load deprivation or crime data")
    keys = [i.key for i in ingredients]
    w = checked_weights(weights if weights is not None else dict.fromkeys(keys, 1.0), keys)
    values = pd.DataFrame({i.key: i.values for i in ingredients})
    directions = {i.key: i.direction for i in ingredients}
    rows = pd.DataFrame({"code": data.areas["code"].to_numpy(), "name": data.areas["name"].to_numpy(),
                         "residents": table.residents})
    for i in ingredients:
        rows[i.key], rows[f"{i.key}_low"], rows[f"{i.key}_high"] = i.values, i.lower, i.upper
    rows["composite"] = composite_score(values, w, directions=directions, method=method).to_numpy()
    rows = pd.concat([rows, simulate(ingredients, w, method=method, draws=draws, seed=seed)], axis=1)
    rows["rank"] = rows["composite"].rank(ascending=False, method="min")
    rows["need_percentile"] = percentile(rows["composite"])
    rows = pd.concat([rows, _asset_columns(table)], axis=1)
    rows["need_tercile"] = terciles(rows["composite"])
    rows["asset_tercile"] = terciles(rows["assets_per_1000"])
    rows["bivariate"] = bivariate_class(rows["need_tercile"], rows["asset_tercile"])
    layers = table.asset_layers.values()
    return NeedResult(
        boundary=data.meta.name, boundary_title=data.meta.title, vintage=data.meta.vintage or "", rows=rows,
        ingredients=ingredients, weights=w, method=STANDARDISATIONS[method],
        asset_sources=sorted(f"{m.title} ({m.publisher}; {m.licence})" for m in layers),
        asset_illustrative=sorted(m.title for m in layers if m.illustrative),
        population_method=table.population_method, draws=draws, seed=seed, notes=notes,
    )
