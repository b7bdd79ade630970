"""Trends over a span and change between two periods, each with its uncertainty.

* :func:`trend`: per area, a quasi-Poisson GLM (statsmodels; the dispersion is estimated from
  the data, so overdispersed counts get wider intervals) with month-of-year terms (monthly series),
  a linear time term in years and, when the span covers both pandemic and ordinary months, a
  pandemic indicator so the 2020-21 months neither drag the trend down nor are thrown away.
  The estimate is the % change per year with its 95% confidence interval and p-value.
* :func:`change`: counts in a second period against a first as a rate ratio (per period, so
  spans of different length compare fairly), with the exact conditional (binomial) test for
  two Poisson counts and its Clopper-Pearson interval, never a bare percentage.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from insight.analysis.trends.series import check_matrix, is_monthly, pandemic_mask
from insight.errors import BadRequest

TREND_METHOD = "quasi-Poisson GLM: month-of-year terms, linear time, pandemic indicator"
CHANGE_METHOD = "rate ratio, exact conditional Poisson test (Clopper-Pearson interval)"
COLUMNS = ["code", "name", "method", "period", "estimate", "lower", "upper", "p_value", "observed"]


def _design(index: pd.PeriodIndex) -> np.ndarray:
    """Intercept, month-of-year terms (monthly), time in years, and a pandemic indicator when identifiable."""
    monthly = index.freqstr.startswith("M")
    steps = np.arange(len(index), dtype=float) / (12.0 if monthly else 1.0)
    columns = [np.ones(len(index)), steps - steps.mean()]
    if monthly and len(index) >= 24:
        months = np.asarray(index.month)
        columns += [(months == m).astype(float) for m in range(2, 13)]
    pandemic = pandemic_mask(index).astype(float)
    if pandemic.sum() > 0 and len(index) - pandemic.sum() >= 3:
        columns.append(pandemic)
    return np.column_stack(columns)


def _slope(counts: np.ndarray, design: np.ndarray) -> tuple[float, float, float]:
    """Log-rate slope per year, its standard error and p-value from a quasi-Poisson fit (NaN if degenerate)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = sm.GLM(counts, design, family=sm.families.Poisson()).fit(scale="X2")
    slope, se = float(result.params[1]), float(result.bse[1])
    if not (np.isfinite(slope) and np.isfinite(se) and se > 0):
        return float("nan"), float("nan"), float("nan")
    return slope, se, float(2 * stats.t.sf(abs(slope / se), max(result.df_resid, 1)))


def _span(matrix: pd.DataFrame, period: tuple[pd.Period | str, pd.Period | str] | None) -> pd.DataFrame:
    if period is None:
        return matrix
    index = pd.PeriodIndex(matrix.index)
    first, last = (pd.Period(str(p), freq=index.freqstr) for p in period)
    return matrix.loc[(index >= first) & (index <= last)]


def trend(
    matrix: pd.DataFrame, period: tuple[pd.Period | str, pd.Period | str] | None = None,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per area, the % change per year over ``period`` (default: the whole series), 95% CI, p-value.

    Needs at least 3 periods (years) or 24 months. Areas with no records get NaN estimates.
    """
    chosen = check_matrix(_span(check_matrix(matrix), period))
    index = pd.PeriodIndex(chosen.index)
    if len(index) < (24 if is_monthly(chosen) else 3):
        raise BadRequest("a trend needs at least 24 months (or 3 years) of counts")
    design = _design(index)
    z = stats.norm.ppf(0.975)
    label = f"{index[0]}:{index[-1]}"
    rows = []
    for code in chosen.columns:
        counts = chosen[code].to_numpy(dtype=float)
        row = {"code": str(code), "name": (names or {}).get(str(code)), "method": TREND_METHOD,
               "period": label, "observed": int(counts.sum())}
        if counts.sum() == 0:
            rows.append({**row, "estimate": np.nan, "lower": np.nan, "upper": np.nan, "p_value": np.nan})
            continue
        slope, se, p_value = _slope(counts, design)
        rows.append({**row, "estimate": 100 * np.expm1(slope), "lower": 100 * np.expm1(slope - z * se),
                     "upper": 100 * np.expm1(slope + z * se), "p_value": p_value})
    return pd.DataFrame(rows, columns=COLUMNS)


def rate_ratio(first: int, second: int, first_periods: float = 1.0, second_periods: float = 1.0,
               level: float = 0.95) -> tuple[float, float, float, float]:
    """Rate ratio (second / first, per period), its exact interval and two-sided p-value.

    Conditional on the total ``first + second``, the second count is binomial with share
    ``second_periods / (first_periods + second_periods)`` when the rates are equal.
    """
    if first < 0 or second < 0 or first_periods <= 0 or second_periods <= 0:
        raise BadRequest("counts must be zero or more and periods longer than zero")
    total = first + second
    if total == 0:
        return float("nan"), float("nan"), float("nan"), float("nan")
    share = second_periods / (first_periods + second_periods)
    test = stats.binomtest(second, total, share)
    low, high = test.proportion_ci(confidence_level=level, method="exact")
    exposure = first_periods / second_periods

    def to_ratio(p: float) -> float:
        return float("inf") if p >= 1 else p / (1 - p) * exposure

    estimate = float("inf") if first == 0 else (second / second_periods) / (first / first_periods)
    return estimate, to_ratio(low), to_ratio(high), float(test.pvalue)


def change(
    matrix: pd.DataFrame, first: tuple[pd.Period | str, pd.Period | str],
    second: tuple[pd.Period | str, pd.Period | str], names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per area, the rate in ``second`` against ``first`` as a rate ratio with 95% interval and exact test.

    Periods are inclusive (start, end) pairs; compare like with like (e.g. the same months of
    two years) so seasonality does not pass for change.
    """
    check_matrix(matrix)
    before, after = _span(matrix, first), _span(matrix, second)
    if len(before) == 0 or len(after) == 0:
        raise BadRequest("both periods must fall inside the series")
    label = f"{before.index[0]}:{before.index[-1]} vs {after.index[0]}:{after.index[-1]}"
    rows = []
    for code in matrix.columns:
        a, b = int(before[code].sum()), int(after[code].sum())
        estimate, lower, upper, p_value = rate_ratio(a, b, len(before), len(after))
        rows.append({"code": str(code), "name": (names or {}).get(str(code)), "method": CHANGE_METHOD,
                     "period": label, "estimate": estimate, "lower": lower, "upper": upper,
                     "p_value": p_value, "observed": b, "before": a})
    return pd.DataFrame(rows, columns=[*COLUMNS, "before"])
