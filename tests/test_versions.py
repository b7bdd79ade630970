"""Records and versions of partner layers, called directly, on both back ends.

Record diffs and edits are pure and tested on hand-made states; version numbering, history,
restore, conflicts, baselines and stale records run against a real database with records taken
from the Barnet venues in ``data/`` and the illustrative VCFS directory.
"""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from insight.errors import ConfigError, NotFoundError, PermissionDenied, VersionConflict
from insight.layers import load_specs
from insight.partner import audit, versions
from insight.partner.records import Change, derived_keys, differences, is_stale
from insight.partner.versions import RecordState, edit_change, restore_changes
from insight.sources.ingest import load_specs_into
from insight.store.io import layer_summaries
from insight.store.models import Feature, FeatureRevision
from insight.store.records import FeatureRow
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.partner_fixtures import World, fingerprint, make_world

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _venues() -> list[tuple[str, float, float]]:
    features = json.loads((DATA_DIR / "points" / "cultural_venues.geojson").read_text(encoding="utf-8"))["features"]
    return [(f["properties"]["name"], *f["geometry"]["coordinates"]) for f in features]


def _state(key: str, index: int, *, owner: int | None, **changes: object) -> RecordState:
    name, lon, lat = _venues()[index]
    base = RecordState(key, owner, name, "Culture", {"source": "cultural_venues"}, lon, lat)
    return replace(base, **changes)


@pytest.fixture
def world(store) -> World:
    return make_world(store.engine)


def _layer_id(world: World) -> int:
    with world.engine.connect() as conn:
        return versions.layer_info(conn, world.layer).id


def _apply(world: World, changes: list[Change], *, unchanged: int = 0, who: str = "partner",
           **extra: object) -> versions.VersionInfo:
    actor = world.users[who]
    with world.engine.begin() as conn:
        layer_id = versions.layer_info(conn, world.layer).id
        return versions.apply_changes(conn, layer_id, changes, action="upload", actor=actor, org_id=actor.org_id,
                                      unchanged=unchanged, **extra)


def _current(world: World) -> dict[str, RecordState]:
    records = versions.layer_records(world.engine, world.layer, actor=world.users["officer"])
    return {r.state.key: r.state for r in records}


def _first_version(world: World) -> dict[str, RecordState]:
    owner = world.users["partner"].org_id
    states = [_state(key, i, owner=owner, last_updated=datetime(2026, 1, 1, tzinfo=UTC)) for i, key in enumerate("ABC")]
    _apply(world, [Change("added", None, s) for s in states], source_file="venues.csv", checksum="0" * 64)
    return _current(world)


def _second_version(world: World, first: dict[str, RecordState]) -> None:
    renamed = replace(first["A"], name="Renamed A")
    added = _state("D", 3, owner=world.users["partner"].org_id)
    _apply(world, [Change("changed", first["A"], renamed, ("name",)), Change("removed", first["C"], None),
                   Change("added", None, added)], unchanged=1)


# --- pure rules ------------------------------------------------------------------------------------


def test_differences_name_each_changed_part_and_ignore_key_order_and_rounding() -> None:
    a = RecordState("A", 1, "artsdepot", "Culture", {"x": 1, "y": [1, 2]}, -0.1778995, 51.6134613)
    assert differences(a, replace(a, properties={"y": [1, 2], "x": 1})) == ()
    assert differences(a, replace(a, lon=-0.17789951, last_assured=NOW, feature_id=9)) == ()
    assert differences(a, replace(a, lon=-0.1778996)) == ("location",)
    assert differences(a, replace(a, name="Artsdepot", category="Arts", properties={}, lat=None)) == (
        "name", "category", "properties", "location")


def test_a_change_is_known_by_its_record_key() -> None:
    a = RecordState("A", 1, "artsdepot", None, {}, None, None)
    assert Change("removed", a, None).key == "A" and Change("added", None, a).key == "A"
    with pytest.raises(NotFoundError):
        _ = Change("removed", None, None).key


def test_staleness_boundaries() -> None:
    assert is_stale(None, now=NOW)
    assert not is_stale(NOW - timedelta(days=365), now=NOW)
    assert is_stale(NOW - timedelta(days=365, seconds=1), now=NOW)
    assert not is_stale(datetime(2026, 5, 1, 12), now=NOW, days=31)
    assert is_stale(datetime(2026, 4, 30, 11), now=NOW, days=31)


