"""The partner pages: every role against every page, CSRF, cookies, escaping, the token API, and a real browser."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask

from insight.partner import audit, auth, uploads, versions
from insight.web import partner
from insight.web.context import AppContext
from tests.partner_fixtures import (
    PASSWORD,
    VENUES_CSV,
    fingerprint,
    make_world,
    serve_world,
    settings,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
HOSTILE_NAME = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'


_CONTEXTS: list[AppContext] = []


@pytest.fixture(autouse=True)
def _close_contexts() -> Iterator[None]:
    yield
    while _CONTEXTS:
        _CONTEXTS.pop().close()


def _app(store, **overrides) -> Flask:
    app = Flask("partner-test")
    context = AppContext(settings(store.settings, **overrides))
    _CONTEXTS.append(context)
    partner.register(app, context)
    return app


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, email: str, password: str = PASSWORD):
    token = _csrf(client.get("/partner/sign-in").text)
    return client.post("/partner/sign-in", data={"email": email, "password": password, "csrf_token": token})


def _commit_venues(world) -> int:
    check = uploads.check_upload(world.engine, VENUES_CSV, layer=world.layer, actor=world.users["partner"],
                                 settings=settings())
    uploads.commit_check(world.engine, check, actor=world.users["partner"])
    records = versions.layer_records(world.engine, world.layer, actor=world.users["partner"])
    return next(r.state.feature_id for r in records if r.state.key == "CV-02")


def _edit_form(token: str, name: str) -> dict:
    return {"csrf_token": token, "name": name, "category": "Culture", "longitude": "-0.1778995",
            "latitude": "51.6134613", "assured": "yes"}


# --- every role against every page ----------------------------------------------------------------

PAGES = ("home", "layer", "edit GET", "edit POST", "history", "restore", "upload POST", "audit", "users",
         "export", "tokens")
EXPECTED = {
    "public":        (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "councillor":    (200, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200),
    "officer":       (200, 200, 200, 303, 200, 303, 303, 403, 403, 200, 200),
    "analyst":       (200, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200),
    "partner":       (200, 200, 200, 303, 200, 403, 303, 403, 403, 200, 200),
    "admin":         (200, 200, 200, 303, 200, 303, 303, 200, 200, 200, 200),
    "other partner": (200, 200, 403, 403, 403, 403, 403, 403, 403, 200, 200),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_can_do_what_it_should_and_nothing_else(store, role: str) -> None:
    world = make_world(store.engine)
    feature_id = _commit_venues(world)
    client = _app(store).test_client()
    user = world.other_partner if role == "other partner" else world.users[role]
    if user.signed_in:
        assert _sign_in(client, user.email).status_code == 302
    token = _csrf(client.get("/partner/sign-in").text)
    layer = f"/partner/layers/{world.layer}"
    requests = {
        "home": lambda: client.get("/partner/"),
        "layer": lambda: client.get(layer),
        "edit GET": lambda: client.get(f"/partner/records/{feature_id}/edit"),
        "edit POST": lambda: client.post(f"/partner/records/{feature_id}/edit",
                                         data=_edit_form(token, f"artsdepot, edited by {role}")),
        "history": lambda: client.get(f"{layer}/versions"),
        "restore": lambda: client.post(f"{layer}/versions/1/restore", data={"csrf_token": token}),
        "upload POST": lambda: client.post("/partner/upload", content_type="multipart/form-data", data={
            "csrf_token": token, "layer": world.layer, "file": (io.BytesIO(VENUES_CSV.read_bytes()), "venues.csv")}),
        "audit": lambda: client.get("/partner/audit"),
        "users": lambda: client.get("/partner/users"),
        "export": lambda: client.get(f"{layer}/export.csv"),
        "tokens": lambda: client.get("/partner/tokens"),
    }
    got = tuple(requests[page]().status_code for page in PAGES)
    assert dict(zip(PAGES, got)) == dict(zip(PAGES, EXPECTED[role]))
    name = versions.record_view(world.engine, feature_id, actor=world.users["admin"]).state.name
    edited, restored = EXPECTED[role][3] == 303, EXPECTED[role][5] == 303
    assert name == (f"artsdepot, edited by {role}" if edited and not restored else "artsdepot")
    if restored:
        assert versions.versions(world.engine, world.layer, actor=world.users["admin"])[0].action == "restore"
    if role == "other partner":
        denied = audit.events(world.engine, action="permission_denied")
        assert any(e.actor_email == user.email and f"/records/{feature_id}/edit" in e.target for e in denied)


def test_a_partner_changing_the_record_id_in_the_request_changes_nothing(store) -> None:
    world = make_world(store.engine)
    own_id = _commit_venues(world)
    with store.engine.begin() as conn:
        versions.create_asset_layer(conn, "other_venues", owner_org_id=world.other_partner.org_id)
    check = uploads.check_upload(world.engine, VENUES_CSV, layer="other_venues", actor=world.other_partner,
                                 settings=settings())
    uploads.commit_check(world.engine, check, actor=world.other_partner)
    other_id = versions.layer_records(world.engine, "other_venues", actor=world.other_partner)[0].state.feature_id
    client = _app(store).test_client()
    _sign_in(client, world.users["partner"].email)
    token = _csrf(client.get(f"/partner/records/{own_id}/edit").text)
    before = fingerprint(world.engine)
    response = client.post(f"/partner/records/{other_id}/edit", data=_edit_form(token, "Taken over"))
    assert response.status_code == 403 and "own organisation" in response.text
    after = fingerprint(world.engine)
    assert {k: v for k, v in after.items() if k != "audit_events"} == \
        {k: v for k, v in before.items() if k != "audit_events"}
    upload_id, _ = uploads.stage_upload(world.engine, VENUES_CSV.read_bytes(), filename="venues.csv",
                                        layer="other_venues", actor=world.other_partner, settings=settings())
    assert client.get(f"/partner/uploads/{upload_id}").status_code == 404
    assert client.post(f"/partner/uploads/{upload_id}/commit", data={"csrf_token": token}).status_code == 404


# --- sessions, CSRF, cookies, headers --------------------------------------------------------------------


def test_forms_without_the_session_token_are_refused(store) -> None:
    world = make_world(store.engine)
    feature_id = _commit_venues(world)
    client = _app(store).test_client()
    _sign_in(client, world.users["partner"].email)
    before = fingerprint(world.engine)
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(f"/partner/records/{feature_id}/edit", data=_edit_form("", "Forged") | data)
        assert response.status_code == 400 and "form has expired" in response.text
    other = _app(store).test_client()
    stolen = _csrf(other.get("/partner/sign-in").text)
    assert client.post(f"/partner/records/{feature_id}/edit", data=_edit_form(stolen, "Forged")).status_code == 400
    assert fingerprint(world.engine) == before


def test_cookies_are_secure_http_only_and_same_site_and_headers_are_strict(store) -> None:
    make_world(store.engine)
    client = _app(store, cookie_secure=True).test_client()
    response = _sign_in(client, "officer@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/partner/sign-in")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_sign_in_errors_follow_the_error_summary_pattern_and_are_rate_limited(store) -> None:
    make_world(store.engine)
    client = _app(store, login_max_failures=3).test_client()
    response = _sign_in(client, "officer@example.org", "not the password")
    assert response.status_code == 400
    assert 'href="#email"' in response.text and 'aria-invalid="true"' in response.text
    assert "<title>Error: Sign in" in response.text
    for _ in range(2):
        _sign_in(client, "officer@example.org", "not the password")
    assert "too many failed sign-in attempts" in _sign_in(client, "officer@example.org").text.lower()


def test_next_cannot_send_a_signed_in_user_elsewhere(store) -> None:
    make_world(store.engine)
    client = _app(store).test_client()
    token = _csrf(client.get("/partner/sign-in").text)
    response = client.post("/partner/sign-in", data={"email": "officer@example.org", "password": PASSWORD,
                                                     "csrf_token": token, "next": "//evil.example/partner/"})
    assert response.headers["Location"] == "/partner/"


def test_a_role_change_ends_the_session(store) -> None:
    world = make_world(store.engine)
    client = _app(store).test_client()
    _sign_in(client, "councillor@example.org")
    assert client.get("/partner/").status_code == 200
    auth.set_role(world.engine, "councillor@example.org", role="analyst", actor=world.users["admin"])
    assert client.get("/partner/").status_code == 302


def test_a_councillor_with_no_layers_to_update_has_a_way_back_to_the_map_and_the_directory(store) -> None:
    make_world(store.engine)
    client = _app(store).test_client()
    _sign_in(client, "councillor@example.org")
    page = client.get("/partner/").text
    assert "There are no layers you can update yet" in page
    nav = page[page.index('<nav aria-label="Partner pages">'):page.index("</nav>")]
    assert '<a href="/">Map</a>' in nav and '<a href="/directory">Community directory</a>' in nav
    assert '<a href="/">explore the map</a>' in page


# --- escaping and accessibility --------------------------------------------------------------------------


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.labels: set[str] = set()
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang")
        if tag in ("input", "select", "textarea") and found.get("type") not in ("hidden", "submit"):
            self.ids.append(found.get("id") or "")
        if tag == "label" and found.get("for"):
            self.labels.add(found["for"])


def test_text_from_uploads_is_escaped_everywhere_and_every_field_is_labelled(store, tmp_path: Path) -> None:
    world = make_world(store.engine)
    quoted = HOSTILE_NAME.replace('"', '""')
    content = ("venue_id,name,category,longitude,latitude,notes\n"
               f'X1,"{quoted}",Culture,-0.1778995,51.6134613,"{quoted}"\n').encode()
    client = _app(store).test_client()
    _sign_in(client, world.users["partner"].email)
    token = _csrf(client.get("/partner/upload").text)
    response = client.post("/partner/upload", content_type="multipart/form-data", data={
        "csrf_token": token, "layer": world.layer, "file": (io.BytesIO(content), '<b onmouseover=x>.csv')})
    report_url = response.headers["Location"]
    pages = [client.get(report_url)]
    client.post(f"{report_url}/commit", data={"csrf_token": token})
    feature_id = versions.layer_records(world.engine, world.layer, actor=world.users["partner"])[0].state.feature_id
    pages += [client.get(f"/partner/layers/{world.layer}"), client.get(f"/partner/records/{feature_id}/edit"),
              client.get(f"/partner/layers/{world.layer}/versions/1"), client.get("/partner/upload")]
    admin = _app(store).test_client()
    _sign_in(admin, "admin@example.org")
    pages += [admin.get("/partner/audit"), admin.get("/partner/users")]
    for page in pages:
        assert page.status_code == 200, page.request.path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, page.request.path
        parser = _Inputs()
        parser.feed(page.text)
        assert parser.lang == "en-GB"
        assert all(i and i in parser.labels for i in parser.ids), (page.request.path, parser.ids, parser.labels)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[1].text
    assert versions.layer_records(world.engine, world.layer, actor=world.users["partner"])[0].state.name == \
        HOSTILE_NAME


# --- the API for scripts -----------------------------------------------------------------------------------


def test_scripts_upload_with_a_token_and_revoked_tokens_stop_working(store) -> None:
    world = make_world(store.engine)
    client = _app(store).test_client()
    token = auth.create_token(world.engine, world.users["partner"], "nightly").token
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/partner/api/uploads", headers=headers, content_type="multipart/form-data", data={
        "layer": world.layer, "commit": "true", "file": (io.BytesIO(VENUES_CSV.read_bytes()), "venues.csv")})
    body = response.get_json()
    assert response.status_code == 200 and body["committed"] and body["version"] == 1
    assert body["report"]["rows_rejected"] == 5
    refused = client.post("/partner/api/uploads", headers=headers, content_type="multipart/form-data", data={
        "layer": world.layer, "file": (io.BytesIO(b""), "venues.csv")})
    assert refused.status_code == 422 and "empty" in refused.get_json()["problems"][0]["reason"]
    councillor = auth.create_token(world.engine, world.users["councillor"], "read only").token
    denied = client.post("/partner/api/uploads", headers={"Authorization": f"Bearer {councillor}"},
                         content_type="multipart/form-data",
                         data={"layer": world.layer, "file": (io.BytesIO(VENUES_CSV.read_bytes()), "v.csv")})
    assert denied.status_code == 403
    auth.revoke_token(world.engine, auth.list_tokens(world.engine, world.users["partner"])[0].id,
                      actor=world.users["partner"])
    assert client.get(f"/partner/api/layers/{world.layer}/oruk.json", headers=headers).status_code == 401
    assert client.post("/partner/api/uploads", data={}).status_code in (302, 400, 401)


# --- the whole journey in a real browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    yield from serve_world(tmp_path_factory.mktemp("partner-web"), _app)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run scripts/setup.sh --test", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _browser_sign_in(page, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/partner/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.browser
def test_partner_uploads_fixes_nothing_commits_edits_and_an_officer_restores(browser, served) -> None:
    url, world = served
    page = browser.new_page()
    _browser_sign_in(page, url, world.users["partner"].email, "wrong password")
    page.wait_for_selector(".error-summary")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    page.get_by_role("link", name="The email address or password is not right").click()
    assert page.evaluate("document.activeElement.id") == "email"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Your layers')")

    page.get_by_role("link", name="Upload a file", exact=True).first.click()
    page.get_by_label("Layer to update").select_option("partner_venues")
    page.get_by_label("File", exact=True).set_input_files(str(VENUES_CSV))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_url(re.compile(r".*/partner/uploads/\d+$"))
    issues = page.locator("#issues tbody tr")
    assert issues.count() == 5
    table = page.locator("#issues").inner_text()
    for expected in ("look swapped", "British National Grid", "unknown category 'Musuem'", "missing required field",
                     "'nan' is not a number"):
        assert expected in table
    assert [page.locator("#issues tbody tr").nth(i).locator("td").first.inner_text() for i in range(5)] == \
        ["7", "8", "9", "10", "11"]
    assert page.locator("#preview tbody tr", has_text="Added").count() == 6
    page.get_by_role("button", name="Save these changes").click()
    page.wait_for_selector("text=Saved as version 1 of the layer")
    assert page.locator("#records tbody tr").count() == 6

    page.get_by_role("link", name="Edit artsdepot").click()
    page.get_by_label("Name").fill("artsdepot (North Finchley)")
    page.get_by_label("I have checked that this record is still true").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Saved 'artsdepot (North Finchley)' as version 2")
    assert "artsdepot (North Finchley)" in page.locator("#records").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("h1:has-text('Sign in')")

    _browser_sign_in(page, url, world.users["officer"].email)
    page.wait_for_selector("h1:has-text('Your layers')")
    page.goto(f"{url}/partner/layers/partner_venues/versions")
    assert page.locator("#versions tbody tr").count() == 2
    page.get_by_role("button", name="Restore version 1").click()
    page.wait_for_selector("text=Version 1 was restored as version 3")
    page.goto(f"{url}/partner/layers/partner_venues")
    records = page.locator("#records").inner_text()
    assert "artsdepot" in records and "artsdepot (North Finchley)" not in records
    page.close()
    history = versions.versions(world.engine, "partner_venues", actor=world.users["officer"])
    assert [(v.number, v.action) for v in history] == [(3, "restore"), (2, "edit"), (1, "upload")]
