"""Resident survey statistics: question files, weights, estimates, disclosure control, perception vs crime.

Pure functions: DataFrames in, DataFrames out; nothing here reads the store or the web.
The intended pipeline for one question is::

    spec = load_survey("surveys/resident_perception_illustrative.toml")
    people = respondents_frame(read_features(engine, "resident_survey_illustrative"))
    table = area_estimates(people, spec.question("safe_after_dark"), areas=wards,
                           covariates=["log_crime_rate", "deprivation"])
    change = wave_change(table, wave_from="2025", wave_to="2026")
    latest = table[(table.wave == "2026") & ~table.is_total].merge(recorded_rates(crime_counts), on="area_code")
    gaps = perception_vs_crime(latest, borough_share=<the total row's share>, borough_rate=<borough rate>)

``wards`` has ``area_code``, ``area_name`` and the covariates per ward; ``crime_counts`` has
``area_code``, ``count`` and ``population`` for the matching period.

:func:`area_estimates` ends with :func:`disclosure_control`, the one place where the
publication rules are applied; every other output (change, perception gaps, maps,
profiles, exports) is derived from its published table, so it cannot publish more.

Shares are fractions from 0 to 1 throughout; intervals are two-sided at ``level``.
"""
from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from insight.errors import ConfigError

__all__ = [
    "DisclosureRules", "GapLabels", "Question", "SurveySpec", "area_estimates", "direct_method",
    "disclosure_control", "load_survey", "load_surveys", "model_method", "parse_survey", "perception_vs_crime",
    "published_results", "question_shares", "rake", "recorded_rates", "respondents_frame", "small_area_estimates",
    "survey_problems", "wave_change", "weighted_shares", "wilson",
]

# --- question files ---------------------------------------------------------------------------

QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SURVEY_REQUIRED = {"name": str, "title": str, "questions": list}
_SURVEY_OPTIONAL = {"description": str, "illustrative": bool, "waves": list, "source": str}
_QUESTION_REQUIRED = {"id": str, "text": str, "answers": list, "reported": list, "reported_label": str}
_QUESTION_OPTIONAL = {"excluded": list, "benchmark": str, "theme": str}


@dataclass(frozen=True)
class Question:
    """One survey question: its answer scale and which answers make up the reported share.

    ``answers`` maps each code to its label, in scale order. Answers in
    ``excluded`` (e.g. "Don't know") are valid but left out of the base;
    blank answers are not in the base either. ``benchmark`` optionally names a
    published indicator to compare with, as ``layer:indicator``.
    """

    id: str
    text: str
    answers: dict[str, str]
    reported: frozenset[str]
    reported_label: str
    excluded: frozenset[str] = frozenset()
    benchmark: str | None = None
    theme: str | None = None

    def flags(self, answers: pd.Series) -> pd.Series:
        """1.0 for a reported answer, 0.0 for another answer in the base, NaN outside the base."""
        text = answers.astype(object).where(answers.notna(), None)
        codes = text.map(lambda v: None if v is None else str(v).strip())
        out = np.where(codes.isin(list(self.reported)), 1.0, 0.0)
        outside = codes.isna() | (codes == "") | codes.isin(list(self.excluded)) | ~codes.isin(list(self.answers))
        return pd.Series(np.where(outside, np.nan, out), index=answers.index, name=self.id)


@dataclass(frozen=True)
class SurveySpec:
    """A survey's declarative description (``surveys/*.toml``)."""

    name: str
    title: str
    questions: tuple[Question, ...]
    description: str = ""
    illustrative: bool = False
    waves: tuple[str, ...] = ()
    source: str | None = None
    path: Path | None = None

    def question(self, question_id: str) -> Question:
        """The question with this id; ConfigError listing the ids otherwise."""
        for q in self.questions:
            if q.id == question_id:
                return q
        known = ", ".join(q.id for q in self.questions)
        raise ConfigError(f"survey '{self.name}' has no question '{question_id}' (questions: {known})")


def _type_problems(raw: dict[str, Any], required: dict, optional: dict, where: str) -> list[str]:
    problems = [f"{where}: missing required key '{k}'" for k in required if k not in raw]
    known = {**required, **optional}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{where}: unknown key '{key}' (known keys: {', '.join(sorted(known))})")
        elif not isinstance(value, known[key]) or (known[key] is int and isinstance(value, bool)):
            problems.append(f"{where}: '{key}' must be a {known[key].__name__}, got {type(value).__name__}")
        elif known[key] is str and key in required and not value.strip():
            problems.append(f"{where}: '{key}' must not be empty")
    return problems


