"""Indicator loaders: statistics per area as a long table.

Every loader returns ``area_code, area_name, geography, indicator, period, value``
with one row per area, indicator and period. Indicator names are lower-case
identifiers made from column names (``"% BAME - 2011"`` -> ``"pct_bame"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from insight.errors import Problem
from insight.sources.base import (
    Loaded,
    blank_to_none,
    columns_found,
    fail,
    is_missing_marker,
    parse_numbers,
    raise_if,
    read_csv_text,
    register,
    row_problems,
    slug,
)

INDICATOR_COLUMNS = ["area_code", "area_name", "geography", "indicator", "period", "value"]
_IMD_MEASURE = re.compile(r"rank|decile|score", re.IGNORECASE)
_PERIOD = r"\d{4}(?:[/-]\d{2}(?:\d{2})?)?(?:\s+to\s+\d{4}(?:[/-]\d{2}(?:\d{2})?)?)?"
PERIOD_SUFFIX = re.compile(
    rf"^(?P<name>.*?\S)\s*(?:[-;,:]\s*(?P<a>{_PERIOD})|\((?P<b>{_PERIOD})\)|\s(?P<c>\d{{4}}/\d{{2}}))\s*$"
)
_PERIOD_ONLY = re.compile(_PERIOD)
_TOTAL_GROUPS = re.compile(r"^(total|all\b)", re.IGNORECASE)


class _Long:
    """Collects indicator columns and assembles the long frame."""

    def __init__(self, codes: np.ndarray, names: np.ndarray, geography: str) -> None:
        self.codes, self.names, self.geography = codes, names, geography
        self.parts: list[pd.DataFrame] = []

    def add(self, indicator: str, period: str, values: np.ndarray, keep: np.ndarray) -> None:
        self.parts.append(pd.DataFrame({
            "area_code": self.codes[keep],
            "area_name": self.names[keep],
            "indicator": indicator,
            "period": period,
            "value": values[keep].astype(float),
        }))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object) for c in INDICATOR_COLUMNS})
        long = pd.concat(self.parts, ignore_index=True)
        long.insert(2, "geography", self.geography)
        for column in ("area_code", "area_name", "geography", "indicator", "period"):
            long[column] = long[column].astype(object)
        return long[INDICATOR_COLUMNS]


def _areas(
    frame: pd.DataFrame, code_field: str, name_field: str | None
) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    codes = blank_to_none(frame[code_field])
    names = blank_to_none(frame[name_field]) if name_field else np.full(len(frame), None, dtype=object)
    return codes, names, row_problems(pd.isna(codes), "blank area code", code_field)


def _duplicate_areas(codes: np.ndarray, column: str, positions: np.ndarray | None = None) -> list[Problem]:
    """Problems for repeated codes, numbered by file data row (``positions`` maps filtered rows back)."""
    series = pd.Series(codes, dtype=object)
    repeated = series.notna() & series.duplicated(keep="first")
    if not repeated.any():
        return []
    rows = (np.arange(len(series)) if positions is None else positions) + 1
    first = pd.Series(rows).groupby(series.fillna("").to_numpy()).transform("min")
    return [Problem(f"area code '{series.iloc[i]}' repeats row {int(first.iloc[i])}", int(rows[i]), column)
            for i in np.flatnonzero(repeated.to_numpy())]


@register("imd")
def load_imd(
    path: Path,
    *,
    geography: str = "lsoa11",
    period: str = "2019",
    code_field: str = "lsoa11_code",
    name_field: str = "lsoa11_name",
    encoding: str = "utf-8",
) -> Loaded:
    """Load English Indices of Deprivation LSOA data.

    Every column whose name contains "rank", "decile" or "score" becomes an
    indicator named after it; other columns (e.g. ``lad19_code``) are listed in a
    note. Values must be complete and numeric; ranks are whole numbers from 1
    and deciles whole numbers from 1 to 10. Area codes must be unique.

    Parameters
    ----------
    geography, period
        Labels for every row (defaults ``lsoa11``, ``2019``).
    code_field, name_field
        Area columns; the official MHCLG file needs e.g. ``"LSOA code (2011)"``.
    encoding
        Text encoding.
    """
    frame = read_csv_text(path, encoding=encoding, required=[code_field, name_field])
    measures = [c for c in frame.columns if c not in (code_field, name_field) and _IMD_MEASURE.search(c)]
    if not measures:
        fail(path, [Problem(f"no rank, decile or score columns found (columns found: {columns_found(frame.columns)})")])
    codes, names, problems = _areas(frame, code_field, name_field)
    problems += _duplicate_areas(codes, code_field)
    long = _Long(codes, names, geography)
    for column in measures:
        values, blank, bad = parse_numbers(frame[column])
        text = frame[column].tolist()
        problems += row_problems(blank, "blank value", column)
        problems += row_problems(bad, [f"not a number: {v!r}" for v in text], column) if bad.any() else []
        ok = ~blank & ~bad
        lowered = column.lower()
        if "rank" in lowered:
            wrong = ok & ((values < 1) | (values != np.floor(values)))
            problems += row_problems(wrong, [f"rank {v} is not a whole number from 1" for v in text], column) \
                if wrong.any() else []
        elif "decile" in lowered:
            wrong = ok & ((values < 1) | (values > 10) | (values != np.floor(values)))
            problems += row_problems(wrong, [f"decile {v} is not a whole number from 1 to 10" for v in text], column) \
                if wrong.any() else []
        long.add(slug(column), period, values, ok & ~pd.isna(codes))
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))
    others = [c for c in frame.columns if c not in measures and c not in (code_field, name_field)]
    notes = [f"columns not loaded as indicators: {', '.join(others)}"] if others else []
    return Loaded(frame=long.frame(), kind="indicator", rows_read=len(frame), notes=notes)


@register("census-population")
def load_census_population(
    path: Path,
    *,
    geography: str = "lsoa21",
    period: str = "2021",
    code_field: str = "lsoa21_code",
    name_field: str = "lsoa21_name",
    encoding: str = "utf-8",
) -> Loaded:
    """Load Census usual residents by age group (long: one row per area and age group).

    Gives ``usual_residents_<age group>`` per area plus a computed
    ``usual_residents_total``. Counts must be whole numbers from 0; each area
    must have each age group exactly once, so the total is complete; an age
    group that is itself a total ("Total", "All ages") is refused, since
    adding it would double count. Needs columns ``age_group`` and
    ``usual_residents``.

    Parameters
    ----------
    geography, period
        Labels for every row (defaults ``lsoa21``, ``2021``).
    code_field, name_field, encoding
        Area columns and text encoding.
    """
    frame = read_csv_text(path, encoding=encoding, required=[code_field, name_field, "age_group", "usual_residents"])
    codes, names, problems = _areas(frame, code_field, name_field)
    groups = frame["age_group"].str.strip()
    problems += row_problems((groups == "").to_numpy(), "blank age group", "age_group")
    problems += row_problems(groups.str.match(_TOTAL_GROUPS).to_numpy(),
                             "age group looks like a total; remove it (the loader computes usual_residents_total)",
                             "age_group")
    counts, blank, bad = parse_numbers(frame["usual_residents"])
    raw = frame["usual_residents"].tolist()
    wrong = ~blank & ~bad & ((counts < 0) | (counts != np.floor(counts)))
    problems += row_problems(blank, "blank count", "usual_residents")
    if (bad | wrong).any():
        problems += row_problems(bad | wrong, [f"count {v!r} is not a whole number from 0" for v in raw],
                                 "usual_residents")
    keys = pd.DataFrame({"code": codes, "group": groups})
    repeated = keys.duplicated(keep="first").to_numpy() & ~pd.isna(codes)
    problems += row_problems(repeated, [f"area {c} has age group {g!r} more than once" for c, g in
                                        zip(codes, groups)], "age_group") if repeated.any() else []
    problems += _incomplete_areas(keys.loc[~pd.isna(codes) & (groups != "").to_numpy()])
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))

    slugs = groups.map(lambda g: f"usual_residents_{slug(g)}")
    long = pd.DataFrame({
        "area_code": codes, "area_name": names, "geography": geography, "indicator": slugs.to_numpy(dtype=object),
        "period": period, "value": counts,
    })
    totals = long.groupby("area_code", sort=False).agg(area_name=("area_name", "first"), value=("value", "sum"))
    totals = totals.reset_index().assign(geography=geography, indicator="usual_residents_total", period=period)
    result = pd.concat([long, totals[INDICATOR_COLUMNS]], ignore_index=True)
    for column in INDICATOR_COLUMNS[:-1]:
        result[column] = result[column].astype(object)
    result["value"] = result["value"].astype(float)
    return Loaded(frame=result, kind="indicator", rows_read=len(frame),
                  notes=[f"{len(totals)} area(s) × {groups.nunique()} age groups; usual_residents_total computed"])


def _incomplete_areas(keys: pd.DataFrame) -> list[Problem]:
    groups = list(dict.fromkeys(keys["group"]))
    present = keys.groupby("code", sort=False)["group"].agg(set)
    return [Problem(f"area {code} has no row for age group(s) {', '.join(repr(g) for g in groups if g not in have)}; "
                    "its total would be incomplete", column="age_group")
            for code, have in present.items() if len(have) < len(groups)]


@register("indicator-csv")
def load_indicator_csv(
    path: Path,
    *,
    code_field: str,
    geography: str,
    period: str,
    name_field: str | None = None,
    encoding: str = "utf-8",
    columns: list[str] | None = None,
    code_prefix: list[str] | None = None,
    period_from_name: bool = True,
    indicator: str | None = None,
) -> Loaded:
    """Load a wide CSV (one row per area, one column per indicator) as a long table.

    Period rule (``period_from_name``, on by default): a column whose name ends
    in a year or year range after a separator or in brackets — ``"Population -
    2015"``, ``"Male life expectancy -2009-13"``, ``"Crime rate - 2014/15"``,
    ``"… - 2011/12 to 2013/14"``, ``"Median income (2012/13)"``,
    ``"Score; 2013/14"`` — gives that period, and the indicator is named from
    the rest; other columns use the ``period`` option. A column named only by
    a period (``"2011"``, ``"2014/15"``) gives that period for the indicator
    named by the ``indicator`` option, which such files need.

    Cells holding a missing marker (blank, ``n/a``, ``.``, ``-``, ``..``, ``:``)
    are skipped and counted. A column with other non-numeric text is skipped
    with a note, unless it is listed in ``columns``: then each bad cell is a
    problem. ``code_prefix`` keeps only rows whose code starts with one of the
    prefixes (e.g. ``E05`` for wards), with a note of how many were left out.
    Identical repeated rows are collapsed with a note; a code repeated with
    different values is a problem.

    Parameters
    ----------
    code_field, name_field
        Area code (required) and name columns.
    geography
        Geography label for every row, e.g. ``ward2011``.
    period
        Period of columns whose name gives none.
    encoding
        Text encoding; the GLA ward profiles need ``latin-1``.
    columns
        Indicator columns to load (default: all others).
    code_prefix
        Keep only codes starting with one of these.
    period_from_name
        Apply the period rule above (default true).
    indicator
        Indicator name for columns named only by a period.
    """
    frame = read_csv_text(path, encoding=encoding, required=[code_field, name_field, *(columns or [])])
    notes: list[str] = []
    rows_read = len(frame)
    if code_prefix:
        frame = _with_prefix(path, frame, code_field, code_prefix, notes)
    value_columns = columns if columns is not None else [c for c in frame.columns if c not in (code_field, name_field)]
    frame, positions = _without_repeats(frame, code_field, [*([name_field] if name_field else []), *value_columns],
                                        notes)
    codes, names, problems = _areas(frame, code_field, name_field)
    problems = [_renumber(p, positions) for p in problems] + _duplicate_areas(codes, code_field, positions)
    long = _Long(codes, names, geography)
    scan = _ColumnScan(positions=positions, strict=columns is not None,
                       naming=(period, period_from_name, indicator))
    for column in value_columns:
        scan.read(frame, column, long, codes)
    raise_if(path, sorted(problems + scan.problems, key=lambda p: p.row or 0))
    notes += scan.notes()
    prefixes = pd.Series(codes, dtype=object).dropna().str[:3].value_counts()
    if len(prefixes) > 1:
        notes.append(f"geography '{geography}' was applied to codes of several kinds: "
                     + ", ".join(f"{p}… ({n})" for p, n in prefixes.items()) + "; consider code_prefix")
    return Loaded(frame=long.frame(), kind="indicator", rows_read=rows_read, notes=notes)


def _with_prefix(path: Path, frame: pd.DataFrame, code_field: str, code_prefix: list[str],
                 notes: list[str]) -> pd.DataFrame:
    """The rows whose code starts with one of ``code_prefix``; LoadError when there are none."""
    keep = frame[code_field].str.strip().str.startswith(tuple(code_prefix)).to_numpy()
    if not keep.any():
        fail(path, [Problem(f"no code in '{code_field}' starts with {' or '.join(code_prefix)}", column=code_field)])
    if not keep.all():
        notes.append(f"{int((~keep).sum())} row(s) whose code does not start with "
                     f"{' or '.join(code_prefix)} were left out")
    return frame.loc[keep]


def _without_repeats(frame: pd.DataFrame, code_field: str, other_fields: list[str],
                     notes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame without rows repeating an earlier row exactly, and each kept row's position in the file."""
    repeated_rows = frame.duplicated(subset=[code_field, *other_fields])
    if repeated_rows.any():
        notes.append(f"{int(repeated_rows.sum())} row(s) repeating an earlier row exactly were collapsed: "
                     + ", ".join(frame.loc[repeated_rows, code_field].str.strip().unique()[:10]))
    positions = frame.index.to_numpy()[~repeated_rows.to_numpy()]
    return frame.loc[~repeated_rows], positions


