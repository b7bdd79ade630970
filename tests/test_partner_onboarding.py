"""Partners brought in from the browser: officers open a layer, add an organisation and invite a person; the
person chooses a password, adds a record from lists and a small map; unknown asset kinds are refused with a
suggestion (in uploads too); and the officers' actions are audited and safe when two happen at once."""
from __future__ import annotations

import contextlib
import re
import string
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from flask import Flask
from hypothesis import assume, given
from hypothesis import strategies as st
from shapely.geometry import Point
from sqlalchemy import update

from insight.analysis import profiles
from insight.errors import BadRequest, ConfigError, NotFoundError, PermissionDenied, SignInRefused, StoreError
from insight.layers import ASSET_KINDS
from insight.partner import audit, auth, onboarding, passwords, uploads, versions
from insight.partner.choices import ASSET_KIND_LABELS, asset_kind_issues, field_label, match, refusal, suggest
from insight.store import accounts, asset_layers
from insight.store.models import User
from insight.web import partner
from insight.web.context import AppContext
from tests.conftest import DATA_DIR, PROJECT_ROOT
from tests.partner_fixtures import PASSWORD, make_world, run_cli, serve_world, settings
from tests.test_accessibility import BLOCKING, axe_violations, describe

VCFS_CATEGORIES = sorted(pd.read_csv(DATA_DIR / "points" / "vcfs_organisations_illustrative.csv")["category"]
                         .unique())
"""The categories of the shipped (illustrative) VCFS directory."""
CHOICE_LISTS = [(list(ASSET_KINDS), ASSET_KIND_LABELS), (VCFS_CATEGORIES, None)]


# --- the suggestion function (no store) --------------------------------------------------------------------


@given(st.sampled_from(CHOICE_LISTS).flatmap(lambda c: st.tuples(st.just(c), st.sampled_from(c[0]))))
def test_any_exact_valid_value_is_accepted_as_it_is(case) -> None:
    (choices, _), value = case
    assert match(value, choices) == value
    assert match(f"  {value.upper()} ", choices) == value


def _typos(value: str) -> st.SearchStrategy[str]:
    letters = st.sampled_from(string.ascii_lowercase)
    spot = st.integers(0, len(value) - 1)
    return st.one_of(
        st.tuples(spot, letters).map(lambda p: value[:p[0]] + p[1] + value[p[0] + 1:]),
        st.tuples(st.integers(0, len(value)), letters).map(lambda p: value[:p[0]] + p[1] + value[p[0]:]),
        spot.map(lambda i: value[:i] + value[i + 1:]),
    )


@given(st.sampled_from(CHOICE_LISTS).flatmap(
    lambda c: st.sampled_from(c[0]).flatmap(lambda v: st.tuples(st.just(c), st.just(v), _typos(v)))))
def test_a_one_letter_typo_of_a_valid_value_suggests_it(case) -> None:
    (choices, labels), value, typo = case
    assume(match(typo, choices) is None and typo.strip())
    assert suggest(typo, choices, labels) == value


def test_venue_is_refused_with_spaces_suggested() -> None:
    assert refusal("venue", ASSET_KINDS, what="an asset kind", labels=ASSET_KIND_LABELS) == \
        "'venue' is not an asset kind; did you mean 'spaces'?"
    assert refusal("zzzz", ASSET_KINDS, what="an asset kind", labels=ASSET_KIND_LABELS) == \
        "'zzzz' is not an asset kind; choose one of 'money', 'services_people', 'insight', 'spaces'"
    properties = {"asset_kind": "Spaces"}
    assert asset_kind_issues(properties, 3) == [] and properties == {"asset_kind": "spaces"}
    [issue] = asset_kind_issues({"asset_kind": "venue"}, 3)
    assert (issue.row, issue.column, issue.severity) == (3, "asset_kind", "error")


def test_columns_read_as_words() -> None:
    assert [field_label(c) for c in ("asset_kind", "venue_name", "opening_hours", "last_assured")] == \
        ["Asset kind", "Venue name", "Opening hours", "Last checked as still true"]


# --- onboarding in the store ------------------------------------------------------------------------------


