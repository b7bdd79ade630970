"""Change over time as the web shows it: the layer used, an area's trend, forecast, accuracy and warning
in words, and map shading by trend, forecast change and early warning.

Everything is computed once per (point layer, boundary layer) by :func:`layer_trends` from the
month x area count matrix (:mod:`insight.analysis.trends`); the area page and the map pick their
rows from it. The methods are described in docs/trends.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from insight.analysis.places import Places, PointData
from insight.analysis.trends import early_warning, forecast, monthly_matrix, trend
from insight.analysis.trends.backtest import origins_of
from insight.analysis.trends.baselines import MONTHLY_BASELINES
from insight.analysis.trends.forecast import METHOD, fit, intervals
from insight.analysis.trends.quantiles import count_interval
from insight.analysis.trends.series import area_names, pandemic_mask
from insight.analysis.trends.trend import rate_ratio
from insight.analysis.views import Shading
from insight.errors import BadRequest, InsightError

MIN_MONTHS = 24
"""The shortest monthly series a trend is fitted to."""
FORECAST_MONTHS = 12
BACKTEST_HORIZON = 24
"""Forecasts are fitted as in the published backtest (docs/trends.md), up to 24 months ahead."""
SHOWN_HORIZONS = (1, 3, 6, 12)
WARNING_WINDOW = 3
TREND_METRICS = {
    "trend": "trend (% a year)",
    "forecast_change": "forecast change (next 12 months against the last 12)",
    "warning": "early warning (rising faster than expected)",
}
# ColorBrewer RdBu (6 classes, colour-blind safe), blue for falling, red for rising; no white middle class,
# so no class looks like 'no data'.
DIVERGING = ["#2166ac", "#67a9cf", "#d1e5f0", "#fddbc7", "#ef8a62", "#b2182b"]
WARNING_COLOURS = ["#c6dbef", "#b2182b"]
FIXED_CLASSES = ("classes are whole-percent steps either side of zero in a red-blue scale safe for colour "
                 "blindness (the Classes and Colours choices do not apply)")


@dataclass(frozen=True)
class LayerTrends:
    """A point layer's change over time in every area of a boundary layer, with what could not be computed."""

    layer: str
    boundary: str
    title: str
    source: str
    noun: str
    matrix: pd.DataFrame
    trends: pd.DataFrame
    forecast: pd.DataFrame
    totals: pd.DataFrame
    warnings: pd.DataFrame | None
    accuracy: pd.DataFrame | None
    problems: tuple[str, ...] = ()

    @property
    def span(self) -> str:
        """The series' first and last month, in words."""
        index = self.matrix.index
        return f"{index[0]} to {index[-1]}"


def months_of(points: PointData) -> int:
    """How many months a point layer's dated records span (0 when undated)."""
    span = points.months()
    return 0 if span is None else span[1] - span[0] + 1


def series_layer(places: Places, preferred: str | None) -> tuple[str | None, str | None]:
    """The layer change over time is shown for and, when it is not ``preferred``, why.

    ``preferred`` when it has at least :data:`MIN_MONTHS` months; else the crime layer with the
    longest monthly series, if that is long enough; else None.
    """
    points = places.points.get(preferred) if preferred else None
    if points is not None and months_of(points) >= MIN_MONTHS:
        return preferred, None
    crime = [n for n, p in places.points.items() if p.meta.theme == "crime" and months_of(p) >= MIN_MONTHS]
    if not crime:
        return None, None
    longest = max(crime, key=lambda n: (months_of(places.points[n]), len(places.points[n])))
    if points is None:
        return longest, None
    have = months_of(points)
    return longest, (f"'{points.meta.title}' has {have} month{'s' if have != 1 else ''} of records, too few for a "
                     f"trend (it needs {MIN_MONTHS}), so the layer with the longest monthly series is used.")


def longest_layer(places: Places) -> str | None:
    """The crime layer with the longest monthly series (None without a long enough one)."""
    return series_layer(places, None)[0]


