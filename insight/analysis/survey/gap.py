"""Perception against recorded crime: recorded rates with intervals, and where the two disagree."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from insight.analysis.survey.intervals import BoolArray, FloatArray, critical_value
from insight.errors import BadRequest, SurveyError

__all__ = ["GapLabels", "perception_vs_crime", "recorded_rates"]


def recorded_rates(
    counts: pd.DataFrame,
    *,
    count: str = "count",
    population: str = "population",
    years: float = 1.0,
    per: float = 1000.0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Recorded incidents per ``per`` residents per year, with an exact Poisson interval.

    Why an interval: counts in a ward are themselves noisy (a quiet month, a
    one-off event), so a rate is only called higher or lower than the borough
    when its interval says so. Adds ``rate``, ``rate_ci_low``, ``rate_ci_high``
    (Garwood's chi-square limits).
    """
    if years <= 0:
        raise BadRequest(f"years must be positive, got {years}")
    k = counts[count].to_numpy(dtype=float)
    pop = counts[population].to_numpy(dtype=float)
    if np.any(pop <= 0) or np.any(k < 0):
        raise SurveyError("population must be positive and counts zero or more in every row")
    alpha = 1 - level
    low = np.where(k > 0, stats.chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
    high = stats.chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2
    scale = per / (pop * years)
    out = counts.copy()
    out["rate"] = k * scale
    out["rate_ci_low"] = low * scale
    out["rate_ci_high"] = high * scale
    return out


@dataclass(frozen=True)
class GapLabels:
    """Words for :func:`perception_vs_crime`; the defaults are for feeling safe against crime."""

    less: str = "feels less safe than its recorded crime suggests"
    more: str = "feels safer than its recorded crime suggests"
    same: str = "in line"
    unknown: str = "not enough responses to say"


RULES = {
    "borough": ("different only when the share's interval excludes the borough share: 'less' when it is "
                "wholly below it and the crime rate is not higher than the borough's (its interval does not "
                "lie wholly above the borough rate); 'more' when it is wholly above it and the crime rate is "
                "not lower"),
    "relationship": ("different only when the share's interval excludes the share predicted for the area's crime "
                     "rate by a precision-weighted regression of share on log(1 + rate) across the other areas"),
}


def perception_vs_crime(
    areas: pd.DataFrame,
    *,
    borough_share: float,
    borough_rate: float,
    share: str = "share",
    ci_low: str = "ci_low",
    ci_high: str = "ci_high",
    rate: str = "rate",
    rate_ci_low: str | None = "rate_ci_low",
    rate_ci_high: str | None = "rate_ci_high",
    rule: str = "borough",
    labels: GapLabels = GapLabels(),
) -> pd.DataFrame:
    """Classify each area's perception (e.g. share feeling safe) against its recorded crime rate.

    Rules (``rule``):

    - ``"borough"`` (default): the share is *below* the borough when its whole
      interval is below ``borough_share``, *above* when wholly above, else
      *similar*; the crime rate is *higher* when its whole interval is above
      ``borough_rate``, *lower* when wholly below, else *similar* (without
      interval columns, the point rate is compared). An area "feels less safe
      than its recorded crime suggests" when its share is below while its crime
      is not higher, and "feels safer than its recorded crime suggests" when its
      share is above while its crime is not lower. Everything else is "in line",
      including low perception with high crime (consistent, not a gap).
    - ``"relationship"``: the expected share is the prediction at the area's
      rate of a weighted least-squares line of share on log(1 + rate) fitted to
      the *other* areas (weights 1/se², se from the interval width). The area is
      "less"/"more" when its interval is wholly below/above that prediction.
      The prediction's own uncertainty is not added, so with few areas this
      rule calls differences more readily than "borough".

    Areas without a published share get ``labels.unknown``. Output: the input
    columns plus ``borough_share, borough_rate, expected_share, gap`` (share -
    expected, in shares), ``perception`` ("below", "above", "similar"),
    ``crime_vs_borough`` ("higher", "lower", "similar"), ``classification``
    and ``rule`` (the rule in words): one row per area, ready for a map layer
    (shade ``gap`` or ``classification``), a scatter (``rate`` against
    ``share`` with both intervals) or an export.
    """
    if rule not in RULES:
        raise BadRequest(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    _require_columns(areas, [share, ci_low, ci_high, rate, rate_ci_low, rate_ci_high])
    out = areas.reset_index(drop=True).copy()
    p = pd.to_numeric(out[share], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(out[ci_low], errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(out[ci_high], errors="coerce").to_numpy(dtype=float)
    r = pd.to_numeric(out[rate], errors="coerce").to_numpy(dtype=float)
    r_lo = pd.to_numeric(out[rate_ci_low], errors="coerce").to_numpy(dtype=float) if rate_ci_low else r
    r_hi = pd.to_numeric(out[rate_ci_high], errors="coerce").to_numpy(dtype=float) if rate_ci_high else r
    known = np.isfinite(p) & np.isfinite(lo) & np.isfinite(hi) & np.isfinite(r)
    crime = np.where(r_lo > borough_rate, "higher", np.where(r_hi < borough_rate, "lower", "similar"))
    expected = (np.full(len(out), float(borough_share)) if rule == "borough"
                else _loo_prediction(p, lo, hi, r, known))
    below = known & (hi < expected)
    above = known & (lo > expected)
    perception = np.where(below, "below", np.where(above, "above", "similar"))
    if rule == "borough":
        less = below & (crime != "higher")
        more = above & (crime != "lower")
    else:
        less, more = below, above
    classification = np.where(less, labels.less, np.where(more, labels.more, labels.same)).astype(object)
    classification[~known] = labels.unknown
    out["borough_share"] = float(borough_share)
    out["borough_rate"] = float(borough_rate)
    out["expected_share"] = np.where(np.isfinite(expected), expected, np.nan)
    out["gap"] = np.where(known, p - expected, np.nan)
    out["perception"] = pd.Series(_blank_unless(known, perception), dtype=object)
    out["crime_vs_borough"] = pd.Series(_blank_unless(np.isfinite(r), crime), dtype=object)
    out["classification"] = pd.Series(classification, dtype=object)
    out["rule"] = RULES[rule]
    return out


def _blank_unless(keep: BoolArray, values: NDArray[np.str_]) -> NDArray[np.object_]:
    """``values`` as objects, None where ``keep`` is false."""
    out = values.astype(object)
    out[~keep] = None
    return out


def _require_columns(areas: pd.DataFrame, columns: list[str | None]) -> None:
    """SurveyError naming the columns (None: not wanted) that ``areas`` lacks."""
    missing = [c for c in columns if c is not None and c not in areas]
    if missing:
        raise SurveyError(f"areas lack column(s) {', '.join(missing)}; name the columns with the share, ci_low, "
                          "ci_high, rate, rate_ci_low and rate_ci_high options (None for no rate interval)")


def _loo_prediction(p: FloatArray, lo: FloatArray, hi: FloatArray, r: FloatArray, known: BoolArray) -> FloatArray:
    """Leave-one-out weighted least-squares prediction of each area's share from log(1 + rate)."""
    se = (hi - lo) / (2 * critical_value(0.95))
    x = np.log1p(np.where(np.isfinite(r), r, 0.0))
    w = np.where(known & (se > 0), 1.0 / np.where(se > 0, se, 1.0) ** 2, 0.0)
    expected = np.full(len(p), np.nan)
    for i in range(len(p)):
        wi = w.copy()
        wi[i] = 0.0
        if np.count_nonzero(wi) < 3 or not np.isfinite(r[i]):
            continue
        design = np.column_stack([np.ones(len(p)), x])
        coef, *_ = np.linalg.lstsq(design * np.sqrt(wi)[:, None], np.where(wi > 0, p, 0.0) * np.sqrt(wi), rcond=None)
        expected[i] = coef[0] + coef[1] * x[i]
    return expected

