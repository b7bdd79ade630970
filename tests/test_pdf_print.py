"""Print and PDF: a ward's PDF in at most six A4 pages with its charts, the HTML report with a small map,
the static SVG charts, and the area page's print stylesheet and button in headless Chromium."""
from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insight.analysis.svg_charts import NO_DATA, Series, bar_chart, column_chart
from tests.web_support import AREA_LAYERS, close_app, loaded_app, serve

LAYERS = AREA_LAYERS | {"crime_2016_2018"}
MOST_CRIME = "E05013649"  # West Hendon: the most records of the 24 wards in 2017-07 to 2018-06
BURNT_OAK = "E05013630"
SVG = "{http://www.w3.org/2000/svg}"
AREA_FILL = re.compile(r"\b0 0\.447\d* 0\.698\d* rg")  # #0072B2, the area's bars and nothing else


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("print"), LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def client(web_app):
    return web_app.server.test_client()


@pytest.fixture(scope="module")
def app_url(web_app) -> Iterator[str]:
    yield from serve(web_app)


def _profile_json(client, code: str) -> dict:
    response = client.get(f"/api/export/wards_2022/{code}.json?comparator=borough")
    assert response.status_code == 200
    return json.loads(response.data)


def _bars(svg: str) -> list[ET.Element]:
    return [e for e in ET.fromstring(svg).iter(f"{SVG}rect") if e.get("class") == "bar"]


@pytest.mark.parametrize("code", [MOST_CRIME, BURNT_OAK], ids=["west_hendon", "burnt_oak"])
def test_a_ward_pdf_has_at_most_six_pages_its_figures_and_its_charts(client, code: str) -> None:
    response = client.get(f"/api/export/wards_2022/{code}.pdf?comparator=borough")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    assert 1 <= len(reader.pages) <= 6
    text = " ".join(page.extract_text() for page in reader.pages)
    profile = _profile_json(client, code)
    figures = {f["metric"]: f for f in profile["figures"]}
    assert profile["area"]["name"] in text and "Barnet" in text
    assert f"{figures['points_total']['value']:,.0f}" in text
    assert f"{figures['points_rate']['value']:,.1f}" in text
    assert f"{figures['residents']['value']:,.0f}" in text
    # one caption per chart: records by month, crime by category, ages, deprivation deciles, assets by kind
    assert text.count("Chart:") == 5
    # the area's bars are drawn as vector shapes in its own colour: a month bar for each month with records,
    # and a category bar for each category with a rate above zero
    fills = sum(len(AREA_FILL.findall(page.get_contents().get_data().decode("latin-1"))) for page in reader.pages)
    categories = sum(1 for m, f in figures.items() if m.startswith("rate:") and f["value"] > 0)
    months = sum(1 for m in profile["monthly"] if m["records"] > 0)
    assert categories > 5 and months == 12
    assert fills >= months + categories


def test_the_html_report_opens_in_the_browser_with_a_small_map_and_no_script(client) -> None:
    response = client.get(f"/api/export/wards_2022/{BURNT_OAK}.html")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("inline")
    page = response.data.decode("utf-8")
    assert "<script" not in page.lower()
    svg = re.search(r'<svg[^>]*class="map-svg"[^>]*>', page)
    assert svg is not None
    width, height = (float(re.search(rf'\b{a}="([\d.]+)"', svg.group(0)).group(1)) for a in ("width", "height"))
    assert 0 < width <= 480 and 0 < height <= 360
    assert re.search(r"\.map svg\{[^}]*max-width:min\(100%,480px\)", page)
    assert page.count("<figcaption>Chart:") == 5
    assert "@page{size:A4 portrait" in page


@pytest.mark.parametrize("path", ["/api/export/wards_2022/E05999999.pdf", "/api/export/no_such_layer/E05013630.pdf",
                                  "/api/export/wards_2022/%3Cscript%3E.pdf"])
def test_an_unknown_area_or_boundary_answers_plainly_never_500(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.data)["error"]


