"""Helpers for browser tests of the web pages: a store with some sample layers, the app served on
loopback, and Debian's Chromium driven by Playwright (no network: tile_url is empty in tests)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from insight.layers import load_specs
from insight.sources.ingest import load_specs_into
from insight.web import create_app
from tests.conftest import DATA_DIR, LAYERS_DIR, Store, open_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]
AREA_LAYERS = {"borough", "wards_2022", "town_centres", "lsoa_2021", "lookup_lsoa21_ward2022", "lookup_lsoa11_lsoa21",
               "census2021_population", "imd2019", "schools", "vcfs_organisations", "crime_2024_04"}
SURVEY_LAYERS = AREA_LAYERS | {"resident_survey_illustrative", "mopac_pas_2016"}


def loaded_app(tmp_dir: Path, layers: set[str], **overrides: object):
    """A fresh SpatiaLite store with ``layers`` of the sample loaded, and the app on it (settings changed by
    ``overrides``), with its callbacks."""
    store = open_store("spatialite", tmp_dir)
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in layers]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    app = create_app(replace(store.settings, **overrides))
    app.store = store
    return app


def close_app(app) -> None:
    """Close the app's connections and its store."""
    from insight.web.context import context_of

    context_of(app.server).close()
    store: Store = app.store
    store.close()


def serve(app) -> Iterator[str]:
    """Serve a Dash app on a free loopback port for the duration of a fixture."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def chromium() -> Iterator:
    """Headless Chromium for a module's tests."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run scripts/setup.sh --test", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def app_places(app):
    """The snapshot the app serves, read the way its pages read it."""
    from insight.web.context import context

    with app.server.test_request_context():
        return context().places()


def fuzz_openapi(app, path: str, *, operations: int, max_examples: int) -> None:
    """Schemathesis over every operation of the OpenAPI document at ``path``: no server error, every answer as
    documented. Rules across parameters (a period inside a layer's months, a box whose minimum comes first)
    cannot be written in OpenAPI and get a documented 400, so "every schema-valid request is accepted" is
    the one check left out."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    schema = schemathesis.openapi.from_wsgi(path, app.server)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= operations, [op.label for op in found]
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])

        check()
