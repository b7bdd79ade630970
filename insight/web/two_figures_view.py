"""The two-figures page's view as the URL states it, checked, and the figures it shows (kept until the data change).

``/figures?boundary=B&x=FIGURE&y=FIGURE&layer=CRIME_LAYER&from=YYYY-MM&to=YYYY-MM&filter=NAME&sort=COLUMN
&order=asc|desc``. Anything that cannot be used is named in a plain-language message and replaced
by its default; the page never fails on a bad link.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

import pandas as pd

from insight.analysis import views
from insight.analysis.bivariate import FILTERS, Bivariate, bivariate, filter_label
from insight.analysis.places import Places, month_label, month_number
from insight.analysis.profiles import Metric, area_table, default_period, metrics
from insight.web.components import shortened, single
from insight.web.context import context

DEFAULT_X = ("rate:anti-social-behaviour", "points_rate")
DEFAULT_Y = ("kind_rate:spaces", "kind_rate:services_people")
SORTABLE = ("name", "x", "y", "class")
SORT_WORDS = {"name": "Area", "x": "X", "y": "Y", "class": "Both"}
ORDER_WORDS = {"asc": "ascending", "desc": "descending"}
FILTER_WORDS = {name: filter_label(name, "X", "Y") for name in FILTERS}
_MONTH_CHARS = set("0123456789-")


@dataclass(frozen=True)
class FiguresView:
    """What the page shows: boundary, the two figures, crime layer and months, quick filter and sort."""

    boundary: str
    x: str
    y: str
    layer: str | None
    period: tuple[int, int] | None
    filter: str = "all"
    sort: str = "x"
    order: str = "desc"
    problems: tuple[str, ...] = field(default=(), compare=False)

    def query(self) -> dict[str, str]:
        """The URL query that reproduces this view."""
        out = {"boundary": self.boundary, "x": self.x, "y": self.y}
        if self.layer:
            out["layer"] = self.layer
        if self.period:
            out |= {"from": month_label(self.period[0]), "to": month_label(self.period[1])}
        if self.filter != "all":
            out["filter"] = self.filter
        if (self.sort, self.order) != ("x", "desc"):
            out |= {"sort": self.sort, "order": self.order}
        return out

    @property
    def search(self) -> str:
        """The view as a URL query string, '?' included."""
        return "?" + urlencode(self.query())

    @property
    def data_key(self) -> tuple:
        """What the figures depend on (not the filter or the sort)."""
        return (self.boundary, self.layer, self.period)


def figures(places: Places, boundary: str, layer: str | None,
            period: tuple[int, int] | None) -> tuple[pd.DataFrame, dict[str, Metric], pd.Series]:
    """Every figure of every area (one row per area code), what each means, and the areas' names."""
    def compute() -> tuple[pd.DataFrame, dict[str, Metric], pd.Series]:
        frame, meta = metrics(area_table(places, boundary, crime_layer=layer, period=period))
        areas = places.boundary(boundary).areas
        return frame, meta, pd.Series(areas["name"].to_numpy(), index=areas["code"].to_numpy())

    return context().view(("two-figures", boundary, layer, period), compute)


def result_for(places: Places, view: FiguresView) -> tuple[Bivariate, dict[str, Metric]]:
    """The classed table for a checked view, and what each figure means."""
    frame, meta, names = figures(places, view.boundary, view.layer, view.period)
    return bivariate(frame, view.x, view.y, names=names), meta


def _boundary(places: Places, raw: str | None, problems: list[str]) -> str:
    fallback = views.default_boundary(places) or ""
    if raw is None or raw in places.boundaries:
        return raw or fallback
    titles = sorted(b.meta.title for b in places.boundaries.values())
    shown = places.boundaries[fallback].meta.title if fallback in places.boundaries else "none"
    problems.append(f"There is no boundary layer '{shortened(raw)}' (the layers are: {'; '.join(titles)}); "
                    f"{shown} is shown instead.")
    return fallback