def record_noun(points: PointData) -> str:
    """What a layer's records are called in sentences: 'burglaries' for a one-category layer, else 'records'."""
    named = [c for c in points.categories if c != "(none)"]
    if len(named) != 1:
        return "records"
    word = named[0].replace("-", " ").lower()
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return f"{word} records"


def forecast_totals(matrix: pd.DataFrame, months: int = FORECAST_MONTHS) -> pd.DataFrame:
    """Per area: the last ``months`` observed, the next ``months`` forecast, the change in % and its 80% range.

    The range is that of the forecast total, negative-binomial with the method's mean overdispersion
    over those months: errors are taken to move together across the months (the cautious choice,
    as in the early warning).
    """
    fitted = fit(matrix, months)
    total = fitted.mean(months).sum(axis=0)
    alpha = float(fitted.dispersion(months).mean())
    lower, upper = count_interval(total, alpha, 0.80)
    last = matrix.to_numpy(dtype=float)[-months:].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(last > 0, 100.0 / np.where(last > 0, last, 1.0), np.nan)
    return pd.DataFrame({
        "code": np.asarray(matrix.columns, dtype=str), "last": last, "next": total,
        "change": total * scale - 100, "lower_80": lower * scale - 100, "upper_80": upper * scale - 100,
    })


def area_accuracy(matrix: pd.DataFrame, horizon: int = BACKTEST_HORIZON,
                  shown: tuple[int, ...] = SHOWN_HORIZONS, first: int | None = None) -> pd.DataFrame:
    """Rolling-origin accuracy per area (the backtest's origins and scores, kept per area, not summed).

    At every origin the pooled method (fitted on all areas up to the origin, as in the backtest) and
    each baseline forecast each area; the absolute errors at the ``shown`` horizons are averaged per
    area, and the pooled method's 80% and 95% intervals are checked. Returns ``code, method, horizon,
    mae, coverage_80, coverage_95, n`` (coverage only for the pooled method).
    """
    values = matrix.to_numpy(dtype=float)
    steps = [h - 1 for h in shown if h <= horizon]
    names = [METHOD, *MONTHLY_BASELINES]
    errors = {name: np.zeros((len(steps), values.shape[1])) for name in names}
    inside = {level: np.zeros((len(steps), values.shape[1])) for level in (0.80, 0.95)}
    counted = np.zeros(len(steps))
    for origin in origins_of(matrix, horizon, first):
        slots = np.array([i for i, step in enumerate(steps) if origin + step < len(values)], dtype=int)
        if len(slots) == 0:
            continue
        pick = np.asarray(steps)[slots]
        actual = values[origin + pick]
        fitted = fit(matrix.iloc[:origin], horizon)
        mu = fitted.mean(horizon)[pick]
        errors[METHOD][slots] += np.abs(actual - mu)
        for level, hits in inside.items():
            lower, upper = intervals(mu, fitted.dispersion(horizon)[pick], level)
            hits[slots] += (actual >= lower) & (actual <= upper)
        for name, baseline in MONTHLY_BASELINES.items():
            errors[name][slots] += np.abs(actual - baseline(values[:origin], horizon)[pick])
        counted[slots] += 1
    rows = []
    for a, code in enumerate(np.asarray(matrix.columns, dtype=str)):
        for name in names:
            for i, step in enumerate(steps):
                n = counted[i]
                method = name == METHOD
                rows.append({"code": code, "method": name, "horizon": step + 1,
                             "mae": errors[name][i, a] / n if n else math.nan,
                             "coverage_80": inside[0.80][i, a] / n if n and method else math.nan,
                             "coverage_95": inside[0.95][i, a] / n if n and method else math.nan, "n": int(n)})
    return pd.DataFrame(rows, columns=["code", "method", "horizon", "mae", "coverage_80", "coverage_95", "n"])


