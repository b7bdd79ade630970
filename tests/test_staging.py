"""The staging pipeline on both back ends: a file is read and checked once, and a commit writes what was checked.

Asset uploads and survey files share :mod:`insight.partner.staging`; each test uses
the real fixtures (the venues file, the illustrative survey) and a real database.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Integer, LargeBinary, String, column, insert, select, table

from insight.errors import ConfigError, NotFoundError
from insight.partner import staging, survey_uploads, uploads, versions
from insight.partner.record_checks import Candidate
from insight.partner.survey_frames import frame_as_json, frame_from_json
from insight.partner.upload_preview import CheckedRows
from insight.sources import LOADERS, get_loader
from insight.store.migrate import downgrade, upgrade
from insight.store.models import JsonType, Upload
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.partner_fixtures import VENUES_CSV, fingerprint, make_world, settings

GOOD_ROWS = 6
SURVEY_LAYER = "resident_survey_illustrative"
SURVEY_LINES = (DATA_DIR / "surveys" / "resident_perception_illustrative.csv").read_text(encoding="utf-8").splitlines()
FIRST_60 = ("\n".join(SURVEY_LINES[:61]) + "\n").encode("utf-8")


@pytest.fixture
def world(store):
    return make_world(store.engine)


def _counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Wrap ``owner.name`` so every call is counted (and still runs); return the counter."""
    calls: list[int] = []
    real = getattr(owner, name)

    @functools.wraps(real)
    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def _counted_loader(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    real: Callable[..., Any] = get_loader(name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(LOADERS, name, counting)
    return calls


# --- read and checked once -----------------------------------------------------------------------


def test_an_asset_upload_is_read_and_checked_once_between_staging_and_commit(world, monkeypatch) -> None:
    reads = _counted(monkeypatch, uploads, "read_upload")
    checks = _counted(monkeypatch, uploads, "check_table")
    partner = world.users["partner"]
    upload_id, check = uploads.stage_upload(world.engine, VENUES_CSV.read_bytes(), filename="venues.csv",
                                            layer=world.layer, actor=partner, settings=settings())
    assert (len(reads), len(checks)) == (1, 1)
    version = uploads.commit_upload(world.engine, upload_id, actor=partner, settings=settings())
    assert (len(reads), len(checks)) == (1, 1)
    assert (version.number, version.added) == (1, GOOD_ROWS) and check.preview.counts["added"] == GOOD_ROWS
    records = versions.layer_records(world.engine, world.layer, actor=partner)
    assert {r.state.key for r in records} == {c.key for c in check.result.candidates}
    assert uploads.staged_upload(world.engine, upload_id, actor=partner).version_number == 1


def test_a_survey_upload_is_read_and_checked_once_between_staging_and_commit(store, world, monkeypatch) -> None:
    reads = _counted(monkeypatch, survey_uploads, "read_upload")
    checks = _counted(monkeypatch, survey_uploads, "check_survey_file")
    loads = _counted_loader(monkeypatch, survey_uploads.SURVEY_LOADER)
    spec = survey_uploads.survey_spec(LAYERS_DIR, SURVEY_LAYER)
    officer = world.users["officer"]
    upload_id, check = survey_uploads.stage_survey(store.engine, FIRST_60, filename="first_60.csv", spec=spec,
                                                   actor=officer, settings=settings())
    assert (len(reads), len(checks), len(loads)) == (1, 1, 1)
    done = survey_uploads.commit_survey(store.engine, upload_id, spec=spec, actor=officer, settings=settings())
    assert (len(reads), len(checks), len(loads)) == (1, 1, 1)
    assert (done.status, done.version_number, check.rows_read) == ("committed", 1, 60)
    with store.engine.connect() as conn:
        stored = survey_uploads.stored_survey(conn, SURVEY_LAYER)
    assert stored.respondents == 60 and stored.checksum == check.sha256 and stored.source_file == "first_60.csv"
    assert stored.waves == dict(check.waves)


def test_a_commit_writes_what_was_checked_even_if_reading_would_now_fail(world, monkeypatch) -> None:
    partner = world.users["partner"]
    upload_id, _ = uploads.stage_upload(world.engine, VENUES_CSV.read_bytes(), filename="venues.csv",
                                        layer=world.layer, actor=partner, settings=settings())

    def unreadable(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(uploads, "read_upload", unreadable)
    monkeypatch.setattr(uploads, "check_table", unreadable)
    assert uploads.commit_upload(world.engine, upload_id, actor=partner, settings=settings()).added == GOOD_ROWS


# --- the shared steps --------------------------------------------------------------------------------


def test_a_staged_upload_is_refused_after_the_layer_changed(world) -> None:
    partner = world.users["partner"]
    first, _ = uploads.stage_upload(world.engine, VENUES_CSV.read_bytes(), filename="venues.csv",
                                    layer=world.layer, actor=partner, settings=settings())
    second, _ = uploads.stage_upload(world.engine, VENUES_CSV.read_bytes(), filename="again.csv",
                                     layer=world.layer, actor=partner, settings=settings())
    uploads.commit_upload(world.engine, first, actor=partner, settings=settings())
    before = fingerprint(world.engine)
    with pytest.raises(versions.VersionConflict, match="changed after this file was checked"):
        uploads.commit_upload(world.engine, second, actor=partner, settings=settings())
    assert fingerprint(world.engine) == before
    assert uploads.staged_upload(world.engine, second, actor=partner).status == "pending"


def test_each_kind_sees_only_its_own_uploads_and_a_discarded_one_cannot_be_committed(store, world) -> None:
    officer = world.users["officer"]
    spec = survey_uploads.survey_spec(LAYERS_DIR, SURVEY_LAYER)
    survey_id, _ = survey_uploads.stage_survey(store.engine, FIRST_60, filename="first_60.csv", spec=spec,
                                               actor=officer, settings=settings())
    asset_id, _ = uploads.stage_upload(store.engine, VENUES_CSV.read_bytes(), filename="venues.csv",
                                       layer=world.layer, actor=world.users["partner"], settings=settings())
    assert staging.kind_of(store.engine, survey_id) == "survey" and staging.kind_of(store.engine, asset_id) == "asset"
    with pytest.raises(NotFoundError, match=f"no upload {survey_id}"):
        uploads.staged_upload(store.engine, survey_id, actor=officer)
    with pytest.raises(NotFoundError, match=f"no survey upload {asset_id}"):
        survey_uploads.survey_upload(store.engine, asset_id, actor=officer)
    discarded = survey_uploads.discard_survey(store.engine, survey_id, actor=officer)
    assert discarded.filename == "first_60.csv"
    with pytest.raises(ConfigError, match="already discarded"):
        survey_uploads.commit_survey(store.engine, survey_id, spec=spec, actor=officer, settings=settings())
    assert survey_uploads.survey_history(store.engine, SURVEY_LAYER, actor=officer) == []


@pytest.mark.parametrize(("sent", "kept"), [("../../venues.csv", "venues.csv"), ("C:\\Users\\me\\v.csv", "v.csv"),
                                           ("  \x07bell.csv ", "bell.csv"), ("", "upload"), ("x" * 300, "x" * 255)])
def test_file_names_lose_folders_and_unprintable_characters(sent: str, kept: str) -> None:
    assert staging.clean_filename(sent) == kept


# --- what is kept round-trips exactly ----------------------------------------------------------------


def test_checked_rows_round_trip_through_json() -> None:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    candidates = (Candidate(1, "A", "artsdepot", "Culture", {"notes": "x", "n": 2.5}, -0.1779, 51.6135, True, when,
                            {"charity_number": "1084418"}, "artsdepot"),
                  Candidate(3, "B", None, None, {}, None, None, None, None))
    rows = CheckedRows("v", True, "v.csv", "0" * 64, "v2", 7, False, 4, (2,), frozenset({"C"}), candidates, 1)
    assert CheckedRows.from_json(rows.as_json()) == rows


def test_survey_respondents_round_trip_through_json() -> None:
    frame = get_loader(survey_uploads.SURVEY_LOADER)(
        DATA_DIR / "surveys" / "resident_perception_illustrative.csv",
        **survey_uploads.survey_spec(LAYERS_DIR, SURVEY_LAYER).options).frame.head(50)
    frame.loc[frame.index[0], "geometry"] = shapely.Point(-0.2, 51.6)
    back = frame_from_json(frame_as_json(frame))
    for name in ("source_id", "name", "category", "month", "properties"):
        assert back[name].tolist() == frame[name].tolist(), name
    assert np.array_equal(back.geometry.isna(), frame.geometry.isna())
    assert back.geometry.iloc[0].equals(frame.geometry.iloc[0]) and back.crs == frame.crs


# --- the migration ----------------------------------------------------------------------------------


def test_migration_0004_marks_survey_uploads_and_old_uploads_ask_for_the_file_again(store) -> None:
    engine = store.engine
    world = make_world(engine)  # made on today's schema (its loads write counts), then taken back to 0003
    downgrade(engine, "0003")
    old_uploads = table("uploads", *(column(c, String()) for c in ("layer_name", "filename", "sha256", "status")),
                        column("user_id", Integer()), column("size_bytes", Integer()), column("content", LargeBinary()),
                        column("created_at", Upload.created_at.type), column("report", JsonType))
    with engine.begin() as conn:
        for kind in ("survey", None):
            conn.execute(insert(old_uploads).values(
                layer_name=world.layer, user_id=world.users["partner"].id, filename="old.csv",
                content=b"x", sha256="0" * 64, size_bytes=1, status="pending", created_at=datetime.now(UTC),
                report={"kind": kind} if kind else {}))
    upgrade(engine)
    with engine.connect() as conn:
        kinds = conn.execute(select(Upload.id, Upload.kind, Upload.checked).order_by(Upload.id)).all()
    assert [(k, c) for _, k, c in kinds] == [("survey", None), ("asset", None)]
    before = fingerprint(engine)
    with pytest.raises(ConfigError, match="upload the file again"):
        uploads.commit_upload(engine, kinds[1].id, actor=world.users["partner"], settings=settings())
    assert fingerprint(engine) == before
