"""A transparent composite need score, its uncertainty, and the areas with high need and few assets.

Pure functions over frames: :func:`standardise` and :func:`composite_score` turn ingredients
(one column per indicator, one row per area) into one score; :func:`simulate` draws every
ingredient from its own uncertainty and reports intervals of the score and of each area's rank;
:func:`terciles`, :func:`bivariate_class` and :func:`flag_areas` find "high need, few assets".
:mod:`insight.analysis.need_areas` assembles the ingredients from a
:class:`~insight.analysis.places.Places` snapshot.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from insight.errors import BadRequest

STANDARDISATIONS = {
    "zscore": "z-score: (value − mean of the areas) / standard deviation of the areas (n − 1)",
    "percentile": "percentile rank: (rank among the areas − 0.5) / number of areas, from 0 to 1 (ties share a rank)",
}
SAMPLERS = ("fixed", "poisson", "ratio", "normal")
Z95 = 1.959963984540054
DEFAULT_DRAWS = 1000
DEFAULT_SEED = 20240401


@dataclass(frozen=True)
class Ingredient:
    """One indicator of need for every area, with what it means and how uncertain it is.

    ``direction`` is +1 when a higher value means more need, -1 when it means less (a
    deprivation rank). ``lower``/``upper`` are its 95% interval (NaN when none is
    published). ``sampler`` says how :func:`simulate` draws it: ``fixed`` (no interval),
    ``poisson`` (``counts`` records, value = count x ``scale``), ``ratio`` (``counts`` now
    over ``previous``) or ``normal`` (from the 95% interval).
    """

    key: str
    label: str
    direction: int
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sampler: str = "fixed"
    counts: np.ndarray | None = None
    previous: np.ndarray | None = None
    scale: np.ndarray | None = None
    source: str = ""
    period: str = ""
    vintage: str = ""
    method: str = ""
    uncertainty: str = ""
    illustrative: bool = False


def _check_method(method: str) -> None:
    if method not in STANDARDISATIONS:
        raise BadRequest(f"standardisation '{method[:30]}' is not one of {', '.join(STANDARDISATIONS)}")


def standardise(values: pd.DataFrame, *, method: str = "zscore") -> pd.DataFrame:
    """Each column on a common scale across the areas (rows); missing values stay missing.

    A column whose values are all equal carries no information about which area needs more:
    its z-scores are 0 and its percentile ranks 0.5.
    """
    _check_method(method)
    out = pd.DataFrame(index=values.index)
    for column in values.columns:
        x = values[column].astype(float)
        if method == "zscore":
            sd = x.std(ddof=1)
            out[column] = (x - x.mean()) / sd if np.isfinite(sd) and sd > 0 else x * 0.0
        else:
            out[column] = (x.rank(method="average") - 0.5) / x.notna().sum()
    return out


def checked_weights(weights: Mapping[str, float], keys: Sequence[str]) -> dict[str, float]:
    """The weights of ``keys`` (missing ones 0); BadRequest for a negative weight or when all are 0."""
    out = {k: float(weights.get(k, 0.0)) for k in keys}
    bad = [k for k, w in out.items() if not np.isfinite(w) or w < 0]
    if bad:
        raise BadRequest(f"weights must be zero or more; check {', '.join(bad)}")
    if not any(w > 0 for w in out.values()):
        raise BadRequest("at least one ingredient needs a weight above zero")
    return out


def composite_score(
    values: pd.DataFrame,
    weights: Mapping[str, float],
    *,
    directions: Mapping[str, int] | None = None,
    method: str = "zscore",
) -> pd.Series:
    """The weighted mean of each area's standardised, need-oriented ingredients.

    Each column is multiplied by its direction (default +1) so that higher means more need,
    standardised across the areas (:func:`standardise`), then averaged with ``weights``. An
    area missing an ingredient is scored on the others, their weights scaled to sum to one;
    an area with none is NaN.
    """
    w = checked_weights(weights, list(values.columns))
    oriented = values.astype(float) * pd.Series({c: (directions or {}).get(c, 1) for c in values.columns})
    scores = standardise(oriented, method=method)
    weight = pd.Series(w)[scores.columns]
    present = scores.notna() & (weight > 0)
    total = present.mul(weight, axis=1).sum(axis=1)
    summed = scores.fillna(0.0).mul(weight, axis=1).sum(axis=1)
    return (summed / total).where(total > 0)


def _draw(ingredient: Ingredient, rng: np.random.Generator, draws: int) -> np.ndarray:
    """``draws`` x areas values of one ingredient, drawn from its uncertainty."""
    n = len(ingredient.values)
    values = np.asarray(ingredient.values, dtype=float)
    if ingredient.sampler == "poisson" and ingredient.counts is not None and ingredient.scale is not None:
        drawn = rng.gamma(np.asarray(ingredient.counts, float) + 0.5, size=(draws, n))
        scaled: np.ndarray = drawn * np.asarray(ingredient.scale, dtype=float)
        return scaled
    if ingredient.sampler == "ratio" and ingredient.counts is not None and ingredient.previous is not None:
        now = rng.gamma(np.asarray(ingredient.counts, float) + 0.5, size=(draws, n))
        before = rng.gamma(np.asarray(ingredient.previous, float) + 0.5, size=(draws, n))
        return np.where(np.isfinite(values), now / before, np.nan)
    if ingredient.sampler == "normal":
        sd = (np.asarray(ingredient.upper, float) - np.asarray(ingredient.lower, float)) / (2 * Z95)
        sd = np.where(np.isfinite(sd), sd, 0.0)
        return values + rng.standard_normal((draws, n)) * sd
    return np.broadcast_to(values, (draws, n))


def simulate(
    ingredients: Sequence[Ingredient],
    weights: Mapping[str, float],
    *,
    method: str = "zscore",
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    level: float = 0.9,
) -> pd.DataFrame:
    """Intervals of each area's composite score and rank, by drawing every ingredient from its uncertainty.

    Each draw takes every ingredient from its own distribution (a Poisson rate from the Gamma
    posterior of its count, a ratio of two such counts, a survey share from a normal with its
    published interval, a published figure without an interval as it is), standardises the
    draw across the areas and recomputes the score and the ranks (1 = most need). Returns
    ``composite_low, composite_high, rank_low, rank_high`` (the central ``level`` of the draws).
    """
    if not 0 < level < 1 or draws < 10:
        raise BadRequest("the simulation needs a level between 0 and 1 and at least 10 draws")
    rng = np.random.default_rng(seed)
    w = checked_weights(weights, [i.key for i in ingredients])
    n = len(ingredients[0].values)
    summed = np.zeros((draws, n))
    total = np.zeros((draws, n))
    for ingredient in ingredients:
        if w[ingredient.key] <= 0:
            continue
        z = _standardise_rows(_draw(ingredient, rng, draws) * ingredient.direction, method)
        present = np.isfinite(z)
        summed += np.where(present, z, 0.0) * w[ingredient.key]
        total += present * w[ingredient.key]
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan)
    ranks = rankdata(-scores, method="min", axis=1, nan_policy="omit")
    tail = (1 - level) / 2 * 100
    low, high = _quantiles(scores, tail)
    rank_low, rank_high = _quantiles(ranks, tail)
    return pd.DataFrame({"composite_low": low, "composite_high": high,
                         "rank_low": np.floor(rank_low), "rank_high": np.ceil(rank_high)})


def _standardise_rows(x: np.ndarray, method: str) -> np.ndarray:
    """:func:`standardise` for each row of a draws x areas array at once."""
    x = np.array(x, dtype=float)
    if method == "zscore":
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(x, axis=1, keepdims=True)
            sd = np.nanstd(x, axis=1, ddof=1, keepdims=True)
            return np.where((sd > 0) & np.isfinite(sd), (x - mean) / np.where(sd > 0, sd, 1.0), x * 0.0)
    ranks = np.asarray(rankdata(x, method="average", axis=1, nan_policy="omit"), dtype=float)
    scaled: np.ndarray = (ranks - 0.5) / np.isfinite(x).sum(axis=1, keepdims=True)
    return scaled


def _quantiles(values: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``tail`` and ``100 - tail`` percentiles of each column (NaN for a column with no value)."""
    out = np.full((2, values.shape[1]), np.nan)
    present = np.isfinite(values).any(axis=0)
    if present.any():
        out[:, present] = np.nanpercentile(values[:, present], [tail, 100 - tail], axis=0)
    return out[0], out[1]


