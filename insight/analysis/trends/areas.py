"""Trends, forecasts, backtests and warnings for a stored layer in a boundary's areas.

Each function builds the month x area matrix from :class:`~insight.analysis.places.Places`
(see :func:`~insight.analysis.trends.series.monthly_matrix`) and adds the area names, so the
CLI, API and web read one row per area (and month) with its method and period.
"""
from __future__ import annotations

import pandas as pd

from insight.analysis.places import Places
from insight.analysis.trends.backtest import backtest
from insight.analysis.trends.forecast import forecast
from insight.analysis.trends.series import area_names, monthly_matrix, parse_period
from insight.analysis.trends.trend import change, trend
from insight.analysis.trends.warning import early_warning
from insight.errors import BadRequest


def area_trends(places: Places, layer: str, boundary: str, category: str | None = None,
                period: str | tuple[str, str] | None = None) -> pd.DataFrame:
    """% change per year with 95% CI and p-value for each area over ``period`` ('YYYY-MM:YYYY-MM')."""
    return trend(monthly_matrix(places, layer, boundary, category, period), names=area_names(places, boundary))


def area_change(places: Places, layer: str, boundary: str, first: str, second: str,
                category: str | None = None) -> pd.DataFrame:
    """Rate ratio of ``second`` against ``first`` (each 'YYYY-MM:YYYY-MM') per area, exact test."""
    before, after = parse_period(first), parse_period(second)
    if before is None or after is None:
        raise BadRequest("give both periods as YYYY-MM:YYYY-MM")
    matrix = monthly_matrix(places, layer, boundary, category)
    return change(matrix, before, after, names=area_names(places, boundary))


def area_forecast(places: Places, layer: str, boundary: str, category: str | None = None,
                  until: str | None = None, horizon: int = 12) -> pd.DataFrame:
    """Forecast rows ``code, name, month, forecast, lower_80, upper_80, lower_95, upper_95`` (+ horizon, method).

    Only months up to ``until`` ('YYYY-MM') are used.
    """
    frame = forecast(monthly_matrix(places, layer, boundary, category), until=until, horizon=horizon)
    frame.insert(1, "name", frame["code"].map(area_names(places, boundary)))
    return frame


def area_backtest(places: Places, layer: str, boundary: str, category: str | None = None,
                  horizon: int = 24, step: int = 1) -> pd.DataFrame:
    """The rolling-origin accuracy table (method and baselines per horizon) for a layer in a boundary."""
    return backtest(monthly_matrix(places, layer, boundary, category), horizon=horizon, step=step)


def area_warnings(places: Places, layer: str, boundary: str, category: str | None = None,
                  window: int = 3, what: str = "records") -> pd.DataFrame:
    """Early-warning flags with plain-words evidence and the backtest's false-alarm rate."""
    matrix = monthly_matrix(places, layer, boundary, category)
    return early_warning(matrix, window=window, names=area_names(places, boundary), what=what)
