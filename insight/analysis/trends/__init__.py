"""Change over time: count series, trends with intervals, pooled forecasts, backtests, early warnings.

Pure analysis on period x area count matrices (see :mod:`.series`); :mod:`.areas` builds them from
a :class:`~insight.analysis.places.Places` snapshot. The method is described in docs/trends.md.
"""
from insight.analysis.trends.areas import area_backtest, area_change, area_forecast, area_trends, area_warnings
from insight.analysis.trends.backtest import backtest, summary
from insight.analysis.trends.forecast import forecast
from insight.analysis.trends.series import annual_matrix, monthly_matrix
from insight.analysis.trends.trend import change, rate_ratio, trend
from insight.analysis.trends.warning import early_warning, false_alarm_rate

__all__ = [
    "annual_matrix", "area_backtest", "area_change", "area_forecast", "area_trends", "area_warnings",
    "backtest", "change", "early_warning", "false_alarm_rate", "forecast", "monthly_matrix", "rate_ratio",
    "summary", "trend",
]
