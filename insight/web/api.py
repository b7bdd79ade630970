"""JSON, GeoJSON and file endpoints on the Flask server: the map and pages load their data from here.

Every parameter is untrusted: each is validated and a bad one gets a 400 with a readable
message; an unknown layer or area gets a 404; a store that cannot be reached, a 503.
"""
from __future__ import annotations

import re
import tempfile
import threading
import time
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

import pandas as pd
from flask import Flask, Response, jsonify, request, send_file

from insight.config import Settings
from insight.errors import ConfigError, InsightError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9_:.\-]{1,100}$")
_CODE = re.compile(r"^[A-Za-z0-9_ ,.'()&\-]{1,120}$")
REFRESH_SECONDS = 5.0


class AppContext:
    """What pages and endpoints share: settings, a lazily opened store and a cached snapshot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._places = None
        self._signature = None
        self._checked = 0.0
        self._surveys = None
        self._derived: dict = {}

    @cached_property
    def engine(self):
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

    def places(self):
        """The snapshot, re-read when a layer has been loaded since (checked every few seconds)."""
        from insight.analysis.places import load_places
        from insight.store import layer_summaries

        with self._lock:
            now = time.monotonic()
            if self._places is None or now - self._checked > REFRESH_SECONDS:
                signature = tuple((s.name, s.loaded_at) for s in layer_summaries(self.engine))
                if signature != self._signature:
                    self._places = load_places(self.engine)
                    self._signature = signature
                    self._surveys, self._derived = None, {}
                self._checked = now
            return self._places


    def surveys(self) -> list:  # list[insight.analysis.perception.SurveyData]
        """Loaded survey layers with their respondents: restricted, kept on the server for aggregates only."""
        from insight.analysis.perception import read_surveys
        from insight.layers import load_specs
        from insight.store import layer_summaries

        self.places()
        with self._lock:
            if self._surveys is None:
                self._surveys = read_surveys(self.engine, load_specs(self.settings.layers_dir),
                                             layer_summaries(self.engine))
            return self._surveys

    def perception_options(self, boundary: str) -> list[dict]:
        """Map shading choices for survey questions whose respondents can be placed in ``boundary``'s areas."""
        from insight.analysis.perception import area_column

        places = self.places()
        if boundary not in places.boundaries:
            return []
        codes = places.boundary(boundary).areas["code"]
        return [
            {"value": perception_metric(survey.layer.name, q.id),
             "label": f"Resident perception{' (ILLUSTRATIVE)' if survey.illustrative else ''}: {q.reported_label} "
                      f"({q.id.replace('_', ' ')}) against recorded crime"}
            for survey in self.surveys() if area_column(survey.respondents, codes) is not None
            for q in survey.spec.questions
        ]

    def perception(self, boundary: str, question: str, *, survey: str | None = None, crime_layer: str | None = None,
                   period: tuple[int, int] | None = None, wave: str | None = None):
        """Published perception results for a boundary layer (cached with the snapshot)."""
        from insight.analysis.perception import perception

        surveys = self.surveys()
        if not surveys:
            raise NotFoundError("no resident survey is loaded")
        chosen = next((s for s in surveys if s.layer.name == survey), None) if survey else surveys[0]
        if chosen is None:
            raise NotFoundError(f"no survey layer '{survey}' (surveys: {', '.join(s.layer.name for s in surveys)})")
        places = self.places()
        key = (chosen.layer.name, boundary, question, crime_layer, period, wave)
        if key not in self._derived:
            self._derived[key] = perception(places, chosen, question, boundary, crime_layer=crime_layer,
                                               period=period, wave=wave)
        return self._derived[key]

    def benchmark(self, question) -> tuple:
        """The published results a survey question names as its benchmark (public indicator values) and their layer."""
        from insight.analysis.perception import benchmark_layer, benchmark_rows
        from insight.store import read_indicator_values

        named = benchmark_layer(question)
        places = self.places()
        if named is None or named[0] not in places.layers:
            return None, benchmark_rows(pd.DataFrame(), question)
        key = ("benchmark", named[0])
        if key not in self._derived:
            self._derived[key] = read_indicator_values(self.engine, named[0])
        found = benchmark_rows(self._derived[key], question)
        return (places.layers[named[0]] if len(found) else None), found

    def perception_results(self, boundary: str, **kw) -> list:
        """Every question's results for a boundary layer whose codes respondents are placed by (else none)."""
        chosen = [parse_perception_metric(o["value"]) for o in self.perception_options(boundary)]
        return [self.perception(boundary, question, survey=survey, **kw) for survey, question in chosen]

    def with_surveys(self, result, *, crime_layer: str | None = None,
                     period: tuple[int, int] | None = None):
        """The profile with the resident-perception rows for its area, when a survey covers its boundary."""
        from dataclasses import replace

        from insight.analysis.perception import with_perception

        if result.boundary.meta.area_type == "drawn":
            return result
        try:
            found = self.perception_results(result.boundary.meta.name, crime_layer=crime_layer, period=period)
        except InsightError as exc:
            return replace(result, notes=[*result.notes, f"Resident perception figures are not shown: {exc}"])
        return with_perception(result, found)