def test_keys_for_records_loaded_from_a_file() -> None:
    def row(feature_id: int, key: str | None, source: str | None) -> FeatureRow:
        return FeatureRow(feature_id, key, source, None, None, None, {}, None, None, None, None, None)

    rows = [row(1, None, "ORG-1"), row(2, None, "ORG-2"), row(3, None, "ORG-2"), row(4, "ORG-3", "x"),
            row(5, None, "ORG-3"), row(6, None, None), row(7, None, "L" * 120)]
    assert derived_keys(rows) == {1: "ORG-1", 2: "feature:2", 3: "feature:3", 4: "ORG-3", 5: "feature:5",
                                  6: "feature:6", 7: "L" * 100}


def test_restoring_compares_by_owner_and_key() -> None:
    old_a = RecordState("A", 1, "Old A", None, {}, -0.2, 51.6, last_updated=datetime(2020, 1, 1, tzinfo=UTC))
    old_b = RecordState("B", 1, "B", None, {}, -0.2, 51.6)
    other_owner_b = RecordState("B", 2, "B", None, {}, -0.2, 51.6, feature_id=12)
    new_a = RecordState("A", 1, "New A", None, {}, -0.2, 51.6, feature_id=11)
    extra = RecordState("X", 1, "X", None, {}, None, None, feature_id=13)
    changes, unchanged = restore_changes([old_a, old_b], [new_a, other_owner_b, extra], now=NOW)
    assert unchanged == 0
    assert [(c.kind, c.key, c.fields) for c in changes] == [("changed", "A", ("name",)), ("added", "B", ()),
                                                            ("removed", "B", ()), ("removed", "X", ())]
    assert changes[0].after == replace(old_a, last_updated=NOW, feature_id=11)
    assert changes[1].after == replace(old_b, last_updated=NOW)
    same, unchanged = restore_changes([old_b], [replace(old_b, feature_id=5)], now=NOW)
    assert (same, unchanged) == ([], 1)


def test_an_edit_keeps_identity_and_dates_it() -> None:
    before = RecordState("A", 1, "artsdepot", "Culture", {}, -0.17, 51.61, last_updated=datetime(2025, 1, 1),
                         last_assured=datetime(2025, 2, 1), feature_id=7)
    typed = RecordState("ignored", 99, "Artsdepot", "Culture", {}, -0.17, 51.61)
    change = edit_change(before, typed, assured=False, now=NOW)
    assert (change.kind, change.fields) == ("changed", ("name",))
    assert change.after == replace(before, name="Artsdepot", last_updated=NOW)
    assured = edit_change(before, replace(typed, name="artsdepot"), assured=True, now=NOW)
    assert (assured.kind, assured.fields) == ("assured", ())
    assert assured.after == replace(before, last_assured=NOW)
    with pytest.raises(ConfigError, match="nothing was changed"):
        edit_change(before, replace(typed, name="artsdepot"), assured=False, now=NOW)


# --- versions on both back ends ------------------------------------------------------------------------


def test_versions_are_numbered_and_listed_newest_first(world: World) -> None:
    first = _first_version(world)
    venues = _venues()
    assert {k: (s.name, s.lon, s.lat) for k, s in first.items()} == {k: venues[i] for i, k in enumerate("ABC")}
    _second_version(world, first)
    history = versions.versions(world.engine, world.layer, actor=world.users["partner"])
    assert [(v.number, v.action, v.added, v.changed, v.unchanged, v.removed) for v in history] == [
        (2, "upload", 1, 1, 1, 1), (1, "upload", 3, 0, 0, 0)]
    assert history[1].source_file == "venues.csv" and history[1].source_checksum == "0" * 64
    assert history[0].user_email == world.users["partner"].email and history[0].created_at.tzinfo is not None
    assert history[0].detail["records"] == [
        {"change": "changed", "key": "A", "name": "Renamed A", "fields": ["name"]},
        {"change": "removed", "key": "C", "name": venues[2][0], "fields": []},
        {"change": "added", "key": "D", "name": venues[3][0], "fields": []},
    ]
    with world.engine.connect() as conn:
        assert versions.layer_state(conn, _layer_id(world)) == "v2"
        deleted = conn.execute(select(FeatureRevision.record_key).where(FeatureRevision.deleted.is_(True))).scalars()
        assert list(deleted) == ["C"]
    assert {s.key: s.name for s in versions.records_at(world.engine, world.layer, 1, actor=world.users["officer"])} \
        == {"A": venues[0][0], "B": venues[1][0], "C": venues[2][0]}
    assert [s.key for s in versions.records_at(world.engine, world.layer, 2, actor=world.users["officer"])] == [
        "A", "B", "D"]
    summary = {s.name: s for s in layer_summaries(world.engine)}[world.layer]
    assert summary.feature_count == 3
    for number in (0, 3):
        with pytest.raises(NotFoundError, match=f"has no version {number} \\(versions 1 to 2\\)"):
            versions.records_at(world.engine, world.layer, number, actor=world.users["officer"])
    with pytest.raises(PermissionDenied):
        versions.versions(world.engine, world.layer, actor=world.other_partner)


