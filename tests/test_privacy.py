"""The README's promise, held for every role over HTTP on both back ends: survey respondent rows never leave the
server. No page, API call or command lists, exports, opens, edits or versions individual respondents; every
attempt is refused and written to the audit log."""
from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from insight.errors import PermissionDenied
from insight.layers import load_specs
from insight.partner import audit, auth, oruk, survey_uploads, versions
from insight.sources.ingest import load_specs_into
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.partner_fixtures import make_world, run_cli
from tests.test_partner_web import _app, _csrf, _sign_in
from tests.test_survey_upload import FIRST_60

ROLES = ("public", "councillor", "officer", "analyst", "partner", "admin")


@pytest.fixture
def world(store):
    world = make_world(store.engine)
    specs = [s for s in load_specs(LAYERS_DIR) if s.loader == survey_uploads.SURVEY_LOADER]
    assert specs, "the sample defines a survey layer"
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    world.survey = specs[0].name
    return world


def _respondents(engine, layer: str) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT f.id, f.source_id FROM features f JOIN layers l ON l.id = f.layer_id "
                                 "WHERE l.name = :n ORDER BY f.id"), {"n": layer}).all()
    return [(r[0], r[1]) for r in rows]


def _client(store, world, role: str):
    client = _app(store).test_client()
    user = world.users[role]
    if user.signed_in:
        assert _sign_in(client, user.email).status_code == 302
    return client


def _attempts(layer: str, feature_id: int) -> list[tuple[str, str, dict]]:
    """Every way to reach respondent rows through the partner pages and API: (method, path, form)."""
    return [
        ("GET", f"/partner/layers/{layer}", {}),
        ("GET", f"/partner/layers/{layer}/export.csv", {}),
        ("GET", f"/partner/layers/{layer}/oruk.json", {}),
        ("GET", f"/partner/api/layers/{layer}/oruk.json", {}),
        ("GET", f"/partner/layers/{layer}/versions", {}),
        ("GET", f"/partner/layers/{layer}/versions/1", {}),
        ("POST", f"/partner/layers/{layer}/versions/1/restore", {}),
        ("GET", f"/partner/records/{feature_id}/edit", {}),
        ("POST", f"/partner/records/{feature_id}/edit",
         {"name": "changed", "category": "W1", "longitude": "-0.2", "latitude": "51.6", "assured": "yes"}),
    ]


def _stored(engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT f.id, f.name, f.category, f.properties FROM features f JOIN layers l "
                                 "ON l.id = f.layer_id WHERE l.sensitivity <> 'public' ORDER BY f.id")).all()
    return repr(rows)


def test_no_role_lists_exports_opens_or_edits_a_respondent_over_http(store, world) -> None:
    respondents = _respondents(store.engine, world.survey)
    assert len(respondents) > 100
    feature_id = respondents[0][0]
    ids = [source_id for _, source_id in respondents[:50] if source_id]
    assert ids, "respondents carry an id to look for"
    before = _stored(store.engine)
    for role in ROLES:
        client = _client(store, world, role)
        token = _csrf(client.get("/partner/sign-in").text)
        for method, path, form in _attempts(world.survey, feature_id):
            answer = client.open(path, method=method, data=form | {"csrf_token": token} if method == "POST" else None)
            assert answer.status_code in (302, 401, 403, 404), (role, method, path, answer.status_code)
            if role != "public":
                assert answer.status_code == 403, (role, method, path, answer.status_code)
            body = answer.get_data(as_text=True)
            assert not any(i in body for i in ids), (role, method, path)
    assert _stored(store.engine) == before
    denied = [e for e in audit.events(store.engine, limit=500, action="permission_denied")
              if e.target and (world.survey in e.target or e.target.startswith("record:"))]
    signed_in_roles = {e.actor_email for e in denied}
    assert {world.users[r].email for r in ROLES if r != "public"} <= signed_in_roles
    assert all(e.detail.get("reason") == "counts only" for e in denied if e.detail.get("reason"))