def test_officers_onboard_with_the_clis_checks_and_audit(store) -> None:
    world = make_world(store.engine)
    officer, partner_user = world.users["officer"], world.users["partner"]
    with pytest.raises(PermissionDenied):
        onboarding.add_organisation(store.engine, "Sneaky Ltd", actor=partner_user)
    org = onboarding.add_organisation(store.engine, "Friern Barnet Community Hub", actor=officer, ip="10.0.0.1")
    assert (org.slug, org.name) == ("friern-barnet-community-hub", "Friern Barnet Community Hub")
    with pytest.raises(ConfigError, match="an organisation 'friern-barnet-community-hub' already exists"):
        onboarding.add_organisation(store.engine, "Friern Barnet  Community Hub", actor=officer)
    with pytest.raises(Exception, match="'venue' is not an asset kind; did you mean 'spaces'"):
        onboarding.open_layer(store.engine, "rooms", title="Rooms", asset_kind="venue", categories=["Hall"],
                              owner_org=org.slug, actor=officer)
    info = onboarding.open_layer(store.engine, "rooms", title="Rooms to hire", asset_kind="spaces",
                                 categories=["Hall", "Meeting room", "Hall"], owner_org=org.slug, actor=officer)
    assert info.ref.partner_upload and info.owner_slug == org.slug and info.rules.categories == ("Hall", "Meeting room")
    with pytest.raises(ConfigError, match="a layer named 'rooms' already exists"):
        onboarding.open_layer(store.engine, "rooms", title="Again", asset_kind="spaces", categories=[],
                              owner_org=None, actor=officer)
    with pytest.raises(PermissionDenied):
        onboarding.invite(store.engine, "boss@example.org", role="officer", actor=officer)
    invitation = onboarding.invite(store.engine, "Vol@Hub.example.org", org_slug=org.slug, actor=officer)
    assert invitation.code.startswith("inv_") and invitation.email == "vol@hub.example.org"
    with pytest.raises(SignInRefused):
        auth.sign_in(store.engine, "vol@hub.example.org", invitation.code, ip="10.0.0.2", settings=settings())
    with pytest.raises(ConfigError, match="at least 12"):
        onboarding.accept_invitation(store.engine, invitation.code, "short")
    onboarding.accept_invitation(store.engine, invitation.code, "a long and private phrase")
    with pytest.raises(NotFoundError, match="already used, has expired"):
        onboarding.accept_invitation(store.engine, invitation.code, "another long private phrase")
    person = auth.sign_in(store.engine, "vol@hub.example.org", "a long and private phrase", ip="10.0.0.2",
                          settings=settings())
    assert (person.role, person.org_slug) == ("partner", org.slug)
    assert [i.name for i in versions.partner_layers(store.engine, person)] == ["rooms"]
    done = [(e.action, e.actor_email, e.target) for e in audit.events(store.engine, limit=20)
            if e.action in ("organisation_created", "layer_created", "layer_rules_changed", "user_invited",
                            "invitation_accepted")]
    assert done[::-1][-5:] == [
        ("organisation_created", officer.email, f"organisation:{org.slug}"),
        ("layer_created", officer.email, "layer:rooms"),
        ("layer_rules_changed", officer.email, "layer:rooms"),
        ("user_invited", officer.email, "user:vol@hub.example.org"),
        ("invitation_accepted", "vol@hub.example.org", "user:vol@hub.example.org"),
    ]


def test_two_officers_adding_the_same_organisation_at_once_one_succeeds(store, monkeypatch) -> None:
    world = make_world(store.engine)
    officers = [world.users["officer"], world.users["admin"]]
    both_checked = threading.Barrier(2)
    original = accounts.organisation_id_by_slug

    def check_then_wait(conn, slug):
        found = original(conn, slug)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=2)
        return found

    monkeypatch.setattr(accounts, "organisation_id_by_slug", check_then_wait)
    outcomes: list[object] = []

    def add(actor) -> None:
        try:
            outcomes.append(onboarding.add_organisation(store.engine, "Mill Hill Men's Shed", actor=actor))
        except ConfigError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=add, args=(o,)) for o in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(type(o).__name__ for o in outcomes) == ["ConfigError", "Organisation"]
    refused = next(o for o in outcomes if isinstance(o, ConfigError))
    assert "an organisation 'mill-hill-men-s-shed' already exists" in str(refused)
    assert [o.slug for o in onboarding.organisations(store.engine)].count("mill-hill-men-s-shed") == 1