def test_restore_brings_back_an_old_version_as_a_new_one(world: World) -> None:
    first = _first_version(world)
    _second_version(world, first)
    before = fingerprint(world.engine)
    with pytest.raises(PermissionDenied):
        versions.restore_version(world.engine, world.layer, 1, actor=world.users["partner"])
    with pytest.raises(NotFoundError, match="no version 9"):
        versions.restore_version(world.engine, world.layer, 9, actor=world.users["officer"])
    assert fingerprint(world.engine) == before
    restored = versions.restore_version(world.engine, world.layer, 1, actor=world.users["officer"], ip="10.0.0.5")
    assert (restored.number, restored.action, restored.restored_from) == (3, "restore", 1)
    assert (restored.added, restored.changed, restored.unchanged, restored.removed) == (1, 1, 1, 1)
    now = {k: (s.name, s.lon, s.lat, s.owner_org_id) for k, s in _current(world).items()}
    assert now == {k: (s.name, s.lon, s.lat, s.owner_org_id) for k, s in first.items()}
    event = audit.events(world.engine, action="version_restored")[0]
    assert (event.actor_email, event.ip, event.detail) == ("officer@example.org", "10.0.0.5",
                                                           {"restored": 1, "new_version": 3})


def test_an_edit_after_the_layer_changed_is_a_conflict(world: World) -> None:
    first = _first_version(world)
    partner = world.users["partner"]
    record = first["B"]
    before = fingerprint(world.engine)
    with pytest.raises(VersionConflict, match="changed while you were editing"):
        versions.edit_record(world.engine, record.feature_id, replace(record, name="Too late"), actor=partner,
                             assured=False, expected_state="v0")
    assert fingerprint(world.engine) == before
    with world.engine.begin() as conn:
        conn.execute(insert(Feature).values(layer_id=_layer_id(world), name="Loaded outside", properties={}))
        assert versions.layer_state(conn, _layer_id(world)) == "v1+1"
    with pytest.raises(VersionConflict):
        versions.edit_record(world.engine, record.feature_id, replace(record, name="Too late"), actor=partner,
                             assured=False, expected_state="v1")
    done = versions.edit_record(world.engine, record.feature_id, replace(record, name="In time"), actor=partner,
                                assured=False, expected_state="v1+1")
    assert (done.number, done.action, done.changed) == (3, "edit", 1)
    history = versions.versions(world.engine, world.layer, actor=world.users["officer"])
    assert [(v.number, v.action, v.added) for v in history] == [(3, "edit", 0), (2, "reload", 1), (1, "upload", 3)]
    assert _current(world)["B"].name == "In time"


def test_checking_a_record_without_changing_it_is_a_version_of_dates_only(world: World) -> None:
    first = _first_version(world)
    partner = world.users["partner"]
    record = first["A"]
    before = fingerprint(world.engine)
    with pytest.raises(ConfigError, match="nothing was changed"):
        versions.edit_record(world.engine, record.feature_id, record, actor=partner, assured=False)
    assert fingerprint(world.engine) == before
    checked = versions.edit_record(world.engine, record.feature_id, record, actor=partner, assured=True)
    assert (checked.number, checked.added, checked.changed, checked.unchanged, checked.removed) == (2, 0, 0, 1, 0)
    after = _current(world)["A"]
    assert after.last_updated == record.last_updated
    assert after.last_assured is not None and after.last_assured > record.last_updated
    event = audit.events(world.engine, action="record_edited")[0]
    assert event.target == f"layer:{world.layer}/record:A" and event.detail["assured"] is True