def _code(value: object) -> str | None:
    """An answer code as text: strings and whole numbers are accepted."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and value == value.strip():
        return value
    return None


def _code_list(raw: dict[str, Any], key: str, where: str, codes: dict[str, str]) -> tuple[list[str], list[str]]:
    values = raw.get(key, [])
    out, problems = [], []
    if not isinstance(values, list):
        return [], []
    for value in values:
        code = _code(value)
        if code is None:
            problems.append(f"{where}: '{key}' holds {value!r}; codes are non-empty text or whole numbers")
        elif code not in codes:
            problems.append(f"{where}: '{key}' code '{code}' is not one of the answer codes "
                            f"({', '.join(codes) or 'none'}); add it to 'answers' or remove it")
        elif code in out:
            problems.append(f"{where}: '{key}' lists code '{code}' twice")
        else:
            out.append(code)
    return out, problems


def _parse_question(raw: object, where: str) -> tuple[Question | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{where}: each question must be a table ([[questions]]), got {type(raw).__name__}"]
    problems = _type_problems(raw, _QUESTION_REQUIRED, _QUESTION_OPTIONAL, where)
    qid = raw.get("id")
    if isinstance(qid, str) and not QUESTION_ID.match(qid):
        problems.append(f"{where}: id '{qid}' must be lower-case letters, digits and underscores, starting with "
                        "a letter (it names the answer column in the respondent file)")
    codes: dict[str, str] = {}
    for i, answer in enumerate(raw.get("answers", []) if isinstance(raw.get("answers"), list) else [], start=1):
        at = f"{where} answer {i}"
        if not isinstance(answer, dict) or set(answer) != {"code", "label"}:
            problems.append(f"{at}: each answer must be {{ code = ..., label = \"...\" }} with exactly those keys")
            continue
        code = _code(answer["code"])
        label = answer["label"]
        if code is None:
            problems.append(f"{at}: code {answer['code']!r} must be non-empty text or a whole number")
        elif code in codes:
            problems.append(f"{at}: code '{code}' is used twice")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{at}: label must be non-empty text")
        if code is not None and code not in codes and isinstance(label, str):
            codes[code] = label.strip()
    if isinstance(raw.get("answers"), list) and not raw["answers"]:
        problems.append(f"{where}: 'answers' is empty; list the answer scale")
    reported, found = _code_list(raw, "reported", where, codes)
    problems += found
    excluded, found = _code_list(raw, "excluded", where, codes)
    problems += found
    both = sorted(set(reported) & set(excluded))
    if both:
        problems.append(f"{where}: code(s) {', '.join(both)} are both reported and excluded from the base")
    in_base = set(codes) - set(excluded)
    if isinstance(raw.get("reported"), list) and not raw["reported"]:
        problems.append(f"{where}: 'reported' is empty; list the answer codes that make up the reported share")
    elif codes and reported and in_base and set(reported) >= in_base:
        problems.append(f"{where}: every answer in the base is reported, so the share would always be 100%; "
                        "exclude 'don't know' answers with 'excluded' or report fewer codes")
    benchmark = raw.get("benchmark")
    if isinstance(benchmark, str) and not re.fullmatch(r"[a-z0-9_]+:[a-z0-9_]+", benchmark):
        problems.append(f"{where}: benchmark '{benchmark}' must be 'layer:indicator' (e.g. "
                        "'mopac_pas_2016:how_safe_do_you_feel_walking_alone_in_this_area_after_dark__safe')")
    if problems:
        return None, problems
    return Question(
        id=qid, text=raw["text"].strip(), answers=codes, reported=frozenset(reported),
        reported_label=raw["reported_label"].strip(), excluded=frozenset(excluded),
        benchmark=benchmark, theme=raw.get("theme"),
    ), []


def survey_problems(raw: dict[str, Any], *, where: str = "<survey>") -> list[str]:
    """Every problem in one parsed survey file (empty when it is valid)."""
    return _parse(raw, where, None)[1]


def _parse(raw: dict[str, Any], where: str, path: Path | None) -> tuple[SurveySpec | None, list[str]]:
    problems = _type_problems(raw, _SURVEY_REQUIRED, _SURVEY_OPTIONAL, where)
    name = raw.get("name")
    if isinstance(name, str) and name and not QUESTION_ID.match(name):
        problems.append(f"{where}: name '{name}' must be lower-case letters, digits and underscores")
    waves = raw.get("waves", [])
    if isinstance(waves, list):
        bad = [w for w in waves if not isinstance(w, str) or not w.strip()]
        if bad:
            problems.append(f"{where}: 'waves' must list non-empty wave labels as text, got {bad!r}")
        repeated = sorted({w for w in waves if isinstance(w, str) and waves.count(w) > 1})
        if repeated:
            problems.append(f"{where}: wave(s) {', '.join(repeated)} listed more than once")
    questions: list[Question] = []
    raw_questions = raw.get("questions", [])
    if isinstance(raw_questions, list):
        if not raw_questions:
            problems.append(f"{where}: 'questions' is empty; describe at least one question")
        for i, item in enumerate(raw_questions, start=1):
            label = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else f"#{i}"
            question, found = _parse_question(item, f"{where} question {label}")
            problems += found
            if question is not None:
                questions.append(question)
        ids = [q.get("id") for q in raw_questions if isinstance(q, dict)]
        for qid in sorted({q for q in ids if isinstance(q, str) and ids.count(q) > 1}):
            problems.append(f"{where}: question id '{qid}' is used by {ids.count(qid)} questions; ids must be unique")
    if problems:
        return None, problems
    spec = SurveySpec(
        name=name, title=raw["title"].strip(), questions=tuple(questions),
        description=raw.get("description", "").strip(), illustrative=raw.get("illustrative", False),
        waves=tuple(waves), source=raw.get("source"), path=path,
    )
    return spec, []


def parse_survey(raw: dict[str, Any], *, where: str = "<survey>", path: Path | None = None) -> SurveySpec:
    """Validate one survey description; ConfigError listing every problem at once."""
    spec, problems = _parse(raw, where, path)
    if problems:
        raise ConfigError(f"survey file {where} has problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return spec


def _read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, f"{path.name}: not valid TOML ({exc})"


def load_survey(path: Path | str) -> SurveySpec:
    """Read and validate one ``surveys/*.toml`` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"survey file {path} not found; give the path of a surveys/*.toml file")
    raw, problem = _read_toml(path)
    if problem:
        raise ConfigError(problem)
    return parse_survey(raw, where=path.name, path=path)


def load_surveys(folder: Path | str) -> list[SurveySpec]:
    """Every ``*.toml`` in ``folder``, validated together; ConfigError listing all problems."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"survey folder {folder} does not exist")
    problems: list[str] = []
    specs: list[SurveySpec] = []
    for path in sorted(folder.glob("*.toml")):
        raw, problem = _read_toml(path)
        if problem:
            problems.append(problem)
            continue
        spec, found = _parse(raw, path.name, path)
        problems += found
        if spec is not None:
            specs.append(spec)
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            problems.append(f"{spec.path.name}: survey name '{spec.name}' is also used by {seen[spec.name]}")
        seen[spec.name] = spec.path.name
    if problems:
        raise ConfigError("survey files have problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return specs


# --- respondents ------------------------------------------------------------------------------


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


# --- weighting --------------------------------------------------------------------------------


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
        raise ValueError(f"raking margins must have the same grand total, got {totals}; "
                         "take every margin from the same population")
    codes = {}
    for column, target in margins.items():
        values = frame[column].astype(str).to_numpy()
        categories = pd.Index(target.index.astype(str))
        unknown = sorted(set(values) - set(categories))
        if unknown:
            raise ValueError(f"respondents have {column} value(s) {', '.join(unknown[:10])} that the margin "
                             f"for {column} does not list; add their population totals")
        index = categories.get_indexer(values)
        empty = [str(c) for c, n in zip(target.index, np.bincount(index, minlength=len(target))) if n == 0]
        if empty:
            raise ValueError(f"no respondents in {column} = {', '.join(empty)}; collapse that category into "
                             "a neighbouring one or drop it from every margin")
        codes[column] = (index, target.to_numpy(dtype=float))
    for _ in range(max_iter):
        worst = 0.0
        for index, target in codes.values():
            current = np.bincount(index, weights=weights, minlength=len(target))
            factor = target / current
            weights *= factor[index]
            worst = max(worst, float(np.max(np.abs(current / target - 1.0))))
        if worst < tolerance:
            break
    else:
        raise ValueError(f"raking did not converge in {max_iter} iterations (largest gap {worst:.2g}); "
                         "the margins may be inconsistent with the sample")
    return weights


# --- direct estimates -------------------------------------------------------------------------


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be between 0 and 1 (e.g. 0.95)")
    return float(stats.norm.ppf(0.5 + level / 2))


def _percent(level: float) -> str:
    return f"{100 * level:g}%"


def direct_method(level: float = 0.95) -> str:
    """The label of the direct estimate, shown beside it."""
    return (f"direct weighted share; {_percent(level)} Wilson score interval on the Kish effective "
            "sample size")


def wilson(share: np.ndarray, n_eff: np.ndarray, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits for weighted shares, using the effective sample size as ``n``.

    Why Wilson: it stays inside 0..1 and keeps close to nominal coverage for the
    small bases and shares near 0 or 1 that wards produce, where the normal
    (Wald) interval is too narrow. NaN where ``n_eff`` is not positive.
    """
    share = np.asarray(share, dtype=float)
    n_eff = np.asarray(n_eff, dtype=float)
    ok = np.isfinite(share) & np.isfinite(n_eff) & (n_eff > 0)
    low = np.full(share.shape, np.nan)
    high = np.full(share.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(share[ok] * n_eff[ok], n_eff[ok], alpha=1 - level, method="wilson")
        low[ok], high[ok] = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
    return low, high


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
    _z(level)
    y = frame[flag].to_numpy(dtype=float)
    w = frame[weight].to_numpy(dtype=float)
    if np.any(w[np.isfinite(w)] < 0):
        raise ValueError(f"column '{weight}' has negative weights; design weights must be zero or more")
    odd = sorted(set(y[np.isfinite(y)]) - {0.0, 1.0})
    if odd:
        raise ValueError(f"column '{flag}' holds {odd[:5]}; it must be 1 (reported), 0 (not reported) or blank")
    keep = np.isfinite(y) & np.isfinite(w) & (w > 0)
    data = frame.loc[keep, list(by)].copy()
    data["_y"], data["_w"] = y[keep], w[keep]
    data["_wy"], data["_w2"] = data["_w"] * data["_y"], data["_w"] ** 2
    grouped = data.groupby(list(by), sort=True, dropna=True)
    out = grouped.agg(
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
        raise ValueError(f"respondents have no column '{question.id}' for question '{question.id}'")
    frame = respondents.assign(_flag=question.flags(respondents[question.id]))
    out = weighted_shares(frame, flag="_flag", by=by, weight=weight, level=level)
    out.insert(0, "question", question.id)
    out.insert(1, "reported_label", question.reported_label)
    return out


# --- small-area estimates ---------------------------------------------------------------------


def model_method(covariates: Sequence[str], level: float = 0.95) -> str:
    """The label of the small-area estimate, shown beside it."""
    names = ", ".join(covariates) if covariates else "none (intercept only)"
    return (f"Fay-Herriot small-area estimate (EBLUP) on the arcsine-square-root scale, variance of the area "
            f"effects by adjusted REML (Li-Lahiri); covariates: {names}; {_percent(level)} interval from the "
            "Prasad-Rao mean squared error")


@dataclass(frozen=True)
class _Fit:
    sigma2: float
    beta: np.ndarray
    inverse: np.ndarray


def _fh_fit(y: np.ndarray, psi: np.ndarray, x: np.ndarray) -> _Fit:
    def parts(a: float) -> tuple[float, np.ndarray, np.ndarray]:
        v = a + psi
        xtvx = x.T @ (x / v[:, None])
        inverse = np.linalg.inv(xtvx)
        beta = inverse @ (x.T @ (y / v))
        resid = y - x @ beta
        _, logdet = np.linalg.slogdet(xtvx)
        loglik = -0.5 * (np.sum(np.log(v)) + logdet + np.sum(resid**2 / v))
        return loglik, beta, inverse

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
    z = _z(level)
    missing = [c for c in [share, n_eff, *covariates] if c not in areas]
    if missing:
        raise ValueError(f"areas lack column(s) {', '.join(missing)} for the small-area model")
    cov = areas[list(covariates)].to_numpy(dtype=float) if covariates else np.empty((len(areas), 0))
    if not np.isfinite(cov).all():
        bad = [c for i, c in enumerate(covariates) if not np.isfinite(cov[:, i]).all()]
        raise ValueError(f"covariate(s) {', '.join(bad)} have missing values; the model needs them for every area")
    p = areas[share].to_numpy(dtype=float)
    ne = areas[n_eff].to_numpy(dtype=float)
    sampled = np.isfinite(p) & np.isfinite(ne) & (ne > 0)
    if sampled.sum() < len(covariates) + 3:
        raise ValueError(f"only {int(sampled.sum())} areas have respondents; the small-area model with "
                         f"{len(covariates)} covariate(s) needs at least {len(covariates) + 3}")
    centre = cov[sampled].mean(axis=0)
    scale = cov[sampled].std(axis=0)
    constant = [c for c, s in zip(covariates, scale) if s == 0]
    if constant:
        raise ValueError(f"covariate(s) {', '.join(constant)} take one value in every sampled area; drop them")
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


# --- disclosure control -----------------------------------------------------------------------

DIRECT_COLUMNS = ("n", "weight_sum", "share", "n_eff", "deff", "se", "ci_low", "ci_high", "shrinkage")
MODEL_COLUMNS = ("synthetic", "model_share", "model_ci_low", "model_ci_high", "model_rmse")
NEVER_PUBLISHED = ("n_reported", "n_not_reported")

REASON_NONE = "no respondents"
REASON_FEW = "too few respondents to publish"
REASON_SECONDARY = "withheld so that a withheld figure cannot be worked out from the total (secondary suppression)"
REASON_MODEL_ONLY = "direct share withheld (too few respondents); model-based estimate shown"


@dataclass(frozen=True)
class DisclosureRules:
    """Thresholds for :func:`disclosure_control`.

    ``min_base``: unweighted respondents a direct share needs (reliability).
    ``min_count``: unweighted respondents each answer group (reported and not
    reported) needs in any published figure, and in anything that can be worked
    out by differencing (confidentiality). ``model_below_base``: publish a
    small-area estimate where the direct share is withheld only for its base
    (see the rules in :func:`disclosure_control`); off by default.
    """

    min_base: int = 30
    min_count: int = 5
    model_below_base: bool = False

    def __post_init__(self) -> None:
        if self.min_count < 1 or self.min_base < 1:
            raise ValueError(f"min_base ({self.min_base}) and min_count ({self.min_count}) must be at least 1")
        if self.min_base < 2 * self.min_count:
            raise ValueError(f"min_base {self.min_base} is below twice min_count {self.min_count}: a published "
                             "share could then come from fewer respondents than min_count allows in each group")


def disclosure_control(
    cells: pd.DataFrame,
    *,
    rules: DisclosureRules = DisclosureRules(),
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Apply the publication rules to a table of survey cells: the one gate every output goes through.

    ``cells`` has unweighted ``n`` and ``n_reported`` per cell (from
    :func:`weighted_shares`), the value columns to protect and, optionally, a
    boolean ``is_total`` marking the total rows that the other rows are parts of.
    Rows with equal values in ``groups`` (e.g. ``["wave"]``) are the disjoint
    parts of one total; without ``groups`` all rows are one group.

    Rules (``b`` = rules.min_base, default 30; ``c`` = rules.min_count, default 5):

    1. Base: a direct share (and its interval, n, n_eff, design effect and
       shrinkage weight) is published only when the cell has at least ``b``
       unweighted respondents.
    2. Answer groups: any figure for a cell, direct or model-based, is
       published only when at least ``c`` unweighted respondents gave a
       reported answer and at least ``c`` did not, because a share and its base
       imply those counts (weighting blurs them only slightly, so this is
       assumed not to protect).
    3. Differencing: within a group, everything that is not revealed can be
       worked out as the total minus the revealed parts (when there is no total
       row, the total is assumed published elsewhere and equal to the sum of the
       parts). That remainder must be empty or have at least ``c`` respondents
       in each answer group. If not, revealed parts are withheld as well,
       smallest base first, until it does. A part counts as revealed when its
       direct share or its model-based estimate is published (a model estimate
       could be inverted to the direct share). A total row that fails rules 1-2
       is withheld and then nothing can be differenced against it.
    4. Model-based estimates (``model_*`` and ``synthetic`` columns) are
       published with the direct share. Where the direct share is withheld by
       rule 1 only, they are published if ``rules.model_below_base`` is set and
       rule 2 holds (or the area has no respondents, so the estimate is purely
       the regression), with the direct columns still withheld.
    5. The unweighted counts ``n_reported`` and ``n_not_reported`` are dropped;
       withheld values become None; ``published`` and ``model_published`` say
       what is shown and ``suppression_reason`` why something is not. Reasons
       never say which rule a small cell failed.

    Limits: one level of totals per call. Tables that overlap in other ways
    (e.g. wards and LSOAs of the same wave, or two cross-cuts of one total)
    need their cells protected together, not separately.
    """
    for column in ("n", "n_reported"):
        if column not in cells:
            raise ValueError(f"cells lack column '{column}' (unweighted counts from weighted_shares)")
    out = cells.reset_index(drop=True).copy()
    n = out["n"].to_numpy(dtype=float).astype(np.int64)
    rep = out["n_reported"].to_numpy(dtype=float).astype(np.int64)
    if np.any(rep < 0) or np.any(rep > n):
        raise ValueError("n_reported must be between 0 and n in every cell")
    other = n - rep
    total = out["is_total"].to_numpy(dtype=bool) if "is_total" in out else np.zeros(len(out), dtype=bool)
    counts_ok = (rep >= rules.min_count) & (other >= rules.min_count)
    direct = (n >= rules.min_base) & counts_ok
    has_model = any(c in out for c in MODEL_COLUMNS)
    model = direct.copy()
    if has_model and rules.model_below_base:
        model |= ~total & (n < rules.min_base) & (counts_ok | (n == 0))
    reason = np.where(direct, None, np.where(n == 0, REASON_NONE, REASON_FEW)).astype(object)
    reason[~direct & model] = REASON_MODEL_ONLY

    keys = list(groups) if groups else []
    labels = (out.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys
              else np.zeros(len(out), dtype=np.int64))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        totals = members[total[members]]
        parts = members[~total[members]]
        if len(totals) > 1:
            raise ValueError(f"group {label} has {len(totals)} total rows; each group may have one")
        if len(totals) == 1 and not direct[totals[0]]:
            continue
        all_n = int(n[totals[0]]) if len(totals) else int(n[parts].sum())
        all_rep = int(rep[totals[0]]) if len(totals) else int(rep[parts].sum())
        while True:
            shown = parts[direct[parts] | model[parts]]
            rest_n = all_n - int(n[shown].sum())
            rest_rep = all_rep - int(rep[shown].sum())
            if rest_n == 0 or (rest_rep >= rules.min_count and rest_n - rest_rep >= rules.min_count):
                break
            candidates = shown[n[shown] > 0]
            if len(candidates) == 0:
                break
            pick = candidates[np.lexsort((candidates, n[candidates]))[0]]
            direct[pick] = model[pick] = False
            reason[pick] = REASON_SECONDARY

    for column in DIRECT_COLUMNS:
        if column in out:
            out[column] = out[column].astype(object).where(direct, None)
    for column in MODEL_COLUMNS:
        if column in out:
            out[column] = out[column].astype(object).where(model, None)
    out = out.drop(columns=[c for c in NEVER_PUBLISHED if c in out])
    out["published"] = direct
    out["model_published"] = model if has_model else direct
    out["suppression_reason"] = pd.Series(reason, dtype=object)
    return out


# --- the pipeline -----------------------------------------------------------------------------


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
    rules: DisclosureRules = DisclosureRules(),
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
            raise ValueError("areas need an 'area_code' column")
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
            raise ValueError("covariates need the areas frame that holds them")
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


# --- change between waves ---------------------------------------------------------------------

CHANGE_METHOD = ("difference of weighted shares; {level} Newcombe hybrid score interval from the Wilson limits "
                 "on Kish effective sample sizes; two-sided pooled z-test on effective sample sizes{adjust}")


def wave_change(
    table: pd.DataFrame,
    *,
    wave_from: str,
    wave_to: str,
    area: str = "area_code",
    wave: str = "wave",
    level: float = 0.95,
    adjust: str | None = "fdr_bh",
) -> pd.DataFrame:
    """Change in a share between two waves per area, and whether it is more than sampling noise.

    ``table`` is a published table from :func:`area_estimates` (or any frame
    with ``share`` and ``n_eff`` per area and wave). Only areas published in
    both waves get a change, so nothing is derived from a withheld figure. The
    two waves are independent samples; each share's variance uses its Kish
    effective sample size, so the test allows for the weighting's design
    effect. The interval is Newcombe's hybrid score interval built from the two
    Wilson intervals; the p-value is from the pooled two-proportion z-test.

    ``adjust`` corrects the p-values for testing many areas at once: with 24
    wards, about one would show a "significant" change at 5% by chance alone.
    The default "fdr_bh" (Benjamini-Hochberg) keeps the expected share of false
    alarms among the flagged areas at 1 - ``level``; "holm" bounds the chance
    of any false alarm (stricter: ward-sized samples then rarely show a
    change); None tests each area on its own (right for a single area's page).
    Total rows (``is_total``) are tested on their own, outside the family. The
    verdict uses the adjusted p-value at 1 - ``level``.
    """
    _z(level)
    if adjust not in (None, "holm", "fdr_bh"):
        raise ValueError(f"adjust must be 'holm', 'fdr_bh' or None, got {adjust!r}")
    present = set(table[wave].astype(str))
    for label in (wave_from, wave_to):
        if str(label) not in present:
            raise ValueError(f"wave '{label}' is not in the table (waves: {', '.join(sorted(present))})")
    names = [c for c in ("area_name", "is_total") if c in table]
    before = table[table[wave].astype(str) == str(wave_from)][[area, *names, "share", "n_eff"]]
    after = table[table[wave].astype(str) == str(wave_to)][[area, *names, "share", "n_eff"]]
    out = before.merge(after, on=area, how="outer", suffixes=("_from", "_to"))
    for column in names:
        out[column] = out[f"{column}_from"].where(out[f"{column}_from"].notna(), out[f"{column}_to"])
        out = out.drop(columns=[f"{column}_from", f"{column}_to"])
    out = out[[area, *names, *[c for c in out.columns if c not in (area, *names)]]]
    out.insert(1 + len(names), "wave_from", str(wave_from))
    out.insert(2 + len(names), "wave_to", str(wave_to))
    for column in ("share_from", "share_to", "n_eff_from", "n_eff_to"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    p1, p2 = out["share_from"].to_numpy(), out["share_to"].to_numpy()
    n1, n2 = out["n_eff_from"].to_numpy(), out["n_eff_to"].to_numpy()
    ok = np.isfinite(p1) & np.isfinite(p2) & (n1 > 0) & (n2 > 0)
    l1, u1 = wilson(p1, n1, level=level)
    l2, u2 = wilson(p2, n2, level=level)
    diff = p2 - p1
    with np.errstate(invalid="ignore", divide="ignore"):
        low = diff - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
        high = diff + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        zstat = np.where(se0 > 0, diff / se0, 0.0)
    pvalue = 2 * stats.norm.sf(np.abs(zstat))
    total = out["is_total"].fillna(False).to_numpy(dtype=bool) if "is_total" in out else np.zeros(len(out), bool)
    family = ok & ~total
    adjusted = np.where(ok, pvalue, np.nan)
    if adjust and family.any():
        adjusted[family] = multipletests(pvalue[family], method=adjust)[1]
    significant = ok & (adjusted < 1 - level)
    note = f", adjusted for {int(family.sum())} areas" if adjust else ""
    verdicts = []
    for good, sig, d, p, whole in zip(ok, significant, diff, adjusted, total):
        tail = f"p = {p:.3f}{'' if whole else note}" if sig else f"p = {p:.2f}{'' if whole else note}"
        if not good:
            verdicts.append(None)
        elif sig:
            verdicts.append(f"{'Rose' if d > 0 else 'Fell'} by {abs(100 * d):.0f} percentage points: more than "
                            f"sampling noise ({tail})")
        else:
            verdicts.append(f"No clear change: {100 * d:+.0f} percentage points is within sampling noise ({tail})")
    out["change"] = np.where(ok, diff, np.nan)
    out["change_ci_low"] = np.where(ok, low, np.nan)
    out["change_ci_high"] = np.where(ok, high, np.nan)
    out["z"] = np.where(ok, zstat, np.nan)
    out["p_value"] = np.where(ok, pvalue, np.nan)
    out["p_adjusted"] = adjusted
    out["significant"] = significant
    out["verdict"] = pd.Series(verdicts, dtype=object)
    out["reason"] = pd.Series(np.where(ok, None, "not published in both waves"), dtype=object)
    out["method"] = CHANGE_METHOD.format(level=_percent(level),
                                         adjust=f"; p-values adjusted across areas ({adjust})" if adjust else "")
    return out.sort_values(area, kind="stable").reset_index(drop=True)


# --- perception against recorded crime --------------------------------------------------------


def recorded_rates(
    counts: pd.DataFrame,
    *,
    count: str = "count",
    population: str = "population",
    years: float = 1.0,
    per: float = 1000.0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Recorded incidents per ``per`` residents per year, with an exact Poisson interval.

    Why an interval: counts in a ward are themselves noisy (a quiet month, a
    one-off event), so a rate is only called higher or lower than the borough
    when its interval says so. Adds ``rate``, ``rate_ci_low``, ``rate_ci_high``
    (Garwood's chi-square limits).
    """
    if years <= 0:
        raise ValueError(f"years must be positive, got {years}")
    k = counts[count].to_numpy(dtype=float)
    pop = counts[population].to_numpy(dtype=float)
    if np.any(pop <= 0) or np.any(k < 0):
        raise ValueError("population must be positive and counts zero or more in every row")
    alpha = 1 - level
    low = np.where(k > 0, stats.chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
    high = stats.chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2
    scale = per / (pop * years)
    out = counts.copy()
    out["rate"] = k * scale
    out["rate_ci_low"] = low * scale
    out["rate_ci_high"] = high * scale
    return out


@dataclass(frozen=True)
class GapLabels:
    """Words for :func:`perception_vs_crime`; the defaults are for feeling safe against crime."""

    less: str = "feels less safe than its recorded crime suggests"
    more: str = "feels safer than its recorded crime suggests"
    same: str = "in line"
    unknown: str = "not enough responses to say"


RULES = {
    "borough": ("different only when the share's interval excludes the borough share: 'less' when it is "
                "wholly below it and the crime rate is not higher than the borough's (its interval does not "
                "lie wholly above the borough rate); 'more' when it is wholly above it and the crime rate is "
                "not lower"),
    "relationship": ("different only when the share's interval excludes the share predicted for the area's crime "
                     "rate by a precision-weighted regression of share on log(1 + rate) across the other areas"),
}


def perception_vs_crime(
    areas: pd.DataFrame,
    *,
    borough_share: float,
    borough_rate: float,
    share: str = "share",
    ci_low: str = "ci_low",
    ci_high: str = "ci_high",
    rate: str = "rate",
    rate_ci_low: str | None = "rate_ci_low",
    rate_ci_high: str | None = "rate_ci_high",
    rule: str = "borough",
    labels: GapLabels = GapLabels(),
) -> pd.DataFrame:
    """Classify each area's perception (e.g. share feeling safe) against its recorded crime rate.

    Rules (``rule``):

    - ``"borough"`` (default): the share is *below* the borough when its whole
      interval is below ``borough_share``, *above* when wholly above, else
      *similar*; the crime rate is *higher* when its whole interval is above
      ``borough_rate``, *lower* when wholly below, else *similar* (without
      interval columns, the point rate is compared). An area "feels less safe
      than its recorded crime suggests" when its share is below while its crime
      is not higher, and "feels safer than its recorded crime suggests" when its
      share is above while its crime is not lower. Everything else is "in line",
      including low perception with high crime (consistent, not a gap).
    - ``"relationship"``: the expected share is the prediction at the area's
      rate of a weighted least-squares line of share on log(1 + rate) fitted to
      the *other* areas (weights 1/se², se from the interval width). The area is
      "less"/"more" when its interval is wholly below/above that prediction.
      The prediction's own uncertainty is not added, so with few areas this
      rule calls differences more readily than "borough".

    Areas without a published share get ``labels.unknown``. Output: the input
    columns plus ``borough_share, borough_rate, expected_share, gap`` (share -
    expected, in shares), ``perception`` ("below", "above", "similar"),
    ``crime_vs_borough`` ("higher", "lower", "similar"), ``classification``
    and ``rule`` (the rule in words): one row per area, ready for a map layer
    (shade ``gap`` or ``classification``), a scatter (``rate`` against
    ``share`` with both intervals) or an export.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    needed = [c for c in (share, ci_low, ci_high, rate, rate_ci_low, rate_ci_high) if c is not None]
    missing = [c for c in needed if c not in areas]
    if missing:
        raise ValueError(f"areas lack column(s) {', '.join(missing)}; name the columns with the share, ci_low, "
                         "ci_high, rate, rate_ci_low and rate_ci_high options (None for no rate interval)")
    out = areas.reset_index(drop=True).copy()
    p = pd.to_numeric(out[share], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(out[ci_low], errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(out[ci_high], errors="coerce").to_numpy(dtype=float)
    r = pd.to_numeric(out[rate], errors="coerce").to_numpy(dtype=float)
    r_lo = pd.to_numeric(out[rate_ci_low], errors="coerce").to_numpy(dtype=float) if rate_ci_low else r
    r_hi = pd.to_numeric(out[rate_ci_high], errors="coerce").to_numpy(dtype=float) if rate_ci_high else r
    known = np.isfinite(p) & np.isfinite(lo) & np.isfinite(hi) & np.isfinite(r)
    crime = np.where(r_lo > borough_rate, "higher", np.where(r_hi < borough_rate, "lower", "similar"))
    if rule == "borough":
        expected = np.full(len(out), float(borough_share))
    else:
        expected = _loo_prediction(p, lo, hi, r, known)
    below = known & (hi < expected)
    above = known & (lo > expected)
    perception = np.where(below, "below", np.where(above, "above", "similar"))
    if rule == "borough":
        less = below & (crime != "higher")
        more = above & (crime != "lower")
    else:
        less, more = below, above
    classification = np.where(less, labels.less, np.where(more, labels.more, labels.same)).astype(object)
    classification[~known] = labels.unknown
    out["borough_share"] = float(borough_share)
    out["borough_rate"] = float(borough_rate)
    out["expected_share"] = np.where(np.isfinite(expected), expected, np.nan)
    out["gap"] = np.where(known, p - expected, np.nan)
    out["perception"] = pd.Series(np.where(known, perception, None), dtype=object)
    out["crime_vs_borough"] = pd.Series(np.where(np.isfinite(r), crime, None), dtype=object)
    out["classification"] = pd.Series(classification, dtype=object)
    out["rule"] = RULES[rule]
    return out


def _loo_prediction(p: np.ndarray, lo: np.ndarray, hi: np.ndarray, r: np.ndarray, known: np.ndarray) -> np.ndarray:
    se = (hi - lo) / (2 * _z(0.95))
    x = np.log1p(np.where(np.isfinite(r), r, 0.0))
    w = np.where(known & (se > 0), 1.0 / np.where(se > 0, se, 1.0) ** 2, 0.0)
    expected = np.full(len(p), np.nan)
    for i in range(len(p)):
        wi = w.copy()
        wi[i] = 0.0
        if np.count_nonzero(wi) < 3 or not np.isfinite(r[i]):
            continue
        design = np.column_stack([np.ones(len(p)), x])
        coef, *_ = np.linalg.lstsq(design * np.sqrt(wi)[:, None], np.where(wi > 0, p, 0.0) * np.sqrt(wi), rcond=None)
        expected[i] = coef[0] + coef[1] * x[i]
    return expected


# --- published area results ------------------------------------------------------------------


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
        raise ValueError(f"no indicator '{indicator}' (indicators: {known})")
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
    out["method"] = (f"published by the source; {_percent(level)} Wilson interval on the published base "
                     "(the source's design effect is not published, so the interval is too narrow if it was weighted)")
    return out