def layer_trends(places: Places, layer: str, boundary: str) -> LayerTrends:
    """Trends, forecasts, totals, warnings and per-area accuracy of ``layer`` in every area of ``boundary``."""
    points = places.point_layer(layer)
    names = area_names(places, boundary)
    noun = record_noun(points)
    matrix = monthly_matrix(places, layer, boundary)
    problems: list[str] = []
    ahead = forecast(matrix, horizon=FORECAST_MONTHS)
    ahead.insert(1, "name", ahead["code"].map(names))
    warnings: pd.DataFrame | None = None
    try:
        warnings = early_warning(matrix, window=WARNING_WINDOW, names=names, what=noun)
    except InsightError as exc:
        problems.append(f"No early warning: {exc}.")
    accuracy: pd.DataFrame | None = None
    try:
        accuracy = area_accuracy(matrix)
    except InsightError as exc:
        problems.append(f"Forecasts could not be tested on past data: {exc}.")
    meta = points.meta
    return LayerTrends(
        layer=layer, boundary=boundary, title=meta.title, source=f"{meta.title}: {meta.source or meta.publisher}",
        noun=noun, matrix=matrix, trends=trend(matrix, names=names), forecast=ahead,
        totals=forecast_totals(matrix), warnings=warnings, accuracy=accuracy, problems=tuple(problems),
    )


def trend_line(counts: np.ndarray, index: pd.PeriodIndex, estimate: float) -> np.ndarray:
    """The fitted trend (``estimate`` % a year) drawn through the series' average level outside the pandemic."""
    years = np.arange(len(counts), dtype=float) / 12.0
    shape = (1.0 + estimate / 100.0) ** (years - years.mean())
    usual = ~pandemic_mask(index)
    if not usual.any():
        usual = np.ones(len(counts), dtype=bool)
    return np.asarray(counts[usual].sum() / shape[usual].sum() * shape)


def _pct(value: float) -> str:
    return f"{abs(value):.1f}%"


def trend_words(row: pd.Series, noun: str) -> str:
    """A trend row in plain words, with its 95% interval and period."""
    first, _, last = str(row["period"]).partition(":")
    when = f"from {first} to {last}"
    estimate, lower, upper = float(row["estimate"]), float(row["lower"]), float(row["upper"])
    if not math.isfinite(estimate):
        return f"No {noun} were recorded {when}, so there is no trend."
    if lower > 0:
        return (f"{noun.capitalize()} rose by {_pct(estimate)} a year (95% interval {_pct(lower)} to "
                f"{_pct(upper)} a year) {when}.")
    if upper < 0:
        return (f"{noun.capitalize()} fell by {_pct(estimate)} a year (95% interval {_pct(upper)} to "
                f"{_pct(lower)} a year) {when}.")
    direction = "rise" if estimate > 0 else "fall"
    return (f"{noun.capitalize()} changed by between a {_pct(lower)} fall and a {_pct(upper)} rise a year (95% "
            f"interval; best estimate a {_pct(estimate)} {direction}) {when}: the data cannot tell a rise from "
            "a fall.")


def change_words(matrix: pd.DataFrame, code: str, noun: str, months: int = 12) -> str | None:
    """The latest ``months`` against the ``months`` before, as a rate ratio with its exact interval and test."""
    if code not in matrix.columns or len(matrix) < 2 * months:
        return None
    series = matrix[code].to_numpy(dtype=float)
    before, latest = int(series[-2 * months:-months].sum()), int(series[-months:].sum())
    index = matrix.index
    span = f"{index[-months]} to {index[-1]}"
    if before + latest == 0:
        return f"No {noun} were recorded from {index[-2 * months]} to {index[-1]}, so there is no change to report."
    estimate, low, high, p = rate_ratio(before, latest)
    test = f"exact test for counts, p = {p:.3f}" if p >= 0.001 else "exact test for counts, p < 0.001"
    head = (f"In the latest {months} months ({span}) there were {latest:,} {noun} against {before:,} in the "
            f"{months} before")
    if before == 0:
        return f"{head}: a rise from none, so no percentage is given ({test})."
    if low > 1 or high < 1:
        word = "more" if estimate > 1 else "fewer"
        bounds = sorted((abs(low - 1) * 100, abs(high - 1) * 100))
        return (f"{head}: {abs(estimate - 1):.0%} {word} (95% interval {bounds[0]:.0f}% to {bounds[1]:.0f}% {word}; "
                f"{test}).")
    return (f"{head}: a change of {estimate - 1:+.0%}, which chance alone could explain (95% interval "
            f"{low - 1:+.0%} to {high - 1:+.0%}; {test}).")


