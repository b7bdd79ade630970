"""The ``lookup`` loader: code-to-code relationships between geographies (LSOA -> ward, LSOA11 -> LSOA21…)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from insight.errors import ConfigError, Problem
from insight.sources.base import (
    Loaded,
    blank_to_none,
    fail,
    parse_numbers,
    raise_if,
    read_csv_text,
    register,
    row_problems,
)

LOOKUP_COLUMNS = ["from_code", "from_geography", "to_code", "to_geography", "from_name", "to_name", "weight"]


@register("lookup")
def load_lookup(
    path: Path,
    *,
    from_field: str,
    to_field: str,
    from_geography: str,
    to_geography: str,
    from_name_field: str | None = None,
    to_name_field: str | None = None,
    weight_field: str | None = None,
    filter_field: str | None = None,
    filter_value: list[str] | None = None,
    encoding: str = "utf-8",
) -> Loaded:
    """Load a lookup table as ``from_code, from_geography, to_code, to_geography, from_name, to_name, weight``.

    ``filter_field`` with ``filter_value`` (one value or a list) keeps only the
    matching rows, e.g. one local authority; the note says how many were left
    out. Weights default to 1.0 and must be finite and not negative. Blank codes
    are problems. Rows repeating a (from, to) pair with the same names and
    weight are collapsed with a note (a ward -> LAD lookup taken from an
    LSOA -> ward -> LAD file repeats each pair); a pair repeated with a
    different weight or name is a problem.

    Parameters
    ----------
    from_field, to_field
        Code columns (required).
    from_geography, to_geography
        Geography labels (required), e.g. ``lsoa21`` and ``ward24``.
    from_name_field, to_name_field, weight_field
        Optional name and weight columns.
    filter_field, filter_value
        Optional row filter; give both or neither.
    encoding
        Text encoding.
    """
    if (filter_field is None) != (filter_value is None):
        raise ConfigError("loader 'lookup': give filter_field and filter_value together")
    fields = [from_field, to_field, from_name_field, to_name_field, weight_field, filter_field]
    frame = read_csv_text(path, encoding=encoding, required=fields)
    rows_read = len(frame)
    notes: list[str] = []
    frame, positions = _filtered(path, frame, filter_field, filter_value, notes)
    problems: list[Problem] = []
    from_codes = blank_to_none(frame[from_field])
    to_codes = blank_to_none(frame[to_field])
    problems += row_problems(pd.isna(from_codes), "blank code", from_field)
    problems += row_problems(pd.isna(to_codes), "blank code", to_field)
    weights = _weights(frame, weight_field, problems)
    result = pd.DataFrame({
        "from_code": from_codes,
        "from_geography": from_geography,
        "to_code": to_codes,
        "to_geography": to_geography,
        "from_name": blank_to_none(frame[from_name_field]) if from_name_field else None,
        "to_name": blank_to_none(frame[to_name_field]) if to_name_field else None,
        "weight": weights.astype(float),
    }, columns=LOOKUP_COLUMNS)
    for column in LOOKUP_COLUMNS[:-1]:
        result[column] = result[column].astype(object)
    repeated = result.duplicated(keep="first").to_numpy()
    pairs = result.loc[~repeated].duplicated(subset=["from_code", "to_code"], keep=False)
    conflicting = np.zeros(len(result), dtype=bool)
    conflicting[np.flatnonzero(~repeated)[pairs.to_numpy()]] = True
    problems += row_problems(conflicting & ~pd.isna(from_codes) & ~pd.isna(to_codes),
                             "this (from, to) pair appears again with a different weight or name", from_field)
    problems = [Problem(p.reason, int(positions[p.row - 1]) + 1, p.column) if p.row else p for p in problems]
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))
    if repeated.any():
        notes.append(f"{int(repeated.sum())} row(s) repeating an earlier (from, to) pair were collapsed")
    result = result.loc[~repeated].reset_index(drop=True)
    return Loaded(frame=result, kind="lookup", rows_read=rows_read, notes=notes)


def _filtered(path: Path, frame: pd.DataFrame, field: str | None, values: list[str] | None,
              notes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows whose ``field`` is one of ``values`` (all rows without a filter), and their positions in the file."""
    positions = np.arange(len(frame))
    if field is None:
        return frame, positions
    wanted = [v.strip() for v in values or []]
    keep = frame[field].str.strip().isin(wanted).to_numpy()
    if not keep.any():
        sample = ", ".join(frame[field].str.strip().drop_duplicates().head(10))
        fail(path, [Problem(f"no row has {field} in {wanted}; values found include: {sample}", column=field)])
    notes.append(f"kept {int(keep.sum())} of {len(frame)} rows where {field} is {', '.join(wanted)}")
    return frame.loc[keep].reset_index(drop=True), positions[keep]


def _weights(frame: pd.DataFrame, field: str | None, problems: list[Problem]) -> np.ndarray:
    """Weights from ``field`` (1.0 without one); blank, non-numeric or negative weights are problems."""
    if field is None:
        return np.ones(len(frame))
    weights, blank, bad = parse_numbers(frame[field])
    wrong = bad | blank | (~bad & ~blank & (weights < 0))
    if wrong.any():
        problems += row_problems(wrong, [f"weight {v!r} is not a number from 0" for v in frame[field].tolist()], field)
    return weights
