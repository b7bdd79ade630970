"""The explore (map) page in a real headless Chromium against the real app on loopback,
plus its callbacks called directly."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from insight.config import load_settings
from insight.layers import load_specs
from insight.sources.ingest import load_specs_into
from insight.web import create_app
from tests.conftest import DATA_DIR, LAYERS_DIR, open_store
from tests.web_support import serve

WEB_LAYERS = {"borough", "wards_2022", "lsoa_2021", "lookup_lsoa21_ward2022", "census2021_population",
              "schools", "crime_2024_04", "vcfs_organisations"}
AREAS = ".leaflet-overlay-pane path.leaflet-interactive"


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):
    store = open_store("spatialite", tmp_path_factory.mktemp("web"))
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in WEB_LAYERS]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    app = create_app(store.settings)
    yield app
    store.close()


@pytest.fixture(scope="module")
def app_url(web_app) -> Iterator[str]:
    yield from serve(web_app)


def _count(page, selector: str) -> int:
    return page.locator(selector).count()


def _wait_count(page, selector: str, expected: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('{selector}').length === {expected}", timeout=15000)


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_boundaries_draw_one_shape_per_ward(page, app_url: str) -> None:
    page.goto(app_url)
    _wait_count(page, AREAS, 24)
    assert "wards_2022" in _query(page)["boundary"]
    assert page.locator(".legend").inner_text().startswith("All records per 1,000 residents")


def test_switching_boundary_layer_redraws(page, app_url: str) -> None:
    page.goto(app_url)
    _wait_count(page, AREAS, 24)
    page.select_option("#boundary", "lsoa_2021")
    _wait_count(page, AREAS, 220)
    assert _query(page)["boundary"] == ["lsoa_2021"]


def test_an_overlay_toggles_on_and_off(page, app_url: str) -> None:
    page.goto(app_url)
    _wait_count(page, AREAS, 24)
    page.select_option("#layers", ["schools"])
    page.wait_for_function(f"document.querySelectorAll('{AREAS}').length > 24", timeout=15000)
    assert _query(page)["layers"] == ["schools"]
    page.select_option("#layers", [])
    _wait_count(page, AREAS, 24)


def test_a_place_filter_narrows_the_points(page, app_url: str) -> None:
    page.goto(f"{app_url}/?layers=schools")
    page.wait_for_function(f"document.querySelectorAll('{AREAS}').length > 24", timeout=15000)
    time.sleep(0.5)
    all_schools = _count(page, AREAS) - 24
    page.goto(f"{app_url}/?layers=schools&area=Burnt%20Oak")
    page.wait_for_selector("#panel h2:text('Burnt Oak')")
    time.sleep(0.5)
    in_ward = _count(page, AREAS) - 24
    assert 0 < in_ward < all_schools


def test_clicking_a_ward_opens_its_panel(page, app_url: str) -> None:
    page.goto(app_url)
    _wait_count(page, AREAS, 24)
    page.locator(AREAS).nth(5).click(force=True)
    page.wait_for_function("document.querySelector('#panel h2').textContent !== 'No area chosen'")
    name = page.locator("#panel h2").inner_text()
    assert name and "Usual residents" in page.locator("#panel").inner_text()
    assert page.locator("#panel a", has_text="Full profile of this area").get_attribute("href").startswith("/area/")
    assert "area" in _query(page)


def test_a_shared_url_restores_the_view(page, app_url: str) -> None:
    url = (f"{app_url}/?boundary=wards_2022&metric=residents&classes=equal&palette=purples"
           "&layers=crime_2024_04&area=E05013630&from=2024-04&to=2024-04")
    page.goto(url)
    page.wait_for_selector("#panel h2:text('Burnt Oak')")
    assert page.locator(".legend strong").inner_text() == "Usual residents"
    assert page.input_value("#classes") == "equal" and page.input_value("#palette") == "purples"
    assert page.eval_on_selector("#layers", "e => Array.from(e.selectedOptions).map(o => o.value)") == ["crime_2024_04"]
    assert page.input_value("#area") == "E05013630"
    query = _query(page)
    assert query["area"] == ["E05013630"] and query["metric"] == ["residents"] and query["from"] == ["2024-04"]


def test_bad_url_parameters_give_a_readable_message(page, app_url: str) -> None:
    page.goto(f"{app_url}/?boundary=nope&area=Atlantis&layers=ghosts&from=2024-13")
    _wait_count(page, AREAS, 24)
    status = page.locator("#url-problems").inner_text()
    assert "There is no boundary layer 'nope'" in status and "no area 'Atlantis'" in status
    assert "ghosts" in status and "2024-13" in status


def test_popup_text_is_escaped(web_app) -> None:
    from sqlalchemy import text

    from insight.analysis import views

    with web_app.server.test_request_context():
        from insight.web.context import context

        places = context().places()
        engine = context().engine
    first = "SELECT min(f.id) FROM features f JOIN layers l ON l.id = f.layer_id WHERE l.name = 'schools'"
    with engine.begin() as conn:
        fid, name = conn.execute(text(f"SELECT id, name FROM features WHERE id = ({first})")).one()
        conn.execute(text("UPDATE features SET name = :n WHERE id = :i"),
                     {"n": "<img src=x onerror=alert(1)>", "i": fid})
    try:
        collection = views.points_collection(places, "schools", limit=1)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE features SET name = :n WHERE id = :i"), {"n": name, "i": fid})
    assert collection["features"][0]["properties"]["id"] == fid
    assert collection["features"][0]["properties"]["name"] == "&lt;img src=x onerror=alert(1)&gt;"


def test_api_rejects_bad_parameters_with_readable_json(app_url: str) -> None:
    for path, status, words in [
        ("/api/points/%3Cscript%3E.geojson", 400, "not a valid name"),
        ("/api/points/schools.geojson?period=2024-13:2024-01", 400, "YYYY-MM"),
        ("/api/profile/wards_2022/NOPE.json", 404, "no area 'NOPE'"),
        ("/api/shading/wards_2022.json?metric=zzz", 400, "cannot shade"),
        ("/api/export/wards_2022/E05013630.exe", 400, "not one of"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(app_url + path)
        assert info.value.code == status, path
        assert words in info.value.read().decode(), path


def test_refresh_callback_called_directly(web_app) -> None:
    from insight.web.explore import refresh

    with web_app.server.test_request_context():
        out = refresh({"boundary": "wards_2022", "metric": "points_rate", "classes": "quintiles",
                       "palette": "blues", "layers": ["schools"], "area": "E05013630", "category": [], "kind": [],
                       "from": "2024-04", "to": "2024-04"}, None)
    url, hideout, legend, overlays, table, status, role, search, panel, viewport, shape = out[:11]
    assert url == "/api/layers/wards_2022.geojson"
    assert hideout["selected"] == "E05013630" and len(hideout["values"]) == 24
    assert "area=E05013630" in search and "layers=schools" in search
    assert overlays[0].url.startswith("/api/points/schools.geojson?") and "area=E05013630" in overlays[0].url
    assert viewport["bounds"][0][0] < viewport["bounds"][1][0]
    assert shape["features"] == []


def test_drawn_area_filters_points_and_fills_the_panel(web_app) -> None:
    from insight.web.explore import refresh

    drawn = "-0.27 51.59,-0.25 51.59,-0.25 51.61,-0.27 51.61,-0.27 51.59"
    with web_app.server.test_request_context():
        out = refresh({"boundary": "wards_2022", "metric": "points_rate", "classes": "quintiles",
                       "palette": "blues", "layers": ["schools"], "area": None, "from": "2024-04", "to": "2024-04"},
                      drawn)
    overlays, panel, shape = out[3], out[8], out[10]
    features = overlays[0].data["features"]
    assert features and all(-0.27 <= f["geometry"]["coordinates"][0] <= -0.25 for f in features)
    assert panel[0].children == "Drawn area" and len(shape["features"]) == 1


def test_database_unavailable_is_a_readable_message(browser) -> None:
    settings = load_settings(
        env={}, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none", tile_url="",
        data_dir=str(DATA_DIR), layers_dir=str(LAYERS_DIR),
    )
    for url in serve(create_app(settings)):
        page = browser.new_page()
        page.goto(url)
        alert = page.wait_for_selector("[role=alert]")
        assert "database is not available" in alert.inner_text()
        page.close()


def test_stale_records_are_flagged_in_the_point_data(app_url: str) -> None:
    import json

    data = json.loads(urllib.request.urlopen(f"{app_url}/api/points/vcfs_organisations.geojson").read())
    flags = [f["properties"]["stale"] for f in data["features"]]
    assert any(flags) and not all(flags)
    crime = json.loads(urllib.request.urlopen(f"{app_url}/api/points/crime_2024_04.geojson").read())
    assert not any(f["properties"]["stale"] for f in crime["features"])
