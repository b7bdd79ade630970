"""Rolling-origin backtests: the pooled method against the naive baselines, per horizon.

At each origin (a cut-off inside the series) every method sees only the rows up to the origin
and forecasts the next 1..H periods; each forecast is scored against what happened. Scores per
method and horizon: MAE (counts per area and period), MASE (each area's absolute error divided
by that area's in-sample seasonal-naive MAE for monthly series, naive lag-1 MAE for annual
series, both measured on the rows up to the origin; areas whose scale is zero are left out of
MASE), and the share of outcomes inside the 80% and 95% intervals. Pandemic months are scored
like any other month.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from insight.analysis.trends.baselines import ANNUAL_BASELINES, MONTHLY_BASELINES, poisson_interval
from insight.analysis.trends.forecast import METHOD, fit, intervals
from insight.analysis.trends.series import check_matrix, is_monthly
from insight.errors import BadRequest

COLUMNS = ["method", "horizon", "mae", "mase", "coverage_80", "coverage_95", "n"]


@dataclass
class _Tally:
    """Running sums for one method, per horizon."""

    horizon: int
    sums: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, name: str, steps: int, values: np.ndarray) -> None:
        """Add per-horizon sums (length ``steps``) under ``name``."""
        target = self.sums.setdefault(name, np.zeros(self.horizon))
        target[:steps] += values


def _scale(train: np.ndarray, monthly: bool) -> np.ndarray:
    """Each area's in-sample MAE of the seasonal naive (monthly) or naive (annual) forecast."""
    lag = 12 if monthly and len(train) > 12 else 1
    if len(train) <= lag:
        return np.zeros(train.shape[1])
    return np.asarray(np.abs(train[lag:] - train[:-lag]).mean(axis=0))


def _score(
    tally: _Tally, actual: np.ndarray, mu: np.ndarray, bounds: Sequence[tuple[np.ndarray, np.ndarray]],
    scale: np.ndarray,
) -> None:
    steps = len(actual)
    error = np.abs(actual - mu[:steps])
    scaled = scale > 0
    tally.add("abs", steps, error.sum(axis=1))
    tally.add("scaled", steps, (error[:, scaled] / scale[scaled]).sum(axis=1))
    tally.add("n_scaled", steps, np.full(steps, scaled.sum(), dtype=float))
    tally.add("n", steps, np.full(steps, actual.shape[1], dtype=float))
    for (lower, upper), name in zip(bounds, ("in_80", "in_95")):
        inside = (actual >= lower[:steps]) & (actual <= upper[:steps])
        tally.add(name, steps, inside.sum(axis=1))


def origins_of(matrix: pd.DataFrame, horizon: int, first: int | None = None, step: int = 1) -> list[int]:
    """Origin positions (rows used = ``matrix[:origin]``) from ``first`` to the second-last row."""
    monthly = is_monthly(matrix)
    start = first if first is not None else (48 if monthly else 4)
    if start >= len(matrix):
        raise BadRequest(f"the series is too short to backtest: it needs more than {start} periods")
    return list(range(start, len(matrix), step))


def backtest(
    matrix: pd.DataFrame, horizon: int | None = None, first: int | None = None, step: int = 1,
) -> pd.DataFrame:
    """Rolling-origin accuracy of the pooled method and each baseline, per horizon.

    ``horizon`` defaults to 24 months or 3 years; ``first`` is the first origin's position
    (default 48 months or 4 years of history); ``step`` the spacing between origins. Returns
    ``method, horizon, mae, mase, coverage_80, coverage_95, n`` (n = area-periods scored).
    """
    check_matrix(matrix)
    monthly = is_monthly(matrix)
    span = horizon or (24 if monthly else 3)
    values = matrix.to_numpy(dtype=float)
    baselines = MONTHLY_BASELINES if monthly else ANNUAL_BASELINES
    tallies = {name: _Tally(span) for name in [METHOD, *baselines]}
    for origin in origins_of(matrix, span, first, step):
        train = values[:origin]
        actual = values[origin:origin + span]
        scale = _scale(train, monthly)
        fitted = fit(matrix.iloc[:origin], span)
        mu = fitted.mean(span)
        alpha = fitted.dispersion(span)
        _score(tallies[METHOD], actual, mu, [intervals(mu, alpha, lv) for lv in (0.8, 0.95)], scale)
        for name, baseline in baselines.items():
            guess = baseline(train, span)
            _score(tallies[name], actual, guess, [poisson_interval(guess, lv) for lv in (0.8, 0.95)], scale)
    return _table(tallies)


def _table(tallies: dict[str, _Tally]) -> pd.DataFrame:
    rows = []
    for name, tally in tallies.items():
        sums = tally.sums
        for h in range(tally.horizon):
            n = sums["n"][h]
            if n == 0:
                continue
            rows.append({
                "method": name, "horizon": h + 1, "mae": sums["abs"][h] / n,
                "mase": sums["scaled"][h] / sums["n_scaled"][h] if sums["n_scaled"][h] else np.nan,
                "coverage_80": sums["in_80"][h] / n, "coverage_95": sums["in_95"][h] / n, "n": int(n),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: MAE and MASE averaged over horizons (each horizon weighted equally), coverage pooled."""
    weighted = table.assign(in80=table["coverage_80"] * table["n"], in95=table["coverage_95"] * table["n"])
    grouped = weighted.groupby("method", sort=False)
    out = pd.DataFrame({
        "mae": grouped["mae"].mean(), "mase": grouped["mase"].mean(),
        "coverage_80": grouped["in80"].sum() / grouped["n"].sum(),
        "coverage_95": grouped["in95"].sum() / grouped["n"].sum(), "n": grouped["n"].sum(),
    })
    return out.reset_index()