def percentile(values: pd.Series) -> pd.Series:
    """Each value's percentile among the areas, 0 to 100 (the highest is 100; ties share the average)."""
    return values.rank(method="average", pct=True) * 100


def terciles(values: pd.Series) -> pd.Series:
    """1 (lowest third), 2 or 3 (highest third) by percentile among the areas; NaN where missing."""
    pct = percentile(values)
    return pd.Series(np.select([pct <= 100 / 3 + 1e-9, pct <= 200 / 3 + 1e-9, pct > 0], [1, 2, 3], np.nan),
                     index=values.index).where(values.notna())


def bivariate_class(need_tercile: pd.Series, asset_tercile: pd.Series) -> pd.Series:
    """1 to 9: (asset tercile − 1) x 3 + need tercile, so 3 is high need with few assets; NaN if either is missing."""
    return (asset_tercile - 1) * 3 + need_tercile


def flag_areas(rows: pd.DataFrame, *, need_min: float, assets_max: float, assets: str = "assets_per_1000") -> pd.Series:
    """Areas with need percentile at least ``need_min`` and ``assets`` per 1,000 residents at most ``assets_max``."""
    if not 0 <= need_min <= 100:
        raise BadRequest(f"the need threshold must be a percentile from 0 to 100, not {need_min:g}")
    if not np.isfinite(assets_max) or assets_max < 0:
        raise BadRequest("the assets threshold must be a number of places per 1,000 residents, zero or more")
    if assets not in rows:
        raise BadRequest(f"'{assets[:40]}' is not an asset figure of this table")
    return (rows["need_percentile"] >= need_min - 1e-9) & (rows[assets] <= assets_max + 1e-9)


def default_assets_max(rows: pd.DataFrame, assets: str = "assets_per_1000") -> float:
    """The top of the lowest third of areas by ``assets`` per 1,000 residents (0 when no area has a figure)."""
    values = rows[assets].dropna().to_numpy(dtype=float) if assets in rows else np.array([])
    return float(np.quantile(values, 1 / 3)) if len(values) else 0.0
