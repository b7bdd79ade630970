"""JSON, GeoJSON and file endpoints on the Flask server: the map and pages load their data from here.

Every parameter is untrusted: each is validated and a bad one gets a 400 with a readable
message; an unknown layer or area gets a 404; a store that cannot be reached, a 503
(:func:`insight.errors.http_status` maps each kind of error to its status).
"""
from __future__ import annotations

import io
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Flask, Response, jsonify, request, send_file

from insight.analysis import trend_views, views
from insight.analysis.export import PROFILE_FORMATS, TABLE_FORMATS, export_profile, profile_frame
from insight.analysis.perception import TABLE_COLUMNS, PerceptionResult
from insight.analysis.places import Places
from insight.analysis.profiles import Profile, default_crime_layer, parse_period
from insight.errors import BadRequest, InsightError, NotFoundError, StoreError, http_status
from insight.partner.versions import stale_feature_ids
from insight.store.engine import ping
from insight.web.area_trends import shading_tables
from insight.web.context import AppContext, parse_perception_metric

_NAME = re.compile(r"^[A-Za-z0-9_:.\-]{1,100}$")
_CODE = re.compile(r"^[A-Za-z0-9_ ,.'()&\-]{1,120}$")


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def perception_json(result: PerceptionResult) -> dict:
    """The published perception table as JSON: aggregates only, withheld values as null."""
    areas = result.areas[[c for c in TABLE_COLUMNS if c in result.areas]]
    return {
        "title": result.title, "illustrative": result.survey.illustrative, "survey": result.survey.layer.name,
        "survey_title": result.survey.title, "question": result.question.id, "question_text": result.question.text,
        "reported_label": result.question.reported_label, "boundary": result.boundary, "wave": result.wave,
        "waves": result.waves, "crime_measure": result.crime_label, "crime_period": result.crime_period,
        "crime_source": result.crime_source, "method": result.method, "rule": result.rule, "notes": result.notes,
        "borough": result.borough,
        "areas": _records(areas),
    }


def profile_payload(result: Profile) -> dict:
    """An area's profile as the JSON ``GET /api/profile/<boundary>/<code>.json`` answers."""
    return {
        "code": result.code, "name": result.name, "boundary": result.boundary.meta.name,
        "boundary_title": result.boundary.meta.title, "comparator": result.comparator,
        "figures": _records(profile_frame(result)),
        "monthly": result.monthly.to_dict("records"), "notes": result.notes,
        "assets": _records(result.assets),
    }


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def checked_name(value: str | None, what: str) -> str | None:
    """A layer or metric name from a URL, refused if it is not plain text of a sensible length."""
    if value is None or value == "":
        return None
    if not _NAME.match(value):
        raise BadRequest(f"{what} '{value[:40]}' is not a valid name")
    return value


def checked_code(value: str | None, what: str = "area") -> str | None:
    """An area code or name from a URL, refused if it holds characters no code or name has."""
    if value is None or value == "":
        return None
    if not _CODE.match(value):
        raise BadRequest(f"{what} '{value[:40]}' is not a valid code or name")
    return value


def checked_list(value: str | None, what: str) -> list[str] | None:
    """A comma-separated list of codes from a URL (at most 50)."""
    if not value:
        return None
    items = [v for v in value.split(",") if v]
    if len(items) > 50:
        raise BadRequest(f"too many {what} (at most 50)")
    return [c for c in (checked_code(v, what) for v in items) if c is not None]


def checked_period(value: str | None) -> tuple[int, int] | None:
    """A 'YYYY-MM:YYYY-MM' period from a URL, or None when none was given."""
    return parse_period(value) if value else None


def checked_int(value: str | None, what: str, *, default: int, low: int, high: int) -> int:
    """A whole number from a URL between ``low`` and ``high`` (``default`` when none was given)."""
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"{what} must be a whole number from {low:,} to {high:,}")
    return int(value)


def checked_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """A 'min lon,min lat,max lon,max lat' box from a URL (EPSG:4326), or None when none was given."""
    if not value:
        return None
    try:
        box = tuple(float(v) for v in value.split(","))
    except ValueError as exc:
        raise BadRequest("bbox must be four numbers: min longitude,min latitude,max longitude,max latitude") from exc
    if len(box) != 4 or not all(map(math.isfinite, box)):
        raise BadRequest("bbox must be four numbers: min longitude,min latitude,max longitude,max latitude")
    minx, miny, maxx, maxy = box
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise BadRequest("bbox must be longitude and latitude, with the minimum before the maximum of each")
    return minx, miny, maxx, maxy