@dataclass
class _ColumnScan:
    """Reads a wide file's indicator columns one by one, collecting problems and what was skipped.

    ``naming`` is the default period, whether names give periods, and the indicator for
    columns named only by a period; ``strict`` makes non-numeric cells problems rather than
    a reason to skip the column.
    """

    positions: np.ndarray
    strict: bool
    naming: tuple[str, bool, str | None]
    problems: list[Problem] = field(default_factory=list)
    skipped_text: list[str] = field(default_factory=list)
    skipped_cells: int = 0
    seen: dict[tuple[str, str], str] = field(default_factory=dict)

    def read(self, frame: pd.DataFrame, column: str, long: _Long, codes: np.ndarray) -> None:
        """Add ``column`` to ``long`` when its name and values can be used."""
        period, from_name, bare = self.naming
        name, column_period = _indicator_name(column, period, from_name, bare)
        if not name:
            reason = ("the column is named only by a period; name its indicator with the indicator option"
                      if bare is None and _PERIOD_ONLY.fullmatch(column) else
                      "column name gives an empty indicator name")
            self.problems.append(Problem(reason, column=column))
            return
        if (name, column_period) in self.seen:
            self.problems.append(Problem(f"gives indicator '{name}' for period {column_period}, as column "
                                         f"'{self.seen[name, column_period]}' does", column=column))
            return
        self.seen[name, column_period] = column
        values, _, bad = parse_numbers(frame[column])
        marker = is_missing_marker(frame[column])
        garbage = bad & ~marker
        if garbage.any():
            if not self.strict:
                first = int(np.flatnonzero(garbage)[0])
                self.skipped_text.append(
                    f"'{column}' (e.g. {frame[column].iloc[first]!r} in row {self.positions[first] + 1})")
                return
            text = frame[column].tolist()
            self.problems += [_renumber(p, self.positions) for p in
                              row_problems(garbage, [f"not a number: {v!r}" for v in text], column)]
            return
        self.skipped_cells += int(marker.sum())
        long.add(name, column_period, values, ~marker & ~pd.isna(codes))

    def notes(self) -> list[str]:
        """Notes on the columns and cells that were skipped."""
        notes = []
        if self.skipped_text:
            notes.append(f"{len(self.skipped_text)} non-numeric column(s) not loaded: {'; '.join(self.skipped_text)}")
        if self.skipped_cells:
            notes.append(f"{self.skipped_cells} cell(s) marked missing (blank, n/a, ., -) were skipped")
        return notes


