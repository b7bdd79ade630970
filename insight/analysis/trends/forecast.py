"""Forecasts with 80% and 95% prediction intervals, pooled across areas.

The method ("pooled share", see docs/trends.md):

1. **Seasonality** (monthly series only) is estimated once for all areas together, from the
   summed series: a Poisson GLM (statsmodels, quasi-likelihood scale) with month-of-year terms
   and a linear time term over the last five years, pandemic months left out of the fit.
2. **Area level**: each area's seasonally adjusted count over the recent window (12 months, or
   the last year) is shrunk towards what its long-run share (36 months, or 5 years) of the
   pooled total predicts. The shrinkage is empirical Bayes: a gamma prior on each area's
   recent/long-run ratio whose spread is estimated from all areas, so a small, noisy area is
   pulled further towards its long-run share than a large one.
3. **Forecast** = area level x month-of-year factor, flat into the future.
4. **Intervals** are negative-binomial: variance = mean + alpha(h) x mean^2, where the
   overdispersion alpha(h) at each horizon h is measured from the method's own errors at
   earlier origins inside the data it is given (a rolling check within the training data),
   smoothed as a straight line in h. Nothing after the forecast origin is ever used.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from insight.analysis.trends.quantiles import count_interval
from insight.analysis.trends.series import check_matrix, is_monthly, pandemic_mask
from insight.errors import BadRequest

METHOD = "pooled-share"
"""The method's name, carried on every forecast row."""
LEVELS = (0.80, 0.95)
"""The prediction-interval coverages produced."""


@dataclass(frozen=True)
class Windows:
    """How much history each part of the method uses (in periods)."""

    recent: int
    long: int
    season_years: int = 5
    check_step: int = 1
    min_history: int = 0


MONTHLY = Windows(recent=12, long=36, check_step=2, min_history=24)
ANNUAL = Windows(recent=1, long=5, check_step=1, min_history=3)


@dataclass(frozen=True)
class Fit:
    """A fitted forecaster at one origin: per-area levels, seasonal factors and dispersion by horizon."""

    level: np.ndarray
    season: np.ndarray
    alpha: np.ndarray
    last: pd.Period

    def mean(self, horizon: int) -> np.ndarray:
        """Expected counts, horizon x area."""
        steps = np.arange(1, horizon + 1)
        if len(self.season) == 12:
            month_of_year = (self.last.month - 1 + steps) % 12
            factors = self.season[month_of_year]
        else:
            factors = np.ones(horizon)
        return np.outer(factors, self.level)

    def dispersion(self, horizon: int) -> np.ndarray:
        """Overdispersion alpha for horizons 1..horizon (the last measured value carries on)."""
        steps = np.minimum(np.arange(horizon), len(self.alpha) - 1)
        return np.asarray(self.alpha[steps])


def seasonal_factors(total: np.ndarray, index: pd.PeriodIndex, years: int = 5) -> np.ndarray:
    """Month-of-year factors (mean 1) of a summed monthly series; pandemic months are not fitted.

    A Poisson GLM with month-of-year dummies and a linear time term over the last ``years``
    years. Fewer than two years of usable months, or a degenerate fit, gives flat factors.
    """
    usable = ~pandemic_mask(index)
    usable[: max(0, len(index) - 12 * years)] = False
    if usable.sum() < 24 or total[usable].sum() == 0:
        return np.ones(12)
    months = np.asarray(index.month)[usable] - 1
    design = np.zeros((int(usable.sum()), 13))
    design[np.arange(len(months)), months] = 1.0
    design[:, 12] = (np.arange(len(index))[usable] - len(index)) / 12.0
    model = sm.GLM(total[usable], design, family=sm.families.Poisson())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        params = np.asarray(model.fit().params)
    if not np.isfinite(params).all():
        return np.ones(12)
    factors = np.exp(params[:12] - params[:12].mean())
    return np.asarray(factors / factors.mean())


def _season_of(index: pd.PeriodIndex, season: np.ndarray) -> np.ndarray:
    if len(season) != 12:
        return np.ones(len(index))
    return np.asarray(season[np.asarray(index.month) - 1])


def area_levels(values: np.ndarray, season_t: np.ndarray, windows: Windows) -> np.ndarray:
    """Seasonally adjusted level per area (expected count per period), shrunk by empirical Bayes.

    The recent window's count ``O`` of each area is compared with ``E``, what its long-run share
    of the pooled total predicts; the ratio gets a gamma prior (mean 1, variance ``v`` estimated
    by moments across areas), so the level is ``(O + 1/v) / (E + 1/v) x E`` per adjusted period.
    """
    recent = values[-windows.recent:]
    long = values[-windows.long:]
    observed = recent.sum(axis=0).astype(float)
    long_total = long.sum()
    share = long.sum(axis=0) / long_total if long_total > 0 else np.full(values.shape[1], 1 / values.shape[1])
    expected = share * observed.sum()
    between = _between_variance(observed, expected)
    prior = 1.0 / between if between > 0 else np.inf
    ratio = np.ones_like(expected) if np.isinf(prior) else (observed + prior) / (expected + prior)
    adjusted = float(season_t[-windows.recent:].sum())
    return np.asarray(ratio * expected / adjusted)


