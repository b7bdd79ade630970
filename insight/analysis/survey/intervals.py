"""Confidence levels and Wilson score intervals shared by the survey statistics."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from insight.errors import BadRequest

FloatArray = NDArray[np.floating[Any]]
BoolArray = NDArray[np.bool_]


def critical_value(level: float) -> float:
    """The two-sided normal critical value for ``level`` (1.96 for 0.95); BadRequest outside 0..1."""
    if not 0 < level < 1:
        raise BadRequest(f"level {level} must be between 0 and 1 (e.g. 0.95)")
    return float(stats.norm.ppf(0.5 + level / 2))


def level_text(level: float) -> str:
    """A confidence level as a percentage for method labels ("95%")."""
    return f"{100 * level:g}%"


def wilson(share: ArrayLike, n_eff: ArrayLike, *, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Wilson score limits for weighted shares, using the effective sample size as ``n``.

    Why Wilson: it stays inside 0..1 and keeps close to nominal coverage for the
    small bases and shares near 0 or 1 that wards produce, where the normal
    (Wald) interval is too narrow. NaN where ``n_eff`` is not positive.
    """
    shares = np.asarray(share, dtype=float)
    bases = np.asarray(n_eff, dtype=float)
    ok = np.isfinite(shares) & np.isfinite(bases) & (bases > 0)
    low = np.full(shares.shape, np.nan)
    high = np.full(shares.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(shares[ok] * bases[ok], bases[ok], alpha=1 - level, method="wilson")
        low[ok], high[ok] = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
    return low, high
