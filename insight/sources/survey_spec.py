"""Survey question files (``surveys/*.toml``): what each question asks and which answers are reported.

A survey file describes its questions declaratively; :func:`load_survey` and
:func:`load_surveys` read and validate them, reporting every problem at once. The
respondent loader (:mod:`insight.sources.survey`) checks answers against these scales
and the survey statistics (:mod:`insight.analysis.survey`) estimate the reported shares.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from insight.errors import ConfigError

__all__ = ["QUESTION_ID", "Question", "SurveySpec", "load_survey", "load_surveys", "parse_survey", "survey_problems"]

QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
KeyTypes = dict[str, type]
_SURVEY_REQUIRED: KeyTypes = {"name": str, "title": str, "questions": list}
_SURVEY_OPTIONAL: KeyTypes = {"description": str, "illustrative": bool, "waves": list, "source": str}
_QUESTION_REQUIRED: KeyTypes = {"id": str, "text": str, "answers": list, "reported": list, "reported_label": str}
_QUESTION_OPTIONAL: KeyTypes = {"excluded": list, "benchmark": str, "theme": str}


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

    def flags(self, answers: pd.Series[Any]) -> pd.Series[float]:
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


def _type_problems(raw: dict[str, Any], required: KeyTypes, optional: KeyTypes, where: str) -> list[str]:
    problems = [f"{where}: missing required key '{k}'" for k in required if k not in raw]
    known = {**required, **optional}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{where}: unknown key '{key}' (known keys: {', '.join(sorted(known))})")
        elif not isinstance(value, known[key]) or (known[key] is int and isinstance(value, bool)):
            problems.append(f"{where}: '{key}' must be a {known[key].__name__}, got {type(value).__name__}")
        elif isinstance(value, str) and key in required and not value.strip():
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
    out: list[str] = []
    problems: list[str] = []
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
        id=str(qid), text=raw["text"].strip(), answers=codes, reported=frozenset(reported),
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
        name=str(name), title=raw["title"].strip(), questions=tuple(questions),
        description=raw.get("description", "").strip(), illustrative=raw.get("illustrative", False),
        waves=tuple(waves), source=raw.get("source"), path=path,
    )
    return spec, []


def parse_survey(raw: dict[str, Any], *, where: str = "<survey>", path: Path | None = None) -> SurveySpec:
    """Validate one survey description; ConfigError listing every problem at once."""
    spec, problems = _parse(raw, where, path)
    if spec is None:
        raise ConfigError(f"survey file {where} has problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return spec


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The parsed file, or None with the reason appended to ``problems``."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}: not valid TOML ({exc})")
        return None


def load_survey(path: Path | str) -> SurveySpec:
    """Read and validate one ``surveys/*.toml`` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"survey file {path} not found; give the path of a surveys/*.toml file")
    problems: list[str] = []
    raw = _read_toml(path, problems)
    if raw is None:
        raise ConfigError(problems[0])
    return parse_survey(raw, where=path.name, path=path)


def load_surveys(folder: Path | str) -> list[SurveySpec]:
    """Every ``*.toml`` in ``folder``, validated together; ConfigError listing all problems."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"survey folder {folder} does not exist")
    problems: list[str] = []
    specs: list[SurveySpec] = []
    files: list[str] = []
    for path in sorted(folder.glob("*.toml")):
        raw = _read_toml(path, problems)
        if raw is None:
            continue
        spec, found = _parse(raw, path.name, path)
        problems += found
        if spec is not None:
            specs.append(spec)
            files.append(path.name)
    seen: dict[str, str] = {}
    for spec, file in zip(specs, files):
        if spec.name in seen:
            problems.append(f"{file}: survey name '{spec.name}' is also used by {seen[spec.name]}")
        seen[spec.name] = file
    if problems:
        raise ConfigError("survey files have problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return specs