def test_an_upload_row_with_an_unknown_asset_kind_is_refused_naming_row_and_column(store, tmp_path) -> None:
    world = make_world(store.engine)
    csv = tmp_path / "venues.csv"
    csv.write_text("name,category,asset_kind,longitude,latitude\n"
                   "Hall one,Culture,spaces,-0.1778995,51.6134613\n"
                   "Hall two,Culture,venue,-0.2070,51.6520\n", encoding="utf-8")
    check = uploads.check_upload(store.engine, csv, layer=world.layer, actor=world.users["partner"],
                                 settings=settings())
    report = check.report()
    assert (report["rows_read"], report["rows_loaded"], report["rows_rejected"]) == (2, 1, 1)
    assert [(i["row"], i["column"], i["severity"], i["reason"]) for i in report["issues"]] == [
        (2, "asset_kind", "error", "'venue' is not an asset kind; did you mean 'spaces'?")]


def test_admin_forms_need_the_form_token_and_the_role(store) -> None:
    make_world(store.engine)
    client = _app(store).test_client()
    token = _csrf(client.get("/partner/sign-in").text)
    client.post("/partner/sign-in", data={"email": "partner@barnet-together.example.org", "password": PASSWORD,
                                          "csrf_token": token})
    assert client.get("/partner/admin").status_code == 403
    client.post("/partner/sign-out", data={"csrf_token": token})
    token = _csrf(client.get("/partner/sign-in").text)
    client.post("/partner/sign-in", data={"email": "officer@example.org", "password": PASSWORD, "csrf_token": token})
    token = _csrf(client.get("/partner/admin").text)
    assert client.post("/partner/admin/organisations", data={"org_name": "No Token"}).status_code == 400
    answer = client.post("/partner/admin/organisations", data={"org_name": "", "csrf_token": token})
    assert answer.status_code == 422 and "Give the organisation&#39;s name" in answer.text
    assert client.get("/partner/invite/inv_nonsense").status_code == 404


# --- the whole journey in a real browser ------------------------------------------------------------------

_CONTEXTS: list[AppContext] = []


def _app(store) -> Flask:
    app = Flask("partner-onboarding-test")
    context = AppContext(settings(store.settings))
    _CONTEXTS.append(context)
    partner.register(app, context)
    return app


@pytest.fixture(autouse=True)
def _close_contexts() -> Iterator[None]:
    yield
    while _CONTEXTS:
        _CONTEXTS.pop().close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    yield from serve_world(tmp_path_factory.mktemp("onboarding"), _app)
    while _CONTEXTS:
        _CONTEXTS.pop().close()


