"""/api is described by an OpenAPI 3.0 document served from this site, with a plain documentation page;
schemathesis tries generated requests against it: no server error, every answer as documented."""
from __future__ import annotations

import re

import pytest

from tests.web_support import close_app, fuzz_openapi, loaded_app

LAYERS = {"borough", "wards_2022", "town_centres", "lsoa_2021", "lookup_lsoa21_ward2022", "census2021_population",
          "imd2019", "schools", "crime_2024_04"}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("api-openapi"), LAYERS)
    yield app
    close_app(app)


def test_the_definition_lists_the_loaded_layers_and_the_docs_page_documents_every_path(api_app) -> None:
    client = api_app.server.test_client()
    document = client.get("/api/openapi.json").get_json(force=True)
    assert document["openapi"].startswith("3.0")
    boundary = document["paths"]["/layers/{boundary}.geojson"]["get"]["parameters"][0]["schema"]["enum"]
    assert set(boundary) == {"borough", "wards_2022", "town_centres", "lsoa_2021"}
    page = client.get("/api/docs")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    for path, item in document["paths"].items():
        (method,) = item
        assert f"{method.upper()} /api{path}" in text.replace("&#x27;", "'"), path
    assert "POST /api/profile/custom.json" in text
    assert not re.search(r"(src|href)=\"https?://", text), "the docs page loads nothing from elsewhere"


def test_unknown_api_paths_are_json_404s_not_the_map(api_app) -> None:
    client = api_app.server.test_client()
    for path in ("/api/nothing", "/api/openapi.yaml", "/ogc/nothing", "/oruk/nothing/at/all"):
        response = client.get(path)
        assert response.status_code == 404 and response.is_json, path


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch_on_the_api(api_app) -> None:
    fuzz_openapi(api_app, "/api/openapi.json", operations=11, max_examples=12)
