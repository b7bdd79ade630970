"""The strategy officer's map journey in a real headless Chromium: choices apply as they change, the summary
says what is shown, search suggests as you type, a shared link zooms to its area, the map comes first on a
phone, and the default period is the latest 12 months of the most recent crime layer. Plus the popups' data
for asset layers and the drawn area's link to a full profile."""
from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlparse

import geopandas as gpd
import pandas as pd
import pytest

from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.web_support import AREA_LAYERS, close_app, loaded_app, serve

pytestmark = pytest.mark.browser
LAYERS = AREA_LAYERS | {"crime_2016_2018", "hospitals"}
AREAS = ".leaflet-overlay-pane path.leaflet-interactive"
WARD = "E05013630"


@pytest.fixture(scope="module")
def journey_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("journey"), LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def app_url(journey_app) -> Iterator[str]:
    yield from serve(journey_app)


def _expected_default_period() -> tuple[str, str]:
    """From the two crime files: the layer reaching the latest month, and its last 12 months (or all of them)."""
    months = {
        "crime_2024_04": pd.read_csv(DATA_DIR / "points" / "police_api_2024-04.csv", usecols=["month"])["month"],
        "crime_2016_2018": pd.read_csv(DATA_DIR / "points" / "police_api_barnet_2016-01_2018-06.csv.gz",
                                       usecols=["month"])["month"],
    }
    latest = max(months, key=lambda name: months[name].max())
    assert len(months[latest]) < len(months["crime_2016_2018"]), "the newest layer is not the one with most records"
    present = sorted(months[latest].dropna().unique())
    return present[-12:][0], present[-1]


def _wait_count(page, expected: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('{AREAS}').length === {expected}", polling=250,
                           timeout=30000)


FILLS_MAP = """share => {
    const map = document.getElementById('explore-map').getBoundingClientRect();
    const path = Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))
        .find(p => p.getAttribute('stroke') === '#d4351c' && p.getAttribute('stroke-width') === '4');
    if (!path) { return false; }
    const b = path.getBoundingClientRect();
    const cx = b.left + b.width / 2, cy = b.top + b.height / 2;
    const inside = cx > map.left && cx < map.right && cy > map.top && cy < map.bottom;
    return inside && Math.max(b.width / map.width, b.height / map.height) >= share;
}"""


def _zoomed_to_chosen_area(page) -> None:
    """Wait until the outlined (chosen) area lies inside the map and spans at least 40% of it (Burnt Oak spans
    about a tenth of the map when the whole borough is shown)."""
    page.wait_for_function(FILLS_MAP, arg=0.4, polling=250, timeout=15000)


def _extent(page) -> float:
    """How many map widths (or heights) the drawn areas span together."""
    return page.evaluate("""() => {
        const m = document.getElementById('explore-map').getBoundingClientRect();
        const boxes = Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))
            .map(p => p.getBoundingClientRect());
        const w = Math.max(...boxes.map(b => b.right)) - Math.min(...boxes.map(b => b.left));
        const h = Math.max(...boxes.map(b => b.bottom)) - Math.min(...boxes.map(b => b.top));
        return Math.max(w / m.width, h / m.height);
    }""")


def test_the_officer_shades_switches_searches_and_shares_without_pressing_a_button(browser, app_url) -> None:
    first, last = _expected_default_period()
    lsoas = len(gpd.read_file(DATA_DIR / "boundaries" / "lsoa_2021_bng.geojson"))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(app_url)
    _wait_count(page, 24)
    assert page.input_value("#from") == first and page.input_value("#to") == last
    assert page.locator("button", has_text="Update map").count() == 0
    summary = page.locator("#map-summary")
    page.wait_for_function("document.getElementById('map-summary').textContent.length > 0")
    assert summary.inner_text().startswith("Wards (from May 2022) shaded by all records per 1,000 residents, Apr 2024")
    assert "has only 1 month" in summary.inner_text()
    box = summary.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800

    page.select_option("#metric", "residents")
    page.wait_for_function("document.querySelector('.legend strong').textContent === 'Usual residents'")
    assert summary.inner_text().startswith("Wards (from May 2022) shaded by usual residents")
    assert parse_qs(urlparse(page.url).query)["metric"] == ["residents"]

    page.select_option("#boundary", "lsoa_2021")
    _wait_count(page, lsoas)
    page.wait_for_function(f"document.querySelectorAll('#area option').length === {lsoas + 1}")
    assert summary.inner_text().startswith("Lower layer super output areas (2021) shaded by")

    page.fill("#search", "burnt o")
    suggestion = page.locator("#search-results a", has_text="Burnt Oak — Wards (from May 2022)")
    suggestion.wait_for(timeout=10000)
    suggestion.click()
    page.wait_for_selector("#panel h2:text('Burnt Oak')", timeout=20000)
    assert parse_qs(urlparse(page.url).query)["area"] == [WARD]
    page.wait_for_function(
        "() => { const m = document.getElementById('map-summary'); return m.textContent.includes('Burnt Oak'); }")
    _zoomed_to_chosen_area(page)
    page.close()


