"""Accounts and roles: the permission table, Argon2 passwords, rate-limited sign-in, API tokens, the CLI."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from insight.config import load_settings
from insight.errors import ConfigError, NotFoundError
from insight.partner import audit, auth, uploads, versions
from insight.partner.auth import ANONYMOUS, LayerRef, PermissionDenied, Principal, RecordRef, can
from insight.store import make_engine
from insight.store.models import ApiToken, User
from tests.partner_fixtures import PASSWORD, VENUES_CSV, fingerprint, make_world, run_cli, settings

OWN, OTHER = 1, 2
PUBLIC_LAYER = LayerRef("schools", "public")
RESTRICTED_OWN = LayerRef("own_restricted", "restricted", owner_org_id=OWN)
RESTRICTED_OTHER = LayerRef("other_restricted", "restricted", owner_org_id=OTHER)
OWN_PARTNER_LAYER = LayerRef("own_venues", "public", owner_org_id=OWN, partner_upload=True)
OTHER_PARTNER_LAYER = LayerRef("other_venues", "public", owner_org_id=OTHER, partner_upload=True)
SHARED_PARTNER_LAYER = LayerRef("directory", "public", owner_org_id=None, partner_upload=True)
CLOSED_LAYER = LayerRef("council_assets", "public", owner_org_id=None, partner_upload=False)
OWN_RECORD = RecordRef(SHARED_PARTNER_LAYER, OWN)
OTHER_RECORD = RecordRef(SHARED_PARTNER_LAYER, OTHER)
COUNCIL_RECORD = RecordRef(SHARED_PARTNER_LAYER, None)
RECORD_IN_OWN_LAYER = RecordRef(OWN_PARTNER_LAYER, None)

PEOPLE = {
    "public": ANONYMOUS,
    "councillor": Principal(1, "c@example.org", "councillor"),
    "officer": Principal(2, "o@example.org", "officer"),
    "analyst": Principal(3, "a@example.org", "analyst"),
    "partner": Principal(4, "p@example.org", "partner", org_id=OWN, org_slug="own"),
    "admin": Principal(5, "ad@example.org", "admin"),
}
CASES = [
    ("read_layer", PUBLIC_LAYER), ("read_layer", RESTRICTED_OWN), ("read_layer", RESTRICTED_OTHER),
    ("export_layer", PUBLIC_LAYER), ("export_layer", RESTRICTED_OWN), ("export_layer", RESTRICTED_OTHER),
    ("upload", OWN_PARTNER_LAYER), ("upload", OTHER_PARTNER_LAYER), ("upload", SHARED_PARTNER_LAYER),
    ("upload", CLOSED_LAYER),
    ("edit_record", OWN_RECORD), ("edit_record", OTHER_RECORD), ("edit_record", COUNCIL_RECORD),
    ("edit_record", RECORD_IN_OWN_LAYER),
    ("view_history", OWN_PARTNER_LAYER), ("view_history", OTHER_PARTNER_LAYER),
    ("restore", OWN_PARTNER_LAYER), ("manage_layers", None), ("view_audit", None), ("manage_users", None),
    ("use_tokens", None),
]
#                 public councillor officer analyst partner admin
EXPECTED = {
    0:  "YYYYYY", 1:  "NYYYYY", 2:  "NYYYNY",
    3:  "YYYYYY", 4:  "NNNYYY", 5:  "NNNYNY",
    6:  "NNYNYY", 7:  "NNYNNY", 8:  "NNYNYY", 9: "NNYNNY",
    10: "NNYNYY", 11: "NNYNNY", 12: "NNYNNY", 13: "NNYNYY",
    14: "NNYNYY", 15: "NNYNNY",
    16: "NNYNNY", 17: "NNYNNY", 18: "NNNNNY", 19: "NNNNNY",
    20: "NYYYYY",
}
ORDER = ("public", "councillor", "officer", "analyst", "partner", "admin")


@pytest.mark.parametrize("role", ORDER)
def test_role_matrix(role: str) -> None:
    user = PEOPLE[role]
    for index, (action, resource) in enumerate(CASES):
        expected = EXPECTED[index][ORDER.index(role)] == "Y"
        assert can(user, action, resource) is expected, (role, action, resource)
        if not expected:
            with pytest.raises(PermissionDenied):
                auth.require(user, action, resource)


def test_refusals_say_who_and_why() -> None:
    with pytest.raises(PermissionDenied, match="sign in to upload on layer 'own_venues'"):
        auth.require(ANONYMOUS, "upload", OWN_PARTNER_LAYER)
    with pytest.raises(PermissionDenied, match=r"p@example.org \(partner of own\) may not edit record.*own "
                                               "organisation's records"):
        auth.require(PEOPLE["partner"], "edit_record", OTHER_RECORD)
    with pytest.raises(PermissionDenied, match="the analyst role does not include it"):
        auth.require(PEOPLE["analyst"], "restore", OWN_PARTNER_LAYER)


def test_every_action_has_a_rule_for_every_role() -> None:
    for action, rules in auth.PERMISSIONS.items():
        assert set(rules) == set(ORDER), action


# --- passwords -------------------------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_that_verify() -> None:
    hashed = auth.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert auth.verify_password(hashed, PASSWORD)
    assert not auth.verify_password(hashed, PASSWORD + "!")
    assert not auth.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize("password, reason", [
    ("short", "at least 12"), ("aaaaaaaaaaaaaaaa", "more than three"), ("password1234", "commonly used"),
    ("jane.smith-secret-words", "email address"),
])
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    assert any(reason in p for p in auth.password_problems(password, email="jane.smith@example.org"))


# --- accounts, sign-in and rate limiting -----------------------------------------------------------------


def test_accounts_roles_and_the_audit_of_role_changes(store) -> None:
    engine = store.engine
    admin = auth.create_user(engine, "Admin@Example.org ", role="admin", password=PASSWORD)
    assert admin.email == "admin@example.org"
    with pytest.raises(ConfigError, match="already exists"):
        auth.create_user(engine, "admin@example.org", role="admin", password=PASSWORD)
    with pytest.raises(ConfigError, match="partner belongs to one organisation"):
        auth.create_user(engine, "p@example.org", role="partner", password=PASSWORD)
    with pytest.raises(NotFoundError, match="no organisation 'nope'"):
        auth.create_user(engine, "p@example.org", role="partner", password=PASSWORD, org_slug="nope")
    partner = auth.create_user(engine, "p@example.org", role="partner", password=PASSWORD, org_slug="bt",
                               create_org=True, actor=admin)
    with pytest.raises(PermissionDenied):
        auth.set_role(engine, "admin@example.org", role="partner", org_slug="bt", actor=partner)
    changed = auth.set_role(engine, "p@example.org", role="officer", actor=admin)
    assert changed.role == "officer" and changed.org_id is None
    assert auth.user_by_id(engine, partner.id, epoch=partner.session_epoch) is None
    events = audit.events(engine, action="role_changed")
    assert events[0].actor_email == "admin@example.org" and events[0].detail["from"] == "partner"
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash)).scalars().all()
    assert all(h.startswith("$argon2id$") for h in stored)


def test_sign_in_is_rate_limited_per_account_and_address_and_survives_a_restart(store) -> None:
    engine = store.engine
    auth.create_user(engine, "o@example.org", role="officer", password=PASSWORD)
    limits = settings(login_max_failures=3, login_max_failures_per_ip=5)
    assert auth.sign_in(engine, "o@example.org", PASSWORD, ip="10.0.0.1", settings=limits).role == "officer"
    for _ in range(3):
        with pytest.raises(auth.SignInRefused, match="email address or password is not right"):
            auth.sign_in(engine, "o@example.org", "wrong password!", ip="10.0.0.1", settings=limits)
    restarted = make_engine(store.settings)
    with pytest.raises(auth.SignInRefused, match="too many failed sign-in attempts"):
        auth.sign_in(restarted, "o@example.org", PASSWORD, ip="10.0.0.1", settings=limits)
    assert auth.sign_in(restarted, "o@example.org", PASSWORD, ip="10.0.0.2", settings=limits).signed_in
    for email in ("x@example.org", "y@example.org"):
        with pytest.raises(auth.SignInRefused):
            auth.sign_in(restarted, email, "guess guess guess", ip="10.0.0.1", settings=limits)
    with pytest.raises(auth.SignInRefused, match="too many"):
        auth.sign_in(restarted, "someone@example.org", "guess guess guess", ip="10.0.0.1", settings=limits)
    restarted.dispose()
    kinds = [e.action for e in audit.events(engine)]
    assert kinds.count("sign_in") == 2 and kinds.count("sign_in_failed") >= 5


def test_unknown_accounts_and_disabled_accounts_get_the_same_answer(store) -> None:
    auth.create_user(store.engine, "o@example.org", role="officer", password=PASSWORD)
    with store.engine.begin() as conn:
        conn.execute(User.__table__.update().values(active=False))
    for email in ("nobody@example.org", "o@example.org"):
        with pytest.raises(auth.SignInRefused, match="email address or password is not right"):
            auth.sign_in(store.engine, email, PASSWORD, ip="10.0.0.9", settings=settings())


@given(st.integers(0, 10), st.integers(1, 10), st.integers(0, 30))
def test_throttle_blocks_exactly_at_the_limit_within_the_window(failures: int, limit: int, age: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    limits = load_settings(env={}, login_max_failures=limit, login_max_failures_per_ip=1000, login_window_minutes=15)
    times = [now - timedelta(minutes=age)] * failures
    state = auth.throttle_state(times, times, now=now, settings=limits)
    assert state.blocked == (failures >= limit and age < 15)
    if state.blocked:
        assert timedelta(0) < state.retry_after <= timedelta(minutes=15)


# --- API tokens ------------------------------------------------------------------------------------------


def test_tokens_are_shown_once_hashed_at_rest_and_revocable(store) -> None:
    engine = store.engine
    owner = auth.create_user(engine, "o@example.org", role="officer", password=PASSWORD)
    other = auth.create_user(engine, "c@example.org", role="councillor", password=PASSWORD)
    with pytest.raises(PermissionDenied):
        auth.create_token(engine, ANONYMOUS, "script")
    new = auth.create_token(engine, owner, "nightly sync")
    with engine.connect() as conn:
        stored = conn.execute(select(ApiToken.token_hash, ApiToken.prefix)).one()
    assert new.token not in stored and stored.token_hash == auth.token_digest(new.token)
    assert auth.authenticate_token(engine, new.token).email == "o@example.org"
    assert auth.authenticate_token(engine, new.token + "x") is None
    assert auth.authenticate_token(engine, "garbage") is None
    with pytest.raises(NotFoundError):
        auth.revoke_token(engine, new.id, actor=other)
    auth.revoke_token(engine, new.id, actor=owner)
    assert auth.authenticate_token(engine, new.token) is None
    assert auth.list_tokens(engine, owner)[0].revoked_at is not None


# --- the role checks hold below the web pages too ---------------------------------------------------------


def test_a_partner_cannot_edit_another_organisations_record_by_its_id(store) -> None:
    world = make_world(store.engine)
    uploads.commit_check(world.engine, uploads.check_upload(
        world.engine, VENUES_CSV, layer=world.layer, actor=world.users["partner"], settings=settings()),
        actor=world.users["partner"])
    record = versions.layer_records(world.engine, world.layer, actor=world.users["partner"])[0].state
    before = fingerprint(world.engine)
    for intruder in (world.other_partner, world.users["councillor"], world.users["analyst"]):
        with pytest.raises(PermissionDenied):
            versions.record_view(world.engine, record.feature_id, actor=intruder)
        with pytest.raises(PermissionDenied):
            versions.edit_record(world.engine, record.feature_id,
                                 versions.RecordState(record.key, None, "Hijacked", "Culture", {}, -0.2, 51.6),
                                 actor=intruder, assured=True)
    assert fingerprint(world.engine) == before
    versions.edit_record(world.engine, record.feature_id,
                         versions.RecordState(record.key, None, "Renamed by its owner", "Culture", {}, record.lon,
                                              record.lat), actor=world.users["partner"], assured=True)
    assert versions.record_view(world.engine, record.feature_id, actor=world.users["officer"]).state.name == \
        "Renamed by its owner"


def test_restricted_exports_are_audited_and_refused_to_those_without_the_right(store) -> None:
    world = make_world(store.engine)
    with store.engine.begin() as conn:
        versions.create_asset_layer(conn, "safeguarding_sites", sensitivity="restricted")
    officer = world.users["officer"]
    uploads.commit_check(world.engine, uploads.check_upload(
        world.engine, VENUES_CSV, layer="safeguarding_sites", actor=officer, settings=settings()), actor=officer)
    for role in ("public", "councillor", "officer", "partner"):
        with pytest.raises(PermissionDenied):
            versions.export_csv(world.engine, "safeguarding_sites", actor=world.users[role])
    text = versions.export_csv(world.engine, "safeguarding_sites", actor=world.users["analyst"], ip="10.1.1.1")
    assert text.startswith("id,name,category,longitude,latitude")
    event = audit.events(world.engine, action="export_restricted")[0]
    assert (event.actor_email, event.ip, event.target) == ("analyst@example.org", "10.1.1.1",
                                                          "layer:safeguarding_sites")


# --- the command line ------------------------------------------------------------------------------------


def test_cli_creates_the_first_admin_changes_roles_and_manages_tokens(store, monkeypatch, capsys) -> None:
    monkeypatch.setenv("INSIGHT_NEW_PASSWORD", PASSWORD)
    out = run_cli(store, capsys, "user", "add", "admin@example.org", "--role", "admin")
    assert "created admin@example.org (admin)" in out
    out = run_cli(store, capsys, "user", "add", "p@example.org", "--role", "partner", "--org",
               "barnet-together", "--create-org")
    assert "partner of barnet-together" in out
    out = run_cli(store, capsys, "user", "role", "p@example.org", "--role", "officer")
    assert "is now officer" in out
    out = run_cli(store, capsys, "token", "create", "--as", "p@example.org", "--name", "sync")
    token = out.strip().splitlines()[-1]
    assert token.startswith("li_") and auth.authenticate_token(store.engine, token).email == "p@example.org"
    token_id = int(out.split()[1])
    run_cli(store, capsys, "token", "revoke", str(token_id), "--as", "p@example.org")
    assert auth.authenticate_token(store.engine, token) is None
    monkeypatch.setenv("INSIGHT_NEW_PASSWORD", "short")
    with pytest.raises(ConfigError, match="at least 12"):
        run_cli(store, capsys, "user", "add", "x@example.org", "--role", "analyst")
    actions = [e.action for e in audit.events(store.engine)]
    assert {"user_created", "role_changed", "token_created", "token_revoked"} <= set(actions)