def _best_baseline(rows: pd.DataFrame, horizon: int) -> tuple[float, float, str, float]:
    """The method's MAE and 80% coverage, and the best baseline's MAE and name, at one horizon."""
    at = rows[rows["horizon"] == horizon]
    own = at[at["method"] == METHOD].iloc[0]
    others = at[at["method"] != METHOD].sort_values("mae")
    best = others.iloc[0]
    return float(own["mae"]), float(own["coverage_80"]), str(best["method"]), float(best["mae"])


def accuracy_words(tables: LayerTrends, code: str) -> str | None:
    """How well forecasts did for one area on past data, one and twelve months ahead, in plain words."""
    if tables.accuracy is None:
        return None
    rows = tables.accuracy[tables.accuracy["code"] == code]
    if rows.empty or rows["n"].max() == 0:
        return None
    index = tables.matrix.index
    first = origins_of(tables.matrix, BACKTEST_HORIZON)[0]
    mae, cover, best, best_mae = _best_baseline(rows, 1)
    cover_95 = float(rows[(rows["horizon"] == 1) & (rows["method"] == METHOD)]["coverage_95"].iloc[0])
    verdict = "" if mae <= best_mae else " (the simple rule did better here)"
    text = (f"Tested on past data (a forecast of every month from {index[first]} to {index[-1]}, each made only "
            f"from the months before it), forecasts one month ahead were off by {mae:.1f} {tables.noun} a month "
            f"on average, against {best_mae:.1f} for the best simple rule ({best}){verdict}; {cover:.0%} of "
            f"outcomes fell inside the 80% range and {cover_95:.0%} inside the 95% range.")
    if (rows["horizon"] == FORECAST_MONTHS).any():
        mae12, cover12, best12, best12_mae = _best_baseline(rows, FORECAST_MONTHS)
        text += (f" Twelve months ahead they were off by {mae12:.1f} a month, against {best12_mae:.1f} for the "
                 f"best simple rule ({best12}); {cover12:.0%} of outcomes fell inside the 80% range.")
    return text


def warning_row(tables: LayerTrends, code: str) -> pd.Series | None:
    """The early-warning row of one area (None when there is no warning check)."""
    if tables.warnings is None:
        return None
    rows = tables.warnings[tables.warnings["code"] == code]
    return None if rows.empty else rows.iloc[0]


def trend_options(places: Places, preferred: str | None) -> list[dict[str, str]]:
    """The change-over-time figures a map can be shaded by (none without a long enough crime layer)."""
    layer, _ = series_layer(places, preferred)
    if layer is None:
        return []
    return [{"value": key, "label": f"Change over time: {label}"} for key, label in TREND_METRICS.items()]


def diverging_breaks(values: np.ndarray) -> list[float]:
    """Six classes symmetric about zero in whole-percent steps, the outer ones reaching the largest change."""
    finite = np.abs(values[np.isfinite(values)])
    largest = float(finite.max()) if len(finite) else 0.0
    step = max(1, math.ceil(largest / 3))
    return [float(step * k) for k in (-2, -1, 0, 1, 2, 3)]


def _diverging_labels(breaks: list[float], down: str, up: str, suffix: str) -> list[str]:
    step = int(breaks[-1] / 3)
    return [f"{down} by {2 * step}% to {3 * step}%{suffix}", f"{down} by {step}% to {2 * step}%{suffix}",
            f"{down} by up to {step}%{suffix}", f"{up} by up to {step}%{suffix}",
            f"{up} by {step}% to {2 * step}%{suffix}", f"{up} by {2 * step}% to {3 * step}%{suffix}"]


