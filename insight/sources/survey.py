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
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from insight.analysis.survey import SurveySpec

WARD_CODE = re.compile(r"^(?:E05|W05|S13|N08)\d{6}$")
LSOA_CODE = re.compile(r"^(?:E01|W01)\d{6}$")
_CONVENTIONAL = {
    "wave_field": "wave", "date_field": "interview_date", "ward_field": "ward_code", "lsoa_field": "lsoa_code",
}


def resolve_survey_path(questions: str) -> Path:
    """A survey file path: absolute as given, relative to the project folder (where ``surveys/`` is)."""
    path = Path(questions)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _pick(option: str | None, key: str, columns: list[str]) -> str | None:
    if option is not None:
        return option or None
    conventional = _CONVENTIONAL[key]
    return conventional if conventional in columns else None


def _code_problems(values: np.ndarray, pattern: re.Pattern, column: str, what: str) -> list[Problem]:
    bad = np.array([v is not None and not pattern.match(v) for v in values], dtype=bool)
    return row_problems(bad, [f"{v!r} is not {what}" for v in values], column) if bad.any() else []


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
    spec: SurveySpec | None = None
    if questions is not None:
        from insight.analysis.survey import load_survey  # here, not at import: it brings in scipy and statsmodels

        spec = load_survey(resolve_survey_path(questions))
        answer_columns = [q.id for q in spec.questions]
        if answers is not None:
            raise ConfigError("loader 'survey-responses': give the questions option or the answers option, not both")
    elif answers:
        answer_columns = list(answers)
    else:
        raise ConfigError("loader 'survey-responses' needs the questions option (a surveys/*.toml file describing "
                          "the questions) or the answers option (the answer columns)")
    if (x is None) != (y is None):
        raise ConfigError("loader 'survey-responses': give both x and y, or neither")
    frame = read_csv_text(path, encoding=encoding)
    columns = list(frame.columns)
    wave_col = _pick(wave_field, "wave_field", columns)
    date_col = _pick(date_field, "date_field", columns)
    ward_col = _pick(ward_field, "ward_field", columns)
    lsoa_col = _pick(lsoa_field, "lsoa_field", columns)
    problems = missing_columns(columns, [id_field, weight_field, wave_col, date_col, ward_col, lsoa_col, x, y,
                                         *answer_columns])
    if wave_col is None and date_col is None:
        problems.append(Problem(f"no wave or interview date column: name one with the wave_field or date_field "
                                f"option (looked for '{_CONVENTIONAL['wave_field']}' and "
                                f"'{_CONVENTIONAL['date_field']}')"))
    raise_if(path, problems)
    notes: list[str] = ["respondent-level rows: keep this layer restricted; publish only aggregates"]
    n = len(frame)

    ids = blank_to_none(frame[id_field])
    problems += row_problems(pd.isna(ids), "blank respondent id", id_field)
    series = pd.Series(ids, dtype=object)
    repeated = (series.notna() & series.duplicated(keep="first")).to_numpy()
    if repeated.any():
        first = {v: i + 1 for i, v in reversed(list(enumerate(ids))) if v is not None}
        problems += row_problems(repeated, [f"respondent id '{v}' repeats row {first.get(v)}" for v in ids], id_field)

    weights, blank, bad = parse_numbers(frame[weight_field])
    raw_weights = frame[weight_field].tolist()
    problems += row_problems(blank, "missing weight: every respondent needs a design weight "
                                    "(1 for an unweighted survey)", weight_field)
    if bad.any():
        problems += row_problems(bad, [f"weight {v!r} is not a number" for v in raw_weights], weight_field)
    negative = ~blank & ~bad & (weights < 0)
    if negative.any():
        problems += row_problems(negative, [f"weight {v} is negative; design weights must be zero or more"
                                            for v in raw_weights], weight_field)
    zero = int((~blank & ~bad & (weights == 0)).sum())
    if zero:
        notes.append(f"{zero} respondent(s) have weight 0 and will not count in any estimate")

    waves = blank_to_none(frame[wave_col]) if wave_col else np.full(n, None, dtype=object)
    if wave_col:
        problems += row_problems(pd.isna(waves), "blank wave", wave_col)
        if spec is not None and spec.waves:
            unknown = np.array([w is not None and w not in spec.waves for w in waves], dtype=bool)
            if unknown.any():
                problems += row_problems(unknown, [f"wave {w!r} is not one of the survey's waves "
                                                   f"({', '.join(spec.waves)}); add it to 'waves' in "
                                                   f"{spec.path.name if spec.path else 'the survey file'}"
                                                   for w in waves], wave_col)
    month = np.full(n, None, dtype=object)
    if date_col:
        month, found = month_values(frame[date_col], date_col)
        problems += found
        if wave_col is None:
            problems += row_problems(pd.isna(month), "blank interview date (the file has no wave column)", date_col)

    wards = blank_to_none(frame[ward_col]) if ward_col else np.full(n, None, dtype=object)
    lsoas = blank_to_none(frame[lsoa_col]) if lsoa_col else np.full(n, None, dtype=object)
    if ward_col:
        problems += _code_problems(wards, WARD_CODE, ward_col,
                                   "a GSS ward code (E05, W05, S13 or N08 followed by six digits)")
    if lsoa_col:
        problems += _code_problems(lsoas, LSOA_CODE, lsoa_col, "an LSOA code (E01 or W01 followed by six digits)")

    if x is not None:
        target = parse_crs(path, crs, declared=False) if crs else WGS84
        geometry, no_coords, found = coordinate_points(frame[x], frame[y], x_name=x, y_name=y, crs=target)
        problems += found
    else:
        geometry = np.full(n, None, dtype=object)
        no_coords = np.ones(n, dtype=bool)
    unlocated = no_coords & pd.isna(wards) & pd.isna(lsoas)
    if unlocated.any():
        notes.append(f"{int(unlocated.sum())} respondent(s) have no ward, LSOA or coordinates; they count in "
                     "survey-wide totals only")
    if x is not None:
        notes += missing_note(no_coords)

    answer_values = {c: blank_to_none(frame[c]) for c in answer_columns}
    if spec is not None:
        for question in spec.questions:
            values = answer_values[question.id]
            wrong = np.array([v is not None and v not in question.answers for v in values], dtype=bool)
            if wrong.any():
                codes = ", ".join(question.answers)
                problems += row_problems(
                    wrong, [f"answer {v!r} is not a code of question '{question.id}' (codes: {codes}); "
                            "fix the answer or add the code to the survey file" for v in values], question.id)
    else:
        notes.append("no survey file (questions option): answer codes were not checked")
    raise_if(path, sorted(problems, key=lambda p: (p.row or 0, p.column or "")))

    used = {id_field, weight_field, wave_col, date_col, ward_col, lsoa_col, x, y, *answer_columns} - {None}
    rest = json_records(frame[[c for c in columns if c not in used]])
    properties = [
        {"ward_code": ward, "lsoa_code": lsoa, "weight": float(w), "answers": {c: answer_values[c][i]
                                                                              for c in answer_columns}, **extra}
        for i, (ward, lsoa, w, extra) in enumerate(zip(wards, lsoas, weights, rest))
    ]
    category = waves if wave_col else month
    result = points_frame(
        source_id=ids, name=np.full(n, None, dtype=object), category=category, month=month,
        properties=properties, geometry=geometry,
    )
    return Loaded(frame=result, kind="points", rows_read=n, notes=notes)