def test_a_shared_link_zooms_in_and_a_phone_sees_the_map_first(browser, app_url) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{app_url}/")
    _wait_count(page, 24)
    assert _extent(page) < 1.1, "on opening, the whole borough fits the map"
    page.goto(f"{app_url}/?boundary=wards_2022&area={WARD}")
    page.wait_for_selector("#panel h2:text('Burnt Oak')", timeout=20000)
    _zoomed_to_chosen_area(page)
    page.close()

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(app_url)
    _wait_count(phone, 24)
    tops = phone.evaluate("""() => ['explore-map', 'map-summary', 'map-controls'].map(
        id => document.getElementById(id).getBoundingClientRect().top)""")
    assert tops[0] < tops[2] and tops[1] < tops[2] and tops[1] < 844
    _keyboard_skips_between_the_map_and_its_controls(phone)
    phone.close()


FOCUSED = """() => { const e = document.activeElement; const b = e.getBoundingClientRect();
    const top = id => document.getElementById(id).getBoundingClientRect().top - b.top;
    return {text: e.textContent, inExplore: !!e.closest('.explore'), width: b.width, height: b.height,
            left: b.left, summary: top('map-summary'), controls: top('map-controls')}; }"""


def _keyboard_skips_between_the_map_and_its_controls(page) -> None:
    """On a phone, where the map is drawn above the controls that come first in the page, the first stop in the
    page's content is a visible "Skip to the map" shown at the map's top, and Enter moves focus to the map; a
    "Skip to the map controls" link before the map leads back."""
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#main").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["inExplore"]:
            break
    assert focused["text"] == "Skip to the map", focused
    assert focused["width"] > 0 and focused["height"] >= 24 and focused["left"] >= 0
    assert 0 <= focused["summary"] < 60 and focused["controls"] > 300, "shown at the map's top, not by the controls"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'explore-map'")
    back = page.get_by_role("link", name="Skip to the map controls")
    back.focus()
    box = back.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] >= 24
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'map-controls'")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the map"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "search"


def test_the_map_page_has_no_serious_accessibility_problems(browser, app_url) -> None:
    from tests.test_accessibility import BLOCKING, axe_violations, describe

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{app_url}/?layers=hospitals&area={WARD}")
    page.wait_for_selector("#panel h2:text('Burnt Oak')", timeout=20000)
    page.click("summary:has-text('More options')")
    page.fill("#search", "oak")
    page.locator("#search-results li").first.wait_for()
    violations = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not violations, describe(violations)
    page.close()


def test_asset_popups_carry_category_kind_contact_owner_and_last_checked(journey_app) -> None:
    from insight.analysis.profiles import ASSET_KIND_LABELS

    client = journey_app.server.test_client()
    vcfs = pd.read_csv(DATA_DIR / "points" / "vcfs_organisations_illustrative.csv").set_index("name")
    publisher = tomllib.loads((LAYERS_DIR / "vcfs_organisations.toml").read_text())["publisher"]
    data = json.loads(client.get("/api/points/vcfs_organisations.geojson").data)
    assert data["features"]
    for feature in data["features"]:
        p = feature["properties"]
        row = vcfs.loc[p["name"].replace("&amp;", "&").replace("&#x27;", "'")]
        assert (p["category"], p["kind"], p["kind_label"]) == (row["category"], row["asset_kind"],
                                                             ASSET_KIND_LABELS[row["asset_kind"]])
        assert p["owner"] == publisher and p["checked"] == row["last_assured"]
    hospitals = gpd.read_file(DATA_DIR / "points" / "hospitals.geojson")
    data = json.loads(client.get("/api/points/hospitals.geojson").data)
    shown = sorted((f["properties"]["name"], f["properties"]["website"]) for f in data["features"])
    assert shown == sorted(zip(hospitals["hospital_name"], hospitals["location_url"]))
    crime = json.loads(client.get("/api/points/crime_2024_04.geojson?limit=5").data)["features"]
    assert crime and all({"category", "month"} <= set(f["properties"]) and "owner" not in f["properties"]
                         for f in crime)


def test_a_drawn_area_links_to_its_full_profile(journey_app) -> None:
    from insight.web.explore import refresh

    drawn = "-0.27 51.59,-0.25 51.59,-0.25 51.61,-0.27 51.61,-0.27 51.59"
    with journey_app.server.test_request_context():
        out = refresh({"boundary": "wards_2022", "metric": "points_rate", "layers": [], "area": None}, drawn)
    panel, summary = out[8], out[-1]
    links = [c.children for c in panel if getattr(c, "children", None) is not None and hasattr(c.children, "href")]
    assert [a.href for a in links if a.children == "Open the full profile of this area"] == [
        "/areas/custom/from-map?draw=" + quote(drawn, safe="")]
    assert "drawn area" in summary
