"""Residents' perceptions (survey estimates) beside recorded crime, per area: what the map, area page and exports show.

:func:`perception` is pure: a :class:`insight.analysis.places.Places` snapshot (public data: areas,
population, deprivation, recorded crime) and a :class:`SurveyData` (restricted respondents)
in, a :class:`PerceptionResult` of published aggregates out. Every survey figure comes from
:func:`insight.analysis.survey.estimates.area_estimates`, which ends in the one disclosure-control gate, so
nothing here can publish a small cell or a respondent row. :func:`read_surveys` is the I/O
edge that reads the restricted layers on the server.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, SupportsFloat

import numpy as np
import pandas as pd

from insight.analysis.places import BoundaryData, Places
from insight.analysis.profiles import Profile, area_table, default_crime_layer, period_text
from insight.analysis.survey.change import wave_change
from insight.analysis.survey.disclosure import DEFAULT_RULES, DisclosureRules
from insight.analysis.survey.estimates import area_estimates, published_results, respondents_frame
from insight.analysis.survey.gap import GapLabels, perception_vs_crime, recorded_rates
from insight.errors import BadRequest, ConfigError, NotFoundError, SurveyError
from insight.layers import LayerSpec
from insight.sources.survey import resolve_survey_path
from insight.sources.survey_spec import Question, SurveySpec, load_survey
from insight.store import Engine, LayerSummary, read_features

ASB = "anti-social-behaviour"
SURVEY_LOADER = "survey-responses"
CLASS_CODES = {"less": -1.0, "same": 0.0, "more": 1.0}
# Orange and purple (ColorBrewer PuOr ends) with a mid grey for "in line": told apart with the common colour-vision
# deficiencies and from the near-white "no data" fill.
CLASS_COLOURS = ("#e66101", "#a6a6a6", "#5e3c99")


@dataclass(frozen=True)
class SurveyData:
    """A restricted survey layer's respondents with its question file. Server-side only."""

    layer: LayerSummary
    spec: SurveySpec
    respondents: pd.DataFrame

    @property
    def illustrative(self) -> bool:
        """Whether the respondents are generated (the layer or the question file says so)."""
        return self.layer.illustrative or self.spec.illustrative

    @property
    def title(self) -> str:
        """The survey's title from its question file."""
        return self.spec.title


def labels_for(question: Question) -> GapLabels:
    """Words for the gap classification, matched to what the question asks about."""
    if question.theme == "asb":
        return GapLabels(less="more worried about ASB than its recorded ASB suggests",
                         more="less worried about ASB than its recorded ASB suggests")
    if question.theme == "crime":
        return GapLabels(less="more worried about crime than its recorded crime suggests",
                         more="less worried about crime than its recorded crime suggests")
    return GapLabels()


def crime_measure(question: Question) -> str:
    """Which recorded incidents a question is set against: ASB for ASB questions, other crime otherwise."""
    return "recorded anti-social behaviour (ASB)" if question.theme == "asb" else "recorded crime (excluding ASB)"