def _layer(places: Places, raw: str | None, problems: list[str]) -> str | None:
    fallback = views.latest_crime_layer(places)
    if raw is None or raw in places.points:
        return raw or fallback
    crime = sorted(p.meta.title for p in places.points.values() if p.meta.theme == "crime")
    shown = places.points[fallback].meta.title if fallback in places.points else "none"
    problems.append(f"There is no crime layer '{shortened(raw)}' (the crime layers are: "
                    f"{'; '.join(crime) or 'none'}); {shown} is shown instead.")
    return fallback


def _month(raw: str | None, what: str, problems: list[str]) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    if len(text) == 7 and set(text) <= _MONTH_CHARS and text[4] == "-" and text[:4].isdigit() \
            and text[5:].isdigit() and 1 <= int(text[5:]) <= 12:
        return month_number(text)
    problems.append(f"The {what} month '{shortened(raw, 20)}' is not a month written YYYY-MM (e.g. 2024-04); "
                    "the latest months are shown instead.")
    return None


def _period(places: Places, layer: str | None, query: dict, problems: list[str]) -> tuple[int, int] | None:
    points = places.points.get(layer) if layer else None
    span = points.months() if points is not None else None
    start, end = _month(single(query.get("from")), "first", problems), _month(single(query.get("to")), "last", problems)
    if points is None or span is None:
        return None
    default = default_period(points)
    if start is None and end is None:
        return default
    end = end if end is not None else span[1]
    start = start if start is not None else max(span[0], end - 11)
    if start > end:
        problems.append("The first month comes after the last, so the latest months are shown instead.")
        return default
    if end < span[0] or start > span[1]:
        problems.append(f"The layer has records from {month_label(span[0])} to {month_label(span[1])} only; "
                        "the latest months are shown instead.")
        return default
    return max(start, span[0]), min(end, span[1])


def _figure(raw: str | None, meta: dict[str, Metric], defaults: tuple[str, ...], what: str,
            problems: list[str]) -> str:
    fallback = next((d for d in defaults if d in meta), next(iter(meta), ""))
    if raw is None or raw in meta:
        return raw or fallback
    label = meta[fallback].label if fallback in meta else "none"
    problems.append(f"There is no figure '{shortened(raw)}' for these areas, so figure {what} is {label} instead.")
    return fallback


def _choice(raw: str | None, allowed: dict[str, str], default: str, what: str, problems: list[str]) -> str:
    """``raw`` when it is one of ``allowed`` (value: what people read), else ``default`` with a message in words."""
    if raw is None or raw in allowed:
        return raw or default
    words = "; ".join(f"'{text}'" for text in allowed.values())
    problems.append(f"The {what} '{shortened(raw, 30)}' in the link is not one of {words}, so "
                    f"'{allowed[default]}' is used.")
    return default


def parse_view(places: Places, query: dict) -> FiguresView:
    """The view a URL asks for; every value that cannot be used is explained and replaced by its default."""
    problems: list[str] = []
    boundary = _boundary(places, single(query.get("boundary")), problems)
    layer = _layer(places, single(query.get("layer")), problems)
    period = _period(places, layer, query, problems)
    _, meta, _ = figures(places, boundary, layer, period)
    x = _figure(single(query.get("x")), meta, DEFAULT_X, "X", problems)
    y = _figure(single(query.get("y")), meta, DEFAULT_Y, "Y", problems)
    chosen_filter = _choice(single(query.get("filter")), FILTER_WORDS, "all", "quick filter", problems)
    sort = _choice(single(query.get("sort")), SORT_WORDS, "x", "column to sort by", problems)
    order = _choice(single(query.get("order")), ORDER_WORDS, "desc", "sort order", problems)
    return FiguresView(boundary, x, y, layer, period, chosen_filter, sort, order, tuple(problems))
