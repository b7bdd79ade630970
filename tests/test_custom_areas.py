"""Custom areas: files and lists read into one area, stored once under a content id on both back ends,
profiled like a ward through the page and the JSON twin, and a browser journey from upload to shared link.

Expected outlines come from reading the shipped LSOA file with geopandas (not the code under test);
expected figures come from the ward's own profile, which the app computes by another route (stored
area tags, where a custom area is counted by a polygon query).
"""
from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from insight.errors import BadRequest, NotFoundError
from insight.sources.custom_area import AreaLimits, ParsedArea, area_from_codes, checked_area, read_area_file
from insight.sources.postcodes import read_postcodes
from insight.store.custom_areas import get_custom_area, save_custom_area
from insight.store.postcodes import replace_postcodes
from tests.conftest import DATA_DIR, open_store
from tests.test_accessibility import BLOCKING, axe_violations, describe
from tests.web_support import AREA_LAYERS, close_app, loaded_app, serve

LSOA_FILE = DATA_DIR / "boundaries" / "lsoa_2021_bng.geojson"
NSPL = Path(__file__).resolve().parents[2] / "shared" / "data" / "postcodes" / "NSPL_NOV_2021_UK_WC.csv"


@pytest.fixture(scope="module")
def lsoas() -> gpd.GeoDataFrame:
    """The shipped LSOAs in lon/lat, with a 'code' column as the app keeps them."""
    frame = gpd.read_file(LSOA_FILE).to_crs("EPSG:4326")
    return frame.rename(columns={"LSOA21CD": "code"})


