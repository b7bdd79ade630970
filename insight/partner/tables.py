"""The table an upload holds before any of its values are checked."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj

from insight.errors import Problem


@dataclass
class RawTable:
    """What an upload holds, before any checking of values.

    ``records`` are the attributes of each row or feature; ``geometry`` is None for
    CSV (coordinates are columns) and otherwise one shapely geometry (or None) per
    row, in ``crs`` when the file declares one. ``problems`` are per-feature read
    errors (an unreadable geometry), reported with the rest.
    """

    format: str
    columns: list[str]
    records: list[dict[str, Any]]
    geometry: np.ndarray | None = None
    crs: pyproj.CRS | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
