"""The need page's view as the URL states it, checked, and the result it shows (kept until the data change).

``/need?boundary=B&layer=L&method=zscore|percentile&question=Q|none&w_<ingredient>=N&need=PCT&assets=N
&kind=COLUMN&sort=COLUMN&order=asc|desc``. Anything that cannot be used is named in a readable
message and replaced by its default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

from insight.analysis import views
from insight.analysis.need import STANDARDISATIONS, default_assets_max, flag_areas
from insight.analysis.need_areas import INGREDIENTS, NeedResult, asset_choices, default_need_layer, need_beside_assets
from insight.analysis.perception import PerceptionResult
from insight.analysis.places import Places
from insight.errors import InsightError
from insight.web.components import shortened, single
from insight.web.context import context, parse_perception_metric

DEFAULT_NEED = 66.7
NO_SURVEY = "none"
SORTABLE = ("name", "composite", "rank", "need_percentile", "residents", "flagged", *INGREDIENTS, *asset_choices())


@dataclass(frozen=True)
class NeedView:
    """What the need page shows: boundary, crime layer, standardisation, weights, thresholds and sort."""

    boundary: str
    layer: str | None
    method: str = "zscore"
    question: str = ""
    weights: tuple[tuple[str, float], ...] = ()
    need: float = DEFAULT_NEED
    assets: float | None = None
    kind: str = "assets_per_1000"
    sort: str = "composite"
    order: str = "desc"
    problems: tuple[str, ...] = field(default=(), compare=False)

    def query(self) -> dict[str, str]:
        """The URL query that reproduces this view."""
        out = {"boundary": self.boundary, "method": self.method, "need": f"{self.need:g}", "kind": self.kind,
               "sort": self.sort, "order": self.order}
        if self.layer:
            out["layer"] = self.layer
        if self.question:
            out["question"] = self.question
        if self.assets is not None:
            out["assets"] = f"{self.assets:g}"
        out |= {f"w_{k}": f"{w:g}" for k, w in self.weights}
        return out

    @property
    def search(self) -> str:
        """The view as a URL query string, '?' included."""
        return "?" + urlencode(self.query())


def _number(query: dict, key: str, what: str, low: float, high: float,
            problems: list[str]) -> float | None:
    raw = single(query.get(key))
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        problems.append(f"{what} '{shortened(str(raw), 20)}' is not a number from {low:g} to {high:g}; "
                        "the default is used.")
        return None
    return value


def _choice(query: dict, key: str, allowed: list[str], default: str, what: str, problems: list[str]) -> str:
    raw = single(query.get(key))
    if raw is None or raw in allowed:
        return raw or default
    problems.append(f"There is no {what} '{shortened(raw)}' (choices: {', '.join(allowed)}); {default} is used.")
    return default


def parse_view(places: Places, query: dict) -> NeedView:
    """The view a URL asks for, with every problem found named in ``problems``."""
    problems: list[str] = []
    fallback = views.default_boundary(places) or ""
    boundary = _choice(query, "boundary", sorted(places.boundaries), fallback, "boundary layer", problems)
    crime = sorted(n for n, p in places.points.items() if p.meta.theme == "crime")
    layer = _choice(query, "layer", crime, default_need_layer(places) or "", "crime layer", problems) or None
    method = _choice(query, "method", list(STANDARDISATIONS), "zscore", "standardisation", problems)
    questions = [q for _, q in (parse_perception_metric(o["value"]) or ("", "")
                                for o in context().perception_options(boundary))]
    question = _choice(query, "question", [*questions, NO_SURVEY], questions[0] if questions else NO_SURVEY,
                       "survey question", problems)
    weights = []
    for key in INGREDIENTS:
        value = _number(query, f"w_{key}", f"The weight of {key.replace('_', ' ')}", 0, 100, problems)
        weights.append((key, 1.0 if value is None else value))
    if not any(w > 0 for _, w in weights):
        problems.append("Every weight was zero, so equal weights are used.")
        weights = [(k, 1.0) for k, _ in weights]
    need = _number(query, "need", "The need threshold", 0, 100, problems)
    assets = _number(query, "assets", "The assets threshold", 0, 1e6, problems)
    kind = _choice(query, "kind", list(asset_choices()), "assets_per_1000", "asset figure", problems)
    sort = _choice(query, "sort", list(SORTABLE), "composite", "column to sort by", problems)
    order = _choice(query, "order", ["asc", "desc"], "desc", "sort order", problems)
    return NeedView(boundary, layer, method, "" if question == NO_SURVEY and not questions else question,
                    tuple(weights), DEFAULT_NEED if need is None else need, assets, kind, sort, order,
                    tuple(problems))


def _perception(view: NeedView, notes: list[str]) -> PerceptionResult | None:
    if not view.question or view.question == NO_SURVEY:
        return None
    try:
        return context().perception(view.boundary, view.question)
    except InsightError as exc:
        notes.append(f"Residents' perception is left out: {exc}.")
        return None


def need_result(places: Places, view: NeedView) -> NeedResult:
    """The need result for a view, computed once per view until the data change."""
    key = ("need", view.boundary, view.layer, view.method, view.question, view.weights)

    def compute() -> NeedResult:
        notes: list[str] = []
        result = need_beside_assets(places, view.boundary, crime_layer=view.layer, weights=dict(view.weights),
                                    method=view.method, perception=_perception(view, notes))
        result.notes[:0] = notes
        return result

    return context().view(key, compute)


def assets_threshold(result: NeedResult, view: NeedView) -> float:
    """The "few assets" threshold: the view's, or the top of the lowest third of areas."""
    return view.assets if view.assets is not None else round(default_assets_max(result.rows, view.kind), 2)


def flagged_rows(result: NeedResult, view: NeedView) -> list[bool]:
    """Whether each area is "high need, few assets" under the view's thresholds."""
    return flag_areas(result.rows, need_min=view.need, assets_max=assets_threshold(result, view),
                      assets=view.kind).tolist()
