"""The area page, the compare view and the catalogue in headless Chromium against the real app on
loopback, plus their callbacks called directly."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from insight.analysis.profiles import profile
from insight.web.figures import fmt
from tests.web_support import AREA_LAYERS, app_places, close_app, loaded_app, serve

PAGE_LAYERS = AREA_LAYERS | {"crime_2016_2018"}
WARD = "E05013630"  # Burnt Oak
OTHER = "E05013643"  # Hendon
THIRD = "E05013628"  # Barnet Vale
CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "html": "text/html",
}
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("pages"), PAGE_LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def places(web_app):
    return app_places(web_app)


@pytest.fixture(scope="module")
def app_url(web_app) -> Iterator[str]:
    yield from serve(web_app)


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _open_area(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#area-profile #key-figures", timeout=20000)


def _figure(result, metric: str, column: str = "value") -> float:
    return float(result.figures.loc[result.figures["metric"] == metric, column].iloc[0])


# ---- area page in the browser ---------------------------------------------------------------------


def test_area_page_shows_the_wards_profile(page, app_url: str, places) -> None:
    expected = profile(places, "wards_2022", WARD)
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}")
    assert page.locator("h1").inner_text() == expected.name == "Burnt Oak"
    cards = page.locator("#area-profile .cards").inner_text()
    assert fmt(_figure(expected, "residents"), "people") in cards
    assert fmt(_figure(expected, "points_rate"), "per 1,000") in cards
    rank = f"rank {_figure(expected, 'points_rate', 'rank'):.0f} of {_figure(expected, 'points_rate', 'of'):.0f}"
    assert rank in cards
    crime = page.locator("section[aria-labelledby=crime]").inner_text()
    assert fmt(_figure(expected, "points_total"), "records") in crime
    assert "Deprivation" in page.locator("#deprivation").inner_text()
    assert "Read this first" in page.locator(".notes").inner_text()
    shapes = "#area-map .leaflet-overlay-pane path.leaflet-interactive"
    page.wait_for_function(f"document.querySelectorAll('{shapes}').length === {len(expected.assets) + 1}")
    assert page.locator("#area-map .leaflet-tile-pane img").count() == 0


def test_charts_have_headings_summaries_and_table_alternatives(page, app_url: str, places) -> None:
    expected = profile(places, "wards_2022", WARD)
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}")
    page.wait_for_selector("#trend-chart .main-svg")
    page.wait_for_selector("#category-chart .main-svg")
    assert page.locator("#trend-chart-heading").inner_text() == "Records by month"
    summary = page.locator("#trend-chart-summary").inner_text()
    assert f"{int(expected.monthly['records'].sum()):,} records in {len(expected.monthly)} months" in summary
    assert page.locator("#trend-table tbody tr").count() == len(expected.monthly)
    first = expected.monthly.iloc[0]
    assert page.locator("#trend-table tbody tr").first.text_content() == f"{first['month']}{int(first['records']):,}"
    categories = [m for m in expected.figures["metric"] if m.startswith("rate:")]
    assert page.locator("#category-table tbody tr").count() == len(categories)
    assert page.locator("figure.chart[aria-describedby=category-chart-summary]").count() == 1
    page.get_by_text("Table of the data in 'Records by month'").click()
    assert page.locator("#trend-table").is_visible()


def test_export_links_download_files(page, app_url: str) -> None:
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}?comparator=average")
    links = page.locator("#area-profile .exports a")
    assert links.count() == len(CONTENT_TYPES)
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        fmt_ = links.nth(i).get_attribute("data-format")
        assert href.startswith(f"/api/export/wards_2022/{WARD}.{fmt_}?") and "comparator=average" in href
        response = page.request.get(app_url + href)
        assert response.status == 200, href
        assert response.headers["content-type"].startswith(CONTENT_TYPES[fmt_]), href
        # the HTML report opens in the browser; every other format downloads
        disposition = "inline" if fmt_ == "html" else "attachment"
        assert response.headers["content-disposition"].startswith(disposition), href
        body = response.body()
        if fmt_ == "csv":
            assert body.startswith(b"area_code,area_name")
        elif fmt_ in ("json", "geojson"):
            assert json.loads(body)
        elif fmt_ == "xlsx":
            assert body[:2] == b"PK"
        elif fmt_ == "gpkg":
            assert body.startswith(b"SQLite format 3")
        else:
            assert b"Burnt Oak" in body
    table = page.locator("#area-profile a[href^='/api/table/wards_2022.csv']").get_attribute("href")
    assert page.request.get(app_url + table).status == 200


def test_changing_the_comparator_updates_the_url_and_the_figures(page, app_url: str, places) -> None:
    average = profile(places, "wards_2022", WARD, comparator="average")
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}")
    assert _query(page) == {}
    page.get_by_label("Compare with").select_option("average")
    page.get_by_role("button", name="Show figures").click()
    page.wait_for_function("window.location.search.includes('comparator=average')")
    page.wait_for_selector(f"#area-status:has-text('{average.comparator}')")
    expected = fmt(_figure(average, "residents", "comparator_value"), "people")
    assert f"{average.comparator}: {expected}" in page.locator("#area-profile .cards").inner_text()
    export = page.locator("#area-profile .exports a").first.get_attribute("href")
    assert "comparator=average" in export
    page.reload()
    page.wait_for_selector(f"#area-status:has-text('{average.comparator}')")
    assert page.get_by_label("Compare with").input_value() == "average"


def test_changing_the_period_updates_the_url_and_the_trend(page, app_url: str, places) -> None:
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}?layer=crime_2016_2018")
    page.get_by_label("From", exact=True).select_option("2017-01")
    page.get_by_label("To", exact=True).select_option("2017-03")
    page.get_by_role("button", name="Show figures").click()
    page.wait_for_function("window.location.search.includes('period=2017-01%3A2017-03')")
    page.wait_for_selector("#trend-chart-summary:has-text('3 months from 2017-01 to 2017-03')")
    assert page.locator("#trend-table tbody tr").count() == 3
    expected = profile(places, "wards_2022", WARD, crime_layer="crime_2016_2018", period=(24204, 24206))
    crime = page.locator("section[aria-labelledby=crime]").inner_text()
    assert fmt(_figure(expected, "points_total"), "records") in crime


def test_a_shared_link_reproduces_the_view(page, app_url: str, places) -> None:
    url = f"{app_url}/area/wards_2022/{WARD}?comparator=wards_2022:{OTHER}&layer=crime_2016_2018&period=2017-07:2017-12"
    expected = profile(places, "wards_2022", WARD, comparator=f"wards_2022:{OTHER}", crime_layer="crime_2016_2018",
                       period=(24210, 24215))
    _open_area(page, url)
    assert page.locator("#area-status").inner_text() == (
        f"Showing Burnt Oak compared with {expected.comparator} for 2017-07 to 2017-12.")
    assert page.get_by_label("Compare with").input_value() == f"wards_2022:{OTHER}"
    assert page.get_by_label("From", exact=True).input_value() == "2017-07"
    assert page.locator("#area-problems").inner_text() == ""


def test_unknown_area_code_shows_an_alert_listing_the_areas(page, app_url: str) -> None:
    page.goto(f"{app_url}/area/wards_2022/NOPE")
    alert = page.wait_for_selector("[role=alert]")
    assert "No area 'NOPE' in wards_2022" in alert.inner_text()
    assert page.locator("h1").inner_text() == "Area not found"
    assert page.locator(f".area-list a[href='/area/wards_2022/{WARD}']").inner_text() == f"Burnt Oak ({WARD})"
    page.goto(f"{app_url}/area/nowhere/X1")
    alert = page.wait_for_selector("[role=alert]")
    assert "No boundary layer 'nowhere'" in alert.inner_text() and "wards_2022" in alert.inner_text()
    assert page.locator(".area-list a", has_text="Wards (from May 2022)").count() == 1


def test_bad_query_parameters_are_named_and_the_profile_still_shows(page, app_url: str) -> None:
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}?comparator=zzz&layer=ghosts&period=2024-13:2024-01")
    problems = page.locator("#area-problems").inner_text()
    assert "comparator 'zzz'" in problems and "no point layer 'ghosts'" in problems
    assert "period" in problems and "2024-13" in problems
    assert page.locator("#area-problems").get_attribute("role") == "alert"
    assert page.locator("h1").inner_text() == "Burnt Oak"


# ---- compare and catalogue in the browser ------------------------------------------------------------


def test_compare_shows_two_wards_side_by_side(page, app_url: str, places) -> None:
    page.goto(f"{app_url}/compare?boundary=wards_2022&areas={WARD},{OTHER}")
    table = page.wait_for_selector("#comparison")
    headings = page.locator("#comparison thead th a")
    assert headings.count() == 2
    assert headings.nth(0).inner_text() == "Burnt Oak" and headings.nth(1).inner_text() == "Hendon"
    assert headings.nth(1).get_attribute("href").startswith(f"/area/wards_2022/{OTHER}")
    residents = page.locator("#comparison tbody tr").first.locator("td")
    for i, code in enumerate((WARD, OTHER)):
        expected = profile(places, "wards_2022", code)
        assert residents.nth(i).inner_text() == fmt(_figure(expected, "residents"), "people")
    assert "per 1,000" in table.inner_text()


def test_compare_form_adds_an_area_and_updates_the_url(page, app_url: str) -> None:
    page.goto(f"{app_url}/compare?boundary=wards_2022&areas={WARD},{OTHER}")
    page.wait_for_selector("#comparison")
    page.get_by_label("Area 3 (optional)").select_option(THIRD)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_function("document.querySelectorAll('#comparison thead th a').length === 3")
    assert _query(page)["areas"] == [f"{WARD},{OTHER},{THIRD}"]
    page.get_by_label("Boundary layer").select_option("town_centres")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_function("window.location.search.includes('boundary=town_centres')")
    assert page.locator("#comparison").count() == 0
    assert "areas" not in _query(page) and page.locator("#compare-problems").inner_text() == ""
    assert page.get_by_label("Area 1").locator("option").count() > 1


def test_compare_names_unknown_codes(page, app_url: str) -> None:
    page.goto(f"{app_url}/compare?boundary=wards_2022&areas={WARD},ZZZ,{OTHER}")
    page.wait_for_selector("#comparison")
    alert = page.locator("#compare-problems")
    assert alert.get_attribute("role") == "alert" and "No area 'ZZZ' in Wards (from May 2022)" in alert.inner_text()
    assert page.locator("#comparison thead th a").count() == 2


def test_catalogue_lists_every_loaded_layer_with_its_licence(page, app_url: str, places) -> None:
    page.goto(f"{app_url}/catalogue")
    page.wait_for_selector("#catalogue")
    rows = page.locator("#catalogue tbody tr")
    assert rows.count() == len(places.layers) == len(PAGE_LAYERS)
    text = {rows.nth(i).locator("th").inner_text(): rows.nth(i).inner_text() for i in range(rows.count())}
    for meta in places.layers.values():
        title = next(t for t in text if t.startswith(meta.title))
        assert meta.licence and meta.licence in text[title], meta.name


# ---- callbacks and page functions called directly ------------------------------------------------


def _texts(component) -> str:
    """All the text in a component tree, for assertions on callback output."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(_texts(c) for c in component)
    return _texts(getattr(component, "children", None))