def test_bar_lengths_are_proportional_and_missing_values_draw_nothing() -> None:
    svg = bar_chart("t", ["Ten", "Five", "Zero", "Missing"], [Series("Area", [10.0, 5.0, 0.0, math.nan])],
                    title="Test", width=640, label_width=190)
    widths = [float(b.get("width")) for b in _bars(svg)]
    assert widths == [380.0, 190.0, 0.0, 0.0]  # plot width 640 - 190 - 70 = 380 for the largest value
    assert NO_DATA in svg and "Missing: Area no data" in svg
    paired = bar_chart("p", ["A", "B"], [Series("Area", [2.0, 8.0]), Series("Borough", [4.0, 1.0], "#B5441A")],
                       title="Pairs")
    assert [float(b.get("width")) for b in _bars(paired)] == [95.0, 190.0, 380.0, 47.5]  # 2, 4, 8, 1 of the largest 8
    # characters XML cannot hold (a stray control character in a name) are dropped, not left to break the image
    control = ET.fromstring(bar_chart("c", ["Tab\tand\x00nul"], [Series("A\x1b", [1.0])], title="T\x07"))
    assert [t.text for t in control.iter(f"{SVG}text")][-2:] == ["Tab\tandnul", "1"]


def test_column_heights_are_proportional_to_the_values() -> None:
    svg = column_chart("m", ["2024-01", "2024-02", "2024-03"], [30.0, 15.0, 0.0], title="By month", desc="d",
                       height=170)
    heights = [float(b.get("height")) for b in _bars(svg)]
    assert heights == [126.0, 63.0, 0.0]  # plot height 170 - 36 - 8 = 126 for the largest value
    assert ET.fromstring(svg).find(f"{SVG}title").text == "By month"


printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9).map(float))


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(printable, min_size=1, max_size=6), data=st.data())
def test_charts_escape_every_label_and_never_write_nan(labels: list[str], data: st.DataObject) -> None:
    area = data.draw(st.lists(values, min_size=len(labels), max_size=len(labels)))
    name = data.draw(printable)
    svg = bar_chart("h", labels, [Series(name, area), Series("<b>&", area[::-1], "#B5441A")], title=name)
    root = ET.fromstring(svg)  # well-formed: every label was escaped
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for label in labels:
        assert label.strip() == "" or any(t == label for t in texts) or label in root.find(f"{SVG}desc").text
    numbers = [b.get(a) for b in _bars(svg) for a in ("x", "y", "width", "height")]
    assert all(math.isfinite(float(n)) and float(n) >= 0 for n in numbers)
    written = {*labels, name, "<b>&"}
    for text in texts:
        assert text in written or text == NO_DATA or not ("nan" in text.lower() or "inf" in text.lower()), text
    for element in root.iter():
        for attribute in ("x", "y", "x1", "x2", "y1", "y2", "width", "height"):
            if element.get(attribute) is not None:
                assert math.isfinite(float(element.get(attribute))), (element.tag, attribute)
    columns = column_chart("c", labels, area, title=name, desc=name)
    assert all(math.isfinite(float(b.get("height"))) for b in _bars(columns))


@pytest.mark.browser
def test_the_area_page_prints_without_menus_or_form_in_six_pages(browser, app_url: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/area/wards_2022/{MOST_CRIME}")
        page.wait_for_selector("#area-profile #key-figures", timeout=30000)
        button = page.get_by_role("button", name="Print this page")
        assert button.is_visible()
        page.evaluate("() => { window.print = () => { window.printed = (window.printed || 0) + 1; }; }")
        button.click()
        page.wait_for_function("window.printed === 1", timeout=5000)
        assert page.locator("#area-profile a[data-format=pdf]").get_attribute("href").startswith(
            f"/api/export/wards_2022/{MOST_CRIME}.pdf?")
        assert not page.locator("img.print-chart").first.is_visible()
        page.emulate_media(media="print")
        for selector in (".banner", "nav", ".skip-link", ".view-controls", "#area-print", ".page-links"):
            assert page.eval_on_selector(selector, "e => getComputedStyle(e).display") == "none", selector
        assert page.locator("img.print-chart").count() == 2
        assert page.locator("img.print-chart").first.is_visible()
        pdf = pypdf.PdfReader(io.BytesIO(page.pdf(format="A4")))
        assert len(pdf.pages) <= 6
        assert "West Hendon" in pdf.pages[0].extract_text()
    finally:
        page.close()