PERCEPTION_METRIC = "perception:"


def perception_metric(survey: str, question: str) -> str:
    """The map's shading choice for a survey question: 'perception:SURVEY_LAYER:QUESTION'."""
    return f"{PERCEPTION_METRIC}{survey}:{question}"


def parse_perception_metric(value: str) -> tuple[str, str] | None:
    """(survey layer, question) from a shading choice made by :func:`perception_metric`; None for other figures."""
    if not value.startswith(PERCEPTION_METRIC):
        return None
    survey, _, question = value[len(PERCEPTION_METRIC):].partition(":")
    return survey, question


def perception_json(result) -> dict:
    """The published perception table as JSON: aggregates only, withheld values as null."""
    from insight.analysis.perception import TABLE_COLUMNS

    areas = result.areas[[c for c in TABLE_COLUMNS if c in result.areas]]
    return {
        "title": result.title, "illustrative": result.survey.illustrative, "survey": result.survey.layer.name,
        "survey_title": result.survey.title, "question": result.question.id, "question_text": result.question.text,
        "reported_label": result.question.reported_label, "boundary": result.boundary, "wave": result.wave,
        "waves": result.waves, "crime_measure": result.crime_label, "crime_period": result.crime_period,
        "crime_source": result.crime_source, "method": result.method, "rule": result.rule, "notes": result.notes,
        "borough": result.borough,
        "areas": areas.astype(object).where(areas.notna(), None).to_dict("records"),
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
        raise ConfigError(f"{what} '{value[:40]}' is not a valid name")
    return value


def checked_code(value: str | None, what: str = "area") -> str | None:
    if value is None or value == "":
        return None
    if not _CODE.match(value):
        raise ConfigError(f"{what} '{value[:40]}' is not a valid code or name")
    return value


def checked_list(value: str | None, what: str) -> list[str] | None:
    if not value:
        return None
    items = [v for v in value.split(",") if v]
    if len(items) > 50:
        raise ConfigError(f"too many {what} (at most 50)")
    return [checked_code(v, what) for v in items]


def checked_period(value: str | None) -> tuple[int, int] | None:
    from insight.analysis.profiles import parse_period

    return parse_period(value) if value else None


def guarded(fn):
    """Turn the package's errors into JSON responses with the right status."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotFoundError as exc:
            return _error(404, str(exc))
        except ConfigError as exc:
            return _error(400, str(exc))
        except InsightError as exc:
            return _error(503, str(exc))

    wrapper.__name__ = fn.__name__
    return wrapper


def register(server: Flask, context: AppContext) -> None:
    """Add the API routes to ``server``."""
    from insight.analysis import views
    from insight.analysis.export import PROFILE_FORMATS, TABLE_FORMATS, export_profile, export_table, profile_frame
    from insight.analysis.profiles import layer_table, profile

    @server.get("/api/layers.json")
    @guarded
    def layers_json() -> Response:
        return jsonify({"layers": context.public_layers()})

    @server.get("/api/layers/<name>.geojson")
    @guarded
    def boundary_geojson(name: str) -> Response:
        name = checked_name(name, "layer")
        places = context.places()
        if name not in places.boundaries:
            raise NotFoundError(f"no public boundary layer named '{name}'")
        areas = places.boundary(name).areas[["code", "name", "geometry"]]
        return Response(areas.to_json(drop_id=True), mimetype="application/geo+json")

    @server.get("/api/points/<name>.geojson")
    @guarded
    def points_geojson(name: str) -> Response:
        args = request.args
        name = checked_name(name, "layer")
        places = context.places()
        stale = None
        if name in places.points and places.point_layer(name).meta.theme == "assets":
            from insight.partner.versions import stale_feature_ids

            stale = stale_feature_ids(context.engine, name, days=context.settings.stale_days)
        text = views.points_geojson_text(
            places, name, stale=stale,
            boundary=checked_name(args.get("boundary"), "boundary"), area=checked_code(args.get("area")),
            categories=checked_list(args.get("category"), "categories"),
            kinds=checked_list(args.get("kind"), "asset kinds"), period=checked_period(args.get("period")),
        )
        return Response(text, mimetype="application/geo+json")

    @server.get("/api/shading/<boundary>.json")
    @guarded
    def shading_json(boundary: str) -> Response:
        args = request.args
        metric = checked_name(args.get("metric"), "metric") or "points_rate"
        result = views.shading(
            context.places(), checked_name(boundary, "boundary"), metric,
            layer=checked_name(args.get("layer"), "layer"), period=checked_period(args.get("period")),
            classing=checked_name(args.get("classes"), "classes") or "quintiles",
            palette=checked_name(args.get("palette"), "palette") or "yellow-green-blue",
        )
        return jsonify(result.as_dict())

    @server.get("/api/profile/<boundary>/<code>.json")
    @guarded
    def profile_json(boundary: str, code: str) -> Response:
        args = request.args
        result = profile(
            context.places(), checked_name(boundary, "boundary"), checked_code(code),
            comparator=checked_name(args.get("comparator"), "comparator") or "borough",
            crime_layer=checked_name(args.get("layer"), "layer"), period=checked_period(args.get("period")),
        )
        result = context.with_surveys(result, crime_layer=checked_name(args.get("layer"), "layer"),
                                      period=checked_period(args.get("period")))
        frame = profile_frame(result)
        return jsonify({
            "code": result.code, "name": result.name, "boundary": result.boundary.meta.name,
            "boundary_title": result.boundary.meta.title, "comparator": result.comparator,
            "figures": frame.astype(object).where(frame.notna(), None).to_dict("records"),
            "monthly": result.monthly.to_dict("records"), "notes": result.notes,
            "assets": result.assets.astype(object).where(result.assets.notna(), None).to_dict("records"),
        })

    @server.get("/api/export/<boundary>/<code>.<fmt>")
    @guarded
    def export_file(boundary: str, code: str, fmt: str) -> Response:
        if fmt not in PROFILE_FORMATS:
            raise ConfigError(f"format '{fmt[:10]}' is not one of {', '.join(PROFILE_FORMATS)}")
        places = context.places()
        args = request.args
        result = profile(
            places, checked_name(boundary, "boundary"), checked_code(code),
            comparator=checked_name(args.get("comparator"), "comparator") or "borough",
            crime_layer=checked_name(args.get("layer"), "layer"), period=checked_period(args.get("period")),
        )
        result = context.with_surveys(result, crime_layer=checked_name(args.get("layer"), "layer"),
                                      period=checked_period(args.get("period")))
        tmp = Path(tempfile.mkdtemp()) / f"{result.code}.{fmt}"
        export_profile(result, places, fmt, tmp)
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", result.name).strip("_") or result.code
        return send_file(tmp, as_attachment=True, download_name=f"{safe}_profile.{fmt}")

    @server.get("/api/table/<boundary>.<fmt>")
    @guarded
    def table_file(boundary: str, fmt: str) -> Response:
        if fmt not in TABLE_FORMATS:
            raise ConfigError(f"format '{fmt[:10]}' is not one of {', '.join(TABLE_FORMATS)}")
        args = request.args
        layer = checked_name(args.get("layer"), "layer")
        places = context.places()
        if layer is None:
            from insight.analysis.profiles import default_crime_layer

            layer = default_crime_layer(places)
        table = layer_table(places, checked_name(boundary, "boundary"), layer, period=checked_period(args.get("period")))
        tmp = Path(tempfile.mkdtemp()) / f"{boundary}.{fmt}"
        export_table(table, fmt, tmp)
        return send_file(tmp, as_attachment=True, download_name=f"{boundary}_{layer}.{fmt}")

    @server.get("/api/perception/<boundary>.json")
    @guarded
    def perception_endpoint(boundary: str) -> Response:
        args = request.args
        boundary = checked_name(boundary, "boundary")
        if boundary not in context.places().boundaries:
            raise NotFoundError(f"no public boundary layer named '{boundary}'")
        options = context.perception_options(boundary)
        if not options:
            raise NotFoundError(f"no loaded survey places its respondents in the areas of '{boundary}'")
        question = checked_name(args.get("question"), "question") or parse_perception_metric(options[0]["value"])[1]
        result = context.perception(
            boundary, question, survey=checked_name(args.get("survey"), "survey"),
            crime_layer=checked_name(args.get("layer"), "layer"), period=checked_period(args.get("period")),
            wave=checked_name(args.get("wave"), "wave"),
        )
        body = perception_json(result)
        layer, found = context.benchmark(result.question)
        body["benchmark"] = {
            "source": layer.title if layer else None, "licence": layer.licence if layer else None,
            "areas": found.astype(object).where(found.notna(), None).to_dict("records"),
        }
        return jsonify(body)

    @server.get("/api/search.json")
    @guarded
    def search_json() -> Response:
        query = request.args.get("q", "")[:100]
        return jsonify({"results": views.search(context.places(), query)})

    @server.get("/healthz")
    @guarded
    def health() -> Response:
        context.engine
        return jsonify({"status": "ok"})
