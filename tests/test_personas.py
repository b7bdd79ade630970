"""Two people's days end to end in Chromium, on the real sample (issue 15): a ward councillor signs in, finds
their way back to the map, opens their ward, prints it and downloads its PDF; an analyst takes every ward's
figures in one workbook and one GeoPackage from the area page. (The strategy officer's and the partner's
journeys are in test_map_journey, test_two_figures, test_custom_areas and test_partner_onboarding.)"""
from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.conftest import DATA_DIR
from tests.partner_fixtures import PASSWORD, add_user
from tests.test_accessibility import BLOCKING, axe_violations, describe
from tests.web_support import AREA_LAYERS, close_app, loaded_app, serve

LAYERS = AREA_LAYERS | {"crime_2016_2018", "wards_2011", "gla_ward_profiles_2015"}
WARDS = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
WARD = "Burnt Oak"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("personas"), LAYERS)
    add_user(app.store.engine, "councillor@example.org", "councillor")
    try:
        yield from serve(app)
    finally:
        close_app(app)


def _no_blocking(page, where: str) -> None:
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"{where}: {describe(blocking)}"


@pytest.mark.browser
def test_a_councillor_signs_in_finds_the_map_opens_their_ward_and_prints_it(browser, app_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{app_url}/partner/sign-in")
        page.get_by_label("Email address").fill("councillor@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="explore the map").click()
        page.wait_for_url(f"{app_url}/")
        page.fill("#search", "burnt o")
        page.locator("#search-results a", has_text=f"{WARD} — Wards (from May 2022)").click()
        page.get_by_role("link", name="Full profile of this area").click()
        page.wait_for_selector("#area-profile #key-figures", timeout=30000)
        code = WARDS.loc[WARDS["WardName"] == WARD, "ONSWardCode"].item()
        assert page.url.startswith(f"{app_url}/area/wards_2022/{code}")
        assert page.locator("h1").inner_text().startswith(WARD)
        page.evaluate("() => { window.print = () => { window.printed = (window.printed || 0) + 1; }; }")
        page.get_by_role("button", name="Print this page").click()
        page.wait_for_function("window.printed === 1", timeout=5000)
        page.emulate_media(media="print")
        controls = page.locator(".view-controls")
        assert controls.count() == 1 and page.locator("nav").count() >= 1
        assert not page.locator("nav").first.is_visible() and not controls.is_visible()
        page.emulate_media(media="screen")
        pdf = page.request.get(app_url + page.locator("a[data-format=pdf]").get_attribute("href"))
        assert pdf.headers["content-type"] == "application/pdf"
        reader = PdfReader(io.BytesIO(pdf.body()))
        assert 1 <= len(reader.pages) <= 6 and WARD in reader.pages[0].extract_text()
        report = page.request.get(app_url + page.locator("a[data-format=html]").get_attribute("href"))
        assert report.headers["content-disposition"].startswith("inline")
        _no_blocking(page, "area page")
    finally:
        page.close()


def _download(page, link, folder: Path) -> Path:
    with page.expect_download() as event:
        link.click()
    path = folder / event.value.suggested_filename
    event.value.save_as(path)
    return path


@pytest.mark.browser
def test_an_analyst_takes_every_wards_figures_as_a_workbook_and_a_geopackage(browser, app_url: str,
                                                                             tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        code = WARDS.loc[WARDS["WardName"] == WARD, "ONSWardCode"].item()
        page.goto(f"{app_url}/area/wards_2022/{code}?layer=crime_2016_2018&period=2017-07:2018-06")
        page.wait_for_selector("#area-profile #key-figures", timeout=30000)
        book = load_workbook(_download(page, page.get_by_role(
            "link", name="Every area of Wards (from May 2022) as XLSX"), tmp_path), read_only=True)
        assert {"Areas", "metadata"} <= set(book.sheetnames)
        rows = list(book["Areas"].values)
        header, areas = list(rows[0]), pd.DataFrame(rows[1:], columns=rows[0])
        assert sorted(areas["code"]) == sorted(WARDS["ONSWardCode"])
        meta = pd.DataFrame(list(book["metadata"].values)[1:], columns=list(book["metadata"].values)[0])
        assert list(meta["id"]) == header
        raw = pd.read_csv(DATA_DIR / "points" / "police_api_barnet_2016-01_2018-06.csv.gz")
        for category in raw["category"].unique():
            assert {f"count:{category}", f"rate:{category}"} <= set(header), category
        assert {"residents", "imd_rank", "kind_rate:spaces", "kind_rate:services_people"} <= set(header)
        gla = [c for c in header if str(c).startswith("indicator:gla_ward_profiles_2015:")]
        assert gla, "the GLA ward profiles apportioned to the 2022 wards"
        assert meta.set_index("id").loc[gla[0], "method"]
        gpkg = _download(page, page.get_by_role("link", name="Every area of Wards (from May 2022) as GPKG"), tmp_path)
        assert {"areas", "columns"} <= {name for name, _ in pyogrio.list_layers(gpkg)}
        outlines = gpd.read_file(gpkg, layer="areas")
        assert len(outlines) == len(WARDS) and outlines.crs.to_epsg() == 4326
        book.close()
    finally:
        page.close()
