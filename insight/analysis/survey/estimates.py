"""Survey estimates: respondent tables, raking weights, weighted shares and the per-area pipeline.

:func:`area_estimates` is the pipeline for one question: direct weighted shares per area and
wave, optional small-area estimates beside them, then the disclosure-control gate. Published
results from other sources (:func:`published_results`) are set out in the same layout.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from insight.analysis.survey.disclosure import DEFAULT_RULES, DisclosureRules, disclosure_control
from insight.analysis.survey.intervals import FloatArray, critical_value, level_text, wilson
from insight.analysis.survey.small_area import small_area_estimates
from insight.errors import SurveyError
from insight.sources.survey_spec import Question

__all__ = [
    "area_estimates", "direct_method", "published_results", "question_shares", "rake", "respondents_frame",
    "weighted_shares",
]


def respondents_frame(features: pd.DataFrame, *, questions: Sequence[str] | None = None) -> pd.DataFrame:
    """A flat respondent table from a survey points layer (loader output or ``read_features``).

    Columns ``respondent_id, wave, month, ward_code, lsoa_code, weight`` and one
    column per question holding the answer code (None when not answered).
    Restricted data: keep it on the server; publish only :func:`area_estimates` output.
    """
    props = features["properties"].tolist()
    answers = [p.get("answers") or {} for p in props]
    ids = list(questions) if questions is not None else list(dict.fromkeys(k for a in answers for k in a))
    frame = pd.DataFrame({
        "respondent_id": features["source_id"].to_numpy(dtype=object),
        "wave": features["category"].to_numpy(dtype=object),
        "month": features["month"].to_numpy(dtype=object),
        "ward_code": [p.get("ward_code") for p in props],
        "lsoa_code": [p.get("lsoa_code") for p in props],
        "weight": pd.to_numeric(pd.Series([p.get("weight") for p in props], dtype=object), errors="coerce"),
    })
    for qid in ids:
        frame[qid] = pd.Series([a.get(qid) for a in answers], dtype=object)
    return frame


def rake(
    frame: pd.DataFrame,
    margins: dict[str, pd.Series],
    *,
    base_weight: np.ndarray | None = None,
    max_iter: int = 200,
    tolerance: float = 1e-9,
) -> np.ndarray:
    """Raking (iterative proportional fitting) weights matching each margin's population totals.

    Why: non-response is uneven (older people answer more), so unweighted shares
    lean towards the groups that answer. ``margins`` maps a column of ``frame``
    to population totals per category (e.g. ``{"ward_code": adults per ward,
    "age_group": adults per age group}``). All margins must have the same grand
    total and every category must have respondents. Returns weights that sum to
    that total.
    """
    weights = np.ones(len(frame)) if base_weight is None else np.asarray(base_weight, dtype=float).copy()
    totals = {column: float(target.sum()) for column, target in margins.items()}
    if len({round(t, 6) for t in totals.values()}) > 1:
        raise SurveyError(f"raking margins must have the same grand total, got {totals}; "
                          "take every margin from the same population")
    codes: dict[str, tuple[NDArray[np.intp], FloatArray]] = {}
    for column, target in margins.items():
        values = frame[column].astype(str).to_numpy()
        categories = pd.Index(target.index.astype(str))
        unknown = sorted(set(values) - set(categories))
        if unknown:
            raise SurveyError(f"respondents have {column} value(s) {', '.join(unknown[:10])} that the margin "
                              f"for {column} does not list; add their population totals")
        index = categories.get_indexer(values)
        empty = [str(c) for c, n in zip(target.index, np.bincount(index, minlength=len(target))) if n == 0]
        if empty:
            raise SurveyError(f"no respondents in {column} = {', '.join(empty)}; collapse that category into "
                              "a neighbouring one or drop it from every margin")
        codes[column] = (index, target.to_numpy(dtype=float))
    for _ in range(max_iter):
        worst = 0.0
        for index, wanted in codes.values():
            current = np.bincount(index, weights=weights, minlength=len(wanted))
            factor = wanted / current
            weights *= factor[index]
            worst = max(worst, float(np.max(np.abs(current / wanted - 1.0))))
        if worst < tolerance:
            break
    else:
        raise SurveyError(f"raking did not converge in {max_iter} iterations (largest gap {worst:.2g}); "
                          "the margins may be inconsistent with the sample")
    return weights


def direct_method(level: float = 0.95) -> str:
    """The label of the direct estimate, shown beside it."""
    return (f"direct weighted share; {level_text(level)} Wilson score interval on the Kish effective "
            "sample size")


def weighted_shares(
    frame: pd.DataFrame,
    *,
    flag: str,
    by: Sequence[str],
    weight: str = "weight",
    level: float = 0.95,
) -> pd.DataFrame:
    """Weighted share of respondents with ``flag`` = 1 per group, with a weight-aware interval.

    ``flag`` holds 1 (reported), 0 (other answer in the base) or NaN (outside
    the base); rows with NaN or a zero weight are left out. Output per group:
    ``n`` (unweighted base), ``n_reported`` and ``n_not_reported`` (unweighted;
    needed by :func:`disclosure_control`, never published), ``weight_sum``,
    ``share``, ``n_eff`` = (Σw)²/Σw² (Kish), ``deff`` = n / n_eff (the design
    effect of the weighting), ``se`` = √(share(1-share)/n_eff), ``ci_low``,
    ``ci_high`` (Wilson on n_eff) and ``method``.

    Why Kish: unequal weights make a sample worth fewer respondents than it has;
    n_eff says how many, and using it in the interval widens it accordingly.
    """
    critical_value(level)
    y = frame[flag].to_numpy(dtype=float)
    w = frame[weight].to_numpy(dtype=float)
    if np.any(w[np.isfinite(w)] < 0):
        raise SurveyError(f"column '{weight}' has negative weights; design weights must be zero or more")
    odd = sorted(set(y[np.isfinite(y)]) - {0.0, 1.0})
    if odd:
        raise SurveyError(f"column '{flag}' holds {odd[:5]}; it must be 1 (reported), 0 (not reported) or blank")
    keep = np.isfinite(y) & np.isfinite(w) & (w > 0)
    data = frame.loc[keep, list(by)].copy()
    data["_y"], data["_w"] = y[keep], w[keep]
    data["_wy"], data["_w2"] = data["_w"] * data["_y"], data["_w"] ** 2
    grouped = data.groupby(list(by), sort=True, dropna=True)
    out: pd.DataFrame = grouped.agg(
        n=("_y", "size"), n_reported=("_y", "sum"), weight_sum=("_w", "sum"), _wy=("_wy", "sum"), _w2=("_w2", "sum")
    ).reset_index()
    out["n"] = out["n"].astype(int)
    out["n_reported"] = out["n_reported"].round().astype(int)
    out["n_not_reported"] = out["n"] - out["n_reported"]
    out["share"] = out["_wy"] / out["weight_sum"]
    out["n_eff"] = out["weight_sum"] ** 2 / out["_w2"]
    out["deff"] = out["n"] / out["n_eff"]
    out["se"] = np.sqrt(out["share"] * (1 - out["share"]) / out["n_eff"])
    out["ci_low"], out["ci_high"] = wilson(out["share"].to_numpy(), out["n_eff"].to_numpy(), level=level)
    out["method"] = direct_method(level)
    return out.drop(columns=["_wy", "_w2"])


def question_shares(
    respondents: pd.DataFrame,
    question: Question,
    *,
    by: Sequence[str],
    weight: str = "weight",
    level: float = 0.95,
) -> pd.DataFrame:
    """:func:`weighted_shares` for one question's reported answers (answer column = question id)."""
    if question.id not in respondents:
        raise SurveyError(f"respondents have no column '{question.id}' for question '{question.id}'")
    frame = respondents.assign(_flag=question.flags(respondents[question.id]))
    out = weighted_shares(frame, flag="_flag", by=by, weight=weight, level=level)
    out.insert(0, "question", question.id)
    out.insert(1, "reported_label", question.reported_label)
    return out


