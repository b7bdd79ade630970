"""Count series for trends and forecasts: a period x area matrix of counts.

A *matrix* is a :class:`pandas.DataFrame` whose index is a :class:`pandas.PeriodIndex`
(monthly ``M`` or annual ``Y``) with no gaps, whose columns are area codes, and whose
values are non-negative integer counts. Months inside the layer's span with no record
are zeros, never missing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from insight.analysis.places import NO_MONTH, BoundaryData, Places, month_label
from insight.errors import BadRequest

PANDEMIC_START = pd.Period("2020-03", freq="M")
"""First month of the 2020-21 pandemic window (first national lockdown)."""
PANDEMIC_END = pd.Period("2021-06", freq="M")
"""Last month of the pandemic window (the last restrictions eased in July 2021)."""
PANDEMIC_YEARS = (2020, 2021)
"""Calendar years an annual series treats as pandemic-affected."""


def pandemic_mask(index: pd.PeriodIndex) -> np.ndarray:
    """True for the periods of ``index`` inside the pandemic window (months, or the years 2020-21)."""
    if index.freqstr.startswith("M"):
        return np.asarray((index >= PANDEMIC_START) & (index <= PANDEMIC_END))
    return np.isin(np.asarray(index.year), PANDEMIC_YEARS)


def is_monthly(matrix: pd.DataFrame) -> bool:
    """Whether a matrix is monthly (else annual)."""
    return _period_index(matrix).freqstr.startswith("M")


def _period_index(matrix: pd.DataFrame) -> pd.PeriodIndex:
    index = matrix.index
    if not isinstance(index, pd.PeriodIndex):
        raise BadRequest("a count series needs periods (months or years) as its rows")
    return index


def check_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """``matrix`` if it is a gap-free period x area table of non-negative counts; BadRequest otherwise."""
    index = _period_index(matrix)
    if len(index) == 0 or matrix.shape[1] == 0:
        raise BadRequest("there are no counts to analyse: the layer has no dated records in these areas")
    expected = pd.period_range(index[0], index[-1], freq=index.freq)
    if len(expected) != len(index) or not (expected == index).all():
        raise BadRequest("the count series has gaps or is out of order: every period must appear once")
    values = matrix.to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise BadRequest("counts must be zero or more, with no missing values")
    return matrix


def parse_period(period: str | tuple[str, str] | None) -> tuple[pd.Period, pd.Period] | None:
    """'YYYY-MM:YYYY-MM' (or a pair) as two monthly periods; None passes through."""
    if period is None:
        return None
    parts = period.split(":") if isinstance(period, str) else list(period)
    if len(parts) != 2:
        raise BadRequest(f"a period is two months joined by ':', e.g. 2019-01:2022-12 (got '{period}')")
    try:
        first, last = (pd.Period(p.strip(), freq="M") for p in parts)
    except ValueError as exc:
        raise BadRequest(f"could not read the period '{period}': months are written YYYY-MM") from exc
    if last < first:
        raise BadRequest(f"the period '{period}' ends before it starts")
    return first, last


def _category_code(categories: list[str], category: str | None) -> int | None:
    if category is None:
        return None
    if category not in categories:
        raise BadRequest(f"no category '{category}' in this layer (categories: {', '.join(categories)})")
    return categories.index(category)


def monthly_matrix(
    places: Places, layer: str, boundary: str | BoundaryData, category: str | None = None,
    period: str | tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Month x area counts of point ``layer`` in each area of ``boundary`` from the stored counts.

    Rows run over every month of the layer's dated span (or ``period``, 'YYYY-MM:YYYY-MM'),
    zeros filled; columns are every area code of the boundary in its order. Undated records
    and records outside every area are left out. ``category`` keeps one category.
    """
    points = places.point_layer(layer)
    bounds = places.boundary(boundary) if isinstance(boundary, str) else boundary
    span = points.months()
    if span is None:
        raise BadRequest(f"the layer '{layer}' has no dated records, so it has no series over time")
    counts = places.counts(points, bounds)
    keep = (counts.month != NO_MONTH) & (counts.area >= 0)
    code = _category_code(points.categories, category)
    if code is not None:
        keep &= counts.category == code
    months = pd.period_range(month_label(span[0]), month_label(span[1]), freq="M")
    n_areas = len(bounds.areas)
    grid = np.zeros((len(months), n_areas), dtype=np.int64)
    rows = counts.month[keep] - span[0]
    inside = (rows >= 0) & (rows < len(months))
    np.add.at(grid, (rows[inside], counts.area[keep][inside]), counts.n[keep][inside])
    matrix = pd.DataFrame(grid, index=months, columns=pd.Index(bounds.areas["code"].tolist(), name="code"))
    matrix.index.name = "month"
    chosen = parse_period(period)
    if chosen is not None:
        matrix = matrix.reindex(pd.period_range(chosen[0], chosen[1], freq="M"), fill_value=0)
        matrix.index.name = "month"
    return check_matrix(matrix)


def annual_matrix(frame: pd.DataFrame, code: str, years: Sequence[str | int] | None = None) -> pd.DataFrame:
    """Year x area counts from a wide table with one row per area and one column per year.

    ``code`` names the area-code column; ``years`` the year columns (default: every column whose
    name is a four-digit year). Missing counts are an error, not a zero.
    """
    columns = [c for c in frame.columns if str(c).isdigit() and len(str(c)) == 4] if years is None else list(years)
    if not columns:
        raise BadRequest("the table has no year columns (named like 2011, 2012, ...)")
    wide = frame.set_index(code)[columns]
    if wide.isna().to_numpy().any():
        raise BadRequest("some annual counts are missing: fill them or leave those areas out")
    matrix = pd.DataFrame(
        np.rint(wide.to_numpy(dtype=float).T).astype(np.int64),
        index=pd.PeriodIndex([pd.Period(str(y), freq="Y") for y in columns], name="year"),
        columns=pd.Index(wide.index.astype(str), name="code"),
    )
    return check_matrix(matrix)


def area_names(places: Places, boundary: str | BoundaryData) -> dict[str, str]:
    """Area code to name for a boundary layer."""
    bounds = places.boundary(boundary) if isinstance(boundary, str) else boundary
    return dict(zip(bounds.areas["code"].astype(str), bounds.areas["name"].astype(str)))
