"""Every figure for every area of a boundary layer in one table, with what each column means.

:func:`every_area_table` returns one row per area and one column per figure, plus a metadata
frame with one row per column. Column ids are stable and documented:

- ``code``, ``name``: the area.
- the metric keys of :func:`insight.analysis.profiles.metrics`, exactly as an area's profile names
  its figures (``residents``, ``imd_rank``, ``points_total``, ``count:<category>``,
  ``rate:<category>``, ``assets:<layer>``, ``kind:<kind>``, ``kind_rate:<kind>``, …);
- ``perception:<question>:<figure>``: published resident-survey shares (as in a profile) where a survey
  places its respondents in this boundary's areas;
- ``indicator:<layer>:<indicator>``: indicator layers such as the GLA ward profiles, published for their
  own wards, or carried to another ward boundary by where residents live (see :data:`CARRIED_METHOD`).

The metadata has ``id, section, label, unit, source, period, vintage, method, caveat`` for each column.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

import numpy as np
import pandas as pd

from insight.analysis.perception import PerceptionResult, profile_rows
from insight.analysis.places import BoundaryData, Places
from insight.analysis.profiles import Metric, area_table, metrics, period_text
from insight.errors import BadRequest
from insight.geo.apportion import TOTAL, choose_weights
from insight.store import Engine, read_indicator_values

META_COLUMNS = ["id", "section", "label", "unit", "source", "period", "vintage", "method", "caveat"]
SKIPPED_THEMES = ("population", "deprivation", "perception")
_COUNT = re.compile(r"^(population|children_aged_\w+|working_age_\w+|older_people_aged_\w+|in_employment_\w+|"
                    r"number_\w+)$")
_NOT_CARRIED = ("area_square_kilometres",)
CARRIED_METHOD = (
    "carried from the {home} to these areas by Census 2021 residents: each old area's residents are placed by "
    "small area (LSOA 2021; {home_method} to the old areas, {target_method} to these), then counts are split in "
    "proportion to where each old area's residents live and other figures are averaged over the old areas "
    "weighted by the residents each shares with the area"
)


def indicator_layers(places: Places) -> list[str]:
    """Indicator layers offered in the table: all but population, deprivation and survey benchmarks."""
    return [name for name, meta in places.layers.items()
            if meta.kind == "indicator" and meta.theme not in SKIPPED_THEMES]


def read_indicators(engine: Engine, places: Places) -> dict[str, pd.DataFrame]:
    """The values of every layer of :func:`indicator_layers`, read from the store (tidy rows)."""
    return {name: read_indicator_values(engine, name) for name in indicator_layers(places)}


def every_area_table(
    places: Places,
    boundary: str | BoundaryData,
    *,
    crime_layer: str | None = None,
    period: tuple[int, int] | None = None,
    indicators: Mapping[str, pd.DataFrame] | None = None,
    chosen: Collection[str] | None = None,
    perception: Iterable[PerceptionResult] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every figure for every area of ``boundary`` and a metadata frame (one row per column).

    ``indicators`` are indicator layers' tidy values by layer name (:func:`read_indicators`);
    ``chosen`` keeps only those indicator names (all when None). ``perception`` are the published
    survey results for this boundary. The table's ``attrs`` describe the whole table.
    """
    _check_chosen(indicators or {}, chosen)
    table = area_table(places, boundary, crime_layer=crime_layer, period=period)
    data = table.boundary
    wide, meta = metrics(table)
    out = pd.DataFrame({"code": data.areas["code"].to_numpy(), "name": data.areas["name"].to_numpy()})
    rows = [_meta_row("code", "Area", "Area code", "code", data), _meta_row("name", "Area", "Area name", "text", data)]
    columns: dict[str, np.ndarray] = {k: wide[k].to_numpy(dtype=float) for k in wide.columns}
    rows += [_metric_row(key, m) for key, m in meta.items()]
    notes = list(table.notes)
    for result in perception:
        found, described = _perception_columns(result, data)
        columns.update(found)
        rows += described
        notes += [n for n in result.notes if n not in notes]
    for name, values in (indicators or {}).items():
        found, described, note = _indicator_columns(places, data, name, values, chosen)
        columns.update(found)
        rows += described
        notes += [note] if note else []
    out = pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)
    out.attrs.update(
        boundary=data.meta.name, boundary_title=data.meta.title, vintage=data.meta.vintage or "",
        layer=table.crime_meta.title if table.crime_meta else "no crime layer loaded",
        period=period_text(table.period) if table.period else "all records",
        population_method=table.population_method, notes=" ".join(notes),
        columns="one row per area; column ids are described in the metadata (id, label, unit, source, period, "
                "vintage, method, caveat); blank means no data",
    )
    return out, pd.DataFrame(rows, columns=META_COLUMNS)