def area_estimates(
    respondents: pd.DataFrame,
    question: Question,
    *,
    area: str = "ward_code",
    wave: str = "wave",
    weight: str = "weight",
    areas: pd.DataFrame | None = None,
    covariates: Sequence[str] = (),
    total_code: str = "total",
    total_name: str = "All respondents",
    rules: DisclosureRules = DEFAULT_RULES,
    level: float = 0.95,
) -> pd.DataFrame:
    """Published estimates of one question per area and wave, plus a total row per wave.

    Direct weighted shares (:func:`question_shares`), then, when ``covariates``
    are given, Fay-Herriot estimates beside them per wave
    (:func:`small_area_estimates`), then :func:`disclosure_control` with each
    wave's areas as parts of its total. ``areas`` (columns ``area_code``,
    optional ``area_name`` and the covariates) lists every area, so areas
    without respondents appear too. The total row counts every respondent of the
    wave, including any without an area or in an area that ``areas`` does not
    list (they are in no area row). Output columns: ``question,
    reported_label, wave, area_code, area_name, is_total``, the estimate
    columns, ``method``, and ``published, model_published,
    suppression_reason``.
    """
    direct = question_shares(respondents, question, by=[wave, area], weight=weight, level=level)
    direct = direct.rename(columns={area: "area_code", wave: "wave"})
    totals = question_shares(respondents, question, by=[wave], weight=weight, level=level)
    totals = totals.rename(columns={wave: "wave"}).assign(area_code=total_code, area_name=total_name, is_total=True)
    waves = sorted(set(respondents[wave].dropna().astype(str)))
    if areas is not None:
        if "area_code" not in areas:
            raise SurveyError("areas need an 'area_code' column")
        grid = pd.MultiIndex.from_product([waves, areas["area_code"].astype(str)], names=["wave", "area_code"])
        direct["wave"] = direct["wave"].astype(str)
        direct = grid.to_frame(index=False).merge(direct, on=["wave", "area_code"], how="left")
        direct = direct.merge(areas, on="area_code", how="left")
        for column in ("n", "n_reported", "n_not_reported"):
            direct[column] = direct[column].fillna(0).astype(int)
        direct["question"] = question.id
        direct["reported_label"] = question.reported_label
        direct["method"] = direct_method(level)
    if covariates:
        if areas is None:
            raise SurveyError("covariates need the areas frame that holds them")
        direct = pd.concat(
            [small_area_estimates(part, covariates=covariates, level=level) for _, part in direct.groupby("wave")],
            ignore_index=True,
        )
    direct["is_total"] = False
    if "area_name" not in direct:
        direct["area_name"] = None
    table = pd.concat([totals, direct], ignore_index=True)
    table["wave"] = table["wave"].astype(str)
    table = table.sort_values(["wave", "is_total", "area_code"], ascending=[True, False, True], kind="stable")
    leading = ["question", "reported_label", "wave", "area_code", "area_name", "is_total"]
    table = table[leading + [c for c in table.columns if c not in leading]]
    return disclosure_control(table, rules=rules, groups=["wave"])


