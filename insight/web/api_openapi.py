"""The OpenAPI 3.0 description of ``/api`` and a plain page that documents it, served from this site.

The layer and boundary names in the description are the loaded public ones, so generated clients
and schemathesis only try names that exist; everything else a parameter may hold is described
with the same limits the routes check.
"""
from __future__ import annotations

import json
from html import escape
from typing import Any

from flask import Flask, Response

from insight.analysis.places import Places
from insight.web.context import AppContext

Json = dict[str, Any]
MAX_POINTS = 20_000
_PERIOD = r"^\d{4}-\d{2}:\d{4}-\d{2}$"
_NAME = r"^[A-Za-z0-9_.:-]{1,80}$"


def _param(name: str, where: str, schema: Json, description: str, required: bool = False) -> Json:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


def _enum(values: list[str]) -> Json:
    return {"type": "string", "enum": values} if values else {"type": "string", "pattern": _NAME}


def _ok(kind: str, schema: Json, description: str) -> Json:
    return {"description": description, "content": {kind: {"schema": schema}}}


def _operation(summary: str, parameters: list[Json], ok: Json, errors: tuple[int, ...] = (400, 404)) -> Json:
    words = {400: "A parameter is not valid: the message says which and why.",
             404: "No such layer, area or boundary: the message lists what there is.",
             413: "The request is too large: the message gives the limit.",
             429: "Too many new areas from this address in the last hour: the message says when to try again.",
             503: "The database is not available right now."}
    responses: Json = {"200": ok}
    for status in errors:
        responses[str(status)] = _ok("application/json", {"$ref": "#/components/schemas/error"}, words[status])
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def _object(*required: str) -> Json:
    return {"type": "object", "required": list(required)}


def _common(places: Places) -> dict[str, Json]:
    boundaries, points = sorted(places.boundaries), sorted(places.points)
    period = {"type": "string", "pattern": _PERIOD}
    return {
        "boundary": _param("boundary", "path", _enum(boundaries), "A boundary layer, e.g. wards_2022."),
        "points": _param("name", "path", _enum(points), "A point layer, e.g. a crime layer."),
        "code": _param("code", "path", {"type": "string", "pattern": r"^[A-Za-z0-9 ._'-]{1,80}$"},
                       "An area's code (or its name)."),
        "layer": _param("layer", "query", _enum(points), "The crime layer the figures use (default: the latest)."),
        "period": _param("period", "query", period, "Months 'YYYY-MM:YYYY-MM' (default: the latest 12)."),
        "comparator": _param("comparator", "query", {"type": "string", "pattern": _NAME},
                             "What to compare with: borough (default), average, or boundary:code."),
    }


def _paths(places: Places) -> Json:
    c = _common(places)
    geojson = "application/geo+json"
    bbox = _param("bbox", "query", {"type": "string"}, "min lon,min lat,max lon,max lat (EPSG:4326).")
    limit = _param("limit", "query", {"type": "integer", "minimum": 0, "maximum": MAX_POINTS},
                   f"Points a page holds (at most {MAX_POINTS:,}).")
    offset = _param("offset", "query", {"type": "integer", "minimum": 0}, "Points to skip (paging).")
    files = {"type": "string", "format": "binary"}
    return {
        "/layers.json": _operation("The public layers with their sources and licences", [],
                                   _ok("application/json", _object("layers"), "The layers"), ()),
        "/layers/{boundary}.geojson": _operation("A boundary layer's areas", [c["boundary"]],
                                                 _ok(geojson, _object("type", "features"), "The areas")),
        "/points/{name}.geojson": _operation(
            "A point layer's points, filtered and paged",
            [c["points"], c["period"], bbox, limit, offset,
             _param("category", "query", {"type": "string", "maxLength": 200}, "Categories, comma-separated."),
             _param("boundary", "query", _enum(sorted(places.boundaries)), "With area: points in one area."),
             _param("area", "query", {"type": "string", "maxLength": 80}, "An area code of boundary.")],
            _ok(geojson, _object("type", "features", "total", "truncated"), "The points")),
        "/shading/{boundary}.json": _operation(
            "One figure for every area, with classes and a legend",
            [c["boundary"], c["layer"], c["period"],
             _param("metric", "query", {"type": "string", "pattern": _NAME}, "The figure (default points_rate).")],
            _ok("application/json", _object("values"), "The shading")),
        "/search.json": _operation(
            "Areas, places and postcodes whose name matches",
            [_param("q", "query", {"type": "string", "maxLength": 100}, "Part of a name, or a postcode.")],
            _ok("application/json", _object("results"), "What matched"), ()),
        "/profile/{boundary}/{code}.json": _operation(
            "An area's profile: every figure beside its comparator",
            [c["boundary"], c["code"], c["comparator"], c["layer"], c["period"]],
            _ok("application/json", _object("code", "name", "figures"), "The profile")),
        "/table/{boundary}.{fmt}": _operation(
            "Every area of a boundary layer in one table file",
            [c["boundary"], _param("fmt", "path", {"type": "string", "enum": ["csv", "xlsx", "json", "gpkg"]},
                                   "Format (gpkg: the areas' outlines with the table's columns)."),
             c["layer"], c["period"],
             _param("indicators", "query", {"type": "string", "maxLength": 400},
                    "Indicator layers to add, comma-separated, or 'none' (default: every loaded one).")],
            {"description": "The file (json: {about, columns, areas}; /api/table/{boundary}.metadata.csv: "
                            "what each column means)", "content": {
                "text/csv": {"schema": files},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": files},
                "application/geopackage+sqlite3": {"schema": files},
                "application/json": {"schema": {"oneOf": [{"type": "array"}, {"type": "object"}]}}}}),
    }


