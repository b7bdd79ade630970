"""The OpenAPI 3.0 description of ``/ogc`` (OGC API - Features Part 1 requires one): paths, parameters, schemas."""
from __future__ import annotations

from typing import Any

from insight.analysis.ogc import DEFAULT_LIMIT, MAX_LIMIT

Json = dict[str, Any]
GEOJSON = "application/geo+json"
JSON = "application/json"
_INSTANT = r"(\d{4}-\d{2}(-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?)?|\.\.)?"
_DATETIME = f"^{_INSTANT}(/{_INSTANT})?$"


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _schemas() -> Json:
    link = {"type": "object", "required": ["href"], "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
        "title": {"type": "string"}}}
    links = {"type": "array", "items": _ref("link")}
    feature = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "geometry": {"type": "object", "nullable": True, "required": ["type"],
                     "properties": {"type": {"type": "string"}}},
        "properties": {"type": "object", "nullable": True},
        "links": links}}
    return {
        "link": link,
        "exception": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string"}, "description": {"type": "string"}}},
        "landingPage": {"type": "object", "required": ["links"], "properties": {
            "title": {"type": "string"}, "description": {"type": "string"}, "links": links}},
        "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
            "conformsTo": {"type": "array", "items": {"type": "string"}}}},
        "collection": {"type": "object", "required": ["id", "links"], "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
            "itemType": {"type": "string"}, "crs": {"type": "array", "items": {"type": "string"}},
            "links": links,
            "extent": {"type": "object", "properties": {
                "spatial": {"type": "object", "properties": {
                    "bbox": {"type": "array", "items": {"type": "array", "minItems": 4, "maxItems": 6,
                                                        "items": {"type": "number"}}},
                    "crs": {"type": "string"}}},
                "temporal": {"type": "object", "properties": {
                    "interval": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                                            "items": {"type": "string", "nullable": True}}}}}}}}},
        "collections": {"type": "object", "required": ["links", "collections"], "properties": {
            "links": links, "collections": {"type": "array", "items": _ref("collection")}}},
        "feature": feature,
        "featureCollection": {"type": "object", "required": ["type", "features"], "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _ref("feature")},
            "numberMatched": {"type": "integer", "minimum": 0}, "numberReturned": {"type": "integer", "minimum": 0},
            "timeStamp": {"type": "string", "format": "date-time"}, "links": links}},
    }


def _answer(description: str, schema: str, kind: str = JSON) -> Json:
    return {"description": description, "content": {kind: {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> Json:
    words = {400: "A parameter is not valid (the description says which and why).",
             404: "No such collection or feature."}
    return {str(s): _answer(words[s], "exception") for s in statuses}


def _parameters(ids: list[str]) -> Json:
    collection = {"type": "string", "enum": ids} if ids else {"type": "string"}
    return {
        "collectionId": {"name": "collectionId", "in": "path", "required": True, "schema": collection,
                         "description": "A collection (public layer) name."},
        "featureId": {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"},
                      "description": "An area code (boundary layers) or a point's number (point layers)."},
        "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
                 "description": "Only features in this box: min longitude, min latitude, max longitude, max latitude "
                                "(CRS84).",
                 "schema": {"type": "array", "minItems": 4, "maxItems": 4,
                            "items": {"type": "number", "minimum": -180, "maximum": 180}}},
        "limit": {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
                  "description": "How many features a page holds.",
                  "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        "offset": {"name": "offset", "in": "query", "required": False,
                   "description": "How many matching features to skip (the paging links set it).",
                   "schema": {"type": "integer", "minimum": 0, "default": 0}},
        "datetime": {"name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
                     "description": "A date, or 'start/end' with '..' for an open end; matched by month.",
                     "schema": {"type": "string", "pattern": _DATETIME}},
        "category": {"name": "category", "in": "query", "required": False,
                     "description": "Only points of this category (e.g. Burglary).",
                     "schema": {"type": "string", "maxLength": 100, "pattern": "^[^\\x00-\\x1f]*$"}},
    }


def _get(summary: str, operation: str, responses: Json, parameters: list[str] | None = None) -> Json:
    body: Json = {"summary": summary, "operationId": operation, "responses": responses}
    if parameters:
        body["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in parameters]
    return {"get": body}


def openapi_document(base: str, ids: list[str]) -> Json:
    """The API definition for the collections ``ids``, served at ``{base}/openapi.json``."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Local Insight open data (OGC API - Features)", "version": "1.0.0",
                 "description": "Public layers as GeoJSON, in CRS84. Licences are in each collection's description."},
        "servers": [{"url": base}],
        "paths": {
            "/": _get("Landing page", "getLandingPage", {"200": _answer("The landing page", "landingPage")}),
            "/conformance": _get("Conformance classes", "getConformance",
                                 {"200": _answer("The conformance classes", "confClasses")}),
            "/collections": _get("Collections", "getCollections",
                                 {"200": _answer("Every public collection", "collections")}),
            "/collections/{collectionId}": _get(
                "One collection", "describeCollection",
                {"200": _answer("The collection", "collection"), **_errors(400, 404)}, ["collectionId"]),
            "/collections/{collectionId}/items": _get(
                "A page of a collection's features", "getFeatures",
                {"200": _answer("The features", "featureCollection", GEOJSON), **_errors(400, 404)},
                ["collectionId", "bbox", "limit", "offset", "datetime", "category"]),
            "/collections/{collectionId}/items/{featureId}": _get(
                "One feature", "getFeature",
                {"200": _answer("The feature", "feature", GEOJSON), **_errors(400, 404)},
                ["collectionId", "featureId"]),
        },
        "components": {"schemas": _schemas(), "parameters": _parameters(ids)},
    }