def test_update_view_puts_the_choice_in_the_url(web_app, places) -> None:
    from insight.web.area import update_view

    key = {"boundary": "wards_2022", "code": WARD}
    choice = {"comparator": "average", "layer": "crime_2016_2018", "from": "2017-01", "to": "2017-06"}
    with web_app.server.test_request_context():
        search, body, problems, problem_class, status, period = update_view(choice, key)
    assert parse_qs(search[1:]) == {"comparator": ["average"], "layer": ["crime_2016_2018"],
                                    "period": ["2017-01:2017-06"]}
    assert problems is None and problem_class is None
    expected = profile(places, "wards_2022", WARD, comparator="average", crime_layer="crime_2016_2018",
                       period=(24204, 24209))
    assert status == f"Showing Burnt Oak compared with {expected.comparator} for 2017-01 to 2017-06."
    assert fmt(_figure(expected, "points_total"), "records") in _texts(body)
    assert "2017-06" in _texts(period)


def test_update_view_reports_what_it_changed(web_app) -> None:
    from insight.web.area import update_view

    key = {"boundary": "wards_2022", "code": WARD}
    with web_app.server.test_request_context():
        search, _, problems, problem_class, _, _ = update_view(
            {"comparator": "nowhere:X", "layer": "crime_2016_2018", "from": "2018-03", "to": "2017-12"}, key)
    assert "period=2017-12%3A2018-03" in search and "comparator=borough" in search
    assert "swapped" in problems and "no boundary layer 'nowhere'" in problems and problem_class == "status"


