"""Survey respondent loader: ``survey-responses`` (one row per respondent, restricted data).

Output is the points kind of the loader contract: ``source_id`` (respondent id),
``name`` (None: respondents are not named), ``category`` (wave), ``month``
(interview month), ``properties`` (``ward_code``, ``lsoa_code``, ``weight``,
``answers`` = {question id: answer code}, and any other columns) and ``geometry``
(EPSG:4326 when the file has coordinates, else None). Load it into a layer with
``sensitivity = "restricted"``: respondent rows never leave the server, only the
aggregates of :mod:`insight.analysis.survey` do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from insight.config import PROJECT_ROOT
from insight.errors import ConfigError, Problem
from insight.sources.base import (
    Loaded,
    blank_to_none,
    json_records,
    missing_columns,
    parse_numbers,
    raise_if,
    read_csv_text,
    register,
    row_problems,
)
from insight.sources.geo import WGS84, parse_crs
from insight.sources.points import coordinate_points, missing_note, month_values, points_frame
from insight.sources.survey_spec import SurveySpec, load_survey

WARD_CODE = re.compile(r"^(?:E05|W05|S13|N08)\d{6}$")
LSOA_CODE = re.compile(r"^(?:E01|W01)\d{6}$")
_CONVENTIONAL = {
    "wave_field": "wave", "date_field": "interview_date", "ward_field": "ward_code", "lsoa_field": "lsoa_code",
}


def resolve_survey_path(questions: str) -> Path:
    """A survey file path: absolute as given, relative to the project folder (where ``surveys/`` is)."""
    path = Path(questions)
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class _Columns:
    """The respondent file's column for each role (None where the file has none)."""

    id: str
    weight: str
    wave: str | None
    date: str | None
    ward: str | None
    lsoa: str | None
    x: str | None
    y: str | None
    answers: list[str]

    def used(self) -> set[str]:
        """Every column with a role; the rest go into the properties as they are."""
        named = (self.id, self.weight, self.wave, self.date, self.ward, self.lsoa, self.x, self.y)
        return {c for c in named if c is not None} | set(self.answers)


