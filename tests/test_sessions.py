"""Sessions and tokens on both back ends: signing out ends every copy of a session, a sign-in's lifetime does not
slide, tokens never manage tokens or accounts, revoking or a role change ends what came from them, the last
administrator stays, and numeric fields and the token API answer 4xx, never 500."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from insight.errors import ConfigError
from insight.partner import auth
from tests.partner_fixtures import make_world, run_cli
from tests.test_partner_web import _app, _csrf, _sign_in


@pytest.fixture
def world(store):
    return make_world(store.engine)


def _signed_in(app, email: str):
    client = app.test_client()
    assert _sign_in(client, email).status_code == 302
    return client


def _cookie(client) -> str:
    return client.get_cookie("insight_session").value


def _with_cookie(app, value: str):
    copy = app.test_client()
    copy.set_cookie("insight_session", value)
    return copy


def _is_signed_out(answer) -> bool:
    return answer.status_code == 302 and "/partner/sign-in" in answer.headers["Location"]


def _age_sessions(engine, *, created: timedelta | None = None, seen: timedelta | None = None) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if created is not None:
            conn.execute(text("UPDATE user_sessions SET created_at = :t"), {"t": now - created})
        if seen is not None:
            conn.execute(text("UPDATE user_sessions SET last_seen_at = :t"), {"t": now - seen})


# --- sessions --------------------------------------------------------------------------------------


def test_a_copy_of_a_signed_out_cookie_no_longer_works(store, world) -> None:
    app = _app(store)
    client = _signed_in(app, world.users["officer"].email)
    copy = _with_cookie(app, _cookie(client))
    assert copy.get("/partner/").status_code == 200
    token = _csrf(client.get("/partner/").text)
    assert client.post("/partner/sign-out", data={"csrf_token": token}).status_code == 302
    assert _is_signed_out(copy.get("/partner/"))
    assert copy.get("/partner/api/layers/partner_venues/oruk.json").status_code == 401


def test_ending_all_sessions_signs_out_every_device(store, world) -> None:
    app = _app(store)
    email = world.users["analyst"].email
    laptop, phone = _signed_in(app, email), _signed_in(app, email)
    copy = _with_cookie(app, _cookie(phone))
    token = _csrf(laptop.get("/partner/").text)
    assert laptop.post("/partner/sign-out-everywhere", data={"csrf_token": token}).status_code == 302
    for client in (laptop, phone, copy):
        assert _is_signed_out(client.get("/partner/"))
    assert _signed_in(app, email).get("/partner/").status_code == 200


def test_a_sign_in_lasts_session_hours_however_much_it_is_used(store, world) -> None:
    app = _app(store)
    hours = store.settings.session_hours
    client = _signed_in(app, world.users["officer"].email)
    _age_sessions(store.engine, created=timedelta(hours=hours) - timedelta(minutes=5), seen=timedelta(0))
    answer = client.get("/partner/")
    assert answer.status_code == 200
    assert "insight_session" not in answer.headers.get("Set-Cookie", "")
    _age_sessions(store.engine, created=timedelta(hours=hours) + timedelta(minutes=1), seen=timedelta(0))
    assert _is_signed_out(client.get("/partner/"))


def test_an_idle_session_ends(store, world) -> None:
    app = _app(store)
    client = _signed_in(app, world.users["officer"].email)
    copy = _with_cookie(app, _cookie(client))
    _age_sessions(store.engine, seen=timedelta(minutes=store.settings.session_idle_minutes + 1))
    assert _is_signed_out(client.get("/partner/"))
    _age_sessions(store.engine, seen=timedelta(0))
    assert _is_signed_out(copy.get("/partner/")), "an idle session stays ended"


def test_a_role_change_ends_sessions_and_revokes_tokens(store, world) -> None:
    app = _app(store)
    officer = world.users["officer"]
    client = _signed_in(app, officer.email)
    secret = auth.create_token(store.engine, officer, "script").token
    auth.set_role(store.engine, officer.email, role="councillor", actor=world.users["admin"])
    assert _is_signed_out(client.get("/partner/"))
    answer = app.test_client().get("/partner/tokens", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401


# --- tokens ----------------------------------------------------------------------------------------


def test_a_token_cannot_mint_list_or_revoke_tokens_or_change_accounts(store, world) -> None:
    app = _app(store)
    admin = world.users["admin"]
    first = auth.create_token(store.engine, admin, "script")
    headers = {"Authorization": f"Bearer {first.token}"}
    client = app.test_client()
    minted = client.post("/partner/tokens", data={"name": "child"}, headers=headers)
    assert minted.status_code == 403 and minted.is_json
    assert "li_" not in minted.get_data(as_text=True)
    assert client.get("/partner/tokens", headers=headers).status_code == 403
    assert client.post("/partner/tokens", data={"revoke": str(first.id)}, headers=headers).status_code == 403
    changed = client.post("/partner/users", data={"email": world.users["officer"].email, "role": "admin"},
                          headers=headers)
    assert changed.status_code == 403
    assert auth.user_by_email(store.engine, world.users["officer"].email).role == "officer"
    assert client.post("/partner/sign-out-everywhere", headers=headers).status_code == 403
    assert [t.name for t in auth.list_tokens(store.engine, admin)] == ["script"]
    as_token = auth.authenticate_token(store.engine, first.token)
    assert as_token is not None and as_token.via_token
    with pytest.raises(auth.PermissionDenied):
        auth.create_token(store.engine, as_token, "child")
    with pytest.raises(auth.PermissionDenied):
        auth.set_password(store.engine, admin.email, "a new long passphrase 42", actor=as_token)


def test_a_revoked_token_stops_working(store, world) -> None:
    app = _app(store)
    officer = world.users["officer"]
    new = auth.create_token(store.engine, officer, "script")
    client = _signed_in(app, officer.email)
    token = _csrf(client.get("/partner/tokens").text)
    assert client.post("/partner/tokens", data={"revoke": str(new.id), "csrf_token": token}).status_code == 303
    answer = app.test_client().post("/partner/api/uploads", headers={"Authorization": f"Bearer {new.token}"})
    assert answer.status_code == 401 and answer.is_json


def test_the_token_api_answers_json_401_without_a_token(store, world) -> None:
    client = _app(store).test_client()
    answer = client.post("/partner/api/uploads", content_type="multipart/form-data",
                         data={"layer": "partner_venues", "file": (io.BytesIO(b"name\nx\n"), "x.csv")})
    assert answer.status_code == 401 and answer.is_json
    assert "Bearer" in answer.json["error"]
    signed_in = _signed_in(_app(store), world.users["officer"].email)
    assert signed_in.post("/partner/api/uploads").status_code == 401


# --- numbers and the last administrator ----------------------------------------------------------


@pytest.mark.parametrize("value", ["1" * 30, "-1", "1e3", "٣", "99999999999", " 7"])
def test_a_token_number_that_cannot_be_one_is_a_400(store, world, value: str) -> None:
    client = _signed_in(_app(store), world.users["officer"].email)
    token = _csrf(client.get("/partner/tokens").text)
    answer = client.post("/partner/tokens", data={"revoke": value, "csrf_token": token})
    assert answer.status_code == 400
    assert "not a token number" in answer.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/partner/records/{n}/edit", "/partner/uploads/{n}",
                                  "/partner/layers/partner_venues/versions/{n}", "/partner/surveys/uploads/{n}"])
def test_an_id_too_large_for_the_store_is_a_404(store, world, path: str) -> None:
    client = _signed_in(_app(store), world.users["admin"].email)
    assert client.get(path.format(n="1" * 30)).status_code == 404


def test_the_last_administrator_cannot_be_demoted_or_disabled(store, world) -> None:
    admin = world.users["admin"]
    client = _signed_in(_app(store), admin.email)
    token = _csrf(client.get("/partner/users").text)
    answer = client.post("/partner/users", data={"email": admin.email, "role": "officer", "csrf_token": token})
    assert answer.status_code == 422
    assert "is the only administrator" in answer.get_data(as_text=True)
    assert auth.user_by_email(store.engine, admin.email).role == "admin"
    with pytest.raises(ConfigError, match="only administrator"):
        auth.set_active(store.engine, admin.email, active=False, actor=admin)
    auth.set_role(store.engine, world.users["officer"].email, role="admin", actor=admin)
    auth.set_role(store.engine, admin.email, role="officer", actor=auth.SYSTEM)
    assert auth.user_by_email(store.engine, admin.email).role == "officer"
    disabled = auth.set_active(store.engine, world.users["analyst"].email, active=False)
    assert auth.user_by_id(store.engine, disabled.id or 0) is None


def test_the_command_line_disables_and_enables_an_account_but_not_the_last_admin(store, world, capsys) -> None:
    analyst = world.users["analyst"]
    assert "was disabled" in run_cli(store, capsys, "user", "disable", analyst.email)
    assert auth.user_by_id(store.engine, analyst.id or 0) is None
    assert "was enabled" in run_cli(store, capsys, "user", "enable", analyst.email)
    assert auth.user_by_id(store.engine, analyst.id or 0) is not None
    with pytest.raises(ConfigError, match="only administrator"):
        run_cli(store, capsys, "user", "disable", world.users["admin"].email)