@dataclass
class PerceptionResult:
    """Published perception estimates and recorded rates for every area of one boundary layer.

    ``areas`` has one row per area (position order of the boundary layer): ``area_code,
    area_name``, the published direct estimate (``share, ci_low, ci_high, n, n_eff``; None
    where withheld), the small-area estimate (``model_share, model_ci_low, model_ci_high``),
    ``published, suppression_reason``, recorded ``count, residents, rate, rate_ci_low,
    rate_ci_high`` (per 1,000 residents per year), ``classification``, ``gap_code``
    (-1 less, 0 in line, +1 more, NaN unknown) and the change since the previous wave.
    ``borough`` holds the same figures for the whole authority.
    """

    survey: SurveyData
    question: Question
    boundary: str
    wave: str
    waves: list[str]
    areas: pd.DataFrame
    borough: dict[str, Any]
    crime_label: str
    crime_period: str
    crime_source: str
    method: str
    rule: str
    labels: GapLabels
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The question, its reported answers and the wave, marked when the survey is illustrative."""
        prefix = "ILLUSTRATIVE: " if self.survey.illustrative else ""
        return f"{prefix}{self.question.text} ({self.question.reported_label}), wave {self.wave}"

    def row(self, code: str) -> pd.Series[Any]:
        """The results for area ``code``; NotFoundError when the boundary layer has no such area."""
        hit = self.areas[self.areas["area_code"] == code]
        if hit.empty:
            raise NotFoundError(f"no area '{code}' in the perception results for {self.boundary}")
        return hit.iloc[0]


def read_surveys(engine: Engine, specs: Iterable[LayerSpec], summaries: Iterable[LayerSummary]) -> list[SurveyData]:
    """Every loaded survey layer (loader ``survey-responses``) with its respondents, read on the server."""
    loaded = {s.name: s for s in summaries}
    out = []
    for spec in specs:
        if spec.loader != SURVEY_LOADER or spec.name not in loaded or "questions" not in spec.options:
            continue
        survey = load_survey(resolve_survey_path(str(spec.options["questions"])))
        respondents = respondents_frame(read_features(engine, spec.name), questions=[q.id for q in survey.questions])
        out.append(SurveyData(layer=loaded[spec.name], spec=survey, respondents=respondents))
    return out


def benchmark_layer(question: Question) -> tuple[str, str] | None:
    """(layer, indicator) of the published results a question names as its benchmark, if any."""
    if not question.benchmark or ":" not in question.benchmark:
        return None
    layer, _, indicator = question.benchmark.partition(":")
    return layer, indicator


def benchmark_rows(values: pd.DataFrame, question: Question) -> pd.DataFrame:
    """A question's published benchmark (e.g. the real MOPAC PAS 2016 results) as area, period and share rows.

    ``values`` are the benchmark layer's indicator values (``read_indicator_values``);
    an empty frame when the question names no benchmark or the layer lacks it.
    """
    columns = ["area_code", "area_name", "period", "share"]
    named = benchmark_layer(question)
    if named is None or values.empty or named[1] not in set(values["indicator"]):
        return pd.DataFrame(columns=columns)
    return published_results(values, indicator=named[1])[columns]


def results_for(
    places: Places, surveys: Iterable[SurveyData], boundary: str, **options: Any
) -> list[PerceptionResult]:
    """Every question of every survey whose respondents are placed in ``boundary``'s areas.

    ``options`` are those of :func:`perception`.
    """
    codes = places.boundary(boundary).areas["code"]
    return [
        perception(places, survey, q.id, boundary, **options)
        for survey in surveys if area_column(survey.respondents, codes) is not None
        for q in survey.spec.questions
    ]


TABLE_COLUMNS = (
    "area_code", "area_name", "published", "suppression_reason", "share", "ci_low", "ci_high", "n", "n_eff",
    "model_share", "model_ci_low", "model_ci_high", "count", "residents", "rate", "rate_ci_low", "rate_ci_high",
    "perception", "crime_vs_borough", "classification", "gap", "wave_from", "change", "change_ci_low",
    "change_ci_high", "significant", "verdict",
)


def perception_table(result: PerceptionResult) -> pd.DataFrame:
    """The published per-area table for export (aggregates only), with the borough as the last row.

    ``attrs`` carry what the columns mean, for the export's 'About' sheet.
    """
    areas = result.areas[[c for c in TABLE_COLUMNS if c in result.areas]]
    borough = pd.DataFrame([{k: v for k, v in result.borough.items() if k in areas.columns}])
    table = pd.concat([areas, borough], ignore_index=True)
    table.insert(2, "question", result.question.id)
    table.insert(3, "wave", result.wave)
    table.attrs.update(
        title=result.title, illustrative=result.survey.illustrative, survey=result.survey.title,
        question=result.question.text, reported=result.question.reported_label, boundary=result.boundary,
        crime_measure=result.crime_label, crime_period=result.crime_period, crime_source=result.crime_source,
        rates="per 1,000 residents per year", shares="fractions from 0 to 1; withheld values are blank",
        method=result.method, rule=result.rule, notes=" ".join(result.notes),
    )
    return table


def area_column(respondents: pd.DataFrame, codes: Iterable[str]) -> str | None:
    """``ward_code`` when most respondents' ward codes are areas of the boundary layer, else None.

    Estimates are published for one geography per survey, the wards: protecting
    two overlapping tables (wards and the LSOAs inside them) against differencing
    would need them suppressed together, which :func:`insight.analysis.survey.disclosure.disclosure_control`
    does not do.
    """
    if "ward_code" not in respondents:
        return None
    values = respondents["ward_code"].dropna()
    return "ward_code" if len(values) and values.isin(set(codes)).mean() >= 0.5 else None


def _crime_counts(places: Places, boundary: str, question: Question, crime_layer: str | None,
                  period: tuple[int, int] | None) -> tuple[pd.DataFrame, dict[str, Any], str, str, float]:
    """Recorded counts and residents per area and for the authority, with the period and source."""
    table = area_table(places, boundary, crime_layer=crime_layer, period=period)
    if table.crime_meta is None:
        raise ConfigError("no crime layer is loaded, so perceptions cannot be set beside recorded crime")
    if not np.isfinite(table.residents).any():
        raise ConfigError("no population layer is loaded, so crime rates per 1,000 residents cannot be worked out")

    def pick(counts: pd.DataFrame) -> np.ndarray:
        asb = counts[ASB].to_numpy(dtype=float) if ASB in counts else np.zeros(len(counts))
        return asb if question.theme == "asb" else counts.sum(axis=1).to_numpy(dtype=float) - asb

    years = (table.period[1] - table.period[0] + 1) / 12 if table.period else 1.0
    frame = pd.DataFrame({
        "area_code": table.boundary.areas["code"].to_numpy(), "count": pick(table.crime_counts),
        "residents": table.residents,
    })
    if "imd_rank" in table.deprivation:
        frame["imd_rank"] = table.deprivation["imd_rank"].to_numpy(dtype=float)
    authority = places.authority
    if authority is None:
        borough = {"code": "total", "name": "All areas", "count": float(frame["count"].sum()),
                   "residents": float(np.nansum(frame["residents"]))}
    else:
        whole = area_table(places, authority, crime_layer=table.crime_meta.name, period=table.period)
        borough = {"code": str(authority.areas["code"].iloc[0]), "name": str(authority.areas["name"].iloc[0]),
                   "count": float(pick(whole.crime_counts)[0]), "residents": float(whole.residents[0])}
    period_label = period_text(table.period) if table.period else "all records"
    source = f"{table.crime_meta.title} ({table.crime_meta.publisher}; {table.crime_meta.licence})"
    return frame, borough, period_label, source, years


def perception(
    places: Places,
    survey: SurveyData,
    question_id: str,
    boundary: str,
    *,
    crime_layer: str | None = None,
    period: tuple[int, int] | None = None,
    wave: str | None = None,
    rules: DisclosureRules = DEFAULT_RULES,
    rule: str = "borough",
) -> PerceptionResult:
    """Published shares with intervals beside recorded crime rates for every area of ``boundary``.

    Respondents are placed in areas by their ward or LSOA code (whichever matches the
    boundary layer's codes). Rates are per 1,000 residents per year over the crime
    period (default: the crime layer's latest 12 months); the small-area model uses the
    log rate and the residents' average deprivation rank as covariates. The wave
    defaults to the latest.
    """
    question = survey.spec.question(question_id)
    data = places.boundary(boundary)
    column, waves, wave = _placement(survey, data, wave)
    crime_name = _crime_layer(places, crime_layer)
    counts, borough, crime_period, crime_source, years = _crime_counts(places, boundary, question, crime_name, period)
    if not counts["count"].sum() > 0:
        title = places.point_layer(crime_name).meta.title if crime_name else "the crime layer"
        raise SurveyError(
            f"not enough overlapping data: '{title}' has no {crime_measure(question)} "
            f"in {crime_period}, so residents' answers cannot be set beside it; choose a crime layer and period "
            "that include such records"
        )
    rates = recorded_rates(counts[counts["residents"] > 0], population="residents", years=years)
    table = _estimates(survey, question, data, column, rates, borough, rules)
    latest = table[(table["wave"] == wave) & ~table["is_total"]].drop(columns=["is_total"])
    total = table[(table["wave"] == wave) & table["is_total"]].iloc[0]
    borough_rate = recorded_rates(pd.DataFrame({"count": [borough["count"]], "population": [borough["residents"]]}),
                                  population="population", years=years).iloc[0]
    recorded = ["area_code", "count", "residents", "rate", "rate_ci_low", "rate_ci_high"]
    merged = latest.merge(rates[recorded], on="area_code", how="left")
    labels = labels_for(question)
    borough_share = total["share"] if total["published"] else np.nan
    gaps = perception_vs_crime(merged, borough_share=float(borough_share), borough_rate=float(borough_rate["rate"]),
                               rule=rule, labels=labels)
    code = {labels.less: CLASS_CODES["less"], labels.same: CLASS_CODES["same"], labels.more: CLASS_CODES["more"]}
    gaps["gap_code"] = gaps["classification"].map(code).astype(float)
    gaps, borough_change = _with_change(gaps, table, waves, wave, borough["code"])
    order = {c: i for i, c in enumerate(data.areas["code"])}
    gaps = gaps.sort_values("area_code", key=lambda s: s.map(order)).reset_index(drop=True)
    return PerceptionResult(
        survey=survey, question=question, boundary=boundary, wave=wave, waves=waves, areas=gaps,
        borough=_borough_row(borough, total, borough_rate, borough_change), crime_label=crime_measure(question),
        crime_period=crime_period, crime_source=crime_source, method=_method(latest),
        rule=str(gaps["rule"].iloc[0]) if len(gaps) else "", labels=labels, notes=_notes(survey, wave, crime_period),
    )


def _crime_layer(places: Places, name: str | None) -> str | None:
    """The crime layer perceptions are set beside: the one named, or the default; BadRequest for another theme."""
    if not name:
        return default_crime_layer(places)
    layer = places.point_layer(name)
    if layer.meta.theme != "crime":
        crime = ", ".join(n for n, p in places.points.items() if p.meta.theme == "crime") or "none is loaded"
        raise BadRequest(f"'{layer.meta.title}' is not a crime layer, so residents' perceptions of safety cannot be "
                         f"set beside it: choose a crime layer ({crime})")
    return name


def _placement(survey: SurveyData, data: BoundaryData, wave: str | None) -> tuple[str, list[str], str]:
    """The respondents' area column, the survey's waves and the wave asked for (default: the latest)."""
    column = area_column(survey.respondents, data.areas["code"])
    if column is None:
        raise ConfigError(
            f"respondents of '{survey.title}' are placed by ward code, and those codes are not areas of "
            f"{data.meta.title}: choose the ward layer of the survey's vintage"
        )
    waves = sorted(set(survey.respondents["wave"].dropna().astype(str)))
    if not waves:
        raise ConfigError(f"'{survey.title}' has no respondents with a wave")
    wave = wave or waves[-1]
    if wave not in waves:
        raise ConfigError(f"wave '{wave}' is not in '{survey.title}' (waves: {', '.join(waves)})")
    return column, waves, wave


def _estimates(survey: SurveyData, question: Question, data: BoundaryData, column: str, rates: pd.DataFrame,
               borough: dict[str, Any], rules: DisclosureRules) -> pd.DataFrame:
    """The published estimates per area and wave, with the log crime rate and deprivation as covariates."""
    rates = rates.assign(log_rate=np.log1p(rates["rate"]))
    covariates = [c for c in ("log_rate", "imd_rank")
                  if c in rates and np.isfinite(rates[c]).all() and rates[c].nunique() > 1]
    areas = data.areas[["code", "name"]].rename(columns={"code": "area_code", "name": "area_name"})
    areas = areas.merge(rates[["area_code", *covariates]], on="area_code", how="inner")
    if len(areas) < len(covariates) + 3:
        covariates = []
    return area_estimates(
        survey.respondents, question, area=column, areas=areas, covariates=covariates,
        total_code=borough["code"], total_name=borough["name"], rules=rules,
    )


def _with_change(gaps: pd.DataFrame, table: pd.DataFrame, waves: list[str], wave: str,
                 borough_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The areas with their change since the previous wave, and the borough's change row (empty without one)."""
    previous = [w for w in waves if w < wave]
    if not previous:
        return gaps, pd.DataFrame()
    change = wave_change(table, wave_from=previous[-1], wave_to=wave)
    keep = ["area_code", "wave_from", "change", "change_ci_low", "change_ci_high", "p_adjusted", "significant",
            "verdict"]
    return gaps.merge(change[keep], on="area_code", how="left"), change[change["area_code"] == borough_code]


def _borough_row(borough: dict[str, Any], total: pd.Series[Any], borough_rate: pd.Series[Any],
                 borough_change: pd.DataFrame) -> dict[str, Any]:
    """The whole authority's figures in the layout of an area row."""
    changed = len(borough_change) > 0
    return {
        "area_code": borough["code"], "area_name": borough["name"],
        **{k: _number(total.get(k)) for k in ("share", "ci_low", "ci_high", "n", "n_eff")},
        "published": bool(total["published"]), "count": borough["count"], "residents": borough["residents"],
        "rate": float(borough_rate["rate"]), "rate_ci_low": float(borough_rate["rate_ci_low"]),
        "rate_ci_high": float(borough_rate["rate_ci_high"]),
        **{k: (_number(borough_change[k].iloc[0]) if changed else None)
           for k in ("change", "change_ci_low", "change_ci_high")},
        "significant": bool(borough_change["significant"].iloc[0]) if changed else False,
        "verdict": borough_change["verdict"].iloc[0] if changed else None,
    }


def _notes(survey: SurveyData, wave: str, crime_period: str) -> list[str]:
    """Cautions shown with the results: illustrative data, and a survey wave and crime period that differ."""
    notes = []
    if survey.illustrative:
        notes.append(f"ILLUSTRATIVE: '{survey.title}' is generated data, not real responses; it shows how the "
                     "analysis works and must not be used for decisions.")
    crime_years = {label[:4] for label in crime_period.split(" to ")} if " to " in crime_period else set()
    if crime_years and wave not in crime_years:
        notes.append(f"The survey wave ({wave}) and the recorded crime ({crime_period}) are from different years: "
                     "load police data for the survey's months to compare like with like.")
    return notes


def _method(latest: pd.DataFrame) -> str:
    """The estimation method in words: the direct estimate's, then the small-area model's if one was fitted."""
    method = str(latest["method"].iloc[0]) if len(latest) else ""
    model = latest["model_method"].dropna() if "model_method" in latest else pd.Series(dtype=object)
    if len(model):
        method += f"; small-area estimate: {model.iloc[0]}"
    return method


def _number(value: object) -> float | None:
    """``value`` as a finite number, or None (blank, withheld, not a number)."""
    if not isinstance(value, SupportsFloat | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def shading_values(result: PerceptionResult) -> dict[str, Any]:
    """Map shading for the gap classification: a value per area code, breaks, colours and legend labels."""
    values = {c: _number(v) for c, v in zip(result.areas["area_code"], result.areas["gap_code"])}
    labels = result.labels
    return {
        "values": values, "breaks": [-0.5, 0.5, 1.5], "colours": list(CLASS_COLOURS),
        "labels": [labels.less, labels.same, labels.more],
    }


def profile_rows(result: PerceptionResult, code: str) -> list[dict[str, Any]]:
    """Figure rows for one area's profile, in the layout of :attr:`insight.analysis.profiles.Profile.figures`."""
    row = result.row(code)
    section = "Resident perception" + (" (ILLUSTRATIVE)" if result.survey.illustrative else "")
    comparator = result.borough["area_name"]
    q = result.question
    base = {"section": section, "comparator": comparator, "rank": np.nan, "of": np.nan,
            "boundary_vintage": "", "period": f"survey wave {result.wave}"}
    source = f"{result.survey.title} ({result.survey.layer.publisher}; {result.survey.layer.licence})"

    def figure(metric: str, label: str, value: object, comp: object, unit: str, method: str,
               **kw: str) -> dict[str, Any]:
        number, other = _number(value), _number(comp)
        v = np.nan if number is None else number
        c = np.nan if other is None else other
        return {**base, "metric": f"perception:{q.id}:{metric}", "label": label, "value": v, "unit": unit,
                "comparator_value": c, "difference": v - c if np.isfinite(v) and np.isfinite(c) else np.nan,
                "source": source, "method": method, **kw}

    withheld = "" if row["published"] else f" (withheld: {row['suppression_reason']})"
    b = result.borough
    rows = [
        figure("share", f"{q.text}: {q.reported_label}{withheld}", row["share"], b["share"], "share", result.method),
        figure("ci_low", f"{q.reported_label}: 95% interval, lower", row["ci_low"], b["ci_low"], "share",
               result.method),
        figure("ci_high", f"{q.reported_label}: 95% interval, upper", row["ci_high"], b["ci_high"], "share",
               result.method),
    ]
    if "model_share" in row:
        rows.append(figure("model_share", f"{q.reported_label}: small-area estimate", row["model_share"],
                           b["share"], "share", str(row.get("model_method") or "")))
    crime_method = "point in area (load-time tags); exact Poisson interval; per 1,000 residents per year"
    crime = sentence(result.crime_label)
    rows += [
        figure("rate", f"{crime} per 1,000 residents a year", row["rate"], b["rate"], "per 1,000",
               crime_method, source=result.crime_source, period=result.crime_period),
        figure("rate_ci_low", f"{crime}: 95% interval, lower", row["rate_ci_low"], b["rate_ci_low"],
               "per 1,000", crime_method, source=result.crime_source, period=result.crime_period),
        figure("rate_ci_high", f"{crime}: 95% interval, upper", row["rate_ci_high"],
               b["rate_ci_high"], "per 1,000", crime_method, source=result.crime_source, period=result.crime_period),
    ]
    return rows


def summary_sentence(result: PerceptionResult, code: str) -> str:
    """One line for notes and screen readers: the area's classification with its share and rate."""
    row = result.row(code)
    prefix = "ILLUSTRATIVE survey: " if result.survey.illustrative else ""
    if not row["published"]:
        return (f"{prefix}{row['area_name']}: {result.question.reported_label} not published for wave "
                f"{result.wave} ({row['suppression_reason']}).")
    return (f"{prefix}{row['area_name']}, wave {result.wave}: {row['classification']}. {row['share']:.0%} "
            f"{result.question.reported_label} (95% interval {row['ci_low']:.0%} to {row['ci_high']:.0%}; "
            f"{result.borough['area_name']} {_percent(result.borough['share'])}); {result.crime_label} "
            f"{row['rate']:.1f} per 1,000 residents a year ({result.borough['area_name']} "
            f"{result.borough['rate']:.1f}; {result.crime_period}).")


def change_text(change: object, low: object, high: object, significant: object) -> str:
    """A short reading of a change between waves: points, interval, and whether it is more than noise."""
    values = [_number(v) for v in (change, low, high)]
    numbers = [100 * v for v in values if v is not None]
    if len(numbers) < len(values):
        return "not published in both waves"
    c, lo, hi = numbers
    verdict = "more than sampling noise" if bool(significant) else "within sampling noise"
    return f"{c:+.0f} points (95% interval {lo:+.0f} to {hi:+.0f}): {verdict}"


def sentence(text: str) -> str:
    """``text`` with its first letter in capitals (unlike str.capitalize, the rest is kept)."""
    return text[:1].upper() + text[1:]


def _percent(value: float | None) -> str:
    """A share as a whole percentage, or "not published"."""
    return "not published" if value is None else f"{value:.0%}"


def with_perception(profile: Profile, results: Iterable[PerceptionResult]) -> Profile:
    """The profile with each result's rows for its area added (areas the results do not cover are left as they are)."""
    rows, notes = [], list(profile.notes)
    for result in results:
        if result.boundary != profile.boundary.meta.name or profile.code not in set(result.areas["area_code"]):
            continue
        rows += profile_rows(result, profile.code)
        notes.append(summary_sentence(result, profile.code))
        notes += [n for n in result.notes if n not in notes]
    if not rows:
        return profile
    added = pd.DataFrame(rows).reindex(columns=profile.figures.columns)
    if "ties" in added:
        added["ties"] = added["ties"].fillna(0).astype(int)
    figures = pd.concat([profile.figures, added], ignore_index=True)
    return replace(profile, figures=figures, notes=notes)