def _renumber(problem: Problem, positions: np.ndarray) -> Problem:
    """Map a row number within a filtered frame back to the file's data row."""
    if problem.row is None:
        return problem
    return Problem(problem.reason, int(positions[problem.row - 1]) + 1, problem.column)


def _indicator_name(column: str, default_period: str, from_name: bool, bare: str | None) -> tuple[str, str]:
    if from_name and _PERIOD_ONLY.fullmatch(column):
        return (slug(bare) if bare else ""), " ".join(column.split())
    match = PERIOD_SUFFIX.match(column) if from_name else None
    if match is None:
        return slug(column), default_period
    found = match.group("a") or match.group("b") or match.group("c")
    return slug(match.group("name")), " ".join(found.split())


@register("mopac-pas")
def load_mopac_pas(
    path: Path,
    *,
    borough: str | None = None,
    geography: str = "mps_neighbourhood",
    period: str = "2016",
) -> Loaded:
    """Load MOPAC Public Attitude Survey results per MPS neighbourhood.

    The file has ``Neighbourhood, Code, Group`` then one column per question;
    the line under the header gives each column's measure (``"% Safe"``) and is
    read as a second header, so data row 1 is the first neighbourhood.
    Indicators are named ``<question>__<measure>``. Percentages (measures
    starting ``%``) are stored as shares from 0 to 1; other values as given.
    ``N/A`` and other missing markers are skipped and counted.

    Parameters
    ----------
    borough
        Keep only the neighbourhoods named ``"<borough> - …"``.
    geography, period
        Labels for every row (defaults ``mps_neighbourhood``, ``2016``).
    """
    frame = read_csv_text(path, required=["Neighbourhood", "Code"])
    measure_row = frame.iloc[0]
    if measure_row["Neighbourhood"].strip() or measure_row["Code"].strip():
        fail(path, [Problem("the line under the header should give each column's measure (e.g. '% Safe') "
                            "with Neighbourhood and Code blank", column="Neighbourhood")])
    data = frame.iloc[1:].reset_index(drop=True)
    if data.empty:
        fail(path, [Problem("the file has headers but no neighbourhood rows: no data rows")])
    rows_read = len(data)
    notes: list[str] = []
    positions = np.arange(len(data))
    if borough is not None:
        prefix = f"{borough.strip()} - ".casefold()
        keep = data["Neighbourhood"].str.strip().str.casefold().str.startswith(prefix).to_numpy()
        if not keep.any():
            found = sorted({n.split(" - ")[0] for n in data["Neighbourhood"].str.strip()})
            fail(path, [Problem(f"no neighbourhood starts with '{borough} - '; boroughs found: {', '.join(found)}",
                                column="Neighbourhood")])
        notes.append(f"kept {int(keep.sum())} of {len(data)} neighbourhoods for borough '{borough}'")
        positions = positions[keep]
        data = data.loc[keep].reset_index(drop=True)
    codes, names, problems = _areas(data, "Code", "Neighbourhood")
    duplicates = _duplicate_areas(codes, "Code", positions)
    long = _Long(codes, names, geography)
    skipped = 0
    questions = [c for c in frame.columns if c not in ("Neighbourhood", "Code", "Group")]
    for column in questions:
        measure = measure_row[column].strip()
        indicator = slug(column) + (f"__{slug(measure.lstrip('%'))}" if measure.lstrip("%").strip() else "")
        values, _, bad = parse_numbers(data[column])
        marker = is_missing_marker(data[column])
        text = data[column].tolist()
        problems += row_problems(bad & ~marker, [f"not a number: {v!r}" for v in text], column) \
            if (bad & ~marker).any() else []
        if measure.startswith("%"):
            wrong = ~bad & ((values < 0) | (values > 100))
            problems += row_problems(wrong, [f"percentage {v} is outside 0..100" for v in text], column) \
                if wrong.any() else []
            values = values / 100.0
        skipped += int(marker.sum())
        long.add(indicator, period, values, ~bad & ~marker & ~pd.isna(codes))
    problems = [_renumber(p, positions) for p in problems] + duplicates
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))
    notes.append("percentages are stored as shares from 0 to 1")
    if skipped:
        notes.append(f"{skipped} cell(s) marked missing (e.g. N/A) were skipped")
    if "Group" in frame.columns:
        notes.append("column 'Group' (a neighbourhood grouping, not a measure) was not loaded")
    return Loaded(frame=long.frame(), kind="indicator", rows_read=rows_read, notes=notes)
