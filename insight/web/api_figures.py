"""The two-figures page's JSON twin: ``GET /api/bivariate/<boundary>.json?x=&y=&layer=&period=``.

Every area with figures ``x`` and ``y``, the third of the areas each falls in (1 low, 2 middle,
3 high), the nine-class code, the breaks and what each figure means. ``layer`` defaults to the
crime layer with the latest month and ``period`` (YYYY-MM:YYYY-MM) to its latest twelve months;
``x`` and ``y`` default as on the page. An unknown boundary is a 404; an unknown figure, layer or a
period outside the data is a 400, each with a plain message.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import Flask, Response, jsonify, request

from insight.analysis.bivariate import CLASS_WORDS, PALETTE, break_labels
from insight.analysis.places import Places
from insight.analysis.profiles import check_period, default_period, period_query
from insight.analysis.views import latest_crime_layer
from insight.errors import BadRequest, NotFoundError
from insight.web.api import checked_name, checked_period, guarded
from insight.web.context import AppContext
from insight.web.two_figures_view import DEFAULT_X, DEFAULT_Y, FiguresView, figures, result_for


def _layer_period(places: Places, layer: str | None, period: tuple[int, int] | None) -> tuple:
    layer = layer or latest_crime_layer(places)
    if layer is not None and layer not in places.points:
        raise BadRequest(f"there is no point layer '{layer}' (point layers: {', '.join(sorted(places.points))})")
    points = places.points.get(layer) if layer else None
    if points is None or points.months() is None:
        return layer, None
    check_period(points, period)
    return layer, period or default_period(points)


def checked_view(places: Places, boundary: str, args: dict[str, str]) -> FiguresView:
    """The view a URL asks for: NotFoundError for an unknown boundary, BadRequest for any other bad value."""
    name = checked_name(boundary, "boundary") or ""
    if name not in places.boundaries:
        raise NotFoundError(f"no public boundary layer named '{boundary[:40]}' "
                            f"(boundary layers: {', '.join(sorted(places.boundaries))})")
    layer, period = _layer_period(places, checked_name(args.get("layer"), "layer"),
                                  checked_period(args.get("period")))
    _, meta, _ = figures(places, name, layer, period)
    chosen = []
    for what, defaults in (("x", DEFAULT_X), ("y", DEFAULT_Y)):
        key = checked_name(args.get(what), f"figure {what}") or next((d for d in defaults if d in meta), "")
        if key not in meta:
            raise BadRequest(f"there is no figure '{key}' for these areas; the figures are listed at "
                             f"/api/bivariate/{name}.json under 'figures'")
        chosen.append(key)
    return FiguresView(name, chosen[0], chosen[1], layer, period)


def bivariate_json(places: Places, view: FiguresView) -> dict:
    """The view's areas with both figures, their thirds, nine-class codes and breaks, as JSON-ready data."""
    result, meta = result_for(places, view)
    rows = result.rows.astype(object).where(result.rows.notna(), None)
    areas = [{**r, "x_third": CLASS_WORDS[r["x_class"] - 1] if r["x_class"] else None,
              "y_third": CLASS_WORDS[r["y_class"] - 1] if r["y_class"] else None} for r in rows.to_dict("records")]
    return {
        "boundary": view.boundary, "layer": view.layer,
        "period": period_query(view.period) if view.period else None,
        "x": {"key": view.x, **asdict(meta[view.x]), "breaks": result.x_breaks,
              "thirds": break_labels(result.x_breaks)},
        "y": {"key": view.y, **asdict(meta[view.y]), "breaks": result.y_breaks,
              "thirds": break_labels(result.y_breaks)},
        "classes": "x_class and y_class: 1 low, 2 middle, 3 high third of the areas (numpy linear quantiles at 1/3 "
                   "and 2/3; a value equal to a break is in the lower third); class = (y_class - 1) * 3 + x_class",
        "palette": list(PALETTE),
        "figures": {k: m.label for k, m in meta.items()},
        "areas": areas,
    }


def register(server: Flask, context: AppContext) -> None:
    """Add ``/api/bivariate/<boundary>.json`` to ``server``."""

    @server.get("/api/bivariate/<boundary>.json", endpoint="api_bivariate")
    @guarded
    def bivariate_endpoint(boundary: str) -> Response:
        places = context.places()
        view = checked_view(places, boundary, request.args.to_dict())
        return jsonify(bivariate_json(places, view))