def published_results(
    indicators: pd.DataFrame,
    *,
    indicator: str,
    base_indicator: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Area-level results published by someone else (share and maybe base), in the estimate layout.

    For results such as the MOPAC Public Attitude Survey neighbourhood file,
    loaded as an indicator layer (shares 0..1). Without a base there is no
    interval, and the method says so; with one, a Wilson interval on the
    published base is given, which is too narrow if the source was weighted
    (its design effect is not published).
    """
    rows = indicators[indicators["indicator"] == indicator]
    if rows.empty:
        known = ", ".join(sorted(indicators["indicator"].unique())[:30])
        raise SurveyError(f"no indicator '{indicator}' (indicators: {known})")
    out = rows[["area_code", "area_name", "period"]].copy().reset_index(drop=True)
    out["share"] = rows["value"].to_numpy(dtype=float)
    if base_indicator is None:
        out["n"] = np.nan
        out["ci_low"] = out["ci_high"] = np.nan
        out["method"] = "published by the source; no interval, because the source gives no base"
        return out
    bases = indicators[indicators["indicator"] == base_indicator].set_index(["area_code", "period"])["value"]
    out["n"] = [bases.get((a, p), np.nan) for a, p in zip(out["area_code"], out["period"])]
    out["ci_low"], out["ci_high"] = wilson(out["share"].to_numpy(), out["n"].to_numpy(dtype=float), level=level)
    out["method"] = (f"published by the source; {level_text(level)} Wilson interval on the published base "
                     "(the source's design effect is not published, so the interval is too narrow if it was weighted)")
    return out

