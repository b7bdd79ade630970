"""Small-area statistics (Census population, IMD) carried to any other areas.

Methods, each named in every figure it produces:

- ``published``: the areas are the small areas themselves.
- ``nesting lookup``: an official best-fit lookup maps every small area to exactly one
  target area (e.g. LSOA 2021 to the May 2022 wards); figures are exact sums.
- ``best-fit nesting``: no lookup is loaded, but each small area lies (by area, in
  EPSG:27700) at least 98% inside one target area; it is assigned whole.
- ``areal apportionment``: small areas are split by the share of their area inside
  each target (residents assumed evenly spread within each small area). When a layer
  covers at least 90% of a small area, its shares are rescaled to sum to one so that
  generalisation slivers do not lose residents. Bounds: the lower bound counts only
  small areas (almost) wholly inside (98%+ of their area, at that share), the upper
  bound every small area that touches, in full.

Indicators such as IMD ranks are then population-weighted with these residents.
"""
from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from insight.geo.crs import to_metric

NESTED = 0.98
COVERED = 0.90
TOTAL = "usual_residents_total"


def overlap_fractions(small: gpd.GeoDataFrame, large: gpd.GeoDataFrame) -> pd.DataFrame:
    """Share of each small area's area lying in each large area, measured in EPSG:27700.

    Returns rows (small, large, fraction) with positional indices; pairs that do not
    overlap are absent.
    """
    s = to_metric(small).geometry.values
    l_ = to_metric(large).geometry.values
    tree = shapely.STRtree(l_)
    si, li = tree.query(s, predicate="intersects")
    if len(si) == 0:
        return pd.DataFrame({"small": [], "large": [], "fraction": []})
    shared = shapely.area(shapely.intersection(s[si], l_[li]))
    fraction = shared / shapely.area(s[si])
    frame = pd.DataFrame({"small": si, "large": li, "fraction": fraction})
    return frame[frame["fraction"] > 1e-9].reset_index(drop=True)


def weights_from_lookup(small_codes: pd.Index, large_codes: pd.Index, lookup: pd.DataFrame) -> pd.DataFrame:
    """(small, large, fraction=1) from a best-fit lookup's from_code → to_code pairs."""
    s_pos = pd.Series(np.arange(len(small_codes)), index=small_codes)
    l_pos = pd.Series(np.arange(len(large_codes)), index=large_codes)
    pairs = lookup[lookup["from_code"].isin(small_codes) & lookup["to_code"].isin(large_codes)]
    return pd.DataFrame(
        {"small": s_pos[pairs["from_code"]].to_numpy(), "large": l_pos[pairs["to_code"]].to_numpy(),
         "fraction": 1.0}
    )


def choose_weights(
    small: gpd.GeoDataFrame,
    large: gpd.GeoDataFrame,
    *,
    lookups: Sequence[pd.DataFrame] = (),
) -> tuple[pd.DataFrame, str]:
    """Weights carrying small-area figures to ``large`` and the name of the method used.

    Both frames need a ``code`` column. A lookup is used when its target codes are
    exactly the large areas' codes and it covers every small area.
    """
    small_codes, large_codes = pd.Index(small["code"]), pd.Index(large["code"])
    if small_codes.equals(large_codes):
        n = len(small_codes)
        return pd.DataFrame({"small": np.arange(n), "large": np.arange(n), "fraction": 1.0}), "published"
    for lookup in lookups:
        mapped = lookup[lookup["from_code"].isin(small_codes)]
        if (
            len(mapped)
            and set(mapped["to_code"]) == set(large_codes)
            and set(mapped["from_code"]) == set(small_codes)
            and not mapped["from_code"].duplicated().any()
        ):
            return weights_from_lookup(small_codes, large_codes, lookup), "nesting lookup"
    overlaps = overlap_fractions(small, large)
    best = overlaps.groupby("small")["fraction"].max().reindex(range(len(small)), fill_value=0.0)
    covered_all = overlaps.groupby("small")["fraction"].sum().reindex(range(len(small)), fill_value=0.0)
    if len(overlaps) and (best[covered_all > 0] >= NESTED).all() and (covered_all > 0).all():
        winners = overlaps.loc[overlaps.groupby("small")["fraction"].idxmax()]
        return winners.assign(fraction=1.0).reset_index(drop=True), "best-fit nesting"
    totals = overlaps.groupby("small")["fraction"].transform("sum")
    rescale = totals >= COVERED
    overlaps.loc[rescale, "fraction"] = overlaps.loc[rescale, "fraction"] / totals[rescale]
    return overlaps, "areal apportionment"


def apportion(values: pd.DataFrame, weights: pd.DataFrame, n_large: int) -> pd.DataFrame:
    """Sum small-area counts (rows in positional order, one column per count) into large areas.

    Adds ``<column>_lower`` and ``<column>_upper`` bounds for the total column when
    present: small areas wholly inside, and every small area that touches.
    """
    matrix = values.to_numpy(dtype=float)
    out = np.zeros((n_large, matrix.shape[1]))
    carried = matrix[weights["small"].to_numpy()] * weights["fraction"].to_numpy()[:, None]
    np.add.at(out, weights["large"].to_numpy(), carried)
    result = pd.DataFrame(out, columns=values.columns)
    if TOTAL in values.columns:
        totals = values[TOTAL].to_numpy(dtype=float)
        whole = weights[weights["fraction"] >= NESTED]
        lower = np.bincount(
            whole["large"], weights=totals[whole["small"]] * whole["fraction"], minlength=n_large
        )
        upper = np.bincount(weights["large"], weights=totals[weights["small"]], minlength=n_large)
        result[f"{TOTAL}_lower"] = lower
        result[f"{TOTAL}_upper"] = upper
    return result


def weighted_mean(values: np.ndarray, weights: pd.DataFrame, population: np.ndarray, n_large: int) -> np.ndarray:
    """Population-weighted mean of a small-area indicator in each large area (NaN where no residents)."""
    w = weights["fraction"].to_numpy() * population[weights["small"].to_numpy()]
    v = values[weights["small"].to_numpy()]
    ok = ~np.isnan(v)
    num = np.bincount(weights["large"].to_numpy()[ok], weights=(w * v)[ok], minlength=n_large)
    den = np.bincount(weights["large"].to_numpy()[ok], weights=w[ok], minlength=n_large)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def bridge_codes(values: pd.DataFrame, lookup: pd.DataFrame, target_codes: pd.Index) -> pd.DataFrame:
    """Re-key small-area indicator rows from one vintage to another (e.g. LSOA 2011 to 2021).

    An area split in two passes its values to both parts; areas merged into one take
    the mean of their values.
    """
    pairs = lookup[lookup["to_code"].isin(target_codes) & lookup["from_code"].isin(values.index)]
    bridged = values.loc[pairs["from_code"]].set_axis(pairs["to_code"].to_numpy())
    return bridged.groupby(level=0).mean().reindex(target_codes)
