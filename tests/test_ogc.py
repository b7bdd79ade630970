"""OGC API - Features at /ogc: read with OWSLib (a real OGC client) over HTTP, checked against the
raw sample files (geopandas, not the store), and fuzzed with schemathesis against its own OpenAPI
document (no 5xx, every response as documented)."""
from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import pandas as pd
import pytest
from owslib.ogcapi.features import Features
from shapely.geometry import box

from tests.conftest import DATA_DIR
from tests.web_support import app_places, close_app, fuzz_openapi, loaded_app, serve

LAYERS = {"borough", "wards_2022", "town_centres", "schools", "vcfs_organisations", "crime_2024_04"}
BOX = (-0.25, 51.58, -0.20, 51.62)


@pytest.fixture(scope="module")
def ogc_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("ogc"), LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def ogc_url(ogc_app) -> Iterator[str]:
    for url in serve(ogc_app):
        yield f"{url}/ogc"


@pytest.fixture(scope="module")
def client(ogc_url: str) -> Features:
    return Features(ogc_url)


def _crime() -> gpd.GeoDataFrame:
    frame = pd.read_csv(DATA_DIR / "points" / "police_api_2024-04.csv")
    frame = frame.dropna(subset=["longitude", "latitude"])
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["longitude"],
                                                               frame["latitude"]), crs=4326)


def test_landing_page_and_conformance_name_core_geojson_and_openapi(client: Features) -> None:
    classes = client.conformance()["conformsTo"]
    assert any(c.endswith("/conf/core") for c in classes) and any(c.endswith("/conf/geojson") for c in classes)
    assert any(c.endswith("/conf/oas30") for c in classes)
    rels = {link["rel"] for link in client.links}
    assert {"service-desc", "conformance", "data"} <= rels


def test_every_public_layer_is_a_collection(client: Features, ogc_app) -> None:
    places = app_places(ogc_app)
    ids = {c["id"] for c in client.collections()["collections"]}
    assert ids == set(places.boundaries) | set(places.points)
    assert ids >= LAYERS
    crime = client.collection("crime_2024_04")
    assert crime["extent"]["temporal"]["interval"][0][0].startswith("2024-04")


def test_owslib_reads_every_collection_with_bbox_and_paging(client: Features, ogc_app) -> None:
    places = app_places(ogc_app)
    for name in sorted(set(places.boundaries) | set(places.points)):
        first = client.collection_items(name, bbox=list(BOX), limit=7)
        matched = first["numberMatched"]
        seen = [f["id"] for f in first["features"]]
        assert first["numberReturned"] == len(seen) <= 7, name
        offset = 7
        while offset < matched:
            page = client.collection_items(name, bbox=list(BOX), limit=7, offset=offset)
            seen += [f["id"] for f in page["features"]]
            offset += 7
        assert len(seen) == len(set(seen)) == matched, name
        nexts = [link for link in first["links"] if link["rel"] == "next"]
        assert bool(nexts) == (matched > 7), name


def test_crime_items_in_a_box_equal_the_raw_file_counted_by_geopandas(client: Features) -> None:
    crime = _crime()
    inside = crime[crime.within(box(*BOX)) | crime.touches(box(*BOX))]
    found = client.collection_items("crime_2024_04", bbox=list(BOX), limit=1)
    assert found["numberMatched"] == len(inside)
    burglary = inside[inside["category"] == "burglary"]
    found = client.collection_items("crime_2024_04", bbox=list(BOX), limit=1, category="burglary")
    assert found["numberMatched"] == len(burglary)
    dated = client.collection_items("crime_2024_04", limit=1, datetime_="2024-04-01/..")
    assert dated["numberMatched"] == len(crime)
    none = client.collection_items("crime_2024_04", limit=1, datetime_="../2024-03-31")
    assert none["numberMatched"] == 0


def test_wards_in_a_box_equal_a_geopandas_intersection_and_one_ward_reads_by_code(client: Features) -> None:
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
    expected = wards[wards.intersects(box(*BOX))]
    found = client.collection_items("wards_2022", bbox=list(BOX), limit=100)
    code_column = "ONSWardCode"
    assert sorted(f["id"] for f in found["features"]) == sorted(expected[code_column])
    one = client.collection_item("wards_2022", str(expected[code_column].iloc[0]))
    assert one["properties"]["code"] == expected[code_column].iloc[0] and one["geometry"]["type"] in (
        "Polygon", "MultiPolygon")


def test_errors_are_ogc_exceptions_with_4xx_and_cors(ogc_app) -> None:
    client = ogc_app.server.test_client()
    cases = {
        "/ogc/collections/nope": 404, "/ogc/collections/wards_2022/items/NOPE": 404,
        "/ogc/collections/crime_2024_04/items/12x": 404, "/ogc/collections/crime_2024_04/items?limit=0": 400,
        "/ogc/collections/crime_2024_04/items?bbox=1,2,3": 400, "/ogc/collections/crime_2024_04/items?colour=red": 400,
        "/ogc/collections/crime_2024_04/items?datetime=2024-13-01": 400,
        "/ogc/collections/wards_2022/items?datetime=2024-04-01": 400, "/ogc/nothing/here": 404,
    }
    for path, status in cases.items():
        response = client.get(path)
        assert response.status_code == status, path
        body = response.get_json()
        assert body and ("description" in body or "error" in body), path
    ok = client.get("/ogc/collections")
    assert ok.headers["Access-Control-Allow-Origin"] == "*"


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(ogc_app) -> None:
    fuzz_openapi(ogc_app, "/ogc/openapi.json", operations=6, max_examples=30)