def _sign_in(page, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/partner/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Your layers')")


def _no_blocking_violations(page, where: str) -> None:
    violations = axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{where}: {describe(blocking)}"


def _ward_of(lon: float, lat: float) -> str:
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
    return str(wards[wards.contains(Point(lon, lat))]["ONSWardCode"].iloc[0])


def _officer_brings_a_partner_in(page, url: str) -> str:
    page.get_by_role("link", name="Bring partners in").first.click()
    page.get_by_label("Organisation name").fill("Friern Barnet Community Hub")
    page.get_by_role("button", name="Add the organisation").click()
    page.wait_for_selector("text=Added the organisation Friern Barnet Community Hub")
    page.get_by_label("Title").fill("Community rooms")
    page.get_by_label("Short name", exact=True).fill("community_rooms")
    page.get_by_label("Asset kind").select_option("spaces")
    page.get_by_label("Categories").fill("Meeting room\nHall\nKitchen")
    page.get_by_label("Organisation that keeps it up to date").select_option("friern-barnet-community-hub")
    page.get_by_role("button", name="Open the layer").click()
    page.wait_for_selector("text=The layer 'Community rooms' is open to partners of friern-barnet-community-hub.")
    _no_blocking_violations(page, "admin page")
    page.get_by_label("Email address").fill("volunteer@friernhub.example.org")
    page.locator("#org").select_option("friern-barnet-community-hub")
    page.get_by_role("button", name="Make the invitation").click()
    link = page.locator("#invite-link").inner_text().strip()
    assert re.fullmatch(re.escape(url) + r"/partner/invite/inv_[\w-]+", link)
    page.get_by_role("button", name="Sign out").click()
    return link


@pytest.mark.browser
def test_an_officer_brings_a_partner_in_who_adds_a_record_on_the_map(browser, served) -> None:
    url, world = served
    page = browser.new_page()
    _sign_in(page, url, world.users["officer"].email)
    link = _officer_brings_a_partner_in(page, url)

    page.goto(link)
    _no_blocking_violations(page, "invitation page")
    page.get_by_label("Password", exact=True).fill("friern hub rooms 2026")
    page.get_by_label("Password again").fill("friern hub rooms 2026")
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_selector("text=Your password is set")
    _sign_in(page, url, "volunteer@friernhub.example.org", "friern hub rooms 2026")

    page.get_by_role("link", name="Add a record to Community rooms").click()
    page.get_by_label("Name").fill("Hub meeting room")
    assert page.locator("#category option").all_inner_texts() == ["Choose one", "Meeting room", "Hall", "Kitchen"]
    page.get_by_label("Category").select_option("Meeting room")
    assert page.locator("#asset_kind").input_value() == "spaces"
    page.get_by_label("Asset kind").select_option("spaces")
    page.wait_for_selector("#record-map.leaflet-container")
    _no_blocking_violations(page, "new record page")
    page.locator("#record-map").click()
    lon, lat = float(page.get_by_label("Longitude").input_value()), float(page.get_by_label("Latitude").input_value())
    assert page.locator("#record-map .leaflet-marker-icon").count() == 1
    ward = _ward_of(lon, lat)
    page.get_by_role("button", name="Add the record").click()
    page.wait_for_selector("text=Added 'Hub meeting room' to Community rooms.")
    row = page.locator("#records tbody tr", has_text="Hub meeting room")
    assert "Meeting room" in row.inner_text()
    assert row.get_by_role("link", name="On the map").get_attribute("href") == \
        f"/?layers=community_rooms&boundary=wards_2022&area={ward}"
    assert page.get_by_role("link", name="See this layer on the map").get_attribute("href") == \
        "/?layers=community_rooms"
    _no_blocking_violations(page, "layer page")

    page.get_by_role("link", name="Edit Hub meeting room").click()
    assert page.get_by_label("Asset kind").input_value() == "spaces"
    page.get_by_label("Longitude").fill("-0.1946")
    page.get_by_label("Latitude").fill("51.5967")
    page.get_by_label("Latitude").press("Tab")
    page.wait_for_function("document.querySelector('#record-map .leaflet-marker-icon') !== null")
    _no_blocking_violations(page, "edit page")

    page.goto(f"{url}/partner/upload?layer=community_rooms")
    page.get_by_label("File", exact=True).set_input_files(files=[{
        "name": "rooms.csv", "mimeType": "text/csv",
        "buffer": b"name,category,asset_kind,longitude,latitude\nChurch hall,Hall,venue,-0.17,51.61\n"}])
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_url(re.compile(r".*/partner/uploads/\d+$"))
    issue = page.locator("#issues tbody tr").first.inner_text()
    assert "asset_kind" in issue and "'venue' is not an asset kind; did you mean 'spaces'?" in issue
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, url, world.users["councillor"].email)
    assert "There are no layers you can update yet" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="explore the map").get_attribute("href") == "/"
    assert page.get_by_role("link", name="search the community directory").get_attribute("href") == "/directory"
    _no_blocking_violations(page, "home page with no layers")
    page.close()