def _floats(rows: pd.DataFrame, *columns: str) -> list[list[float]]:
    return [[float(v) for v in rows[c].to_numpy(dtype=float)] for c in columns]


def _values(codes: pd.Series, values: pd.Series) -> dict[str, float | None]:
    return {str(c): (float(v) if math.isfinite(float(v)) else None) for c, v in zip(codes, values)}


def _trend_shading(tables: LayerTrends) -> Shading:
    rows = tables.trends
    breaks = diverging_breaks(rows["estimate"].to_numpy(dtype=float))
    display = {str(code): (f"{est:+.1f}% a year (95% interval {low:+.1f}% to {high:+.1f}%)"
                           if math.isfinite(est) else "no records")
               for code, est, low, high in zip(rows["code"], *_floats(rows, "estimate", "lower", "upper"))}
    return Shading(
        title=f"Trend in {tables.noun}, % a year ({tables.title})", unit="% a year",
        values=_values(rows["code"], rows["estimate"]), breaks=breaks, colours=DIVERGING,
        labels=_diverging_labels(breaks, "falling", "rising", " a year"), source=tables.source,
        period=tables.span,
        method=f"{rows['method'].iloc[0]}; each area's 95% interval is in the table; {FIXED_CLASSES}",
        display=display,
    )


def _forecast_shading(tables: LayerTrends) -> Shading:
    rows = tables.totals
    breaks = diverging_breaks(rows["change"].to_numpy(dtype=float))
    display = {str(code): (f"{change:+.1f}% (forecast {ahead:,.0f} against {last:,.0f} in the last 12 months; "
                           f"80% range {low:+.0f}% to {high:+.0f}%)"
                           if math.isfinite(change) else "no records in the last 12 months")
               for code, change, ahead, last, low, high in zip(
                   rows["code"], *_floats(rows, "change", "next", "last", "lower_80", "upper_80"))}
    index = tables.matrix.index
    future = pd.period_range(index[-1] + 1, periods=FORECAST_MONTHS, freq="M")
    return Shading(
        title=f"Forecast change in {tables.noun}: next 12 months against the last 12, % ({tables.title})",
        unit="%", values=_values(rows["code"], rows["change"]), breaks=breaks, colours=DIVERGING,
        labels=_diverging_labels(breaks, "lower", "higher", ""), source=tables.source,
        period=f"forecast {future[0]} to {future[-1]} against {index[-FORECAST_MONTHS]} to {index[-1]}",
        method=(f"{METHOD} forecast (seasonality pooled across areas, area levels shrunk by empirical Bayes); "
                f"the 80% range of each 12-month total is in the table; {FIXED_CLASSES}"),
        display=display,
    )


def _warning_shading(tables: LayerTrends) -> Shading:
    if tables.warnings is None:
        raise BadRequest(" ".join(tables.problems) or "no early warning can be computed for this layer")
    rows = tables.warnings
    rate = float(rows["false_alarm_rate"].iloc[0])
    window = str(rows["window"].iloc[0]).replace(":", " to ")
    return Shading(
        title=f"Early warning: {tables.noun} rising faster than expected ({tables.title})", unit="class",
        values={str(c): (1.0 if f else 0.0) for c, f in zip(rows["code"], rows["flag"])}, breaks=[0.0, 1.0],
        colours=WARNING_COLOURS, labels=["In line with expectations", "Rising faster than expected"],
        source=tables.source, period=f"last {WARNING_WINDOW} months, {window}",
        method=f"{rows['method'].iloc[0]}; measured false-alarm rate on past data {rate:.1%}",
        display={str(r.code): str(r.evidence) for r in rows.itertuples()},
    )


def trend_shading(tables: LayerTrends, metric: str) -> Shading:
    """Map shading by trend, forecast change or early warning, legends in words."""
    shade = {"trend": _trend_shading, "forecast_change": _forecast_shading, "warning": _warning_shading}.get(metric)
    if shade is None:
        raise BadRequest(f"'{metric}' is not a change-over-time figure: choose one of {', '.join(TREND_METRICS)}")
    return shade(tables)
