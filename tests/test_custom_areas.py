"""Custom areas: files and lists read into one area, stored once under a content id on both back ends,
profiled like a ward through the page and the JSON twin, and a browser journey from upload to shared link.

Expected outlines come from reading the shipped LSOA file with geopandas (not the code under test);
expected figures come from the ward's own profile, which the app computes by another route (stored
area tags, where a custom area is counted by a polygon query).
"""
from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import geopandas as gpd
import pytest
import shapely

from insight.errors import BadRequest, NotFoundError
from insight.sources.custom_area import (
    AreaLimits,
    ParsedArea,
    area_from_codes,
    area_from_geojson,
    checked_area,
    read_area_file,
)
from insight.sources.postcodes import read_postcodes
from insight.store.custom_areas import get_custom_area, save_custom_area
from insight.store.postcodes import replace_postcodes
from insight.web.custom_areas import EXTENSION, CreationLimit
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


PROJ_WITH_GRID = "+proj=longlat +ellps=WGS84 +nadgrids=/etc/passwd +type=crs"


def _square(crs_name: str, corner: tuple[float, float] = (-0.2, 51.6), size: float = 0.01) -> dict:
    x, y = corner
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y]]],
            "crs": {"type": "name", "properties": {"name": crs_name}}}


def _zipped_shapefile(frame: gpd.GeoDataFrame, folder: Path, prj: str | None) -> bytes:
    frame.to_file(folder / "area.shp")
    if prj is not None:
        (folder / "area.prj").write_text(prj)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for part in ("shp", "shx", "dbf", "prj"):
            if (folder / f"area.{part}").exists():
                z.write(folder / f"area.{part}", f"area.{part}")
    return archive.getvalue()


def test_only_authority_codes_and_plain_wkt_name_a_coordinate_system(lsoas, tmp_path) -> None:
    with pytest.raises(BadRequest, match="is not an EPSG code"):
        area_from_geojson(_square(PROJ_WITH_GRID))
    with pytest.raises(BadRequest, match="is a geocentric one"):
        area_from_geojson(_square("EPSG:4978"))
    with pytest.raises(BadRequest, match="is a compound one"):
        area_from_geojson(_square("EPSG:7405"))
    with pytest.raises(BadRequest, match="is not known"):
        area_from_geojson(_square("EPSG:999999"))
    with pytest.raises(BadRequest, match="cannot be converted from OSGB36"):
        area_from_geojson(_square("EPSG:27700", corner=(0.0, 0.0), size=1e30))
    for lonlat in ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "OGC:CRS84"):
        triangle = shapely.Polygon([(-0.2, 51.6), (-0.19, 51.6), (-0.19, 51.61)])
        assert _same(area_from_geojson(_square(lonlat)).geometry, triangle)
    bng = gpd.read_file(LSOA_FILE).iloc[[0]]
    expected = lsoas.geometry.iloc[0]
    wkt = bng.crs.to_wkt("WKT1_GDAL")
    assert _same(read_area_file("a.zip", _zipped_shapefile(bng, tmp_path, wkt)).geometry, expected)
    grid = wkt[:-1] + ',EXTENSION["PROJ4","+proj=tmerc +nadgrids=/etc/passwd +type=crs"]]'
    for bad in (PROJ_WITH_GRID, grid):
        with pytest.raises(BadRequest, match="the .prj file is not a plain coordinate system"):
            read_area_file("a.zip", _zipped_shapefile(bng, tmp_path, bad))
    with pytest.raises(BadRequest, match="is a geographic three-dimensional one"):
        read_area_file("a.zip", _zipped_shapefile(lsoas.iloc[[0]][["geometry"]], tmp_path,
                                                  gpd.GeoSeries(crs="EPSG:4979").crs.to_wkt()))


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


def _stored(app) -> int:
    with app.store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM custom_areas").scalar_one()


def _hidden(page: bytes, name: str) -> str:
    found = re.search(rb'<input type="hidden" name="' + name.encode() + rb'" value="([^"]*)"', page)
    assert found, page[:2000]
    return found.group(1).decode()


