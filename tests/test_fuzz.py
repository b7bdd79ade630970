"""A fuzz of every route the app serves: hostile path segments, query parameters and form fields never
give a 5xx, whoever sends them.

The routes come from the app's own URL map, so a new route is fuzzed without new test code.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insight.web.context import context_of
from tests.partner_fixtures import PASSWORD, add_user
from tests.web_support import AREA_LAYERS, loaded_app

NASTY = st.one_of(
    st.text(max_size=60),
    st.sampled_from([
        "", "0", "-1", "1" * 30, "1e308", "NaN", "inf", "../../etc/passwd", "%00", "<script>alert(1)</script>",
        "' OR 1=1 --", "wards_2022", "E05013630", "schools", "2024-04:2024-04", "1990-01:1990-12", "2024-13",
        "borough", "average", "wards_2022:E05013630", "a" * 5000, "\u202e\u0000", "☃",
    ]),
)
PARAMS = ["layer", "period", "boundary", "area", "comparator", "metric", "classes", "palette", "category", "kind",
          "question", "wave", "survey", "q", "format", "page", "revoke", "id", "version", "layer_name", "role"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    app = loaded_app(tmp_path_factory.mktemp("fuzz"), AREA_LAYERS, cookie_secure=False)
    for role in ("admin", "officer", "partner"):
        add_user(app.store.engine, f"{role}@example.org", role, "fuzz-org" if role == "partner" else None)
    yield app
    context_of(app.server).close()
    app.store.close()


def _signed_in(app: Any, role: str) -> tuple[Any, str]:
    """A test client signed in as ``role`` (anonymous: not signed in) and its form token."""
    client = app.server.test_client()
    page = client.get("/partner/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    csrf = token.group(1) if token else ""
    if role != "anonymous":
        client.post("/partner/sign-in", data={"email": f"{role}@example.org", "password": PASSWORD,
                                              "csrf_token": csrf})
    return client, csrf


@pytest.fixture(scope="module")
def clients(app: Any) -> dict[str, tuple[Any, str]]:
    return {role: _signed_in(app, role) for role in ("anonymous", "partner", "officer", "admin")}


def _routes(app: Any) -> list[tuple[str, list[str], list[str]]]:
    """(rule, its variable names, methods) for every route but Dash's own machinery and static files."""
    found = []
    for rule in app.server.url_map.iter_rules():
        if rule.endpoint == "static" or "/_dash" in rule.rule or "_reload-hash" in rule.rule:
            continue
        methods = sorted(m for m in rule.methods or () if m in {"GET", "POST"})
        found.append((rule.rule, list(rule.arguments), methods))
    return sorted(found)


def _fill(rule: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        value = values.get(name, "x")
        if converter == "int":
            return re.sub(r"\D", "", value)[:30] or "0"
        return re.sub(r"[/?#]", "_", value) or "x"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", one, rule)


def test_the_app_has_routes_to_fuzz_and_the_clients_are_signed_in(app: Any, clients: dict) -> None:
    rules = [r for r, _, _ in _routes(app)]
    assert "/api/profile/<boundary>/<code>.json" in rules and any(r.startswith("/partner") for r in rules)
    assert clients["admin"][0].get("/partner/users").status_code == 200
    assert clients["anonymous"][0].get("/partner/users").status_code in (302, 303)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_no_route_answers_5xx_to_hostile_input(app: Any, clients: dict[str, tuple[Any, str]],
                                               data: st.DataObject) -> None:
    rule, arguments, methods = data.draw(st.sampled_from(_routes(app)))
    values = {name: data.draw(NASTY, label=name) for name in arguments}
    params = data.draw(st.dictionaries(st.sampled_from(PARAMS), NASTY, max_size=4), label="params")
    method = data.draw(st.sampled_from(methods or ["GET"]), label="method")
    url = _fill(rule, values)
    client, csrf = clients[data.draw(st.sampled_from(sorted(clients)), label="who")]
    if method == "POST":
        response = client.post(url, data={**params, "csrf_token": csrf})
    else:
        response = client.get(url, query_string=params)
    status = response.status_code
    body = response.get_data().decode("utf-8", "replace")
    response.close()
    assert status < 500, f"{method} {url} {params!r} -> {status}: {body[:300]}"
    assert "Traceback" not in body