def test_update_view_with_a_one_month_layer(web_app) -> None:
    from insight.web.area import update_view

    key = {"boundary": "wards_2022", "code": WARD}
    with web_app.server.test_request_context():
        search, body, problems, _, _, period = update_view(
            {"comparator": "borough", "layer": "crime_2024_04", "from": "2017-01", "to": "2017-06"}, key)
    assert "period=2024-04%3A2024-04" in search and "outside the data" in problems
    assert "from 2024-04 to 2024-04" in _texts(body)
    assert "2024-04" in _texts(period)


def test_parse_view_accepts_names_and_repeated_parameters(places) -> None:
    from insight.web.area import parse_view

    view, problems = parse_view(places, "wards_2022", "burnt oak", {"comparator": ["average", "wards_2022:Hendon"]})
    assert view.code == WARD and view.comparator == f"wards_2022:{OTHER}" and problems == []
    assert view.layer == "crime_2016_2018" and view.period == (24210, 24221)


def test_area_layout_for_an_unknown_area_is_a_readable_page(web_app) -> None:
    from insight.web.area import layout

    with web_app.server.test_request_context():
        page = layout(boundary="wards_2022", code="<script>")
    text = _texts(page)
    assert "No area '<script>' in wards_2022" in text and "Burnt Oak" in text