def test_records_of_another_organisation_cannot_be_viewed_for_editing(world: World) -> None:
    first = _first_version(world)
    with pytest.raises(PermissionDenied):
        versions.record_view(world.engine, first["A"].feature_id, actor=world.other_partner)
    view = versions.record_view(world.engine, first["A"].feature_id, actor=world.users["partner"])
    assert (view.layer, view.owner_slug, view.editable, view.stale) == (world.layer, "barnet-together", True, True)
    with pytest.raises(NotFoundError, match="no record 999999"):
        versions.record_view(world.engine, 999_999, actor=world.users["officer"])


def _vcfs_rows() -> list[dict[str, str]]:
    with (DATA_DIR / "points" / "vcfs_organisations_illustrative.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_a_layer_loaded_from_a_file_gets_a_baseline_once(store) -> None:
    world = make_world(store.engine)
    load_specs_into(store.engine, [s for s in load_specs(LAYERS_DIR) if s.name == "vcfs_organisations"], DATA_DIR,
                    echo=lambda _: None)
    rows = _vcfs_rows()
    with store.engine.begin() as conn:
        layer_id = versions.layer_info(conn, "vcfs_organisations").id
        assert versions.layer_state(conn, layer_id) == f"v0+{len(rows)}"
        assert versions.ensure_versioned(conn, layer_id, actor=world.users["officer"]) == 1
        assert versions.ensure_versioned(conn, layer_id, actor=world.users["officer"]) == 1
        assert versions.layer_state(conn, layer_id) == "v1"
    history = versions.versions(store.engine, "vcfs_organisations", actor=world.users["officer"])
    assert [(v.number, v.action, v.added, v.user_email) for v in history] == [(1, "baseline", len(rows), "system")]
    assert history[0].detail["recorded_when"] == "officer@example.org first changed the layer"
    states = versions.records_at(store.engine, "vcfs_organisations", 1, actor=world.users["officer"])
    assert sorted(s.key for s in states) == sorted(r["org_id"] for r in rows)


def test_stale_records_oldest_first_with_counts(world: World) -> None:
    owner = world.users["partner"].org_id
    dates = {"A": None, "B": datetime(2020, 1, 31, tzinfo=UTC), "C": datetime(2025, 12, 1, tzinfo=UTC),
             "D": datetime(2026, 5, 22, tzinfo=UTC)}
    _apply(world, [Change("added", None, _state(k, i, owner=owner, last_assured=d))
                   for i, (k, d) in enumerate(dates.items())])
    stale = versions.stale_records(world.engine, world.layer, days=365, now=NOW)
    assert [(r.key, r.last_assured, r.days_since) for r in stale] == [
        ("A", None, None), ("B", date(2020, 1, 31), (NOW - dates["B"]).days)]
    assert [r.key for r in versions.stale_records(world.engine, world.layer, days=100, now=NOW)] == ["A", "B", "C"]
    ids = {s.key: s.feature_id for s in _current(world).values()}
    assert versions.stale_feature_ids(world.engine, world.layer, days=365, now=NOW) == {ids["A"], ids["B"]}
    assert versions.stale_counts(world.engine, days=365, now=NOW) == {world.layer: (2, 4)}


def test_the_csv_export_neutralises_formulas_and_flags_stale_records(world: World) -> None:
    owner = world.users["partner"].org_id
    recent = datetime.now(UTC) - timedelta(days=3)
    _apply(world, [
        Change("added", None, _state("A", 0, owner=owner, name="=HYPERLINK(\"x\")", properties={"notes": "@SUM(A1)"},
                                     last_assured=recent)),
        Change("added", None, _state("B", 1, owner=owner, properties={"phone": "+44 20 7946 0000", "seats": 3})),
    ])
    lines = versions.export_csv(world.engine, world.layer, actor=world.users["partner"]).splitlines()
    venues = _venues()
    assert lines[0] == "id,name,category,longitude,latitude,last_updated,last_assured,stale,notes,phone,seats"
    a, b = (next(line for line in lines[1:] if line.startswith(k + ",")) for k in "AB")
    assert a.startswith(f"A,\"'=HYPERLINK(\"\"x\"\")\",Culture,{venues[0][1]},{venues[0][2]},")
    assert a.endswith(f",{recent.date().isoformat()},no,'@SUM(A1),,")
    assert b.endswith(",,yes,,'+44 20 7946 0000,3")


# --- layers and their rules ----------------------------------------------------------------------------


def test_rules_are_cleaned_checked_and_audited(world: World) -> None:
    officer = world.users["officer"]
    info = versions.set_rules(world.engine, world.layer, actor=officer, categories=[" Culture", "Culture", "", "Food "],
                              key_field="venue_id", required_fields=[" phone ", ""], duplicate_metres=10)
    assert (info.rules.categories, info.rules.key_field, info.rules.required_fields) == (
        ("Culture", "Food"), "venue_id", ("phone",))
    assert info.rules.duplicate_metres == 10 and info.ref.partner_upload is True
    kept = versions.set_rules(world.engine, world.layer, actor=officer, location_required=False)
    assert (kept.rules.categories, kept.rules.key_field, kept.rules.location_required) == (
        ("Culture", "Food"), "venue_id", False)
    cleared = versions.set_rules(world.engine, world.layer, actor=officer, categories=None, key_field=None)
    assert (cleared.rules.categories, cleared.rules.key_field) == (None, None)
    event = audit.events(world.engine, action="layer_rules_changed")[0]
    assert event.detail == {"partner_upload": True, "categories": None, "required_fields": ["phone"],
                            "key_field": None, "location_required": False, "duplicate_metres": 10,
                            "unique_identifiers": True}
    before = fingerprint(world.engine)
    for bad in (1000.5, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="must be between 0 and 1000 metres"):
            versions.set_rules(world.engine, world.layer, actor=officer, duplicate_metres=bad)
    with pytest.raises(ConfigError, match="'borough' is a boundary layer"):
        versions.set_rules(world.engine, "borough", actor=officer, partner_upload=True)
    with pytest.raises(PermissionDenied):
        versions.set_rules(world.engine, world.layer, actor=world.users["partner"], categories=None)
    assert fingerprint(world.engine) == before


def test_an_owner_decides_which_partners_see_a_layer_to_upload_to(world: World) -> None:
    partner, other = world.users["partner"], world.other_partner
    assert [i.name for i in versions.partner_layers(world.engine, partner)] == [world.layer]
    assert versions.partner_layers(world.engine, other) == []
    moved = versions.set_rules(world.engine, world.layer, actor=world.users["admin"], owner_org="other-charity")
    assert (moved.ref.owner_org_id, moved.owner_slug) == (other.org_id, "other-charity")
    assert versions.partner_layers(world.engine, partner) == []
    assert [i.name for i in versions.partner_layers(world.engine, other)] == [world.layer]
    shared = versions.set_rules(world.engine, world.layer, actor=world.users["admin"], owner_org=None)
    assert shared.ref.owner_org_id is None and shared.owner_slug is None
    assert len(versions.partner_layers(world.engine, partner)) == 1 == len(versions.partner_layers(world.engine, other))
    with pytest.raises(NotFoundError, match="no organisation 'nobody'"):
        versions.set_rules(world.engine, world.layer, actor=world.users["admin"], owner_org="nobody")


def test_new_layers_are_named_safely_and_unknown_layers_listed(world: World) -> None:
    with world.engine.begin() as conn:
        for bad in ("Bad Name", "1st", "venues-2", "x" * 101):
            with pytest.raises(ConfigError, match="must start with a letter"):
                versions.create_asset_layer(conn, bad)
        versions.create_asset_layer(conn, "food_banks", owner_org_id=world.users["partner"].org_id)
    with world.engine.connect() as conn:
        info = versions.layer_info(conn, "food_banks")
        assert (info.title, info.kind, info.theme, info.configured, info.ref.partner_upload) == (
            "Food banks", "points", "assets", True, True)
        assert info.rules.categories is None and info.rules.duplicate_metres == 25.0
        with pytest.raises(NotFoundError, match=r"no layer named 'nope' \(point layers: food_banks, partner_venues\)"):
            versions.layer_info(conn, "nope")
    ref = versions.layer_ref(world.engine, world.layer)
    assert (ref.name, ref.sensitivity, ref.partner_upload) == (world.layer, "public", True)
