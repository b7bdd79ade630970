"""Early warning: areas whose latest counts run above what the pooled method expected.

For each area the method is fitted on the data up to ``window`` periods before the end and its
expected count for those last periods is compared with what happened (a Poisson/negative-binomial
exceedance test). The sum over the window is treated as negative-binomial with the window's mean
and the method's measured overdispersion, its forecast errors assumed to move together across the
window's months (the cautious choice). An area is flagged when the one-sided p-value is below
``level``, i.e. the count is above the expected count's upper ``1 - level`` limit.

The false-alarm rate is measured on the rolling-origin backtest: the same check at every origin's
next ``window`` periods, counting the share of area-windows flagged. Most such windows hold no real
rise, so this share is (an upper bound on) how often a flag fires by chance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from insight.analysis.trends.backtest import origins_of
from insight.analysis.trends.forecast import METHOD, fit
from insight.analysis.trends.quantiles import count_quantile, nb_sf
from insight.analysis.trends.series import check_matrix, is_monthly
from insight.errors import BadRequest

COLUMNS = ["code", "name", "flag", "observed", "expected", "upper", "p_value", "evidence", "window",
           "method", "false_alarm_rate"]


def _exceedance(matrix: pd.DataFrame, origin: int, window: int, level: float) -> dict[str, np.ndarray]:
    """Observed, expected, upper limit and p-value of each area's next ``window`` periods after ``origin``."""
    fitted = fit(matrix.iloc[:origin], window)
    expected = fitted.mean(window).sum(axis=0)
    alpha = float(fitted.dispersion(window).mean())
    observed = matrix.iloc[origin:origin + window].to_numpy(dtype=float).sum(axis=0)
    p_value = nb_sf(observed - 1, expected, alpha)
    upper = count_quantile(1.0 - level, expected, alpha)
    return {"observed": observed, "expected": expected, "upper": upper, "p_value": p_value,
            "flag": p_value < level}


def false_alarm_rate(matrix: pd.DataFrame, window: int | None = None, level: float = 0.05,
                     first: int | None = None, step: int = 3) -> float:
    """Share of area-windows flagged at the backtest's origins (out-of-sample), an estimate of false alarms."""
    check_matrix(matrix)
    span = window or (3 if is_monthly(matrix) else 1)
    flagged = total = 0
    for origin in origins_of(matrix, span, first, step):
        if origin + span > len(matrix):
            break
        result = _exceedance(matrix, origin, span, level)
        flagged += int(result["flag"].sum())
        total += len(result["flag"])
    return flagged / total if total else float("nan")


def _words(observed: float, expected: float, upper: float, flag: bool, what: str, during: str) -> str:
    lead = "rising faster than expected" if flag else "in line with expectations"
    return (f"{lead}: {observed:.0f} {what} {during} against {expected:.0f} expected "
            f"(95% upper {upper:.0f})")


def early_warning(
    matrix: pd.DataFrame, window: int | None = None, level: float = 0.05, names: dict[str, str] | None = None,
    what: str = "records", measure: bool = True,
) -> pd.DataFrame:
    """Flag areas whose last ``window`` periods (default 3 months or 1 year) ran above expectation.

    Returns ``code, name, flag, observed, expected, upper, p_value, evidence, window, method,
    false_alarm_rate`` (the rate measured on the backtest when ``measure``, else NaN).
    """
    check_matrix(matrix)
    monthly = is_monthly(matrix)
    span = window or (3 if monthly else 1)
    if span < 1 or len(matrix) <= span + 1:
        raise BadRequest("the series is too short for an early warning over that window")
    result = _exceedance(matrix, len(matrix) - span, span, level)
    index = pd.PeriodIndex(matrix.index)
    unit = "months" if monthly else "years"
    during = f"in the last {span} {unit} ({index[-span]} to {index[-1]})" if span > 1 else f"in {index[-1]}"
    rate = false_alarm_rate(matrix, span, level) if measure else float("nan")
    rows = []
    for i, code in enumerate(matrix.columns):
        flag = bool(result["flag"][i])
        rows.append({
            "code": str(code), "name": (names or {}).get(str(code)), "flag": flag,
            "observed": int(result["observed"][i]), "expected": float(result["expected"][i]),
            "upper": float(result["upper"][i]), "p_value": float(result["p_value"][i]),
            "evidence": _words(result["observed"][i], result["expected"][i], result["upper"][i], flag, what, during),
            "window": f"{index[-span]}:{index[-1]}", "method": f"{METHOD} exceedance (one-sided, {level:.0%})",
            "false_alarm_rate": rate,
        })
    return pd.DataFrame(rows, columns=COLUMNS)
