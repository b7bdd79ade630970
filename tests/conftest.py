"""Shared fixtures: a clean, migrated store on each back end (SpatiaLite file and PostGIS).

PostGIS tests need TEST_DATABASE_URL (scripts/test.sh starts a throwaway cluster and sets
it). Locally a missing PostGIS skips those tests; under CI it is a failure.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from insight.config import PROJECT_ROOT, Settings, load_settings
from insight.store import make_engine
from insight.store.migrate import upgrade

BACKENDS = ("spatialite", "postgis")
DATA_DIR = PROJECT_ROOT / "data"
LAYERS_DIR = PROJECT_ROOT / "layers"
FIXTURES = Path(__file__).parent / "fixtures"


def _postgis_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        message = "PostGIS tests need TEST_DATABASE_URL (run scripts/test.sh)"
        if os.environ.get("CI"):
            pytest.fail(message + " — under CI a missing PostGIS is a failure", pytrace=False)
        pytest.skip(message)
    return url


class Store:
    """A fresh schema on one back end, with its settings and engine."""

    def __init__(self, backend: str, settings: Settings, engine: Engine, cleanup) -> None:
        self.backend = backend
        self.settings = settings
        self.engine = engine
        self._cleanup = cleanup

    def close(self) -> None:
        self.engine.dispose()
        self._cleanup()


def open_store(backend: str, tmp_dir: Path, *, migrate: bool = True) -> Store:
    """A new empty database: a SpatiaLite file in ``tmp_dir`` or a new PostGIS schema."""
    base = {"data_dir": str(DATA_DIR), "layers_dir": str(LAYERS_DIR), "home": str(tmp_dir), "tile_url": ""}
    if backend == "spatialite":
        settings = load_settings(env={}, database_url=f"sqlite:///{tmp_dir / 'test.sqlite'}", **base)
        engine = make_engine(settings)
        cleanup = lambda: None  # noqa: E731
    else:
        url = _postgis_url()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        scoped = f"{url}{sep}options=-csearch_path%3D{schema},public"
        settings = load_settings(env={}, database_url=scoped, **base)
        engine = make_engine(settings)

        def cleanup() -> None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    if migrate:
        upgrade(engine)
    return Store(backend, settings, engine, cleanup)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A clean, migrated store per test, on each back end."""
    s = open_store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture(params=BACKENDS)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store with no schema yet, for migration tests."""
    s = open_store(request.param, tmp_path, migrate=False)
    yield s
    s.close()


@pytest.fixture(scope="session", params=BACKENDS)
def sample_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Each back end with the whole sample loaded once, through the CLI's code path. Read-only."""
    from insight.layers import load_specs
    from insight.sources.ingest import load_specs_into

    s = open_store(request.param, tmp_path_factory.mktemp(f"sample-{request.param}"))
    reports = load_specs_into(s.engine, load_specs(LAYERS_DIR), DATA_DIR, echo=lambda _: None)
    s.reports = {r.layer: r for r in reports}
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright, for one test module."""
    from tests.web_support import chromium

    yield from chromium()


@pytest.fixture
def page(browser):
    """A fresh browser page at a desktop size."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()
