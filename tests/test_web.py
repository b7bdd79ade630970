"""The placeholder web app in a real headless Chromium, against the real app on loopback."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from insight.config import load_settings
from insight.ingest import load_specs_into
from insight.layers import load_specs
from insight.web import create_app
from tests.conftest import DATA_DIR, LAYERS_DIR, open_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _serve(app) -> Iterator[str]:  # noqa: ANN001
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = open_store("spatialite", tmp_path_factory.mktemp("web"))
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in {"borough", "wards_2022", "schools"}]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    yield from _serve(create_app(store.settings))
    store.close()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run scripts/setup.sh --test", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_home_page_draws_the_wards_and_lists_the_layers(browser, app_url: str) -> None:
    page = browser.new_page()
    page.goto(app_url)
    page.wait_for_selector(".leaflet-overlay-pane svg path")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane svg path').length === 24")
    rows = page.locator("#catalogue tbody tr")
    assert rows.count() == 3
    text = page.locator("#catalogue").inner_text()
    assert "Wards (from May 2022)" in text and "Schools with Ofsted ratings" in text
    assert page.get_attribute("html", "lang") == "en-GB"
    page.close()


def test_choosing_another_boundary_layer_redraws_the_map(browser, app_url: str) -> None:
    page = browser.new_page()
    page.goto(app_url)
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane svg path').length === 24")
    page.get_by_label("Borough outline").check()
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane svg path').length === 1")
    page.close()


def test_unknown_layer_endpoint_is_a_json_404(app_url: str) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{app_url}/api/layers/nope.geojson")
    assert info.value.code == 404
    assert b"no public boundary layer named 'nope'" in info.value.read()


def test_database_unavailable_is_a_readable_message(browser, tmp_path: Path) -> None:
    settings = load_settings(
        env={}, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none", tile_url="",
        data_dir=str(DATA_DIR), layers_dir=str(LAYERS_DIR),
    )
    for url in _serve(create_app(settings)):
        page = browser.new_page()
        page.goto(url)
        alert = page.wait_for_selector("[role=alert]")
        assert "database is not available" in alert.inner_text()
        page.close()


def test_show_boundary_callback_builds_the_endpoint_url() -> None:
    from insight.web.pages import show_boundary

    assert show_boundary("wards_2022") == "/api/layers/wards_2022.geojson"
    assert show_boundary(None) is None