def test_no_token_reaches_respondent_rows(store, world) -> None:
    feature_id = _respondents(store.engine, world.survey)[0][0]
    for role in ("analyst", "admin"):
        secret = auth.create_token(store.engine, world.users[role], "probe").token
        client = _app(store).test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        for method, path, form in _attempts(world.survey, feature_id):
            answer = client.open(path, method=method, data=form, headers=headers)
            assert answer.status_code == 403, (role, path, answer.status_code)
            assert answer.is_json and "survey respondent rows never leave the server" in answer.json["error"]


def test_the_partner_functions_and_commands_refuse_respondent_rows(store, world, capsys) -> None:
    admin = world.users["admin"]
    feature_id = _respondents(store.engine, world.survey)[0][0]
    refused = [
        lambda: versions.layer_records(store.engine, world.survey, actor=admin),
        lambda: versions.export_csv(store.engine, world.survey, actor=admin),
        lambda: versions.record_view(store.engine, feature_id, actor=admin),
        lambda: versions.versions(store.engine, world.survey, actor=admin),
        lambda: versions.restore_version(store.engine, world.survey, 1, actor=admin),
        lambda: versions.stale_records(store.engine, world.survey),
        lambda: versions.set_rules(store.engine, world.survey, actor=admin, partner_upload=True),
        lambda: oruk.export_directory(store.engine, world.survey, actor=auth.SYSTEM),
    ]
    for call in refused:
        with pytest.raises(auth.RowsRefused, match="survey respondent rows never leave the server"):
            call()
    with pytest.raises(PermissionDenied):
        run_cli(store, capsys, "stale", world.survey)
    with pytest.raises(PermissionDenied):
        run_cli(store, capsys, "oruk", "export", world.survey)
    assert not versions.layer_ref(store.engine, world.layer).counts_only


def test_only_the_sender_or_an_officer_discards_a_pending_survey_upload(store, world) -> None:
    officer = _client(store, world, "officer")
    token = _csrf(officer.get("/partner/surveys").text)
    sent = officer.post("/partner/surveys", content_type="multipart/form-data",
                        data={"layer": world.survey, "csrf_token": token,
                              "file": (io.BytesIO(FIRST_60), "survey.csv")})
    assert sent.status_code == 303
    upload_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    analyst = _client(store, world, "analyst")
    token = _csrf(analyst.get("/partner/surveys").text)
    answer = analyst.post(f"/partner/surveys/uploads/{upload_id}/discard", data={"csrf_token": token})
    assert answer.status_code == 403
    assert "only the person who sent an upload" in answer.get_data(as_text=True)
    assert survey_uploads.survey_upload(store.engine, upload_id, actor=world.users["officer"]).status == "pending"
    admin = _client(store, world, "admin")
    token = _csrf(admin.get("/partner/surveys").text)
    assert admin.post(f"/partner/surveys/uploads/{upload_id}/discard", data={"csrf_token": token}).status_code == 303
    assert survey_uploads.survey_upload(store.engine, upload_id, actor=world.users["officer"]).status == "discarded"


@pytest.mark.parametrize(("role", "own", "allowed"), [
    ("public", True, False), ("councillor", True, False), ("analyst", True, True), ("analyst", False, False),
    ("partner", True, True), ("partner", False, False), ("officer", False, True), ("admin", False, True),
])
def test_who_may_discard_is_in_the_permission_table(role: str, own: bool, allowed: bool) -> None:
    user = auth.Principal(None if role == "public" else 7, None if role == "public" else "x@example.org", role,
                          org_id=3 if role == "partner" else None)
    ref = auth.UploadRef(auth.LayerRef("survey"), 7 if own else 8)
    assert auth.can(user, "discard_upload", ref) is allowed


@pytest.fixture(autouse=True)
def _no_leftover_engines() -> Iterator[None]:
    yield
    from insight.cli.engines import close_engines

    close_engines()