def test_update_comparison_callback(web_app, places) -> None:
    from insight.web.compare import update_comparison

    with web_app.server.test_request_context():
        search, fields, result, problems, _, status = update_comparison(
            {"boundary": "wards_2022", "areas": [WARD, OTHER, WARD]}, {"layer": "crime_2016_2018"})
    assert parse_qs(search[1:])["areas"] == [f"{WARD},{OTHER}"]
    assert problems is None and status == "Comparing 2 areas of Wards (from May 2022): Burnt Oak, Hendon."
    assert len(fields) == 4
    text = _texts(result)
    for code in (WARD, OTHER):
        assert fmt(_figure(profile(places, "wards_2022", code), "residents"), "people") in text


def test_compare_parse_view_validates_every_parameter(places) -> None:
    from insight.web.compare import MAX_AREAS, parse_view

    codes = ",".join(places.boundary("wards_2022").areas["code"])
    view, problems = parse_view(places, {"boundary": "nope", "areas": codes, "period": "bad", "layer": "<x>"})
    assert view.boundary == "wards_2022" and len(view.areas) == MAX_AREAS
    joined = " ".join(problems)
    for words in ("no boundary layer 'nope'", f"At most {MAX_AREAS}", "no point layer '<x>'", "period"):
        assert words in joined
    view, problems = parse_view(places, {"boundary": "town_centres", "areas": WARD})
    assert view.areas == () and re.search(r"No area 'E05013630' in .*town_centres", problems[0])


def test_update_comparison_switching_layer_drops_areas(web_app) -> None:
    from insight.web.compare import update_comparison

    with web_app.server.test_request_context():
        search, fields, result, problems, _, _ = update_comparison(
            {"boundary": "town_centres", "areas": [WARD]}, {"layer": None, "period": None})
    assert search.startswith("?boundary=town_centres") and "areas" not in search
    assert "Choose two or more areas" in _texts(result) and problems is None


def test_pages_css_is_served(app_url: str, page) -> None:
    _open_area(page, f"{app_url}/area/wards_2022/{WARD}")
    sheets = page.evaluate("Array.from(document.styleSheets).map(s => s.href || '')")
    assert any(Path(urlparse(s).path).name.startswith("pages.css") for s in sheets)


def test_page_title_names_the_area(web_app) -> None:
    from insight.web.area import page_title

    with web_app.server.test_request_context():
        assert page_title(boundary="wards_2022", code=WARD).startswith("Burnt Oak (Wards (from May 2022))")
        assert page_title(boundary="wards_2022", code="NOPE") == "Area not found — Local Insight"


def test_pages_say_when_the_database_is_unavailable(tmp_path: Path) -> None:
    from insight.config import load_settings
    from insight.web import area, compare, create_app
    from tests.conftest import DATA_DIR, LAYERS_DIR

    settings = load_settings(env={}, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none", tile_url="",
                             data_dir=str(DATA_DIR), layers_dir=str(LAYERS_DIR), home=str(tmp_path))
    app = create_app(settings)
    with app.server.test_request_context():
        pages = [area.layout(boundary="wards_2022", code=WARD), compare.layout()]
        update = area.update_view({"comparator": "average"}, {"boundary": "wards_2022", "code": WARD})
    for page in pages:
        assert "The database is not available" in _texts(page)
    assert "The database is not available" in update[2]