@dataclass
class _Found:
    """Problems and notes collected while checking a respondent file."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=lambda: [
        "respondent-level rows: keep this layer restricted; publish only aggregates"])


def _pick(option: str | None, key: str, columns: list[str]) -> str | None:
    if option is not None:
        return option or None
    conventional = _CONVENTIONAL[key]
    return conventional if conventional in columns else None


def _code_problems(values: np.ndarray, pattern: re.Pattern[str], column: str, what: str) -> list[Problem]:
    bad = np.array([v is not None and not pattern.match(v) for v in values], dtype=bool)
    return row_problems(bad, [f"{v!r} is not {what}" for v in values], column) if bad.any() else []


def _none(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


@register("survey-responses")
def load_survey_responses(
    path: Path,
    *,
    questions: str | None = None,
    answers: list[str] | None = None,
    id_field: str = "respondent_id",
    weight_field: str = "weight",
    wave_field: str | None = None,
    date_field: str | None = None,
    ward_field: str | None = None,
    lsoa_field: str | None = None,
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    encoding: str = "utf-8",
) -> Loaded:
    """Load respondent-level survey answers with their design weights, checking every row.

    Problems (all reported together, by row and column): blank or repeated
    respondent ids; missing, non-numeric or negative weights; blank waves;
    dates that are not ``YYYY-MM`` or ISO dates; ward codes that are not GSS
    ward codes (E05, W05, S13 or N08 and six digits); LSOA codes that are not
    E01/W01 and six digits; bad coordinates; answer codes that are not on the
    question's scale; waves the survey file does not list. Respondents with no
    location at all are kept (they count in the survey's totals only) and
    counted in a note; zero weights are allowed and noted.

    Parameters
    ----------
    questions
        The survey file (``surveys/*.toml``) describing the questions; a
        relative path is taken from the project folder. Its question ids are the
        answer columns, and answers are checked against each scale.
    answers
        Answer columns, when there is no survey file (codes are then not checked).
    id_field, weight_field
        Respondent id and design weight columns.
    wave_field, date_field
        Wave label and interview date (``YYYY-MM`` or ISO date) columns; default
        ``wave`` and ``interview_date`` when present. At least one is needed; the
        wave is the feature category (the interview month when there is no wave).
    ward_field, lsoa_field
        Ward and LSOA code columns; default ``ward_code`` and ``lsoa_code`` when
        present. An empty string means "none".
    x, y, crs
        Coordinate columns and their CRS (default EPSG:4326), if any.
    encoding
        Text encoding.
    """
    spec, answer_columns = _survey_questions(questions, answers)
    if (x is None) != (y is None):
        raise ConfigError("loader 'survey-responses': give both x and y, or neither")
    frame = read_csv_text(path, encoding=encoding)
    columns = list(frame.columns)
    cols = _Columns(
        id=id_field, weight=weight_field, wave=_pick(wave_field, "wave_field", columns),
        date=_pick(date_field, "date_field", columns), ward=_pick(ward_field, "ward_field", columns),
        lsoa=_pick(lsoa_field, "lsoa_field", columns), x=x, y=y, answers=answer_columns,
    )
    _check_columns(path, columns, cols)
    found = _Found()
    values = {
        "ids": _respondent_ids(frame, cols.id, found), "weights": _weights(frame, cols.weight, found),
        **_waves_and_months(frame, cols, spec, found), **_area_codes(frame, cols, found),
    }
    geometry = _locations(path, frame, cols, crs, values, found)
    answer_values = _answers(frame, cols.answers, spec, found)
    raise_if(path, sorted(found.problems, key=lambda p: (p.row or 0, p.column or "")))
    return Loaded(frame=_respondents(frame, cols, values, answer_values, geometry), kind="points",
                  rows_read=len(frame), notes=found.notes)


def _survey_questions(questions: str | None, answers: list[str] | None) -> tuple[SurveySpec | None, list[str]]:
    """The survey file (when given) and the answer columns, from the questions or answers option."""
    if questions is not None:
        spec = load_survey(resolve_survey_path(questions))
        if answers is not None:
            raise ConfigError("loader 'survey-responses': give the questions option or the answers option, not both")
        return spec, [q.id for q in spec.questions]
    if answers:
        return None, list(answers)
    raise ConfigError("loader 'survey-responses' needs the questions option (a surveys/*.toml file describing "
                      "the questions) or the answers option (the answer columns)")


def _check_columns(path: Path, columns: list[str], cols: _Columns) -> None:
    """LoadError when a named column is missing or the file has neither a wave nor a date column."""
    problems = missing_columns(columns, [cols.id, cols.weight, cols.wave, cols.date, cols.ward, cols.lsoa,
                                         cols.x, cols.y, *cols.answers])
    if cols.wave is None and cols.date is None:
        problems.append(Problem(f"no wave or interview date column: name one with the wave_field or date_field "
                                f"option (looked for '{_CONVENTIONAL['wave_field']}' and "
                                f"'{_CONVENTIONAL['date_field']}')"))
    raise_if(path, problems)


def _respondent_ids(frame: pd.DataFrame, column: str, found: _Found) -> np.ndarray:
    """Respondent ids; blank and repeated ids are problems."""
    ids = blank_to_none(frame[column])
    found.problems += row_problems(pd.isna(ids), "blank respondent id", column)
    series = pd.Series(ids, dtype=object)
    repeated = (series.notna() & series.duplicated(keep="first")).to_numpy()
    if repeated.any():
        first = {v: i + 1 for i, v in reversed(list(enumerate(ids))) if v is not None}
        found.problems += row_problems(repeated, [f"respondent id '{v}' repeats row {first.get(v)}" for v in ids],
                                       column)
    return ids


def _weights(frame: pd.DataFrame, column: str, found: _Found) -> np.ndarray:
    """Design weights; missing, non-numeric and negative weights are problems, zero weights a note."""
    weights, blank, bad = parse_numbers(frame[column])
    raw_weights = frame[column].tolist()
    found.problems += row_problems(blank, "missing weight: every respondent needs a design weight "
                                          "(1 for an unweighted survey)", column)
    if bad.any():
        found.problems += row_problems(bad, [f"weight {v!r} is not a number" for v in raw_weights], column)
    negative = ~blank & ~bad & (weights < 0)
    if negative.any():
        found.problems += row_problems(negative, [f"weight {v} is negative; design weights must be zero or more"
                                                  for v in raw_weights], column)
    zero = int((~blank & ~bad & (weights == 0)).sum())
    if zero:
        found.notes.append(f"{zero} respondent(s) have weight 0 and will not count in any estimate")
    return weights


def _waves_and_months(frame: pd.DataFrame, cols: _Columns, spec: SurveySpec | None,
                      found: _Found) -> dict[str, np.ndarray]:
    """Wave labels (checked against the survey's waves) and interview months."""
    n = len(frame)
    waves = blank_to_none(frame[cols.wave]) if cols.wave else _none(n)
    if cols.wave:
        found.problems += row_problems(pd.isna(waves), "blank wave", cols.wave)
        if spec is not None and spec.waves:
            unknown = np.array([w is not None and w not in spec.waves for w in waves], dtype=bool)
            if unknown.any():
                where = spec.path.name if spec.path else "the survey file"
                found.problems += row_problems(unknown, [f"wave {w!r} is not one of the survey's waves "
                                                         f"({', '.join(spec.waves)}); add it to 'waves' in {where}"
                                                         for w in waves], cols.wave)
    month = _none(n)
    if cols.date:
        month, problems = month_values(frame[cols.date], cols.date)
        found.problems += problems
        if cols.wave is None:
            found.problems += row_problems(pd.isna(month), "blank interview date (the file has no wave column)",
                                           cols.date)
    return {"waves": waves, "month": month}


def _area_codes(frame: pd.DataFrame, cols: _Columns, found: _Found) -> dict[str, np.ndarray]:
    """Ward and LSOA codes, each checked against the pattern of its GSS code."""
    n = len(frame)
    wards = blank_to_none(frame[cols.ward]) if cols.ward else _none(n)
    lsoas = blank_to_none(frame[cols.lsoa]) if cols.lsoa else _none(n)
    if cols.ward:
        found.problems += _code_problems(wards, WARD_CODE, cols.ward,
                                         "a GSS ward code (E05, W05, S13 or N08 followed by six digits)")
    if cols.lsoa:
        found.problems += _code_problems(lsoas, LSOA_CODE, cols.lsoa,
                                         "an LSOA code (E01 or W01 followed by six digits)")
    return {"wards": wards, "lsoas": lsoas}


def _locations(path: Path, frame: pd.DataFrame, cols: _Columns, crs: str | None, values: dict[str, np.ndarray],
               found: _Found) -> np.ndarray:
    """Point geometry from the coordinate columns (None without them); notes respondents with no location."""
    if cols.x is not None and cols.y is not None:
        target = parse_crs(path, crs, declared=False) if crs else WGS84
        geometry, no_coords, problems = coordinate_points(frame[cols.x], frame[cols.y], x_name=cols.x,
                                                          y_name=cols.y, crs=target)
        found.problems += problems
    else:
        geometry = _none(len(frame))
        no_coords = np.ones(len(frame), dtype=bool)
    unlocated = no_coords & pd.isna(values["wards"]) & pd.isna(values["lsoas"])
    if unlocated.any():
        found.notes.append(f"{int(unlocated.sum())} respondent(s) have no ward, LSOA or coordinates; they count "
                           "in survey-wide totals only")
    if cols.x is not None:
        found.notes += missing_note(no_coords)
    return geometry


def _answers(frame: pd.DataFrame, columns: list[str], spec: SurveySpec | None,
             found: _Found) -> dict[str, np.ndarray]:
    """Answer codes per question; with a survey file, codes off the question's scale are problems."""
    answer_values = {c: blank_to_none(frame[c]) for c in columns}
    if spec is None:
        found.notes.append("no survey file (questions option): answer codes were not checked")
        return answer_values
    for question in spec.questions:
        values = answer_values[question.id]
        wrong = np.array([v is not None and v not in question.answers for v in values], dtype=bool)
        if wrong.any():
            codes = ", ".join(question.answers)
            found.problems += row_problems(
                wrong, [f"answer {v!r} is not a code of question '{question.id}' (codes: {codes}); "
                        "fix the answer or add the code to the survey file" for v in values], question.id)
    return answer_values


def _respondents(frame: pd.DataFrame, cols: _Columns, values: dict[str, np.ndarray],
                 answer_values: dict[str, np.ndarray], geometry: np.ndarray) -> pd.DataFrame:
    """The checked respondents as the points frame of the loader contract."""
    rest = json_records(frame[[c for c in frame.columns if c not in cols.used()]])
    properties: list[dict[str, Any]] = [
        {"ward_code": ward, "lsoa_code": lsoa, "weight": float(w),
         "answers": {c: answer_values[c][i] for c in cols.answers}, **extra}
        for i, (ward, lsoa, w, extra) in enumerate(zip(values["wards"], values["lsoas"], values["weights"], rest))
    ]
    points: pd.DataFrame = points_frame(
        source_id=values["ids"], name=_none(len(frame)), category=values["waves"] if cols.wave else values["month"],
        month=values["month"], properties=properties, geometry=geometry,
    )
    return points