def _custom_paths(places: Places) -> Json:
    c = _common(places)
    body = {"type": "object", "required": ["geometry"], "properties": {
        "geometry": {"type": "object", "description": "A GeoJSON Polygon or MultiPolygon (or a Feature holding one)."},
        "name": {"type": "string", "maxLength": 120},
        "comparator": c["comparator"]["schema"], "layer": c["layer"]["schema"], "period": c["period"]["schema"]}}
    operation = _operation(
        "The profile of an area you send as GeoJSON: every figure beside its comparator, with a link to share",
        [], _ok("application/json", _object("id", "url", "figures"), "The area's profile"), (400, 413, 429))
    operation["post"] = operation.pop("get")
    operation["post"]["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {"/profile/custom.json": operation}


def _trend_paths(places: Places) -> Json:
    c = _common(places)
    month = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
    extra = {
        "trends": [c["period"]],
        "forecast": [_param("until", "query", month, "Use only data up to this month (YYYY-MM)."),
                     _param("horizon", "query", {"type": "integer", "minimum": 1, "maximum": 36},
                            "Months ahead (default 12).")],
        "backtest": [_param("horizon", "query", {"type": "integer", "minimum": 1, "maximum": 36},
                            "Longest horizon tested (default 24)."),
                     _param("step", "query", {"type": "integer", "minimum": 1, "maximum": 24},
                            "Months between forecast origins (default 1).")],
        "warnings": [_param("window", "query", {"type": "integer", "minimum": 1, "maximum": 12},
                            "Recent months compared with what was expected (default 3).")],
    }
    words = {"trends": "Each area's trend (% a year) with its interval",
             "forecast": "Forecasts per area and month with 80% and 95% intervals",
             "backtest": "Forecast accuracy on past data against simple rules",
             "warnings": "Areas rising faster than expected, with the evidence"}
    fmt = _param("fmt", "path", {"type": "string", "enum": ["csv", "xlsx", "json"]}, "Format.")
    category = _param("category", "query", {"type": "string", "maxLength": 80}, "One category (default all).")
    content = {"text/csv": {"schema": {"type": "string"}},
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                   "schema": {"type": "string", "format": "binary"}},
               "application/json": {"schema": _object("metadata", "rows")}}
    return {
        f"/{kind}/{{boundary}}.{{fmt}}": _operation(
            words[kind], [c["boundary"], fmt, c["layer"], category, *params],
            {"description": "The table, with its method, period and source", "content": content})
        for kind, params in extra.items()
    }


def api_document(places: Places) -> Json:
    """The definition of ``/api`` for the loaded public layers."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Local Insight API", "version": "1.0.0",
                 "description": "Figures, areas and points of the public layers. No account needed. Errors are "
                                "JSON {\"error\": ...} in plain words. The open directory is at /oruk/ (Open "
                                "Referral UK) and the layers as OGC API - Features at /ogc."},
        "servers": [{"url": "/api"}],
        "paths": _paths(places) | _custom_paths(places) | _trend_paths(places),
        "components": {"schemas": {"error": {"type": "object", "required": ["error"],
                                             "properties": {"error": {"type": "string"}}}}},
    }


def docs_page(document: Json) -> str:
    """A plain HTML page that documents every operation of ``document`` (no scripts, nothing from elsewhere)."""
    rows = []
    for path, item in document["paths"].items():
        method, op = next(iter(item.items()))
        params = "".join(
            f"<li><code>{escape(p['name'])}</code> ({escape(p['in'])}{', required' if p['required'] else ''}): "
            f"{escape(p['description'])}</li>" for p in op["parameters"])
        rows.append(f"<section><h2><code>{method.upper()} /api{escape(path)}</code></h2><p>{escape(op['summary'])}.</p>"
                    + (f"<ul>{params}</ul>" if params else "<p>No parameters.</p>") + "</section>")
    info = document["info"]
    return ("<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\"><title>API documentation – Local Insight</title>"
            "<link rel=\"stylesheet\" href=\"/assets/pages.css\"></head><body><main id=\"main\">"
            f"<h1>{escape(info['title'])}</h1><p>{escape(info['description'])}</p>"
            "<p>The machine-readable definition is <a href=\"/api/openapi.json\">/api/openapi.json</a> "
            "(OpenAPI 3.0).</p>" + "".join(rows) + "<p><a href=\"/\">Back to the map</a></p></main></body></html>")


def register(server: Flask, context: AppContext) -> None:
    """Serve the definition at ``/api/openapi.json`` and its page at ``/api/docs``."""

    @server.get("/api/openapi.json")
    def api_openapi() -> Response:
        document = context.view(("api-openapi",), lambda: api_document(context.places()))
        return Response(json.dumps(document), mimetype="application/vnd.oai.openapi+json;version=3.0")

    @server.get("/api/docs")
    def api_docs() -> Response:
        page = context.view(("api-docs",), lambda: docs_page(api_document(context.places())))
        return Response(page, mimetype="text/html")