def _between_variance(observed: np.ndarray, expected: np.ndarray) -> float:
    """Moment estimate of the variance of the areas' true recent/long-run ratios (Poisson noise removed)."""
    denominator = float((expected**2).sum())
    if denominator <= 0:
        return 0.0
    return max(0.0, float((((observed - expected) ** 2) - observed).sum()) / denominator)


def _dispersion_by_horizon(
    values: np.ndarray, season_t: np.ndarray, windows: Windows, horizon: int,
) -> np.ndarray:
    """alpha(h) for h = 1..horizon from the method's errors at earlier origins in ``values``."""
    first = max(windows.long, windows.min_history)
    excess = np.zeros(horizon)
    weight = np.zeros(horizon)
    for origin in range(len(values) - 1, first - 1, -windows.check_step):
        level = area_levels(values[:origin], season_t[:origin], windows)
        steps = min(horizon, len(values) - origin)
        if steps <= 0:
            continue
        mu = np.outer(season_t[origin:origin + steps], level)
        actual = values[origin:origin + steps]
        excess[:steps] += (((actual - mu) ** 2) - mu).sum(axis=1)
        weight[:steps] += (mu**2).sum(axis=1)
    return _smooth_alpha(excess, weight)


def _smooth_alpha(excess: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-horizon moment estimates fitted as a straight line in h (weighted), never below a floor."""
    seen = weight > 0
    floor = 1e-3
    if not seen.any():
        return np.full(len(excess), 0.05)
    raw = np.where(seen, excess / np.where(seen, weight, 1.0), 0.0)
    steps = np.arange(1, len(excess) + 1, dtype=float)
    if seen.sum() >= 3:
        slope, intercept = np.polyfit(steps[seen], raw[seen], 1, w=np.sqrt(weight[seen]))
        slope = max(float(slope), 0.0)
        fitted = intercept + slope * steps
    else:
        fitted = np.full(len(excess), float(raw[seen].mean()))
    return np.asarray(np.maximum(fitted, floor))


def fit(matrix: pd.DataFrame, horizon: int, windows: Windows | None = None) -> Fit:
    """Fit the pooled-share forecaster on the whole of ``matrix`` (the forecast origin is its last row)."""
    check_matrix(matrix)
    monthly = is_monthly(matrix)
    chosen = windows or (MONTHLY if monthly else ANNUAL)
    values = matrix.to_numpy(dtype=float)
    index = pd.PeriodIndex(matrix.index)
    if len(index) < 2:
        raise BadRequest("a forecast needs at least two periods of counts")
    season = seasonal_factors(values.sum(axis=1), index, chosen.season_years) if monthly else np.ones(1)
    season_t = _season_of(index, season)
    level = area_levels(values, season_t, chosen)
    alpha = _dispersion_by_horizon(values, season_t, chosen, horizon)
    return Fit(level=level, season=season, alpha=alpha, last=index[-1])


def intervals(mu: np.ndarray, alpha: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` negative-binomial prediction interval (var = mu + alpha mu^2); alpha per row."""
    per_row = np.broadcast_to(np.asarray(alpha, dtype=float).reshape(-1, *([1] * (mu.ndim - 1))), mu.shape)
    return count_interval(mu, per_row, level)


def _upto(matrix: pd.DataFrame, until: pd.Period | str | None) -> pd.DataFrame:
    if until is None:
        return matrix
    index = pd.PeriodIndex(matrix.index)
    cut = pd.Period(str(until), freq=index.freqstr)
    kept = matrix.loc[index <= cut]
    if len(kept) == 0:
        raise BadRequest(f"there are no counts up to {cut}: the series starts at {index[0]}")
    return kept


def forecast(
    matrix: pd.DataFrame, until: pd.Period | str | None = None, horizon: int = 12,
) -> pd.DataFrame:
    """Forecast every area ``horizon`` periods past ``until`` (default: the last period).

    Only the rows up to ``until`` are used, so the forecast can be scored against what came next.
    Returns one row per area and period: ``code, month`` (``year`` for annual series), ``horizon,
    forecast, lower_80, upper_80, lower_95, upper_95, method``.
    """
    if horizon < 1:
        raise BadRequest("the horizon must be at least one period")
    train = _upto(check_matrix(matrix), until)
    fitted = fit(train, horizon)
    mu = fitted.mean(horizon)
    alpha = fitted.dispersion(horizon)
    periods = pd.period_range(fitted.last + 1, periods=horizon, freq=fitted.last.freq)
    column = "month" if is_monthly(train) else "year"
    frame = pd.DataFrame({
        "code": np.tile(np.asarray(train.columns, dtype=str), horizon),
        column: np.repeat(periods.astype(str), train.shape[1]),
        "horizon": np.repeat(np.arange(1, horizon + 1), train.shape[1]),
        "forecast": mu.ravel(),
    })
    for level in LEVELS:
        lower, upper = intervals(mu, alpha, level)
        pct = round(level * 100)
        frame[f"lower_{pct}"] = lower.ravel()
        frame[f"upper_{pct}"] = upper.ravel()
    frame["method"] = METHOD
    return frame
