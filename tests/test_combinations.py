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
def app(sample_store) -> Iterator[Any]:
    app = create_app(sample_store.settings)
    yield app
    context_of(app.server).close()


@pytest.fixture(scope="module")
def client(app) -> Iterator[Any]:
    with app.server.test_client() as c:
        yield c


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


def _exports(client, catalogue: Catalogue) -> list[str]:
    """Problems with one profile export format over every boundary x layer x period."""
    wrong = []
    for boundary in catalogue.boundaries:
        code = _first_code(client, boundary["name"])
        for layer in catalogue.points:
            for period in _periods(layer):
                url = f"/api/export/{boundary['name']}/{code}.csv{_query(layer=layer['name'], period=period)}"
                if problem := _answers(client.get(url), url):
                    wrong.append(problem)
    return wrong


def test_every_boundary_layer_and_period_answers_on_the_export(client, catalogue: Catalogue) -> None:
    assert _exports(client, catalogue) == []


def test_a_period_outside_a_dated_layer_names_its_months(client, catalogue: Catalogue) -> None:
    boundary = catalogue.boundaries[0]["name"]
    code = _first_code(client, boundary)
    for layer in (la for la in catalogue.points if la["period_start"]):
        for url in (f"/api/profile/{boundary}/{code}.json?layer={layer['name']}&period={OUT_OF_RANGE}",
                    f"/api/points/{layer['name']}.geojson?period={OUT_OF_RANGE}"):
            response = client.get(url)
            assert response.status_code == 400, url
            message = response.get_json()["error"]
            assert layer["period_start"] in message and layer["period_end"] in message, message


def test_undated_point_layers_profile_as_counts_and_rates(client, catalogue: Catalogue) -> None:
    boundary = next(b["name"] for b in catalogue.boundaries if b["area_type"] == "ward")
    code = _first_code(client, boundary)
    for layer in (la for la in catalogue.points if not la["period_start"]):
        body = client.get(f"/api/profile/{boundary}/{code}.json?layer={layer['name']}").get_json()
        metrics = {f["metric"] for f in body["figures"]}
        assert {"points_total", "points_rate"} <= metrics and "points_change" not in metrics, layer["name"]
        assert not any("covariate" in note or "log_rate" in note for note in body["notes"]), body["notes"]


def _ward_and_name(client, catalogue: Catalogue) -> tuple[str, str, str]:
    wards = [b for b in catalogue.boundaries if b["area_type"] == "ward"]
    boundary = max(wards, key=lambda b: b["vintage"] or "")["name"]
    props = client.get(f"/api/layers/{boundary}.geojson").get_json()["features"][0]["properties"]
    return boundary, str(props["code"]), str(props["name"])


def test_the_cli_profiles_every_point_layer(client, catalogue: Catalogue, sample_store, tmp_path, capsys,
                                            monkeypatch) -> None:
    from insight.cli.engines import close_engines
    from insight.cli.main import main

    boundary, _, name = _ward_and_name(client, catalogue)
    monkeypatch.setenv("INSIGHT_DATA_DIR", sample_store.settings.data_dir)
    monkeypatch.setenv("INSIGHT_LAYERS_DIR", sample_store.settings.layers_dir)
    url = sample_store.engine.url.render_as_string(hide_password=False)
    try:
        for layer in catalogue.points:
            for period in _periods(layer):
                argv = ["--database-url", url, "profile", "--boundary", boundary, "--area", name,
                        "--layer", layer["name"], "--format", "csv", "-o", str(tmp_path / f"{layer['name']}.csv")]
                code = main(argv + (["--period", period] if period else []))
                out = capsys.readouterr()
                text = (out.out + out.err).replace(str(tmp_path), "OUTPUT")
                assert not any(word in text for word in INTERNALS), text
                if period == OUT_OF_RANGE and layer["period_start"]:
                    assert code == 2 and layer["period_start"] in out.err, text
                else:
                    assert code == 0, text
    finally:
        close_engines()


def _texts(component: Any) -> str:
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(_texts(c) for c in component)
    return _texts(getattr(component, "children", None))


def test_the_area_page_answers_for_every_point_layer(client, catalogue: Catalogue, app) -> None:
    from insight.web.area import layout, update_view

    boundary, code, name = _ward_and_name(client, catalogue)
    for layer in catalogue.points:
        response = client.get(f"/area/{boundary}/{code}?layer={layer['name']}")
        assert response.status_code < 500 and "Traceback" not in response.get_data(as_text=True)
        with app.server.test_request_context():
            page = _texts(layout(boundary, code, layer=layer["name"]))
            assert name in page and "Area not found" not in page, layer["name"]
            for period in _periods(layer):
                start, _, end = (period or "").partition(":")
                result = update_view({"comparator": "average", "layer": layer["name"], "from": start or None,
                                      "to": end or None}, {"boundary": boundary, "code": code})
                shown = _texts(list(result))
                assert not any(word in shown for word in INTERNALS), shown[:300]
                assert "could not be updated" not in shown, shown[:300]


def test_the_map_answers_for_every_point_layer_in_plain_words(client, catalogue: Catalogue, app) -> None:
    from insight.web.explore_render import render

    boundary, _, _ = _ward_and_name(client, catalogue)
    metrics = [f"rate:{c}" for c in ("anti-social-behaviour", "burglary")] + ["points_rate"]
    with app.server.test_request_context():
        for layer in catalogue.points:
            for period in _periods(layer):
                start, _, end = (period or "").partition(":")
                for metric in metrics:
                    view = {"boundary": boundary, "metric": metric, "layers": [layer["name"]],
                            "from": start or None, "to": end or None}
                    status = render(view, None)[5] or ""
                    assert "rate:" not in status and "cannot shade" not in status, status
                    assert not any(word in status for word in INTERNALS), status
                    if "cannot be shaded" in status:
                        assert "shaded by usual residents instead" in status, status
        for layer in (la for la in catalogue.points if la["theme"] == "crime" and la["period_start"]):
            month = layer["period_end"]
            view = {"boundary": boundary, "metric": "points_rate", "layers": [layer["name"]],
                    "from": month, "to": month}
            assert "cannot be shaded" not in (render(view, None)[5] or ""), layer["name"]