def guarded(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the package's errors into JSON responses with the right status."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except InsightError as exc:
            return _error(http_status(exc), str(exc))

    return wrapper


def _file_bytes(write: Callable[[Path], Path], filename: str) -> bytes:
    """The bytes of a file made by ``write`` in a temporary folder (removed at once)."""
    with tempfile.TemporaryDirectory(prefix="insight-export-") as folder:
        return write(Path(folder) / filename).read_bytes()


def _send(content: bytes, download_name: str) -> Response:
    return send_file(io.BytesIO(content), as_attachment=True, download_name=download_name)


def _profile_key(boundary: str, code: str, args: Mapping[str, str]) -> tuple:
    """The checked view a profile or export URL asks for (BadRequest for a malformed parameter)."""
    return (checked_name(boundary, "boundary") or "", checked_code(code) or "",
            checked_name(args.get("comparator"), "comparator") or "borough",
            checked_name(args.get("layer"), "layer"), checked_period(args.get("period")))


def _profile(context: AppContext, places: Places, key: tuple) -> Profile:
    """The profile for a checked view, with its resident-perception rows (kept until the data change)."""
    boundary, code, comparator, layer, period = key

    def compute() -> Profile:
        result = context.area_profile(places, boundary, code, comparator=comparator, crime_layer=layer,
                                      period=period)
        return context.with_surveys(result, crime_layer=layer, period=period)

    return context.view(("api-profile", *key), compute)


def _map_routes(server: Flask, context: AppContext) -> None:
    """The layers the map draws: boundaries, points, shading, search; and the health check."""

    @server.get("/api/layers.json")
    @guarded
    def layers_json() -> Response:
        return jsonify({"layers": context.public_layers()})

    @server.get("/api/layers/<name>.geojson")
    @guarded
    def boundary_geojson(name: str) -> Response:
        checked = checked_name(name, "layer")
        places = context.places()
        if checked not in places.boundaries:
            raise NotFoundError(f"no public boundary layer named '{name}'")
        areas = places.boundary(checked).areas[["code", "name", "geometry"]]
        text = context.view(("boundary-geojson", checked), lambda: areas.to_json(drop_id=True))
        return Response(text, mimetype="application/geo+json")

    @server.get("/api/points/<name>.geojson")
    @guarded
    def points_geojson(name: str) -> Response:
        args = request.args
        checked = checked_name(name, "layer") or ""
        places = context.places()
        stale = None
        if checked in places.points and places.point_layer(checked).meta.theme == "assets":
            stale = stale_feature_ids(context.engine, checked, days=context.settings.stale_days)
        text = views.points_geojson_text(
            places, checked, stale=stale,
            boundary=checked_name(args.get("boundary"), "boundary"), area=checked_code(args.get("area")),
            categories=checked_list(args.get("category"), "categories"),
            kinds=checked_list(args.get("kind"), "asset kinds"), period=checked_period(args.get("period")),
            bbox=checked_bbox(args.get("bbox")),
            limit=checked_int(args.get("limit"), "limit", default=views.MAX_POINTS, low=0, high=views.MAX_POINTS),
            offset=checked_int(args.get("offset"), "offset", default=0, low=0, high=10**9),
        )
        return Response(text, mimetype="application/geo+json")

    @server.get("/api/shading/<boundary>.json")
    @guarded
    def shading_json(boundary: str) -> Response:
        args = request.args
        metric = checked_name(args.get("metric"), "metric") or "points_rate"
        if metric in trend_views.TREND_METRICS:
            tables = shading_tables(context.places(), checked_name(args.get("layer"), "layer"),
                                    checked_name(boundary, "boundary") or "")
            return jsonify(trend_views.trend_shading(tables, metric).as_dict())
        result = views.shading(
            context.places(), checked_name(boundary, "boundary") or "", metric,
            layer=checked_name(args.get("layer"), "layer"), period=checked_period(args.get("period")),
            classing=checked_name(args.get("classes"), "classes") or "quintiles",
            palette=checked_name(args.get("palette"), "palette") or "yellow-green-blue",
        )
        return jsonify(result.as_dict())

    @server.get("/api/search.json")
    @guarded
    def search_json() -> Response:
        query = request.args.get("q", "")[:100]
        return jsonify({"results": views.search(context.places(), query)})

    @server.get("/healthz")
    def health() -> Response:
        try:
            ping(context.engine)
        except StoreError:
            return _error(503, "the database is not available")
        return jsonify({"status": "ok"})


def _profile_routes(server: Flask, context: AppContext) -> None:
    """An area's profile as JSON and as files, and every area of a layer as a table file."""

    @server.get("/api/profile/<boundary>/<code>.json")
    @guarded
    def profile_json(boundary: str, code: str) -> Response:
        result = _profile(context, context.places(), _profile_key(boundary, code, request.args))
        return jsonify(profile_payload(result))

    @server.get("/api/export/<boundary>/<code>.<fmt>")
    @guarded
    def export_file(boundary: str, code: str, fmt: str) -> Response:
        if fmt not in PROFILE_FORMATS:
            raise BadRequest(f"format '{fmt[:10]}' is not one of {', '.join(PROFILE_FORMATS)}")
        places = context.places()
        key = _profile_key(boundary, code, request.args)
        result = _profile(context, places, key)
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", result.name).strip("_") or result.code
        content = context.view(("export", fmt, *key), lambda: _file_bytes(
            lambda path: export_profile(result, places, fmt, path), f"{result.code}.{fmt}"))
        if fmt == "html":
            response = _send(content, f"{safe}_profile.{fmt}")
            response.headers["Content-Disposition"] = f'inline; filename="{safe}_profile.html"'
            return response
        return _send(content, f"{safe}_profile.{fmt}")

    @server.get("/api/table/<boundary>.<fmt>")
    @guarded
    def table_file(boundary: str, fmt: str) -> Response:
        from insight.analysis.area_figures import every_area_table, read_indicators
        from insight.analysis.table_export import write_every_area_table

        if boundary.endswith(".metadata") and fmt == "csv":
            boundary, fmt = boundary[: -len(".metadata")], "metadata.csv"
        elif fmt not in TABLE_FORMATS:
            raise BadRequest(f"format '{fmt[:10]}' is not one of {', '.join(TABLE_FORMATS)} (or metadata.csv)")
        args = request.args
        places = context.places()
        layer = checked_name(args.get("layer"), "layer") or default_crime_layer(places)
        checked, period = checked_name(boundary, "boundary") or "", checked_period(args.get("period"))
        data = places.boundary(checked)
        chosen = checked_list(args.get("indicators"), "indicators")

        def figures() -> tuple[pd.DataFrame, pd.DataFrame]:
            indicators = {} if chosen == ["none"] else context.view(
                ("table-indicators",), lambda: read_indicators(context.engine, places))
            try:
                found, note = context.perception_results(checked, crime_layer=layer, period=period), ""
            except InsightError as exc:
                found, note = [], f"Resident perception figures are not shown: {exc}"
            table, metadata = every_area_table(places, data, crime_layer=layer, period=period, indicators=indicators,
                                               chosen=None if chosen == ["none"] else chosen, perception=found)
            table.attrs["notes"] = " ".join(n for n in (table.attrs["notes"], note) if n)
            return table, metadata

        key = ("table", checked, layer, period, tuple(chosen or ()))

        def make() -> bytes:
            table, metadata = context.view(key, figures)
            return _file_bytes(lambda path: write_every_area_table(table, metadata, fmt, path, data.areas),
                               f"{checked}.{fmt}")

        name = f"{checked}_metadata.csv" if fmt == "metadata.csv" else f"{checked}_{layer or 'areas'}.{fmt}"
        return _send(context.view((*key, fmt), make), name)


def _perception_routes(server: Flask, context: AppContext) -> None:
    """Published resident-perception results beside recorded crime, with their benchmark."""

    @server.get("/api/perception/<boundary>.json")
    @guarded
    def perception_endpoint(boundary: str) -> Response:
        args = request.args
        checked = checked_name(boundary, "boundary") or ""
        if checked not in context.places().boundaries:
            raise NotFoundError(f"no public boundary layer named '{boundary}'")
        options = context.perception_options(checked)
        if not options:
            raise NotFoundError(f"no loaded survey places its respondents in the areas of '{boundary}'")
        first = parse_perception_metric(options[0]["value"])
        question = checked_name(args.get("question"), "question") or (first[1] if first else "")
        result = context.perception(
            checked, question, survey=checked_name(args.get("survey"), "survey"),
            crime_layer=checked_name(args.get("layer"), "layer"), period=checked_period(args.get("period")),
            wave=checked_name(args.get("wave"), "wave"),
        )
        body = perception_json(result)
        layer, found = context.benchmark(result.question)
        body["benchmark"] = {
            "source": layer.title if layer else None, "licence": layer.licence if layer else None,
            "areas": _records(found),
        }
        return jsonify(body)


def register(server: Flask, context: AppContext) -> None:
    """Add the API routes to ``server``."""
    _map_routes(server, context)
    _profile_routes(server, context)
    _perception_routes(server, context)