def _check_chosen(indicators: Mapping[str, pd.DataFrame], chosen: Collection[str] | None) -> None:
    """BadRequest naming indicators that no loaded indicator layer has."""
    known = {str(i) for values in indicators.values() for i in values["indicator"].unique()}
    unknown = sorted(set(chosen or ()) - known)
    if unknown:
        examples = ", ".join(sorted(known)[:6]) or "none is loaded"
        raise BadRequest(f"no indicator named {', '.join(unknown[:5])}: give indicator names such as {examples}, "
                         "or 'none' to leave them out")


def _meta_row(key: str, section: str, label: str, unit: str, data: BoundaryData) -> dict[str, str]:
    return {"id": key, "section": section, "label": label, "unit": unit, "source": data.meta.title, "period": "",
            "vintage": data.meta.vintage or "", "method": "as in the boundary layer", "caveat": ""}


def _metric_row(key: str, m: Metric) -> dict[str, str]:
    caveat = "ILLUSTRATIVE: generated records, not real ones" if "ILLUSTRATIVE data" in m.method else ""
    if m.unit == "per 1,000":
        caveat = (caveat + "; " if caveat else "") + "blank where the area has no residents or none are known"
    return {"id": key, "section": m.section, "label": m.label, "unit": m.unit, "source": m.source,
            "period": m.period, "vintage": m.vintage, "method": m.method, "caveat": caveat}


def _perception_columns(
    result: PerceptionResult, data: BoundaryData
) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """A profile's perception rows for every area, as columns (the same keys and values as each profile)."""
    covered = set(result.areas["area_code"])
    codes = data.areas["code"].tolist()
    per_area = {c: {r["metric"]: r for r in profile_rows(result, c)} for c in codes if c in covered}
    if not per_area:
        return {}, []
    first = next(iter(per_area.values()))
    caveat = "blank where withheld by disclosure control (too few respondents)"
    if result.survey.illustrative:
        caveat = "ILLUSTRATIVE: generated respondents, not real answers; " + caveat
    columns, described = {}, []
    for key, row in first.items():
        columns[key] = np.array([float(per_area[c][key]["value"]) if c in per_area else np.nan for c in codes])
        label = str(row["label"]).split(" (withheld:")[0]
        prefix = "ILLUSTRATIVE survey: " if result.survey.illustrative else ""
        described.append({"id": key, "section": str(row["section"]), "label": prefix + label, "unit": str(row["unit"]),
                          "source": str(row["source"]), "period": str(row["period"]),
                          "vintage": data.meta.vintage or "", "method": str(row["method"]), "caveat": caveat})
    return columns, described


def _home(places: Places, values: pd.DataFrame) -> BoundaryData | None:
    """The boundary layer whose area codes the indicator values are published for (90% of them or more)."""
    codes = set(values["area_code"])
    for data in places.boundaries.values():
        if codes and len(codes & set(data.areas["code"])) >= 0.9 * len(codes):
            return data
    return None


