"""Every combination answers: each public boundary x point layer x period x comparator, read from the
loaded catalogue (``/api/layers.json``), gets a result or a plain-language 4xx, never a 5xx.

The list is built from what is loaded, so a new layer is covered without new test code.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from insight.web import create_app
from insight.web.context import context_of

OUT_OF_RANGE = "1990-01:1990-12"
INTERNALS = ("Traceback", "sqlalchemy", "psycopg", "/tmp/", "insight.sqlite", "postgresql://", "File \"")


@dataclass(frozen=True)
class Catalogue:
    """The public layers the app lists, split by kind."""

    boundaries: list[dict[str, Any]]
    points: list[dict[str, Any]]


@pytest.fixture(scope="module")
def client(sample_store) -> Iterator[Any]:
    app = create_app(sample_store.settings)
    with app.server.test_client() as c:
        yield c
    context_of(app.server).close()


@pytest.fixture(scope="module")
def catalogue(client) -> Catalogue:
    layers = client.get("/api/layers.json").get_json()["layers"]
    return Catalogue([la for la in layers if la["kind"] == "boundary"], [la for la in layers if la["kind"] == "points"])


def _periods(layer: dict[str, Any]) -> list[str | None]:
    """The default period, the layer's first and last months alone, and a span outside its months."""
    periods: list[str | None] = [None, OUT_OF_RANGE]
    if layer["period_start"] and layer["period_end"]:
        periods += [f"{layer['period_start']}:{layer['period_start']}", f"{layer['period_end']}:{layer['period_end']}"]
    return periods


def _first_code(client, boundary: str) -> str:
    features = client.get(f"/api/layers/{boundary}.geojson").get_json()["features"]
    return str(features[0]["properties"]["code"])


def _answers(response, url: str) -> str | None:
    """None when the answer is a result or a readable 4xx; otherwise what is wrong with it."""
    if response.status_code >= 500:
        return f"{url}: {response.status_code}"
    if 400 <= response.status_code < 500:
        body = response.get_json(silent=True)
        if not body or not str(body.get("error", "")).strip():
            return f"{url}: {response.status_code} without a JSON message"
        if any(word in body["error"] for word in INTERNALS):
            return f"{url}: message shows internals: {body['error'][:200]}"
    return None


def _query(**params: str | None) -> str:
    pairs = [f"{k}={v}" for k, v in params.items() if v is not None]
    return ("?" + "&".join(pairs)) if pairs else ""


def test_the_catalogue_has_layers_to_combine(catalogue: Catalogue) -> None:
    assert len(catalogue.boundaries) >= 5 and len(catalogue.points) >= 5


def test_every_boundary_layer_and_period_answers_on_profile_shading_and_table(client, catalogue: Catalogue) -> None:
    wrong = []
    for boundary in catalogue.boundaries:
        code = _first_code(client, boundary["name"])
        for layer in catalogue.points:
            for period in _periods(layer):
                q = _query(layer=layer["name"], period=period)
                for url in (f"/api/profile/{boundary['name']}/{code}.json{q}",
                            f"/api/shading/{boundary['name']}.json{q}",
                            f"/api/table/{boundary['name']}.csv{q}"):
                    if problem := _answers(client.get(url), url):
                        wrong.append(problem)
    assert wrong == []


def test_every_comparator_answers(client, catalogue: Catalogue) -> None:
    wrong = []
    for boundary in catalogue.boundaries:
        features = client.get(f"/api/layers/{boundary['name']}.geojson").get_json()["features"]
        codes = [f["properties"]["code"] for f in features]
        other = f"{boundary['name']}:{codes[-1]}"
        for comparator in ("borough", "average", other, "nonsense"):
            url = f"/api/profile/{boundary['name']}/{codes[0]}.json?comparator={comparator}"
            if problem := _answers(client.get(url), url):
                wrong.append(problem)
    assert wrong == []


def test_every_point_layer_answers_on_the_points_endpoint(client, catalogue: Catalogue) -> None:
    wrong = []
    for layer in catalogue.points:
        for period in _periods(layer):
            url = f"/api/points/{layer['name']}.geojson{_query(period=period)}"
            if problem := _answers(client.get(url), url):
                wrong.append(problem)
    assert wrong == []
