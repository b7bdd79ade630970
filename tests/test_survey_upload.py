"""Web uploads of survey respondent files on both back ends: who may, what is refused, counts only, versions."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from insight.errors import ConfigError, LoadError
from insight.layers import load_specs
from insight.partner import audit, auth, survey_uploads
from insight.sources.ingest import load_specs_into
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.partner_fixtures import (
    PASSWORD,
    fingerprint,
    make_world,
    serve_world,
    settings,
)
from tests.test_partner_web import _app, _csrf, _sign_in

LAYER = "resident_survey_illustrative"
TITLE = "Resident Perception Survey respondents (ILLUSTRATIVE, restricted)"
SOURCE = DATA_DIR / "surveys" / "resident_perception_illustrative.csv"
LINES = SOURCE.read_text(encoding="utf-8").splitlines()
HEADER, ROWS = LINES[0], LINES[1:]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _csv(rows: list[str]) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


FIRST_60 = _csv(ROWS[:60])
LAST_40 = _csv(ROWS[-40:])


def _stored(engine) -> dict[str, str]:
    """Digest of the tables an upload could change (denied requests are audited, so audit is left out)."""
    return {k: v for k, v in fingerprint(engine).items() if k in ("layers", "features", "uploads", "feature_tags")}


def _respondents(engine) -> int:
    with engine.connect() as conn:
        return survey_uploads.stored_survey(conn, LAYER).respondents


def _spec():
    return survey_uploads.survey_spec(LAYERS_DIR, LAYER)


def _post_file(client, content: bytes, filename: str = "survey.csv", *, layer: str = LAYER, token: str | None = None):
    token = token if token is not None else _csrf(client.get("/partner/sign-in").text)
    data = {"layer": layer, "file": (io.BytesIO(content), filename)}
    if token:
        data["csrf_token"] = token
    return client.post("/partner/surveys", content_type="multipart/form-data", data=data)


def _client(store, world, role: str):
    client = _app(store).test_client()
    user = world.users[role]
    if user.signed_in:
        assert _sign_in(client, user.email).status_code == 302
    return client


def _refusal_cells(html: str) -> set[tuple[str, str]]:
    table = html[html.index('id="refusal"'):]
    table = table[:table.index("</table>")]
    return set(re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>", table))


@pytest.fixture
def world(store):
    return make_world(store.engine)


# --- the permission --------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "allowed"), [("public", False), ("councillor", False), ("officer", True),
                                               ("analyst", True), ("partner", False), ("admin", True)])
def test_upload_survey_is_for_officers_analysts_and_admins(role: str, allowed: bool) -> None:
    user = auth.Principal(None if role == "public" else 1, None if role == "public" else "x@example.org", role,
                          org_id=1 if role == "partner" else None)
    assert auth.can(user, "upload_survey") is allowed


# --- every role over HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["officer", "analyst", "admin"])
def test_staff_with_the_right_check_and_commit_a_real_file(store, world, role: str) -> None:
    client = _client(store, world, role)
    assert "Survey files" in client.get("/partner/").text
    listing = client.get("/partner/surveys")
    assert listing.status_code == 200 and TITLE in listing.text
    before = _stored(store.engine)
    sent = _post_file(client, FIRST_60, "first_60.csv")
    assert sent.status_code == 303
    report = client.get(sent.headers["Location"])
    assert report.status_code == 200 and TITLE in report.text
    assert re.search(r'id="rows-read">60<', report.text)
    assert _respondents(store.engine) == 0 and _stored(store.engine)["features"] == before["features"]
    token = _csrf(report.text)
    commit = re.search(r'action="(/partner/surveys/uploads/\d+/commit)"', report.text).group(1)
    assert client.post(commit, data={"csrf_token": token}).status_code == 303
    assert _respondents(store.engine) == 60
    history = client.get(f"/partner/surveys/{LAYER}/history").text
    assert "first_60.csv" in history and TITLE in history


@pytest.mark.parametrize(("role", "status"), [("public", 302), ("councillor", 403), ("partner", 403)])
def test_others_are_refused_every_survey_page_and_nothing_changes(store, world, role: str, status: int) -> None:
    spec = _spec()
    upload_id, _ = survey_uploads.stage_survey(store.engine, FIRST_60, filename="first_60.csv", spec=spec,
                                               actor=world.users["officer"], settings=settings())
    survey_uploads.commit_survey(store.engine, upload_id, spec=spec, actor=world.users["officer"], settings=settings())
    pending, _ = survey_uploads.stage_survey(store.engine, LAST_40, filename="last_40.csv", spec=spec,
                                             actor=world.users["officer"], settings=settings())
    before = _stored(store.engine)
    client = _client(store, world, role)
    token = _csrf(client.get("/partner/sign-in").text)
    if role != "public":
        assert "Survey files" not in client.get("/partner/").text
    answers = [
        client.get("/partner/surveys"),
        _post_file(client, FIRST_60, token=token),
        client.get(f"/partner/surveys/uploads/{pending}"),
        client.post(f"/partner/surveys/uploads/{pending}/commit", data={"csrf_token": token}),
        client.post(f"/partner/surveys/uploads/{pending}/discard", data={"csrf_token": token}),
        client.get(f"/partner/surveys/{LAYER}/history"),
        client.post(f"/partner/surveys/{LAYER}/versions/1/restore", data={"csrf_token": token}),
    ]
    assert [a.status_code for a in answers] == [status] * len(answers)
    if role == "public":
        assert all("/partner/sign-in" in a.headers["Location"] for a in answers)
    assert _stored(store.engine) == before
    assert _respondents(store.engine) == 60


# --- refusals ------------------------------------------------------------------------------------------


def test_bad_rows_are_each_shown_by_row_and_column_and_nothing_is_written(store, world) -> None:
    rows = ROWS[:10]
    fields = HEADER.split(",")
    bad = [r.split(",") for r in rows]
    bad[1][fields.index("ward_code")] = "X05000001"
    bad[4][fields.index("weight")] = "abc"
    bad[6][fields.index("worried_asb")] = "7"
    client = _client(store, world, "analyst")
    before = _stored(store.engine)
    answer = _post_file(client, _csv([",".join(r) for r in bad]), "bad_rows.csv")
    assert answer.status_code == 422
    assert {("2", "ward_code"), ("5", "weight"), ("7", "worried_asb")} <= _refusal_cells(answer.text)
    assert "weight &#39;abc&#39; is not a number" in answer.text
    assert "answer &#39;7&#39; is not a code of question &#39;worried_asb&#39;" in answer.text
    assert "not accepted: nothing was saved" in answer.text
    assert _stored(store.engine) == before


@pytest.mark.parametrize(("content", "looks"), [
    (PNG, "PNG image"),
    (b"<!DOCTYPE html><html><body>respondent_id,wave</body></html>", "XML or HTML"),
    (b"PK\x03\x04" + b"\x00" * 60, "ZIP archive"),
])
def test_other_content_behind_a_csv_name_is_refused(store, world, content: bytes, looks: str) -> None:
    client = _client(store, world, "officer")
    before = _stored(store.engine)
    answer = _post_file(client, content, "survey.csv")
    assert answer.status_code == 422
    assert "its content looks like" in answer.text and looks in answer.text
    assert _stored(store.engine) == before


def test_a_form_without_its_csrf_token_is_refused(store, world) -> None:
    client = _client(store, world, "officer")
    before = _stored(store.engine)
    answer = _post_file(client, FIRST_60, token="")
    assert answer.status_code == 400 and "The form has expired" in answer.text
    assert _stored(store.engine) == before


def test_only_survey_layers_can_be_replaced(store, world) -> None:
    client = _client(store, world, "officer")
    before = _stored(store.engine)
    answer = _post_file(client, FIRST_60, layer="schools")
    assert answer.status_code == 422 and "is not a survey layer" in answer.text
    assert _stored(store.engine) == before
    with pytest.raises(ConfigError, match="not a survey layer"):
        survey_uploads.survey_spec(LAYERS_DIR, "schools")
    assert [s.name for s in survey_uploads.survey_specs(LAYERS_DIR)] == [LAYER]


def test_a_file_over_the_size_limit_is_refused(store, world) -> None:
    before = _stored(store.engine)
    with pytest.raises(LoadError, match="the limit is"):
        survey_uploads.stage_survey(store.engine, FIRST_60, filename="first_60.csv", spec=_spec(),
                                    actor=world.users["officer"], settings=settings(upload_max_bytes=1000))
    assert _stored(store.engine) == before


# --- counts only ---------------------------------------------------------------------------------------


def test_small_counts_are_suppressed() -> None:
    assert [survey_uploads.shown_count(n) for n in (0, 1, 4, 5, 1234)] == ["0", "fewer than 5", "fewer than 5",
                                                                           "5", "1,234"]


def test_the_preview_shows_counts_only_and_small_ward_counts_as_fewer_than_5(store) -> None:
    world = make_world(store.engine, boundaries=("borough", "wards_2022"))
    client = _client(store, world, "analyst")
    report = client.get(_post_file(client, FIRST_60).headers["Location"]).text
    wards = report[report.index('id="wards"'):]
    wards = wards[:wards.index("</table>")]
    cells = re.findall(r"<th scope=\"row\">([^<]+)</th><td>(E05\d{6})</td><td>([^<]+)</td>", wards)
    assert cells and any(name == "Burnt Oak" for name, _, _ in cells)
    shown = [n for _, _, n in cells]
    assert "fewer than 5" in shown
    assert all(n == "fewer than 5" or int(n.replace(",", "")) >= 5 for n in shown)
    expected_wards = {r.split(",")[HEADER.split(",").index("ward_code")] for r in ROWS[:60]}
    assert re.search(rf'id="wards-covered">{len(expected_wards)}<', report)
    assert "ILL-RPS-" not in report and "E01" not in report
    assert "safe_after_dark" not in report and "interview_date" not in report


# --- commit, history and restore -----------------------------------------------------------------------


def test_commit_replaces_the_layer_and_restore_brings_an_earlier_version_back(store, world) -> None:
    load_specs_into(store.engine, [s for s in load_specs(LAYERS_DIR) if s.name == LAYER], DATA_DIR,
                    echo=lambda _: None)
    assert _respondents(store.engine) == len(ROWS)
    client = _client(store, world, "officer")
    report = client.get(_post_file(client, FIRST_60, "first_60.csv").headers["Location"]).text
    assert f"The layer now holds {len(ROWS):,} respondents" in report
    token = _csrf(report)
    commit = re.search(r'action="(/partner/surveys/uploads/\d+/commit)"', report).group(1)
    assert client.post(commit, data={"csrf_token": token}).status_code == 303
    assert _respondents(store.engine) == 60

    second = client.get(_post_file(client, LAST_40, "last_40.csv").headers["Location"]).text
    assert "The layer now holds 60 respondents" in second
    commit = re.search(r'action="(/partner/surveys/uploads/\d+/commit)"', second).group(1)
    assert client.post(commit, data={"csrf_token": token}).status_code == 303
    assert _respondents(store.engine) == 40
    with store.engine.connect() as conn:
        assert survey_uploads.stored_survey(conn, LAYER).waves == {"2026": 40}

    history = client.get(f"/partner/surveys/{LAYER}/history").text
    versions = re.findall(r'<th scope="row"><a href="[^"]+">(\d+)<', history)
    assert versions == ["2", "1"]
    assert "first_60.csv" in history and "last_40.csv" in history
    assert f"/partner/surveys/{LAYER}/versions/1/restore" in history
    assert f"/partner/surveys/{LAYER}/versions/2/restore" not in history

    analyst = _client(store, world, "analyst")
    analyst_history = analyst.get(f"/partner/surveys/{LAYER}/history").text
    assert "first_60.csv" in analyst_history and "/restore" not in analyst_history
    before = _stored(store.engine)
    denied = analyst.post(f"/partner/surveys/{LAYER}/versions/1/restore", data={"csrf_token": _csrf(analyst_history)})
    assert denied.status_code == 403 and _stored(store.engine) == before

    restored = client.post(f"/partner/surveys/{LAYER}/versions/1/restore", data={"csrf_token": token})
    assert restored.status_code == 303
    assert _respondents(store.engine) == 60
    history = client.get(f"/partner/surveys/{LAYER}/history").text
    assert re.findall(r'<th scope="row"><a href="[^"]+">(\d+)<', history) == ["3", "2", "1"]
    assert "restore of version 1" in history
    listing = client.get("/partner/surveys").text
    assert "Version 3: first_60.csv" in listing


def test_discard_keeps_the_file_and_leaves_the_layer_alone(store, world) -> None:
    client = _client(store, world, "analyst")
    location = _post_file(client, FIRST_60).headers["Location"]
    upload_id = int(location.rsplit("/", 1)[1])
    features = _stored(store.engine)["features"]
    token = _csrf(client.get(location).text)
    assert client.post(f"{location}/discard", data={"csrf_token": token}).status_code == 303
    staged = survey_uploads.survey_upload(store.engine, upload_id, actor=world.users["analyst"])
    assert staged.status == "discarded" and _stored(store.engine)["features"] == features
    again = client.post(f"{location}/commit", data={"csrf_token": token})
    assert again.status_code == 409 and "already discarded" in again.text


def test_the_asset_upload_pages_leave_survey_uploads_alone(store, world) -> None:
    client = _client(store, world, "officer")
    location = _post_file(client, FIRST_60).headers["Location"]
    upload_id = int(location.rsplit("/", 1)[1])
    assert client.get(f"/partner/uploads/{upload_id}").headers["Location"].endswith(location)
    token = _csrf(client.get(location).text)
    before = _stored(store.engine)
    assert client.post(f"/partner/uploads/{upload_id}/commit", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/partner/uploads/{upload_id}/discard", data={"csrf_token": token}).status_code == 404
    assert _stored(store.engine) == before


def test_a_commit_refuses_when_the_layer_was_replaced_after_the_check(store, world) -> None:
    spec = _spec()
    officer = world.users["officer"]
    first, _ = survey_uploads.stage_survey(store.engine, FIRST_60, filename="first_60.csv", spec=spec, actor=officer,
                                           settings=settings())
    second, _ = survey_uploads.stage_survey(store.engine, LAST_40, filename="last_40.csv", spec=spec, actor=officer,
                                            settings=settings())
    survey_uploads.commit_survey(store.engine, first, spec=spec, actor=officer, settings=settings())
    before = _stored(store.engine)
    with pytest.raises(ConfigError, match="was replaced after last_40.csv was checked"):
        survey_uploads.commit_survey(store.engine, second, spec=spec, actor=officer, settings=settings())
    assert _stored(store.engine) == before


# --- in a real browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    yield from serve_world(tmp_path_factory.mktemp("survey-web"), _app)


@pytest.mark.browser
def test_an_analyst_is_refused_a_bad_file_then_saves_a_good_one_in_a_browser(browser, served, tmp_path) -> None:
    url, world = served
    bad_rows = [r.split(",") for r in ROWS[:5]]
    bad_rows[2][HEADER.split(",").index("weight")] = "abc"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv([",".join(r) for r in bad_rows]))
    good = tmp_path / "first_60.csv"
    good.write_bytes(FIRST_60)
    page = browser.new_page()
    page.goto(f"{url}/partner/sign-in")
    page.get_by_label("Email address").fill(world.users["analyst"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Survey files", exact=True).first.click()
    page.wait_for_selector("h1:has-text('Survey files')")
    assert page.get_by_label("Survey layer to replace").input_value() == LAYER

    page.get_by_label("Survey file", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_selector("#refusal")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    cells = page.locator("#refusal tbody tr").first.locator("td")
    assert [cells.nth(i).inner_text() for i in range(2)] == ["3", "weight"]

    page.get_by_label("Survey file", exact=True).set_input_files(str(good))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_url(re.compile(r".*/partner/surveys/uploads/\d+$"))
    assert TITLE in page.locator("h1").inner_text()
    assert page.locator("#rows-read").inner_text() == "60"
    assert "fewer than 5" in page.locator("#wards").inner_text()
    page.get_by_role("button", name=re.compile("^Save")).click()
    page.wait_for_selector("text=saved first_60.csv as version 1")
    assert page.locator("#versions tbody tr").count() == 1
    page.close()
    assert _respondents(world.engine) == 60


def test_the_asset_upload_form_cannot_replace_a_survey_layer(store, world) -> None:
    load_specs_into(store.engine, [s for s in load_specs(LAYERS_DIR) if s.name == LAYER], DATA_DIR,
                    echo=lambda _: None)
    client = _client(store, world, "officer")
    before = _stored(store.engine)
    token = _csrf(client.get("/partner/upload").text)
    venues = b"name,longitude,latitude\nCommunity hall,-0.2,51.6\n"
    sent = client.post("/partner/upload", content_type="multipart/form-data",
                       data={"layer": LAYER, "csrf_token": token, "file": (io.BytesIO(venues), "venues.csv")})
    assert sent.status_code == 422
    assert "not an asset layer open to uploads" in sent.text
    assert _stored(store.engine) == before and _respondents(store.engine) == len(ROWS)


def test_a_commit_that_fails_part_way_leaves_the_layer_and_the_upload_as_they_were(store, world, monkeypatch) -> None:
    load_specs_into(store.engine, [s for s in load_specs(LAYERS_DIR) if s.name == LAYER], DATA_DIR,
                    echo=lambda _: None)
    client = _client(store, world, "officer")
    location = _post_file(client, FIRST_60).headers["Location"]
    upload_id = int(location.rsplit("/", 1)[1])
    before = _stored(store.engine)

    def failing_audit(*args, **kwargs) -> None:
        raise RuntimeError("the audit log could not be written")

    monkeypatch.setattr(audit, "record", failing_audit)
    with pytest.raises(RuntimeError, match="audit log"):
        survey_uploads.commit_survey(store.engine, upload_id, spec=_spec(), actor=world.users["officer"],
                                     settings=settings())
    assert _stored(store.engine) == before and _respondents(store.engine) == len(ROWS)
    staged = survey_uploads.survey_upload(store.engine, upload_id, actor=world.users["officer"])
    assert staged.status == "pending" and staged.version_number is None