def _indicator_columns(
    places: Places, data: BoundaryData, layer: str, values: pd.DataFrame, chosen: Collection[str] | None
) -> tuple[dict[str, np.ndarray], list[dict[str, str]], str]:
    """One column per indicator of ``layer``: published for its own areas, or carried to another ward layer."""
    meta = places.layers[layer]
    if chosen is not None:
        values = values[values["indicator"].isin(chosen)]
    home = _home(places, values)
    if values.empty or home is None:
        return {}, [], ""
    if home.meta.name == data.meta.name:
        weights, method = None, f"as published for the {home.meta.title}"
    elif data.meta.area_type == home.meta.area_type and data.meta.area_type != "drawn":
        crossing = _crosswalk(places, home, data)
        if crossing is None:
            return {}, [], f"{meta.title} are not shown: no population layer is loaded to carry them to these areas."
        weights, method = crossing
    else:
        return {}, [], (f"{meta.title} are published for the {home.meta.title}, so they are shown for those and "
                        f"other ward layers only.")
    source = f"{meta.title} ({meta.publisher}; {meta.licence})"
    caveat = (f"published for the {home.meta.title} ({home.meta.vintage}); figures refer to the period shown, "
              "years before the other figures in this table")
    if weights is not None:
        caveat = "ESTIMATED: these areas differ from the ones published for, so values are approximate; " + caveat
    wide = values.pivot_table(index="area_code", columns="indicator", values="value", aggfunc="first")
    periods = values.groupby("indicator")["period"].first()
    old = wide.reindex(home.areas["code"])
    columns, described = {}, []
    for indicator in wide.columns:
        if weights is not None and indicator in _NOT_CARRIED:
            continue
        key = f"indicator:{layer}:{indicator}"
        count = bool(_COUNT.match(indicator))
        series = old[indicator].to_numpy(dtype=float)
        if weights is None:
            columns[key] = wide[indicator].reindex(data.areas["code"]).to_numpy(dtype=float)
        else:
            columns[key] = _carry(series, weights, count=count)
        how = method if weights is None else method + (": counts split" if count else ": weighted mean")
        described.append({
            "id": key, "section": meta.title, "label": _label(indicator),
            "unit": "percent (0-100)" if indicator.startswith("pct_") or indicator.endswith("_pct") else
            ("people or things" if count else "as published"), "source": source,
            "period": str(periods[indicator]), "vintage": home.meta.vintage or "", "method": how, "caveat": caveat,
        })
    return columns, described, ""


def _label(indicator: str) -> str:
    words = indicator.replace("_pct", " %").replace("pct_", "% ").replace("_", " ")
    return words[:1].upper() + words[1:]


def _carry(values: np.ndarray, weights: np.ndarray, *, count: bool) -> np.ndarray:
    """Old-area values carried to new areas: ``weights[old, new]`` are the residents the two share."""
    ok = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        if count:
            shares = weights / weights.sum(axis=1, keepdims=True)
            total = np.nansum(np.where(ok[:, None], shares * values[:, None], 0.0), axis=0)
            known = (np.where(ok[:, None], weights, 0.0).sum(axis=0)) > 0
            return np.where(known, total, np.nan)
        num = np.where(ok[:, None], weights * np.where(ok, values, 0.0)[:, None], 0.0).sum(axis=0)
        den = np.where(ok[:, None], weights, 0.0).sum(axis=0)
        return np.where(den > 0, num / den, np.nan)


def _crosswalk(places: Places, home: BoundaryData, target: BoundaryData) -> tuple[np.ndarray, str] | None:
    """Residents shared by each old area (rows) and new area (columns), with the method in words."""
    key = ("crosswalk", f"{home.meta.name}>{target.meta.name}")
    if key in places.cache:
        found: tuple[np.ndarray, str] | None = places.cache[key]
        return found
    lsoa, population = places.lsoa, places.population
    result = None
    if lsoa is not None and population is not None and TOTAL in population:
        residents = population.reindex(lsoa.areas["code"])[TOTAL].fillna(0.0).to_numpy(dtype=float)
        lookups = list(places.lookups.values())
        old, old_method = choose_weights(lsoa.areas, home.areas, lookups=lookups)
        new, new_method = choose_weights(lsoa.areas, target.areas, lookups=lookups)
        to_old = np.zeros((len(lsoa.areas), len(home.areas)))
        np.add.at(to_old, (old["small"].to_numpy(), old["large"].to_numpy()), old["fraction"].to_numpy())
        to_new = np.zeros((len(lsoa.areas), len(target.areas)))
        np.add.at(to_new, (new["small"].to_numpy(), new["large"].to_numpy()), new["fraction"].to_numpy())
        shared = (to_old * residents[:, None]).T @ to_new
        method = CARRIED_METHOD.format(home=home.meta.title, home_method=old_method, target_method=new_method)
        result = (shared, method)
    places.cache[key] = result
    return result
