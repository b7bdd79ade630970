"""Clear failures: 503 when the database is unavailable, no internals shown, real 404s, headers, SIGTERM."""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from insight.config import load_settings
from insight.web import create_app
from insight.web.context import context_of
from tests.conftest import DATA_DIR, LAYERS_DIR, open_store
from tests.web_support import close_app, loaded_app

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The app on a store with the borough and wards loaded."""
    app = loaded_app(tmp_path_factory.mktemp("failures"), {"borough", "wards_2022"})
    yield app
    close_app(app)


def test_the_policy_allows_every_inline_script_the_pages_serve(tmp_path: Path) -> None:
    app = loaded_app(tmp_path, {"borough", "wards_2022"})
    try:
        client = app.server.test_client()
        for path in ("/area/wards_2022/E05013628", "/", "/compare"):
            response = client.get(path)
            html = response.get_data(as_text=True)
            inline = [m.group(2) for m in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S)
                      if "src=" not in m.group(1) and "application/json" not in m.group(1)]
            assert inline, path
            policy = response.headers["Content-Security-Policy"]
            for body in inline:
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in policy, (path, body[:120])
    finally:
        close_app(app)


def _app_on(tmp_path: Path, url: str):
    settings = load_settings(env={}, database_url=url, data_dir=str(DATA_DIR), layers_dir=str(LAYERS_DIR),
                             home=str(tmp_path), tile_url="")
    return create_app(settings)


def test_every_response_carries_security_headers(app) -> None:
    client = app.server.test_client()
    for path in ("/", "/compare", "/area/wards_2022/E05013628", "/api/layers.json", "/healthz", "/nowhere",
                 "/api/nowhere", "/_dash-layout"):
        response = client.get(path)
        assert all(h in response.headers for h in HEADERS), (path, dict(response.headers))
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_pages_are_404_and_unknown_api_paths_answer_json(app) -> None:
    client = app.server.test_client()
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page.mimetype == "text/html" and "no page at this address" in page.text
    api = client.get("/api/no-such-endpoint")
    assert api.status_code == 404 and api.get_json()["error"].startswith("there is no API endpoint")
    assert client.get("/").status_code == 200 and client.get("/catalogue").status_code == 200
    assert client.get("/area/wards_2022/E05013628").status_code == 200
    assert client.get("/api/layers.json").status_code == 200 and client.get("/healthz").get_json() == {"status": "ok"}


def _no_internals(text: str, *secrets: str) -> None:
    assert "Traceback" not in text and "sqlalchemy" not in text.lower()
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("kind", ["unreadable-file", "unreachable-server"])
def test_an_unavailable_database_answers_503_on_every_route_and_shows_no_internals(tmp_path: Path,
                                                                                   kind: str) -> None:
    if kind == "unreadable-file":
        broken = tmp_path / "secret-folder" / "store.sqlite"
        broken.parent.mkdir()
        broken.write_bytes(b"this is not a database" * 100)
        app, secrets = _app_on(tmp_path, f"sqlite:///{broken}"), [str(tmp_path), "secret-folder"]
    else:
        app, secrets = _app_on(tmp_path, "postgresql+psycopg://secretuser@127.0.0.1:9/secretdb"), \
            ["127.0.0.1", "secretuser", "secretdb", ":9"]
    client = app.server.test_client()
    try:
        for path in ("/api/layers.json", "/api/search.json?q=x", "/api/profile/wards_2022/E05013628.json", "/healthz"):
            response = client.get(path)
            assert response.status_code == 503, (path, response.status_code, response.text[:300])
            error = response.get_json()["error"]
            assert any(words in error for words in ("not available", "cannot connect")), error
            _no_internals(response.text, *secrets)
        for path in ("/", "/compare", "/area/wards_2022/E05013628"):
            response = client.get(path)
            assert response.status_code == 503 and response.mimetype == "text/html", path
            assert "not available right now" in response.text
            _no_internals(response.text, *secrets)
        layout = client.get("/_dash-layout")
        _no_internals(layout.text, *secrets)
        assert layout.status_code < 500 or layout.status_code == 503
    finally:
        context_of(app.server).close()


def test_unexpected_failures_show_a_reference_and_log_the_detail(app, monkeypatch, caplog) -> None:
    context = context_of(app.server)

    def broken() -> None:
        raise RuntimeError("/home/council/secret/path.sqlite exploded")

    monkeypatch.setattr(context, "places", broken)
    with caplog.at_level(logging.ERROR, logger="insight.web"):
        response = app.server.test_client().get("/api/search.json?q=barnet")
    assert response.status_code == 500
    body = response.get_json()
    _no_internals(response.text, "/home/council", "exploded")
    assert body["reference"] in body["error"] and response.headers["X-Request-Id"] == body["reference"]
    assert body["reference"] in caplog.text and "exploded" in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_stops_insight_serve(tmp_path: Path) -> None:
    store = open_store("spatialite", tmp_path)
    store.close()
    port = _free_port()
    env = os.environ | {"INSIGHT_DATABASE_URL": store.settings.database_url, "INSIGHT_HOME": str(tmp_path),
                        "INSIGHT_TILE_URL": ""}
    process = subprocess.Popen([sys.executable, "-m", "insight.cli.main", "serve", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "insight serve did not answer within a minute"
                time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