def _ward_drawing(client) -> str:
    outline = shapely.geometry.shape(_ward(client)["geometry"])
    ring = shapely.get_coordinates(shapely.get_exterior_ring(max(shapely.get_parts(outline), key=shapely.area)))
    return ",".join(f"{x:.5f} {y:.5f}" for x, y in ring[:: max(1, len(ring) // 200)])


def test_the_maps_link_asks_first_and_only_the_forms_post_stores_the_area(app) -> None:
    client = app.server.test_client()
    draw = _ward_drawing(client)
    before = _stored(app)
    shown = client.get("/areas/custom/from-map", query_string={"draw": draw, "name": "Our ward"})
    assert shown.status_code == 200 and b"Make the full profile" in shown.data
    assert _stored(app) == before, "a GET must not store anything"
    assert _hidden(shown.data, "draw") == draw and b'value="Our ward"' in shown.data
    token = _hidden(shown.data, "csrf_token")
    forged = client.post("/areas/custom/from-map", data={"draw": draw, "name": "Our ward"})
    assert forged.status_code == 400 and b"expired" in forged.data and _stored(app) == before
    made = client.post("/areas/custom/from-map", data={"draw": draw, "name": "Our ward", "csrf_token": token})
    assert made.status_code == 303 and made.headers["Location"].startswith("/area/custom/")
    assert _stored(app) == before + 1
    again = client.post("/areas/custom/from-map", data={"draw": draw, "name": "Our ward", "csrf_token": token})
    assert again.headers["Location"] == made.headers["Location"] and _stored(app) == before + 1
    page = client.get(made.headers["Location"])
    assert page.status_code == 200
    refused = client.get("/areas/custom/from-map", query_string={"draw": "1 2,3"})
    assert refused.status_code == 400 and b"between 3 and 500 corner points" in refused.data
    assert b'name="draw"' not in refused.data and b"<form" not in refused.data
    forged = client.post("/areas/custom", data={"codes": "E01000115"})
    assert forged.status_code == 400 and b"expired" in forged.data


def test_one_address_may_store_only_so_many_areas_an_hour(app, lsoas) -> None:
    limit = CreationLimit(limit=2, window=3600.0)
    assert limit.wait("a", now=0.0) == 0.0
    limit.record("a", now=0.0)
    limit.record("a", now=10.0)
    assert limit.wait("a", now=20.0) == 3580.0 and limit.wait("b", now=20.0) == 0.0
    assert limit.wait("a", now=3600.0) == 0.0
    saved = app.server.extensions[EXTENSION]
    app.server.extensions[EXTENSION] = CreationLimit(limit=2)
    try:
        client = app.server.test_client()
        client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
        outlines = [json.loads(lsoas.iloc[[i]].to_json())["features"][0]["geometry"] for i in range(3)]
        for outline in outlines[:2]:
            assert client.post("/api/profile/custom.json", json={"geometry": outline}).status_code == 200
        before = _stored(app)
        limited = client.post("/api/profile/custom.json", json={"geometry": outlines[2]})
        assert limited.status_code == 429 and "Wait 60 minutes" in limited.get_json()["error"]
        assert int(limited.headers["Retry-After"]) > 3500
        token = _hidden(client.get("/areas/custom").data, "csrf_token")
        form = client.post("/areas/custom", data={"codes": lsoas["code"].iloc[2], "csrf_token": token})
        assert form.status_code == 429 and b"the most allowed" in form.data
        drawn = client.post("/areas/custom/from-map", data={"draw": _ward_drawing(client), "csrf_token": token})
        assert drawn.status_code == 429 and _stored(app) == before
        other = app.server.test_client()
        other.environ_base["REMOTE_ADDR"] = "192.0.2.8"
        assert other.post("/api/profile/custom.json", json={"geometry": outlines[2]}).status_code == 200
    finally:
        app.server.extensions[EXTENSION] = saved


def test_the_json_twin_answers_what_the_profile_endpoint_answers(app) -> None:
    from insight.web.api import profile_payload
    from insight.web.context import context_of

    client = app.server.test_client()
    ward = _ward(client)
    body = client.post("/api/profile/custom.json", json={"geometry": ward["geometry"], "comparator": "average"}
                       ).get_json()
    assert body["url"] == f"/area/custom/{body['id']}?comparator=average"
    assert body["profile_url"] == f"/api/profile/custom/{body['id']}.json?comparator=average"
    own = client.get(body["profile_url"]).get_json()
    assert {k: v for k, v in body.items() if k not in ("id", "url", "profile_url", "notes")} == \
        {k: v for k, v in own.items() if k != "notes"}
    app_context = context_of(app.server)
    code = ward["properties"]["code"]
    result = app_context.area_profile(app_context.places(), "wards_2022", code, comparator="borough",
                                      crime_layer=None, period=None)
    with app.server.app_context():
        payload = json.loads(json.dumps(profile_payload(result), default=str))
    served = client.get(f"/api/profile/wards_2022/{code}.json").get_json()
    assert payload["figures"] == served["figures"] and payload["name"] == served["name"] == ward["properties"]["name"]


class _NavLinks(HTMLParser):
    """The (label, href, aria-current) of each link inside <nav aria-label="Main">."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str | None]] = []
        self._in_nav = False
        self._href: tuple[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "nav" and found.get("aria-label") == "Main":
            self._in_nav = True
        elif tag == "a" and self._in_nav:
            self._href = (found.get("href") or "", found.get("aria-current"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_nav = False

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links.append((data.strip(), *self._href))
            self._href = None


def _dash_nav(node: object) -> list[tuple[str, str]]:
    """The links of the Main nav in the Dash app's layout JSON (the site's own menu)."""
    if isinstance(node, list):
        return [link for child in node for link in _dash_nav(child)]
    if not isinstance(node, dict):
        return []
    props = node.get("props", {})
    if node.get("type") == "Nav":
        return [(a["props"]["children"], a["props"]["href"]) for li in props["children"]["props"]["children"]
                for a in [li["props"]["children"]]]
    return _dash_nav(props.get("children"))


def test_the_custom_area_pages_carry_the_sites_own_menu(app) -> None:
    client = app.server.test_client()
    site = _dash_nav(client.get("/_dash-layout").get_json())
    assert [label for label, _ in site] == ["Map", "Compare areas", "Two figures", "Need beside assets",
                                            "Your own area", "Data catalogue", "Community directory",
                                            "Partner sign-in"]
    for address in ("/areas/custom", f"/areas/custom/from-map?draw={_ward_drawing(client)}"):
        nav = _NavLinks()
        nav.feed(client.get(address).get_data(as_text=True))
        assert [(label, href) for label, href, _ in nav.links] == site
        assert [label for label, _, current in nav.links if current == "page"] == ["Your own area"]


def test_a_deeply_nested_body_or_a_proj_string_gets_a_400_not_a_crash(app) -> None:
    client = app.server.test_client()
    deep = client.post("/api/profile/custom.json", data=b'{"geometry":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                       content_type="application/json")
    assert deep.status_code == 400 and "nested" in deep.get_json()["error"]
    polygon = {"type": "Polygon", "coordinates": [[[-0.2, 51.6], [-0.19, 51.6], [-0.19, 51.61], [-0.2, 51.6]]],
               "crs": {"type": "name", "properties": {"name": PROJ_WITH_GRID}}}
    answer = client.post("/api/profile/custom.json", json={"geometry": polygon})
    assert answer.status_code == 400 and "not an EPSG code" in answer.get_json()["error"]


def test_check_csrf_accepts_only_the_sessions_token(app) -> None:
    from flask import session

    from insight.web.partner.blueprint import check_csrf

    with app.server.test_request_context("/x", method="POST", data={"csrf_token": "right"}):
        assert not check_csrf()
        session["csrf_token"] = "right"
        assert check_csrf()
    with app.server.test_request_context("/x", method="POST", data={"csrf_token": "wrong"}):
        session["csrf_token"] = "right"
        assert not check_csrf()
    with app.server.test_request_context("/x", method="POST", headers={"X-CSRF-Token": "right"}):
        session["csrf_token"] = "right"
        assert check_csrf()


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
    page.goto(f"{app_url}/areas/custom/from-map?{urlencode({'draw': _ward_drawing(app.server.test_client())})}")
    _no_blocking(page)
    page.get_by_label("Name of the area (optional)").fill("Drawn patch")
    page.get_by_role("button", name="Make the full profile").click()
    page.wait_for_url(f"{app_url}/area/custom/*")
    assert page.locator("h1").inner_text() == "Drawn patch"
    page.close()
    fresh = browser.new_context()
    try:
        again = fresh.new_page()
        again.goto(shared)
        again.wait_for_selector("#category-chart .main-svg")
        assert again.locator("h1").inner_text() == "Our patch"
    finally:
        fresh.close()
