"""OGC API - Features at ``/ogc``: landing page, conformance, collections, items, one item, OpenAPI 3.0.

Anonymous read of the public layers, open to other sites (``Access-Control-Allow-Origin: *``).
Every error is a JSON exception ``{"code", "description"}`` with a 4xx status: a query parameter
the API does not define is refused, as Part 1 requires, so a typing mistake is never silently
ignored. The documents come from :mod:`insight.analysis.ogc`.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

from insight.analysis import ogc
from insight.errors import BadRequest, InsightError, http_status
from insight.web.api import checked_bbox, checked_int, checked_name
from insight.web.context import AppContext
from insight.web.ogc_openapi import openapi_document

BASE = "/ogc"
ITEM_PARAMETERS = {"bbox", "limit", "offset", "datetime", "category", "f"}
PLAIN_PARAMETERS = {"f"}
_NAMES = {400: "InvalidParameterValue", 404: "NotFound", 503: "ServiceUnavailable"}


def _json(body: dict[str, Any], kind: str = "application/json", status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.mimetype = kind
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _exception(status: int, message: str) -> Response:
    return _json({"code": _NAMES.get(status, "Error"), "description": message}, status=status)


def _checked_args(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(u[:30] for u in unknown)}: this endpoint takes "
                         f"{', '.join(sorted(allowed))}")
    if request.args.get("f", "json") not in ("json", "geojson"):
        raise BadRequest("f must be json (or geojson for features): no other format is offered")


def _guarded(fn: Callable[..., Response]) -> Callable[..., Response]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except InsightError as exc:
            return _exception(http_status(exc), str(exc))

    return wrapper


def _items_query() -> tuple[ogc.ItemsQuery, str]:
    """The checked items parameters and the query string the paging links repeat."""
    _checked_args(ITEM_PARAMETERS)
    args = request.args
    query = ogc.ItemsQuery(
        bbox=checked_bbox(args.get("bbox")), months=ogc.parse_datetime(args.get("datetime")),
        category=_category(args.get("category")),
        limit=checked_int(args.get("limit"), "limit", default=ogc.DEFAULT_LIMIT, low=1, high=ogc.MAX_LIMIT),
        offset=checked_int(args.get("offset"), "offset", default=0, low=0, high=10**9),
    )
    kept = {k: args[k] for k in ("bbox", "datetime", "category") if args.get(k)}
    return query, ("&" + urlencode(kept)) if kept else ""


def _category(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 100 or any(ord(c) < 32 for c in value):
        raise BadRequest("category must be a category name of at most 100 characters")
    return value


def register(server: Flask, context: AppContext) -> None:
    """Add the OGC API - Features routes to ``server``."""

    @server.get(BASE)
    @server.get(f"{BASE}/")
    @_guarded
    def ogc_landing() -> Response:
        _checked_args(PLAIN_PARAMETERS)
        return _json(ogc.landing(BASE, "Local Insight open data"))

    @server.get(f"{BASE}/conformance")
    @_guarded
    def ogc_conformance() -> Response:
        _checked_args(PLAIN_PARAMETERS)
        return _json(ogc.conformance())

    @server.get(f"{BASE}/openapi.json")
    @_guarded
    def ogc_openapi() -> Response:
        _checked_args(PLAIN_PARAMETERS)
        ids = ogc.collection_ids(context.places())
        return _json(openapi_document(BASE, ids), kind="application/vnd.oai.openapi+json;version=3.0")

    @server.get(f"{BASE}/collections")
    @_guarded
    def ogc_collections() -> Response:
        _checked_args(PLAIN_PARAMETERS)
        return _json(ogc.collections(context.places(), BASE))

    @server.get(f"{BASE}/collections/<name>")
    @_guarded
    def ogc_collection(name: str) -> Response:
        _checked_args(PLAIN_PARAMETERS)
        return _json(ogc.collection(context.places(), BASE, checked_name(name, "collection") or ""))

    @server.get(f"{BASE}/collections/<name>/items")
    @_guarded
    def ogc_items(name: str) -> Response:
        query, extra = _items_query()
        body = ogc.items(context.places(), BASE, checked_name(name, "collection") or "", query, extra)
        return _json(body, kind="application/geo+json")

    @server.get(f"{BASE}/collections/<name>/items/<feature_id>")
    @_guarded
    def ogc_item(name: str, feature_id: str) -> Response:
        _checked_args(PLAIN_PARAMETERS)
        body = ogc.item(context.places(), BASE, checked_name(name, "collection") or "", feature_id)
        return _json(body, kind="application/geo+json")