def _same(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    """Two outlines agree to within 0.01% of their area (storage rounds corners to 1e-7 degrees, about 1 cm)."""
    return shapely.area(shapely.symmetric_difference(a, b)) < 1e-4 * shapely.area(b)


def _feature_collection(frame: gpd.GeoDataFrame) -> bytes:
    return frame.to_json().encode()


def test_geojson_zipped_shapefile_and_kml_give_the_lsoa_outline(lsoas, tmp_path) -> None:
    one = lsoas.iloc[[0]]
    expected = one.geometry.iloc[0]
    bng = gpd.read_file(LSOA_FILE).iloc[[0]]
    document = json.loads(bng.to_json(to_wgs84=False))
    document["crs"] = {"type": "name", "properties": {"name": "EPSG:27700"}}
    from_bng = read_area_file("area.geojson", json.dumps(document).encode())
    assert _same(from_bng.geometry, expected) and any("Reprojected" in n for n in from_bng.notes)
    assert _same(read_area_file("area.geojson", _feature_collection(one)).geometry, expected)
    bng.to_file(tmp_path / "lsoa.shp")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for part in ("shp", "shx", "dbf", "prj"):
            z.write(tmp_path / f"lsoa.{part}", f"lsoa.{part}")
    assert _same(read_area_file("lsoa.zip", archive.getvalue()).geometry, expected)
    one[["code", "geometry"]].to_file(tmp_path / "lsoa.kml", driver="KML")
    assert _same(read_area_file("lsoa.kml", (tmp_path / "lsoa.kml").read_bytes()).geometry, expected)
    two = read_area_file("two.geojson", _feature_collection(lsoas.iloc[[0, 1]]))
    assert _same(two.geometry, shapely.union_all(lsoas.geometry.values[:2]))


def test_bad_files_are_refused_naming_the_feature_or_line_and_the_reason(lsoas) -> None:
    collection = json.loads(lsoas.iloc[[0]].to_json())
    collection["features"].append({"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                                                      "coordinates": [-0.2, 51.6]}})
    with pytest.raises(BadRequest, match=r"feature 2: it is a Point; only polygons"):
        read_area_file("mixed.geojson", json.dumps(collection).encode())
    with pytest.raises(BadRequest, match=r"line 2, column \d+: not valid JSON"):
        read_area_file("cut.geojson", b'{"type": "FeatureCollection",\n "features": [')
    undeclared = json.loads(gpd.read_file(LSOA_FILE).iloc[[0]].to_json(to_wgs84=False))
    undeclared.pop("crs", None)
    with pytest.raises(BadRequest, match="British National Grid"):
        read_area_file("bng.geojson", json.dumps(undeclared).encode())
    with pytest.raises(BadRequest, match="DOCTYPE"):
        read_area_file("x.kml", b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "b">]><kml></kml>')
    sneaky = io.BytesIO()
    with zipfile.ZipFile(sneaky, "w") as z:
        z.writestr("../../etc/area.shp", b"\x00\x00\x27\x0a")
    with pytest.raises(BadRequest, match="leads outside the archive"):
        read_area_file("sneaky.zip", sneaky.getvalue())
    with pytest.raises(BadRequest, match="are not read"):
        read_area_file("area.exe", b"MZ")
    with pytest.raises(BadRequest, match="the limit is 10"):
        read_area_file("big.geojson", b"{" * 11, limits=AreaLimits(max_bytes=10))


def test_checks_refuse_areas_too_detailed_too_large_or_elsewhere(lsoas) -> None:
    barnet = shapely.union_all(lsoas.geometry.values)
    lsoa = ParsedArea(lsoas.geometry.iloc[0], "test")
    assert checked_area(lsoa, coverage=barnet).geometry is lsoa.geometry
    corners = int(shapely.get_num_coordinates(lsoa.geometry))
    with pytest.raises(BadRequest, match=f"{corners:,} corner points"):
        checked_area(lsoa, coverage=barnet, limits=AreaLimits(max_vertices=corners - 1))
    with pytest.raises(BadRequest, match="km²"):
        checked_area(ParsedArea(shapely.box(-1.0, 51.0, 0.5, 52.0), "box"), coverage=barnet)
    with pytest.raises(BadRequest, match="does not overlap"):
        checked_area(ParsedArea(shapely.box(-3.0, 53.0, -2.99, 53.01), "Manchester-ish"), coverage=barnet)


def test_a_list_of_lsoa_codes_is_the_union_of_those_lsoas(lsoas) -> None:
    codes = lsoas["code"].tolist()
    area = area_from_codes(f"{codes[3]}\n{codes[7].lower()}, {codes[3]}\n", small_areas=lsoas, engine=None)
    assert _same(area.geometry, shapely.union_all(lsoas.geometry.values[[3, 7]]))
    with pytest.raises(BadRequest, match=rf"line 3: E01999999 is not one of the {len(lsoas)} loaded LSOAs.*"
                                         r"line 4: 'banana' is neither a postcode"):
        area_from_codes(f"{codes[0]}\n\nE01999999\nbanana", small_areas=lsoas, engine=None)


@pytest.mark.skipif(not NSPL.is_file(), reason="the shared NSPL extract is beside the repository")
def test_postcodes_become_the_lsoas_holding_their_points(lsoas, tmp_path) -> None:
    store = open_store("spatialite", tmp_path)
    try:
        frame = read_postcodes(NSPL, "nspl").frame
        replace_postcodes(store.engine, frame)
        live = frame[frame["terminated"].isna() & frame["lon"].notna()]
        far = (live["lon"] - live["lon"].iloc[0]).abs() + (live["lat"] - live["lat"].iloc[0]).abs() > 0.01
        live = live.iloc[[0, int(far.to_numpy().argmax())]]
        (x1, y1), (x2, y2) = zip(live["lon"], live["lat"], strict=True)
        squares = gpd.GeoDataFrame({"code": ["E01900001", "E01900002", "E01900003"]}, crs="EPSG:4326", geometry=[
            shapely.box(x1 - .001, y1 - .001, x1 + .001, y1 + .001), shapely.box(x2 - .001, y2 - .001, x2 + .001,
                                                                                y2 + .001),
            shapely.box(0.0, 50.0, 0.01, 50.01)])
        text = f"{live['display'].iloc[0]}\n{live['postcode'].iloc[1].lower()}"
        area = area_from_codes(text, small_areas=squares, engine=store.engine)
        assert _same(area.geometry, shapely.union_all(squares.geometry.values[:2]))
        with pytest.raises(BadRequest, match=rf"line 1: {live['display'].iloc[0]} lies outside the loaded LSOAs"):
            area_from_codes(live["display"].iloc[0], small_areas=lsoas, engine=store.engine)
        with pytest.raises(BadRequest, match="line 2: NW9 9ZZ is not in the loaded postcode file"):
            area_from_codes(f"{live['display'].iloc[0]}\nNW9 9ZZ", small_areas=squares, engine=store.engine)
    finally:
        store.close()


def test_the_store_keeps_one_row_per_outline_even_when_saved_at_once(store, lsoas) -> None:
    polygon = lsoas.geometry.iloc[0]
    turned = shapely.Polygon(list(polygon.exterior.coords)[::-1][5:] + list(polygon.exterior.coords)[::-1][1:6])
    ids: list[str] = []
    errors: list[BaseException] = []

    def save() -> None:
        try:
            ids.append(save_custom_area(store.engine, turned, name=" First name "))
        except BaseException as exc:
            errors.append(exc)

    first = save_custom_area(store.engine, polygon, name="First name")
    threads = [threading.Thread(target=save) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and ids == [first, first] and len(first) == 16
    assert save_custom_area(store.engine, lsoas.geometry.iloc[1], name="First name") != first
    assert save_custom_area(store.engine, polygon, name="Another name") != first
    found = get_custom_area(store.engine, first)
    assert found.name == "First name" and _same(found.geometry, polygon)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM custom_areas").scalar_one() == 3
    with pytest.raises(NotFoundError, match="no custom area"):
        get_custom_area(store.engine, "0123456789abcdef")
    with pytest.raises(NotFoundError, match="is not a custom area's id"):
        get_custom_area(store.engine, "../etc/passwd")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = loaded_app(tmp_path_factory.mktemp("custom"), AREA_LAYERS)
    yield app
    close_app(app)


def _ward(client) -> dict:
    wards = client.get("/api/layers/wards_2022.geojson").get_json()
    return wards["features"][3]


def _figure(body: dict, metric: str) -> float:
    return next(f["value"] for f in body["figures"] if f["metric"] == metric)


def test_posting_a_wards_outline_gives_the_wards_residents_and_crime(app) -> None:
    client = app.server.test_client()
    ward = _ward(client)
    code = ward["properties"]["code"]
    own = client.get(f"/api/profile/wards_2022/{code}.json").get_json()
    answer = client.post("/api/profile/custom.json", json={"geometry": ward["geometry"], "name": "My ward"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["name"] == "My ward" and body["url"] == f"/area/custom/{body['id']}"
    assert body["comparator"] == own["comparator"]
    assert set(body) >= set(own)
    assert _figure(body, "points_total") == _figure(own, "points_total")
    # A drawn area's residents are estimated from the small areas it covers, with bounds; the ward's own
    # figure (from the published LSOA-to-ward lookup) must lie within them.
    assert _figure(body, "residents_lower") <= _figure(own, "residents") <= _figure(body, "residents_upper")
    again = client.get(f"/api/profile/custom/{body['id']}.json?comparator=average").get_json()
    assert again["comparator"].startswith("average of the 24 areas")
    export = client.get(f"/api/export/custom/{body['id']}.csv")
    assert export.status_code == 200 and b"My ward" in export.data


def test_the_json_twin_refuses_bad_requests_plainly(app) -> None:
    client = app.server.test_client()
    bad_json = client.post("/api/profile/custom.json", data=b"{", content_type="application/json")
    assert bad_json.status_code == 400 and "JSON object" in bad_json.get_json()["error"]
    point = client.post("/api/profile/custom.json", json={"geometry": {"type": "Point", "coordinates": [-0.2, 51.6]}})
    assert point.status_code == 400 and "Point" in point.get_json()["error"]
    huge = client.post("/api/profile/custom.json", data=b" " * 6_000_000, content_type="application/json")
    assert huge.status_code == 413 and "error" in huge.get_json()
    assert client.get("/api/profile/custom/0123456789abcdef.json").status_code == 404


def test_the_maps_drawn_polygon_is_stored_and_opens_its_page(app) -> None:
    client = app.server.test_client()
    outline = shapely.geometry.shape(_ward(client)["geometry"])
    ring = shapely.get_coordinates(shapely.get_exterior_ring(max(shapely.get_parts(outline), key=shapely.area)))
    draw = ",".join(f"{x:.5f} {y:.5f}" for x, y in ring[:: max(1, len(ring) // 200)])
    answer = client.get("/areas/custom/from-map", query_string={"draw": draw})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/area/custom/")
    assert client.get("/areas/custom/from-map", query_string={"draw": draw}).headers["Location"] == \
        answer.headers["Location"]
    refused = client.get("/areas/custom/from-map", query_string={"draw": "1 2,3"})
    assert refused.status_code == 400 and b"between 3 and 500 corner points" in refused.data
    forged = client.post("/areas/custom", data={"codes": "E01000115"})
    assert forged.status_code == 400 and b"expired" in forged.data


@pytest.fixture(scope="module")
def app_url(app):
    yield from serve(app)


def _no_blocking(page) -> None:
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not blocking, describe(blocking)


@pytest.mark.browser
def test_upload_a_file_land_on_the_area_page_and_share_its_link(browser, app_url, app, tmp_path) -> None:
    ward = _ward(app.server.test_client())
    path = tmp_path / "my patch.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": ward["geometry"]}]}))
    page = browser.new_page()
    page.goto(f"{app_url}/areas/custom")
    page.get_by_label("Postcodes or LSOA codes").fill("E01000115\nNW9 9ZZ")
    page.get_by_role("button", name="Make the area and show its profile").click()
    page.wait_for_selector("[role=alert]:has-text('line 2')")
    _no_blocking(page)
    page.get_by_label("Postcodes or LSOA codes").fill("")
    page.get_by_label("Name of the area (optional)").fill("Our patch")
    page.get_by_label("A file with the outline").set_input_files(path)
    page.get_by_role("button", name="Make the area and show its profile").click()
    page.wait_for_url(f"{app_url}/area/custom/*")
    page.wait_for_selector("#category-chart .main-svg")
    shared = page.url
    assert page.locator("h1").inner_text() == "Our patch"
    options = page.get_by_label("Compare with").locator("option").all_inner_texts()
    assert any(o.startswith("Average of the 24 areas") for o in options)
    assert any(o.startswith(ward["properties"]["name"] + " (Wards") for o in options)
    csv_link = page.locator("a[data-format=csv]")
    assert "/api/export/custom/" in csv_link.get_attribute("href")
    assert page.request.get(app_url + csv_link.get_attribute("href")).status == 200
    pdf_link = page.locator("a[data-format=pdf]").get_attribute("href")
    assert page.request.get(app_url + pdf_link).body().startswith(b"%PDF-")
    assert page.locator("a[href^='/api/table/']").count() == 0
    page.get_by_label("Compare with").select_option("average")
    page.get_by_role("button", name="Show figures").click()
    page.wait_for_selector("#area-status:has-text('average of the 24 areas')")
    _no_blocking(page)
    page.close()
    fresh = browser.new_context()
    try:
        again = fresh.new_page()
        again.goto(shared)
        again.wait_for_selector("#category-chart .main-svg")
        assert again.locator("h1").inner_text() == "Our patch"
    finally:
        fresh.close()