def test_the_command_line_adds_organisations_and_invites_with_the_same_functions(store, capsys) -> None:
    make_world(store.engine)
    assert run_cli(store, capsys, "org", "add", "Hendon Hub").strip() == "added organisation Hendon Hub (hendon-hub)"
    out = run_cli(store, capsys, "user", "invite", "Helper@Hendon.example.org", "--org", "hendon-hub")
    code = re.search(r"^/partner/invite/(inv_[\w-]+)$", out, re.MULTILINE).group(1)
    assert out.startswith("invited helper@hendon.example.org (partner of hendon-hub)")
    assert f"put your site's address in front, e.g. https://insight.example.gov.uk/partner/invite/{code}" in out
    site = replace(store.settings, public_url="https://insight.barnet.example.gov.uk/")
    again = run_cli(SimpleNamespace(settings=site), capsys, "user", "invite", "other@hendon.example.org",
                    "--org", "hendon-hub")
    assert re.search(r"^https://insight\.barnet\.example\.gov\.uk/partner/invite/inv_[\w-]+$", again, re.MULTILINE)
    onboarding.accept_invitation(store.engine, code, "a quiet library afternoon")
    assert auth.user_by_email(store.engine, "helper@hendon.example.org").org_slug == "hendon-hub"
    actions = {(e.action, e.actor_email) for e in audit.events(store.engine, limit=10)}
    assert {("organisation_created", auth.SYSTEM.email), ("user_invited", auth.SYSTEM.email)} <= actions


# --- review fixes: new links, roles, integrity errors, sign-in timing, atomic layers, map links ------------


def _age_invitation(engine, email: str, days: int) -> None:
    """Move an invitation (and its account) ``days`` into the past, as if the link had been sent then."""
    then = datetime.now(UTC) - timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.email == email).values(created_at=then, invited_at=then))


def test_an_expired_invitation_is_replaced_by_inviting_again(store) -> None:
    world = make_world(store.engine)
    officer, admin = world.users["officer"], world.users["admin"]
    first = onboarding.invite(store.engine, "late@barnet-together.example.org", org_slug="barnet-together",
                              actor=officer)
    _age_invitation(store.engine, first.email, 15)
    with pytest.raises(NotFoundError, match="has expired"):
        onboarding.invitation_for(store.engine, first.code)
    [waiting] = onboarding.pending_invitations(store.engine, actor=officer)
    assert (waiting.email, waiting.expired) == (first.email, True)
    again = onboarding.invite(store.engine, "Late@Barnet-Together.example.org", org_slug="barnet-together",
                              actor=officer)
    assert again.code != first.code
    assert timedelta(days=13, hours=23) < again.expires - datetime.now(UTC) <= timedelta(days=14)
    assert onboarding.invitation_for(store.engine, again.code).email == first.email
    with pytest.raises(NotFoundError):
        onboarding.invitation_for(store.engine, first.code)
    [waiting] = onboarding.pending_invitations(store.engine, actor=officer)
    assert not waiting.expired
    third = onboarding.reissue(store.engine, first.email, actor=officer)
    with pytest.raises(NotFoundError):
        onboarding.invitation_for(store.engine, again.code)
    onboarding.accept_invitation(store.engine, third.code, "a long and private phrase")
    with pytest.raises(ConfigError, match="an account for late@barnet-together.example.org already exists"):
        onboarding.invite(store.engine, first.email, org_slug="barnet-together", actor=officer)
    with pytest.raises(NotFoundError, match="no invitation is waiting"):
        onboarding.reissue(store.engine, first.email, actor=officer)
    boss = onboarding.invite(store.engine, "boss@example.org", role="officer", actor=admin)
    with pytest.raises(PermissionDenied):
        onboarding.reissue(store.engine, boss.email, actor=officer)
    assert [p.email for p in onboarding.pending_invitations(store.engine, actor=officer)] == []
    assert [p.email for p in onboarding.pending_invitations(store.engine, actor=admin)] == ["boss@example.org"]
    actions = [(e.action, e.target) for e in audit.events(store.engine, limit=20)
               if e.action in ("user_invited", "invitation_reissued")][::-1]
    assert actions == [("user_invited", "user:late@barnet-together.example.org"),
                       ("invitation_reissued", "user:late@barnet-together.example.org"),
                       ("invitation_reissued", "user:late@barnet-together.example.org"),
                       ("user_invited", "user:boss@example.org")]


