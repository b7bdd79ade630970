"""Small-area estimates: the Fay-Herriot model, borrowing strength across areas for thinly sampled ones."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from insight.analysis.survey.intervals import FloatArray, critical_value, level_text
from insight.errors import SurveyError

__all__ = ["model_method", "small_area_estimates"]


def model_method(covariates: Sequence[str], level: float = 0.95) -> str:
    """The label of the small-area estimate, shown beside it."""
    names = ", ".join(covariates) if covariates else "none (intercept only)"
    return (f"Fay-Herriot small-area estimate (EBLUP) on the arcsine-square-root scale, variance of the area "
            f"effects by adjusted REML (Li-Lahiri); covariates: {names}; {level_text(level)} interval from the "
            "Prasad-Rao mean squared error")


@dataclass(frozen=True)
class _Fit:
    """The fitted model: variance of the area effects, coefficients and (X'V⁻¹X)⁻¹."""

    sigma2: float
    beta: FloatArray
    inverse: FloatArray


def _fh_fit(y: FloatArray, psi: FloatArray, x: FloatArray) -> _Fit:
    """Adjusted-REML fit of the Fay-Herriot model to the sampled areas."""

    def parts(a: float) -> tuple[float, FloatArray, FloatArray]:
        v = a + psi
        xtvx = x.T @ (x / v[:, None])
        inverse = np.linalg.inv(xtvx)
        beta = inverse @ (x.T @ (y / v))
        resid = y - x @ beta
        _, logdet = np.linalg.slogdet(xtvx)
        loglik = -0.5 * (np.sum(np.log(v)) + logdet + np.sum(resid**2 / v))
        return float(loglik), beta, inverse

    def negative(log_a: float) -> float:
        a = math.exp(log_a)
        return -(parts(a)[0] + log_a)

    spread = float(np.var(y)) if len(y) > 1 else 0.0
    upper = math.log(max(10 * spread, 10 * float(np.max(psi)), 1e-6))
    lower = math.log(1e-10)
    best = optimize.minimize_scalar(negative, bounds=(lower, upper), method="bounded",
                                    options={"xatol": 1e-10})
    sigma2 = math.exp(best.x)
    _, beta, inverse = parts(sigma2)
    return _Fit(sigma2, beta, inverse)


def small_area_estimates(
    areas: pd.DataFrame,
    *,
    covariates: Sequence[str],
    share: str = "share",
    n_eff: str = "n_eff",
    level: float = 0.95,
) -> pd.DataFrame:
    """Fay-Herriot empirical-Bayes estimates beside the direct ones, one row per area.

    Why: a ward with 20 respondents has an interval ±20 points wide. The
    Fay-Herriot model borrows strength from the other wards through a
    regression on ward covariates (e.g. crime rate, deprivation): each ward's
    estimate is ``shrinkage * direct + (1 - shrinkage) * synthetic``, where
    ``shrinkage = σ²ᵥ / (σ²ᵥ + ψᵢ)`` is near 1 for well-sampled wards and near 0
    for thinly sampled ones.

    How: on the arcsine-square-root scale, where the sampling variance of a
    share is ψᵢ = 1 / (4 n_eff) whatever the share, so it is known without
    using the noisy direct share itself. σ²ᵥ (the spread of the true ward
    values around the regression) is estimated by adjusted REML (Li & Lahiri
    2010), which cannot return 0 and so never shrinks every ward fully onto
    the regression line; the MSE is Prasad-Rao's g1 + g2 + 2 g3. Estimates and
    interval limits are transformed back with sin²; limits are cut at 0 and 1.
    Areas with no respondents (``n_eff`` NaN or 0) get the synthetic estimate
    with MSE σ²ᵥ + g2.

    ``areas`` has one row per area: the direct ``share`` and ``n_eff`` and the
    covariate columns (no missing covariates). Adds ``synthetic``,
    ``model_share``, ``model_ci_low``, ``model_ci_high``, ``model_rmse`` (on
    the share scale, by the delta method), ``shrinkage`` and ``model_method``;
    ``attrs["fay_herriot"]`` holds σ²ᵥ and the coefficients (covariates
    standardised).
    """
    z = critical_value(level)
    cov = _covariate_values(areas, covariates, [share, n_eff])
    p = areas[share].to_numpy(dtype=float)
    ne = areas[n_eff].to_numpy(dtype=float)
    sampled = np.isfinite(p) & np.isfinite(ne) & (ne > 0)
    if sampled.sum() < len(covariates) + 3:
        raise SurveyError(f"only {int(sampled.sum())} areas have respondents; the small-area model with "
                          f"{len(covariates)} covariate(s) needs at least {len(covariates) + 3}")
    centre = cov[sampled].mean(axis=0)
    scale = cov[sampled].std(axis=0)
    constant = [c for c, s in zip(covariates, scale) if s == 0]
    if constant:
        raise SurveyError(f"covariate(s) {', '.join(constant)} take one value in every sampled area; drop them")
    x = np.column_stack([np.ones(len(areas)), (cov - centre) / np.where(scale == 0, 1, scale)])
    y = np.arcsin(np.sqrt(np.clip(p, 0, 1)))
    psi = 1.0 / (4.0 * np.where(sampled, ne, 1.0))
    fit = _fh_fit(y[sampled], psi[sampled], x[sampled])
    a = fit.sigma2
    synthetic = x @ fit.beta
    gamma = np.where(sampled, a / (a + psi), 0.0)
    theta = np.where(sampled, gamma * np.where(sampled, y, 0.0) + (1 - gamma) * synthetic, synthetic)
    leverage = np.einsum("ij,jk,ik->i", x, fit.inverse, x)
    g2 = (1 - gamma) ** 2 * leverage
    var_a = 2.0 / np.sum(1.0 / (a + psi[sampled]) ** 2)
    g3 = psi**2 / (a + psi) ** 3 * var_a
    mse = np.where(sampled, gamma * psi + g2 + 2 * g3, a + leverage)
    half = z * np.sqrt(mse)
    top = math.pi / 2
    out = areas.copy()
    out["synthetic"] = np.sin(np.clip(synthetic, 0, top)) ** 2
    out["model_share"] = np.sin(np.clip(theta, 0, top)) ** 2
    out["model_ci_low"] = np.sin(np.clip(theta - half, 0, top)) ** 2
    out["model_ci_high"] = np.sin(np.clip(theta + half, 0, top)) ** 2
    out["model_rmse"] = np.abs(np.sin(2 * np.clip(theta, 0, top))) * np.sqrt(mse)
    out["shrinkage"] = np.where(sampled, gamma, np.nan)
    out["model_method"] = model_method(covariates, level)
    out.attrs["fay_herriot"] = {
        "sigma2_v": a, "coefficients": dict(zip(["intercept", *covariates], fit.beta.tolist())),
        "areas_sampled": int(sampled.sum()),
    }
    return out


def _covariate_values(areas: pd.DataFrame, covariates: Sequence[str], needed: list[str]) -> FloatArray:
    """The covariates as an areas-by-covariates matrix; SurveyError naming missing columns or values."""
    missing = [c for c in [*needed, *covariates] if c not in areas]
    if missing:
        raise SurveyError(f"areas lack column(s) {', '.join(missing)} for the small-area model")
    cov = areas[list(covariates)].to_numpy(dtype=float) if covariates else np.empty((len(areas), 0))
    if not np.isfinite(cov).all():
        bad = [c for i, c in enumerate(covariates) if not np.isfinite(cov[:, i]).all()]
        raise SurveyError(f"covariate(s) {', '.join(bad)} have missing values; the model needs them for every area")
    return cov
