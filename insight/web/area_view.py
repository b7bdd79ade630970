"""An area page's view as the URL states it: boundary, area, comparator, crime layer and period, each checked.

``/area/<boundary>/<code>?comparator=borough|average|LAYER:CODE&period=YYYY-MM:YYYY-MM&layer=POINT_LAYER``.
Unknown boundaries and areas are refused; any other value that cannot be used is replaced by its
default and the replacement is explained in a readable message. The compare page checks its
crime layer and period the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from insight.analysis.places import Places, month_label
from insight.analysis.profiles import default_crime_layer, default_period, parse_period
from insight.errors import ConfigError, NotFoundError
from insight.web.components import layer_period_query, shortened, single
from insight.web.context import CUSTOM_BOUNDARY


@dataclass(frozen=True)
class AreaView:
    """What one area page shows: validated, with defaults filled in."""

    boundary: str
    code: str
    comparator: str
    layer: str | None
    period: tuple[int, int] | None

    def query(self) -> dict[str, str]:
        """The URL query that reproduces this view."""
        return {"comparator": self.comparator, **layer_period_query(self.layer, self.period)}

    @property
    def search(self) -> str:
        """The view as a URL query string, '?' included."""
        return "?" + urlencode(self.query())


def default_comparator(places: Places) -> str:
    """The council as a whole when its outline is loaded, else the average area."""
    return "borough" if places.authority is not None else "average"


def check_comparator(places: Places, boundary: str, comparator: str | None) -> tuple[str, str | None]:
    """A valid comparator and, when the one asked for was not, why it was replaced."""
    fallback = default_comparator(places)
    if not comparator:
        return fallback, None
    if comparator == "average":
        return comparator, None
    if comparator == "borough":
        if places.authority is None:
            return "average", "No council boundary is loaded, so the figures are compared with the average area."
        return comparator, None
    layer, _, code = comparator.partition(":")
    if not code or len(comparator) > 160:
        return fallback, (f"The comparator '{shortened(comparator)}' is not 'borough', 'average' or "
                          f"BOUNDARY_LAYER:AREA_CODE (e.g. {boundary}:CODE); {fallback} is used instead.")
    try:
        data = places.boundary(layer)
        return f"{layer}:{data.areas['code'].iloc[data.index_of(code)]}", None
    except NotFoundError as exc:
        return fallback, f"The comparator could not be used ({exc}); {fallback} is used instead."


def check_layer(places: Places, layer: str | None) -> tuple[str | None, str | None]:
    """A loaded point layer for the crime section (default: the richest crime layer)."""
    if not layer:
        return default_crime_layer(places), None
    if layer in places.points:
        return layer, None
    fallback = default_crime_layer(places)
    known = ", ".join(sorted(places.points))
    return fallback, (f"There is no point layer '{shortened(layer)}' (point layers: {known}); "
                      f"{fallback or 'none'} is shown instead.")


def check_period(places: Places, layer: str | None, period: str | None) -> tuple[tuple[int, int] | None, str | None]:
    """A period within the layer's months (default: its latest twelve)."""
    points = places.points.get(layer) if layer else None
    span = points.months() if points is not None else None
    if points is None or span is None:
        note = f"The layer '{layer}' has no dated records, so the period was ignored." if period and layer else None
        return None, note
    default = default_period(points)
    if not period:
        return default, None
    try:
        start, end = parse_period(period)
    except ConfigError as exc:
        return default, f"The period in the link was not used: {exc}."
    if end < span[0] or start > span[1]:
        return default, (f"The period {shortened(period)} is outside the data ({month_label(span[0])} to "
                         f"{month_label(span[1])}); the latest months are shown instead.")
    clipped = (max(start, span[0]), min(end, span[1]))
    if clipped != (start, end):
        return clipped, (f"The period was shortened to the months the layer covers: {month_label(clipped[0])} to "
                         f"{month_label(clipped[1])}.")
    return clipped, None


def parse_view(places: Places, boundary: str | None, code: str | None, query: dict) -> tuple[AreaView, list[str]]:
    """The view a URL asks for. Unknown boundary or area raises NotFoundError; other problems are reported."""
    if not boundary or not code:
        raise NotFoundError("an area page needs a boundary layer and an area code: /area/BOUNDARY/CODE")
    if len(boundary) > 100 or len(code) > 120:
        raise NotFoundError(f"no area '{shortened(code)}' in '{shortened(boundary)}': "
                            "the link is too long to be an area's")
    if boundary != CUSTOM_BOUNDARY:
        data = places.boundary(boundary)
        code = data.areas["code"].iloc[data.index_of(code)]
    comparator, c_problem = check_comparator(places, boundary, single(query.get("comparator")))
    layer, l_problem = check_layer(places, single(query.get("layer")))
    period, p_problem = check_period(places, layer, single(query.get("period")))
    problems = [p for p in (c_problem, l_problem, p_problem) if p]
    return AreaView(boundary, code, comparator, layer, period), problems