def test_an_invitation_made_before_links_were_dated_counts_from_the_account(store) -> None:
    world = make_world(store.engine)
    made = onboarding.invite(store.engine, "old@barnet-together.example.org", org_slug="barnet-together",
                             actor=world.users["officer"])
    then = datetime.now(UTC) - timedelta(days=15)
    with store.engine.begin() as conn:
        conn.execute(update(User).where(User.email == made.email).values(created_at=then, invited_at=None))
    with pytest.raises(NotFoundError, match="has expired"):
        onboarding.invitation_for(store.engine, made.code)


def test_only_roles_the_inviter_may_give_are_accepted(store) -> None:
    world = make_world(store.engine)
    officer, admin = world.users["officer"], world.users["admin"]
    for actor in (officer, admin):
        for role in ("public", "superuser"):
            with pytest.raises(BadRequest, match=f"'{role}' is not a role a person can be invited into"):
                onboarding.invite(store.engine, f"{role}@example.org", role=role, actor=actor)
    assert onboarding.grantable_roles(officer) == ("partner",)
    assert onboarding.grantable_roles(admin) == ("councillor", "officer", "analyst", "partner", "admin")
    with store.engine.connect() as conn:
        assert not accounts.user_exists(conn, "public@example.org")


def test_only_a_duplicate_is_reported_as_already_existing(store) -> None:
    world = make_world(store.engine)
    with store.engine.begin() as conn:
        with pytest.raises(BadRequest, match="the role given is not allowed"):
            accounts.insert_user(conn, "odd@example.org", name="", role="wizard", organisation_id=None,
                                 password_hash="x")
        with pytest.raises(BadRequest, match="the organisation given is not allowed"):
            accounts.insert_user(conn, "lost@example.org", name="", role="partner", organisation_id=987654,
                                 password_hash="x")
        with pytest.raises(BadRequest, match="the organisation given is not allowed"):
            accounts.insert_user(conn, "loner@example.org", name="", role="partner", organisation_id=None,
                                 password_hash="x")
        with pytest.raises(ConfigError, match="an account for officer@example.org already exists"):
            accounts.insert_user(conn, "officer@example.org", name="", role="officer", organisation_id=None,
                                 password_hash="x")
        with pytest.raises(BadRequest, match="the sensitivity given is not allowed"):
            asset_layers.insert_asset_layer(conn, "secret_rooms", title="Rooms", owner_org_id=None,
                                            sensitivity="secret", licence="OGL")
        with pytest.raises(BadRequest, match="the owning organisation given is not allowed"):
            asset_layers.insert_asset_layer(conn, "orphan_rooms", title="Rooms", owner_org_id=987654,
                                            sensitivity="public", licence="OGL")
        with pytest.raises(ConfigError, match=f"a layer named '{world.layer}' already exists"):
            asset_layers.insert_asset_layer(conn, world.layer, title="Again", owner_org_id=None,
                                            sensitivity="public", licence="OGL")


def test_signing_in_as_someone_invited_costs_a_real_password_check(store, monkeypatch) -> None:
    world = make_world(store.engine)
    made = onboarding.invite(store.engine, "new@barnet-together.example.org", org_slug="barnet-together",
                             actor=world.users["officer"])
    checked: list[str] = []
    real = auth.verify_password

    def recording(stored_hash: str, password: str) -> bool:
        checked.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(auth, "verify_password", recording)
    dummy_password = "not a real password: equalises timing for unknown accounts"
    assert real(passwords.DUMMY_HASH, dummy_password)
    for password in (made.code, dummy_password):
        with pytest.raises(SignInRefused):
            auth.sign_in(store.engine, made.email, password, ip="10.0.0.9", settings=settings())
    assert checked == [passwords.DUMMY_HASH, passwords.DUMMY_HASH]
    assert checked[0].startswith("$argon2id$")


def test_a_layer_whose_rules_fail_is_not_left_behind(store, monkeypatch) -> None:
    world = make_world(store.engine)
    real = asset_layers.set_layer_owner

    def broken(conn, layer_id, org_id):
        raise StoreError("the database went away while saving the owner")

    monkeypatch.setattr(asset_layers, "set_layer_owner", broken)
    with pytest.raises(StoreError):
        onboarding.open_layer(store.engine, "halls", title="Halls", asset_kind="spaces", categories=["Hall"],
                              owner_org="barnet-together", actor=world.users["officer"])
    with store.engine.connect() as conn:
        assert asset_layers.find_layer(conn, "halls") is None
    assert "layer_created" not in [e.action for e in audit.events(store.engine, limit=10)]
    monkeypatch.setattr(asset_layers, "set_layer_owner", real)
    info = onboarding.open_layer(store.engine, "halls", title="Halls", asset_kind="spaces", categories=["Hall"],
                                 owner_org="barnet-together", actor=world.users["officer"])
    assert (info.owner_slug, info.ref.partner_upload, info.rules.categories) == ("barnet-together", True, ("Hall",))


