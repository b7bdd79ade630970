"""Two figures at once: every area classed into thirds by figure X and by figure Y, nine classes in all.

Pure functions of a figures frame (one row per area, as :func:`insight.analysis.profiles.metrics`
makes): :func:`tertile_breaks` and :func:`tertiles` class one figure, :func:`class_code` joins two
classes into one of nine, :func:`bivariate` assembles the table with its breaks and labels, and
:data:`FILTERS` with :func:`apply_filter` give the quick filters such as "high X and low Y".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from insight.errors import BadRequest

CLASS_WORDS = ("low", "middle", "high")
# Joshua Stevens' pink-blue 3 x 3 scheme (colour-blind safe): X grows to the right (teal),
# Y grows upwards (purple); index = (Y class - 1) x 3 + (X class - 1).
PALETTE = ("#e8e8e8", "#ace4e4", "#5ac8c8", "#dfb0d6", "#a5add3", "#5698b9", "#be64ac", "#8c62aa", "#3b4994")
NO_DATA_COLOUR = "#f3f2f1"
FILTERS: dict[str, tuple[int | None, int | None]] = {
    "all": (None, None),
    "high-x-low-y": (3, 1),
    "high-x-high-y": (3, 3),
    "low-x-high-y": (1, 3),
    "low-x-low-y": (1, 1),
}


def tertile_breaks(values: pd.Series | np.ndarray) -> tuple[float, float] | None:
    """The tops of the lowest and middle thirds (numpy's linear quantiles at 1/3 and 2/3); None if no value."""
    array = np.asarray(values, dtype=float)
    present = array[np.isfinite(array)]
    if not len(present):
        return None
    low, high = np.quantile(present, [1 / 3, 2 / 3])
    return float(low), float(high)


def tertiles(values: pd.Series, breaks: tuple[float, float] | None = None) -> pd.Series:
    """1 (at or below the first break), 2 (at or below the second) or 3; <NA> where there is no figure.

    Classing by value against the breaks keeps equal values in one class and never puts a larger
    value in a lower class.
    """
    breaks = breaks if breaks is not None else tertile_breaks(values)
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if breaks is None:
        return out
    present = np.isfinite(numbers.to_numpy())
    classes = np.where(numbers <= breaks[0], 1, np.where(numbers <= breaks[1], 2, 3))
    out[present] = classes[present]
    return out


def class_code(x_class: pd.Series, y_class: pd.Series) -> pd.Series:
    """1 to 9: (Y class - 1) x 3 + X class, so 3 is high X with low Y and 7 low X with high Y; <NA> if either is."""
    return (y_class.astype("Int64") - 1) * 3 + x_class.astype("Int64")


def class_colour(code: int | None) -> str:
    """The palette's colour for a class code 1 to 9 (the no-data grey otherwise)."""
    return PALETTE[code - 1] if code is not None and 1 <= code <= 9 else NO_DATA_COLOUR


def class_word(value: object) -> str:
    """'low', 'middle' or 'high' for a class 1 to 3; 'no data' otherwise."""
    return CLASS_WORDS[int(value) - 1] if isinstance(value, (int, np.integer)) and 1 <= value <= 3 else "no data"


def break_labels(breaks: tuple[float, float] | None, fmt: str = "{:,.2f}") -> tuple[str, str, str]:
    """What each third holds, in words: 'up to A', 'above A, up to B', 'above B'."""
    if breaks is None:
        return ("no figures", "no figures", "no figures")
    low, high = (fmt.format(b) for b in breaks)
    return (f"up to {low}", f"above {low}, up to {high}", f"above {high}")


@dataclass(frozen=True)
class Bivariate:
    """Every area with figures X and Y, their thirds and the nine-class code, with the breaks used."""

    x: str
    y: str
    rows: pd.DataFrame
    x_breaks: tuple[float, float] | None
    y_breaks: tuple[float, float] | None


def bivariate(figures: pd.DataFrame, x: str, y: str, *, names: pd.Series | None = None) -> Bivariate:
    """Class every area (a row of ``figures``, indexed by code) by the thirds of figure ``x`` and of ``y``.

    ``names`` (indexed by code) adds a ``name`` column. BadRequest names a figure the frame lacks.
    """
    for key in (x, y):
        if key not in figures.columns:
            msg = f"there is no figure '{key[:60]}' for these areas: choose one of {', '.join(figures.columns[:8])}…"
            raise BadRequest(msg)
    x_breaks, y_breaks = tertile_breaks(figures[x]), tertile_breaks(figures[y])
    rows = pd.DataFrame({"code": figures.index.astype(str)}, index=figures.index)
    if names is not None:
        rows["name"] = names.reindex(figures.index).astype(str).to_numpy()
    rows["x"] = figures[x].astype(float).to_numpy()
    rows["y"] = figures[y].astype(float).to_numpy()
    rows["x_class"] = tertiles(rows["x"], x_breaks)
    rows["y_class"] = tertiles(rows["y"], y_breaks)
    rows["class"] = class_code(rows["x_class"], rows["y_class"])
    return Bivariate(x, y, rows.reset_index(drop=True), x_breaks, y_breaks)


def apply_filter(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows in the quick filter ``name`` (see :data:`FILTERS`); BadRequest for an unknown filter."""
    if name not in FILTERS:
        raise BadRequest(f"there is no filter '{name[:40]}': choose one of {', '.join(FILTERS)}")
    x_class, y_class = FILTERS[name]
    keep = pd.Series(True, index=rows.index)
    if x_class is not None:
        keep &= rows["x_class"].eq(x_class).fillna(False).astype(bool)
    if y_class is not None:
        keep &= rows["y_class"].eq(y_class).fillna(False).astype(bool)
    return rows[keep]


def filter_label(name: str, x_label: str, y_label: str) -> str:
    """A quick filter in words, e.g. 'High X and low Y'."""
    x_class, y_class = FILTERS[name]
    if x_class is None or y_class is None:
        return "Every area"
    return f"{CLASS_WORDS[x_class - 1].capitalize()} {x_label} and {CLASS_WORDS[y_class - 1]} {y_label}"
