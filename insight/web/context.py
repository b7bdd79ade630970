"""The app context: settings, a lazily opened store and a cached snapshot, shared by pages and endpoints.

:func:`create_app <insight.web.create_app>` builds one :class:`AppContext` from the settings it is
given and keeps it in the Flask config; layouts, callbacks and routes reach it through
:func:`context` (they run inside a request).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import cached_property
from typing import Any, TypeVar

import pandas as pd
from dash import html
from flask import Flask, current_app

from insight.analysis.perception import (
    PerceptionResult,
    SurveyData,
    area_column,
    benchmark_layer,
    benchmark_rows,
    perception,
    read_surveys,
    with_perception,
)
from insight.analysis.places import BoundaryData, Places, load_places
from insight.analysis.profiles import Profile, drawn_boundary, profile
from insight.analysis.views import default_boundary
from insight.config import Settings
from insight.errors import InsightError, NotFoundError
from insight.layers import load_specs
from insight.sources.survey_spec import Question
from insight.store import Engine, check_connection, layer_summaries, make_engine, read_indicator_values
from insight.store.custom_areas import CustomArea, get_custom_area
from insight.web.components import unavailable

CONTEXT_KEY = "INSIGHT_CONTEXT"
REFRESH_SECONDS = 5.0
VIEWS_KEPT = 256
VIEW_WAIT_SECONDS = 60.0
T = TypeVar("T")
PERCEPTION_METRIC = "perception:"
CUSTOM_BOUNDARY = "custom"


def perception_metric(survey: str, question: str) -> str:
    """The map's shading choice for a survey question: 'perception:SURVEY_LAYER:QUESTION'."""
    return f"{PERCEPTION_METRIC}{survey}:{question}"


def parse_perception_metric(value: str) -> tuple[str, str] | None:
    """(survey layer, question) from a shading choice made by :func:`perception_metric`; None for other figures."""
    if not value.startswith(PERCEPTION_METRIC):
        return None
    survey, _, question = value[len(PERCEPTION_METRIC):].partition(":")
    return survey, question