def test_asset_kind_labels_have_one_source() -> None:
    assert ASSET_KIND_LABELS is profiles.ASSET_KIND_LABELS
    defined = [p for p in (PROJECT_ROOT / "insight").rglob("*.py")
               if re.search(r"^ASSET_KIND_LABELS\b.*=", p.read_text(encoding="utf-8"), re.MULTILINE)]
    assert [p.relative_to(PROJECT_ROOT).as_posix() for p in defined] == ["insight/analysis/profiles.py"]


def _client_as(store, email: str):
    client = _app(store).test_client()
    token = _csrf(client.get("/partner/sign-in").text)
    client.post("/partner/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token})
    return client


def _options(html: str, select_id: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select id="{select_id}".*?</select>', html, re.DOTALL).group(0)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def test_the_admin_page_offers_choices_that_can_succeed_and_new_links(store) -> None:
    world = make_world(store.engine)
    made = onboarding.invite(store.engine, "gone@barnet-together.example.org", org_slug="barnet-together",
                             actor=world.users["officer"])
    _age_invitation(store.engine, made.email, 20)
    officer = _client_as(store, world.users["officer"].email)
    html = officer.get("/partner/admin").text
    assert 'id="role"' not in html
    assert _options(html, "org") == [("barnet-together", "barnet-together"), ("other-charity", "other-charity")]
    row = re.search(r"<tr><th scope=\"row\">gone@barnet-together.example.org</th>.*?</tr>", html, re.DOTALL).group(0)
    assert "Expired" in row and "Send a new link" in row
    assert officer.post("/partner/admin/invitations/new-link", data={"email": made.email}).status_code == 400
    answer = officer.post("/partner/admin/invitations/new-link", data={"email": made.email, "csrf_token": _csrf(html)})
    assert answer.status_code == 200
    link = re.search(r'id="invite-link">([^<]+)<', answer.text).group(1)
    code = link.rsplit("/", 1)[1]
    assert onboarding.invitation_for(store.engine, code).email == made.email
    refused = officer.post("/partner/admin/invitations", data={"email": "x@example.org", "role": "public",
                                                                "org": "", "csrf_token": _csrf(html)})
    assert refused.status_code == 422 and "is not a role a person can be invited into" in refused.text
    admin_html = _client_as(store, world.users["admin"].email).get("/partner/admin").text
    assert ("", "None (not a partner)") in _options(admin_html, "org")
    assert [v for v, _ in _options(admin_html, "role")] == ["councillor", "officer", "analyst", "partner", "admin"]


def test_restricted_layers_say_they_are_not_on_the_public_map(store) -> None:
    world = make_world(store.engine)
    with store.engine.begin() as conn:
        versions.create_asset_layer(conn, "private_rooms", title="Private rooms", sensitivity="restricted",
                                    owner_org_id=world.users["partner"].org_id)
    versions.set_rules(store.engine, "private_rooms", actor=world.users["officer"], partner_upload=True)
    client = _client_as(store, world.users["partner"].email)
    home = client.get("/partner/").text
    private = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>Private rooms</a>.*?</tr>", home, re.DOTALL).group(0)
    public = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>Partner venues</a>.*?</tr>", home, re.DOTALL).group(0)
    assert "/?layers=" not in private and "This layer is not public, so it is not on the public map." in private
    assert 'href="/?layers=partner_venues"' in public
    page_html = client.get("/partner/layers/private_rooms").text
    assert "See this layer on the map" not in page_html and "/?layers=" not in page_html
    assert "This layer is not public, so it is not on the public map." in page_html
    assert 'href="/?layers=partner_venues"' in client.get("/partner/layers/partner_venues").text