# ---- plotly.js: the basic bundle draws every chart ------------------------------------------------


def _trace_types(component) -> set[str]:
    """The trace types of every figure in a component tree."""
    if isinstance(component, (list, tuple)):
        return set().union(*(_trace_types(c) for c in component)) if component else set()
    if component is None or isinstance(component, (str, int, float)):
        return set()
    figure = getattr(component, "figure", None)
    found = {trace.get("type", "scatter") for trace in figure["data"]} if isinstance(figure, dict) else set()
    return found | _trace_types(getattr(component, "children", None))


def test_every_chart_of_the_area_and_compare_pages_is_a_trace_type_the_basic_bundle_holds(web_app, places) -> None:
    from insight.web.area import layout as area_layout
    from insight.web.compare import layout as compare_layout
    from insight.web.plotly_bundle import TRACE_TYPES

    codes = places.boundary("wards_2022").areas["code"].tolist()
    with web_app.server.test_request_context():
        pages = [area_layout(boundary="wards_2022", code=code) for code in codes[:3]]
        pages.append(area_layout(boundary="wards_2022", code=WARD, comparator="average", period="2017-01:2017-06"))
        pages.append(compare_layout(boundary="wards_2022", areas=f"{WARD},{OTHER}"))
    types = _trace_types(pages)
    assert "bar" in types
    assert types <= TRACE_TYPES


def test_area_page_charts_are_drawn_by_the_basic_plotly_bundle_of_plotlys_version(page, app_url: str) -> None:
    from plotly.offline import get_plotlyjs_version

    _open_area(page, f"{app_url}/area/wards_2022/{WARD}")
    page.wait_for_selector("#trend-chart .main-svg")
    assert page.evaluate("window.Plotly.version") == get_plotlyjs_version()
    served = page.evaluate(
        "fetch('/_dash-component-suites/plotly/package_data/plotly.min.js').then(r => r.text())"
        ".then(t => [t.length, t.slice(0, 60)])")
    assert served[0] < 1_500_000 and "plotly.js (basic - minified)" in served[1]


def test_search_results_for_places_link_to_the_ward_they_are_in_with_their_layer_shown(web_app, places) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    from insight.analysis.views import search
    from insight.web.explore import search_results
    from tests.conftest import DATA_DIR

    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
    with web_app.server.test_request_context():
        hits = [h for h in search(places, "school") if h["type"] == "feature"]
        items = search_results("school", "wards_2022")
    assert hits, "the sample's schools are found by name"
    links = {item.children.children: item.children.href for item in items if hasattr(item.children, "href")}
    for hit in hits:
        inside = wards[wards.contains(Point(hit["lon"], hit["lat"]))]
        label = f"{hit['name']} — {hit['layer_title']}"
        if inside.empty:
            assert label not in links
            continue
        query = parse_qs(urlparse(links[label]).query)
        assert query["area"] == [inside["ONSWardCode"].iloc[0]] and query["layers"] == [hit["layer"]]


def test_the_every_area_table_downloads_as_a_geopackage_with_outlines_and_an_about_table(web_app, tmp_path) -> None:
    import io

    import geopandas as gpd
    import pandas as pd
    import pyogrio

    from tests.conftest import DATA_DIR

    client = web_app.server.test_client()
    query = {"layer": "crime_2016_2018", "period": "2017-07:2018-06"}
    response = client.get("/api/table/wards_2022.gpkg", query_string=query)
    assert response.status_code == 200
    path = tmp_path / "wards.gpkg"
    path.write_bytes(response.data)
    assert {name for name, _ in pyogrio.list_layers(path)} == {"areas", "about", "columns"}
    areas = gpd.read_file(path, layer="areas").set_index("code").sort_index()
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson").set_index("ONSWardCode").sort_index()
    assert list(areas.index) == list(wards.index)
    assert areas.geometry.to_crs(27700).area.round(-2).tolist() == wards.geometry.to_crs(27700).area.round(-2).tolist()
    csv = pd.read_csv(io.BytesIO(client.get("/api/table/wards_2022.csv", query_string=query).data)).set_index("code")
    assert areas["points_total"].tolist() == csv.sort_index()["points_total"].tolist()
    about = pyogrio.read_dataframe(path, layer="about")
    assert {"item", "value"} <= set(about.columns) and len(about) > 0
