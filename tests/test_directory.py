"""The public community directory at /directory, in Chromium with JavaScript turned off: a search for "food"
lists the food banks, a postcode from the real NSPL extract places a search (nearest first, distances checked
against pyproj's geodesic), a service page shows contacts, opening times and when it was last checked, and
every page passes axe."""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator

import pytest
from pyproj import Geod

from tests.conftest import DATA_DIR
from tests.test_accessibility import BLOCKING, axe_violations, describe
from tests.test_oruk_api import NSPL, STANDARD, build_app, nspl_point
from tests.web_support import chromium, close_app, serve

GEOD = Geod(ellps="WGS84")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(not (STANDARD.is_dir() and NSPL.is_file()),
                                                      reason="the shared NSPL extract is beside the repository")]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = build_app(tmp_path_factory.mktemp("directory"))
    yield from serve(app)
    close_app(app)


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator:
    yield from chromium()


@pytest.fixture(scope="module")
def no_js(browser) -> Iterator:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(20000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def axe_page(browser) -> Iterator:
    """axe-core needs scripts to run: the same server-rendered page is checked in a second, scripted tab."""
    context = browser.new_context()
    context.set_default_timeout(20000)
    yield context.new_page()
    context.close()


def _vcfs() -> list[dict[str, str]]:
    with (DATA_DIR / "points" / "vcfs_organisations_illustrative.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _check_axe(page, axe_page, what: str) -> None:
    axe_page.goto(page.url)
    violations = axe_violations(axe_page)
    print(f"\naxe on {what}:\n{describe(violations)}")
    assert not [v for v in violations if v["impact"] in BLOCKING], describe(violations)


def test_search_for_food_lists_the_food_banks_without_javascript(no_js, axe_page, app_url: str) -> None:
    no_js.goto(f"{app_url}/directory")
    _check_axe(no_js, axe_page, "the empty directory search")
    no_js.get_by_label("Words to look for").fill("food")
    no_js.get_by_role("button", name="Search").click()
    no_js.wait_for_url(re.compile(r"q=food"))
    names = no_js.locator(".result-list h3 a").all_inner_texts()
    banks = {r["name"] for r in _vcfs() if "Food Bank" in r["name"]}
    assert banks and banks <= set(names)
    assert no_js.locator(".result-list .tag").first.inner_text() == "ILLUSTRATIVE"
    _check_axe(no_js, axe_page, "the food results")


def test_a_postcode_from_the_nspl_extract_orders_by_distance(no_js, axe_page, app_url: str) -> None:
    no_js.goto(f"{app_url}/directory")
    no_js.get_by_label("Words to look for").fill("food bank")
    no_js.get_by_label("Postcode, or the start of one").fill("wc1a 1ab")
    no_js.get_by_role("button", name="Search").click()
    assert "near WC1A 1AB" in no_js.locator("#results-title").inner_text()
    lon, lat = nspl_point("WC1A 1AB")
    rows = {r["name"]: GEOD.inv(lon, lat, float(r["longitude"]), float(r["latitude"]))[2] for r in _vcfs()
            if "Food Bank" in r["name"]}
    items = no_js.locator(".result-list li")
    first_name = items.nth(0).locator("h3 a").inner_text()
    assert first_name == min(rows, key=rows.get)
    shown_km = float(items.nth(0).locator(".distance").inner_text().split()[0])
    assert abs(shown_km - rows[first_name] / 1000) <= 0.1 + 0.005 * rows[first_name] / 1000
    no_js.goto(f"{app_url}/directory?q=food&postcode=ZZ99")
    assert "postcode file" in no_js.get_by_role("alert").inner_text() or "not a postcode" in no_js.get_by_role(
        "alert").inner_text()
    _check_axe(no_js, axe_page, "a refused postcode")


def test_a_service_page_shows_contacts_and_last_checked(no_js, axe_page, app_url: str) -> None:
    no_js.goto(f"{app_url}/directory?q=bull+theatre")
    no_js.locator(".result-list h3 a", has_text="The Bull Theatre").click()
    assert no_js.get_by_role("heading", level=1).inner_text() == "The Bull Theatre"
    text = no_js.locator("main").inner_text()
    for expected in ("020 8359 2000", "https://example.org/bull", "68 High Street", "EN5 5SJ", "Mon-Fri 9am-5pm",
                     "Step-free entrance", "Last checked"):
        assert expected in text, expected
    assert no_js.locator("a[href='tel:02083592000']").count() == 1
    assert no_js.locator("figure.map svg[role=img] circle").count() == 1
    _check_axe(no_js, axe_page, "a partner's service page")
    no_js.get_by_role("link", name="Report a change to this record").click()
    assert no_js.get_by_role("heading", level=1).inner_text().startswith("Report a change")
    _check_axe(no_js, axe_page, "the report-a-change page")


def test_an_illustrative_service_page_keeps_its_label_and_assured_date(no_js, axe_page, app_url: str) -> None:
    row = next(r for r in _vcfs() if r["name"] == "Example Food Bank 01")
    no_js.goto(f"{app_url}/directory?q=Example+Food+Bank+01")
    no_js.locator(".result-list h3 a", has_text="Example Food Bank 01").click()
    text = no_js.locator("main").inner_text()
    assert "ILLUSTRATIVE" in text
    year, month, day = (int(p) for p in row["last_assured"].split("-"))
    import calendar

    assert f"{day} {calendar.month_name[month]} {year}" in text
    _check_axe(no_js, axe_page, "an illustrative service page")


def test_a_ward_search_lists_only_services_inside_it(no_js, axe_page, app_url: str) -> None:
    import json

    import shapely

    wards = json.loads((DATA_DIR / "boundaries" / "wards_2022.geojson").read_text(encoding="utf-8"))["features"]
    ward = next(w for w in wards if w["properties"]["WardName"] == "West Finchley")
    outline = shapely.geometry.shape(ward["geometry"])
    inside = {r["name"] for r in _vcfs() if outline.contains(shapely.Point(float(r["longitude"]),
                                                                           float(r["latitude"])))}
    no_js.goto(f"{app_url}/directory?kind=&q=example&ward={ward['properties']['ONSWardCode']}")
    names = set(no_js.locator(".result-list h3 a").all_inner_texts())
    assert names == inside and inside


def test_unknown_directory_pages_are_404(no_js, axe_page, app_url: str) -> None:
    response = no_js.goto(f"{app_url}/directory/service/nope")
    assert response is not None and response.status == 404
    response = no_js.goto(f"{app_url}/directory/elsewhere")
    assert response is not None and response.status == 404
