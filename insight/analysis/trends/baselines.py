"""The naive forecasts an analyst would try first, as yardsticks for the pooled method.

Monthly: the last value, the seasonal naive (the same month a year earlier) and the mean of
the last 12 months. Annual: the last value and the mean of the last 3 years. Each gives a
point forecast per horizon and area; its intervals are plain Poisson intervals around that
point (what a quick spreadsheet forecast would claim), so their coverage shows how far
ordinary count noise understates the real uncertainty.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from insight.analysis.trends.quantiles import count_interval

Baseline = Callable[[np.ndarray, int], np.ndarray]


def last_value(values: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed count, repeated: horizon x area."""
    return np.repeat(values[-1:].astype(float), horizon, axis=0)


def seasonal_naive(values: np.ndarray, horizon: int) -> np.ndarray:
    """The count in the same month a year before (the latest such month): horizon x area."""
    if len(values) < 12:
        return last_value(values, horizon)
    steps = np.arange(horizon) % 12
    return np.asarray(values[len(values) - 12 + steps].astype(float))


def mean_last(periods: int) -> Baseline:
    """A baseline: the mean of the last ``periods`` counts, repeated."""
    def baseline(values: np.ndarray, horizon: int) -> np.ndarray:
        mean = values[-periods:].astype(float).mean(axis=0)
        return np.repeat(mean[None, :], horizon, axis=0)
    baseline.__name__ = f"mean_last_{periods}"
    return baseline


MONTHLY_BASELINES: dict[str, Baseline] = {
    "last value": last_value,
    "seasonal naive": seasonal_naive,
    "mean of last 12 months": mean_last(12),
}
ANNUAL_BASELINES: dict[str, Baseline] = {
    "last value": last_value,
    "mean of last 3 years": mean_last(3),
}


def poisson_interval(mu: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` Poisson interval around each expected count."""
    return count_interval(mu, 0.0, level)
