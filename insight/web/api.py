"""JSON and GeoJSON endpoints on the Flask server: the map loads its data by URL from here."""
from __future__ import annotations

from dataclasses import asdict
from functools import cached_property

from flask import Flask, Response, jsonify

from insight.config import Settings
from insight.errors import InsightError, NotFoundError


class AppContext:
    """What the pages and endpoints share: settings and a lazily opened store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self):  # noqa: ANN201 - SQLAlchemy Engine
        from insight.store import check_connection, make_engine

        engine = make_engine(self.settings)
        check_connection(engine)
        return engine

    def public_layers(self) -> list[dict]:
        from insight.store import layer_summaries

        return [
            {**asdict(s), "loaded_at": s.loaded_at.isoformat()}
            for s in layer_summaries(self.engine)
            if s.sensitivity == "public"
        ]


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def register(server: Flask, context: AppContext) -> None:
    """Add the API routes to ``server``."""

    @server.get("/api/layers.json")
    def layers_json() -> Response:
        try:
            return jsonify({"layers": context.public_layers()})
        except InsightError as exc:
            return _error(503, str(exc))

    @server.get("/api/layers/<name>.geojson")
    def boundary_geojson(name: str) -> Response:
        from insight.store import read_areas

        try:
            public = {l["name"]: l for l in context.public_layers()}
            if name not in public or public[name]["kind"] != "boundary":
                raise NotFoundError(f"no public boundary layer named '{name}'")
            areas = read_areas(context.engine, name)
        except NotFoundError as exc:
            return _error(404, str(exc))
        except InsightError as exc:
            return _error(503, str(exc))
        areas = areas.drop(columns=["properties"])
        return Response(areas.to_json(drop_id=True), mimetype="application/geo+json")

    @server.get("/healthz")
    def health() -> Response:
        try:
            context.engine
            return jsonify({"status": "ok"})
        except InsightError as exc:
            return _error(503, str(exc))