class AppContext:
    """What pages and endpoints share: settings, a lazily opened store and a cached snapshot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._places: Places | None = None
        self._signature: tuple | None = None
        self._checked = 0.0
        self._surveys: list[SurveyData] | None = None
        self._derived: dict[tuple, Any] = {}
        self._views: OrderedDict[tuple, Any] = OrderedDict()
        self._computing: dict[tuple, threading.Event] = {}

    @cached_property
    def engine(self) -> Engine:
        """The store, opened and checked on first use."""
        engine = make_engine(self.settings)
        check_connection(engine)
        return engine

    def close(self) -> None:
        """Close the store's connections, if it was opened (it opens again on next use)."""
        engine = self.__dict__.pop("engine", None)
        if engine is not None:
            engine.dispose()

    def public_layers(self) -> list[dict]:
        """Every public layer's summary as JSON-ready values."""
        return [
            {**asdict(s), "loaded_at": s.loaded_at.isoformat()}
            for s in layer_summaries(self.engine)
            if s.sensitivity == "public"
        ]

    def places(self) -> Places:
        """The snapshot, re-read when a layer has been loaded since (checked every few seconds)."""
        with self._lock:
            now = time.monotonic()
            places = self._places
            if places is None or now - self._checked > REFRESH_SECONDS:
                signature = tuple((s.name, s.loaded_at) for s in layer_summaries(self.engine))
                if places is None or signature != self._signature:
                    places = self._places = load_places(self.engine)
                    self._signature = signature
                    self._surveys, self._derived = None, {}
                    self._views = OrderedDict()
                self._checked = now
            return places

    def warm(self) -> Places:
        """Read the snapshot and the counts the opening map shows (default area layer, every point layer)."""
        places = self.places()
        boundary = default_boundary(places)
        if boundary is not None:
            for layer in places.points:
                places.counts(layer, places.boundary(boundary))
        return places

    def view(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` for a page view, kept (at most :data:`VIEWS_KEPT` views) until the data change.

        Figures are a pure function of the snapshot and the view, so the people looking at the
        same ward share one computation: while it runs, others asking for the same view wait for
        it rather than repeat it. The cache is dropped whenever a layer is loaded or edited.
        """
        places = self.places()
        owner: threading.Event | None = None
        while owner is None:
            with self._lock:
                if key in self._views:
                    self._views.move_to_end(key)
                    found: T = self._views[key][1]
                    return found
                running = self._computing.get(key)
                if running is None:
                    owner = self._computing[key] = threading.Event()
            if owner is None and not running.wait(VIEW_WAIT_SECONDS):  # type: ignore[union-attr]
                return compute()
        try:
            value = compute()
            with self._lock:
                if self._places is places:
                    self._views[key] = (places, value)
                    while len(self._views) > VIEWS_KEPT:
                        self._views.popitem(last=False)
            return value
        finally:
            with self._lock:
                if self._computing.get(key) is owner:
                    del self._computing[key]
            owner.set()

    def surveys(self) -> list[SurveyData]:
        """Loaded survey layers with their respondents: restricted, kept on the server for aggregates only."""
        self.places()
        with self._lock:
            if self._surveys is None:
                self._surveys = read_surveys(self.engine, load_specs(self.settings.layers_dir),
                                             layer_summaries(self.engine))
            return self._surveys

    def perception_options(self, boundary: str) -> list[dict]:
        """Map shading choices for survey questions whose respondents can be placed in ``boundary``'s areas."""
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
                   period: tuple[int, int] | None = None, wave: str | None = None) -> PerceptionResult:
        """Published perception results for a boundary layer (cached with the snapshot)."""
        surveys = self.surveys()
        if not surveys:
            raise NotFoundError("no resident survey is loaded")
        chosen = next((s for s in surveys if s.layer.name == survey), None) if survey else surveys[0]
        if chosen is None:
            raise NotFoundError(f"no survey layer '{survey}' (surveys: {', '.join(s.layer.name for s in surveys)})")
        places = self.places()
        key = ("perception", chosen.layer.name, boundary, question, crime_layer, period, wave)
        return self.view(key, lambda: perception(places, chosen, question, boundary, crime_layer=crime_layer,
                                                 period=period, wave=wave))

    def benchmark(self, question: Question) -> tuple[Any, pd.DataFrame]:
        """The published results a survey question names as its benchmark (public indicator values) and their layer."""
        named = benchmark_layer(question)
        places = self.places()
        if named is None or named[0] not in places.layers:
            return None, benchmark_rows(pd.DataFrame(), question)
        key = ("benchmark", named[0])
        if key not in self._derived:
            self._derived[key] = read_indicator_values(self.engine, named[0])
        found = benchmark_rows(self._derived[key], question)
        return (places.layers[named[0]] if len(found) else None), found

    def perception_results(self, boundary: str, **kw: Any) -> list[PerceptionResult]:
        """Every question's results for a boundary layer whose codes respondents are placed by (else none)."""
        chosen = [parse_perception_metric(o["value"]) for o in self.perception_options(boundary)]
        return [self.perception(boundary, question, survey=survey, **kw)
                for survey, question in (c for c in chosen if c is not None)]

    def with_surveys(self, result: Profile, *, crime_layer: str | None = None,
                     period: tuple[int, int] | None = None) -> Profile:
        """The profile with the resident-perception rows for its area, when a survey covers its boundary."""
        if result.boundary.meta.area_type == "drawn":
            return result
        try:
            found = self.perception_results(result.boundary.meta.name, crime_layer=crime_layer, period=period)
        except InsightError as exc:
            return replace(result, notes=[*result.notes, f"Resident perception figures are not shown: {exc}"])
        return with_perception(result, found)

    def profile_boundary(self, boundary: str, code: str) -> str | BoundaryData:
        """What a profile URL's boundary names: a loaded layer's name, or for 'custom' the stored area as a layer.

        NotFoundError when ``code`` is no stored custom area's id.
        """
        if boundary != CUSTOM_BOUNDARY:
            return boundary
        return self.view(("custom-area", code), lambda: custom_boundary(get_custom_area(self.engine, code)))

    def area_profile(self, places: Places, boundary: str, code: str, *, comparator: str,
                     crime_layer: str | None, period: tuple[int, int] | None) -> Profile:
        """The profile of a loaded layer's area or of a custom area (whose 'average' is the average ward)."""
        data = self.profile_boundary(boundary, code)
        kw: dict[str, Any] = {"crime_layer": crime_layer, "period": period}
        if isinstance(data, str) or comparator != "average":
            return profile(places, data, code, comparator=comparator, **kw)
        layer = default_boundary(places)
        return profile(places, data, code, comparator=f"average:{layer}" if layer else "borough", **kw)


def custom_boundary(area: CustomArea) -> BoundaryData:
    """A stored custom area as a one-area boundary layer named :data:`CUSTOM_BOUNDARY`."""
    data = drawn_boundary(area.geometry, name=area.name, code=area.id)
    meta = replace(data.meta, name=CUSTOM_BOUNDARY, title="Custom area", vintage="drawn or uploaded by a user")
    return BoundaryData(meta=meta, areas=data.areas)


def install(server: Flask, app_context: AppContext) -> None:
    """Keep ``app_context`` on ``server`` for the layouts, callbacks and routes it serves."""
    server.config[CONTEXT_KEY] = app_context


def context_of(server: Flask) -> AppContext:
    """The context :func:`install` put on ``server`` (outside a request, e.g. to warm the snapshot)."""
    return server.config[CONTEXT_KEY]


def context() -> AppContext:
    """The app's shared context, for layouts and callbacks (they run inside a request)."""
    return context_of(current_app)


def current_places() -> Places:
    """The app's snapshot of the store, for layouts and callbacks."""
    return context().places()


def places_or_message(title: str) -> Places | html.Div:
    """The snapshot for a page, or the page to show instead when the store is unusable or empty."""
    try:
        places = current_places()
    except InsightError as exc:
        return unavailable(title, exc)
    if not places.boundaries:
        return html.Div([html.H1(title), html.P(
            "No boundary layers are loaded yet. Run 'insight load-sample' or 'insight import' to load some.",
            role="alert", className="status")])
    return places
