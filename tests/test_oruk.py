"""Open Referral UK: import a feed into the directory layer, export it, validate against the published schema."""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from insight.errors import PermissionDenied
from insight.partner import oruk, oruk_feed, uploads, versions
from tests.conftest import DATA_DIR
from tests.partner_fixtures import ORUK, VENUES_CSV, fingerprint, make_world, settings, write

EXAMPLES = ORUK / "examples"
VENUES = ("artsdepot", "Barnet Museum (and Local History Society)", "The Stephens Collection")


def _real_venues() -> list[tuple[str, float, float]]:
    features = json.loads((DATA_DIR / "points" / "cultural_venues.geojson").read_text(encoding="utf-8"))["features"]
    found = {f["properties"]["name"]: f["geometry"]["coordinates"] for f in features}
    return [(name, *found[name]) for name in VENUES]


def _feed() -> dict:
    """The published example service, placed at three real Barnet venues, plus the example list's service."""
    template = json.loads((EXAMPLES / "service_full.json").read_text(encoding="utf-8"))
    contents = []
    for name, lon, lat in _real_venues():
        service = copy.deepcopy(template)
        service["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"test-service/{name}"))
        service["name"] = f"{template['name']} at {name}"
        link = service["service_at_locations"][0]
        link["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"test-link/{name}"))
        link["location"].update(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"test-location/{name}")), name=name,
                                latitude=lat, longitude=lon)
        contents.append(service)
    listed = json.loads((EXAMPLES / "service_list.json").read_text(encoding="utf-8"))["contents"][0]
    contents.append(listed)
    return {"total_items": len(contents), "total_pages": 1, "page_number": 1, "size": len(contents),
            "first_page": True, "last_page": True, "empty": False, "contents": contents}


@pytest.fixture
def world(store):
    world = make_world(store.engine)
    with store.engine.begin() as conn:
        versions.create_asset_layer(conn, "vcfs_directory", title="VCFS directory")
    versions.set_rules(store.engine, "vcfs_directory", actor=world.users["officer"], partner_upload=True,
                       location_required=False, categories=None)
    return world


def _check(world, path: Path, layer: str = "vcfs_directory", who: str = "partner"):
    return uploads.check_upload(world.engine, path, layer=layer, actor=world.users[who], settings=settings())


def test_the_published_example_is_read_and_its_impossible_location_refused(world) -> None:
    before = fingerprint(world.engine)
    check = _check(world, EXAMPLES / "service_full.json")
    assert check.format == "oruk" and check.result.rows_read == 1
    assert any("(101, 100) is not a longitude/latitude" in i.reason for i in check.result.errors)
    with pytest.raises(Exception, match="nothing to commit"):
        uploads.commit_check(world.engine, check, actor=world.users["partner"])
    assert fingerprint(world.engine) == before


def test_import_export_validates_and_reimports_unchanged(world, tmp_path: Path) -> None:
    partner = world.users["partner"]
    check = _check(world, write(tmp_path / "feed.json", json.dumps(_feed())))
    assert not check.result.errors, check.result.errors
    assert check.preview.counts["added"] == 4
    version = uploads.commit_check(world.engine, check, actor=partner, action="import")
    assert (version.action, version.added) == ("import", 4)
    records = {r.state.name: r.state for r in versions.layer_records(world.engine, "vcfs_directory", actor=partner)}
    museum = records[f"Community Counselling at {VENUES[1]}"]
    assert (museum.lon, museum.lat) == _real_venues()[1][1:]
    assert museum.properties["company_number"] == "1234567" and museum.category == "name"
    assert museum.last_assured.date().isoformat() == "2005-01-01"
    document = oruk.export_directory(world.engine, "vcfs_directory", actor=partner)
    assert oruk.validate_feed(document, ORUK) == []
    assert document["total_items"] == 4
    exported = {s["id"]: s for s in document["contents"]}
    original = {s["id"]: s for s in _feed()["contents"]}
    assert set(exported) == set(original)
    for service_id, service in exported.items():
        for key in ("name", "status", "description", "email", "url", "fees", "minimum_age"):
            assert service.get(key) == original[service_id].get(key), key
        assert service["organization"]["id"] == original[service_id]["organization"]["id"]
        locations = [(link["location"]["id"], link["location"]["latitude"], link["location"]["longitude"])
                     for link in service["service_at_locations"]]
        assert locations == [(link["location"]["id"], link["location"]["latitude"], link["location"]["longitude"])
                             for link in original[service_id].get("service_at_locations", [])]
    again = _check(world, write(tmp_path / "export.json", json.dumps(document)))
    assert again.preview.counts == {"added": 0, "changed": 0, "unchanged": 4, "removed": 0, "kept": 0}


def test_records_uploaded_as_csv_export_as_valid_services(world, tmp_path: Path) -> None:
    rows = VENUES_CSV.read_text(encoding="utf-8").splitlines()[:4]
    rows[0] += ",email,url,charity_number"
    rows[1] += ",box-office@example.org,https://example.org/bull,1084418"
    rows[2] += ",not an email,javascript:alert(1),"
    rows[3] += ",,,"
    partner = world.users["partner"]
    check = _check(world, write(tmp_path / "v.csv", "\n".join(rows) + "\n"), layer=world.layer)
    uploads.commit_check(world.engine, check, actor=partner)
    document = oruk.export_directory(world.engine, world.layer, actor=partner)
    assert oruk.validate_feed(document, ORUK) == []
    by_name = {s["name"]: s for s in document["contents"]}
    bull = by_name["The Bull Theatre"]
    assert bull["email"] == "box-office@example.org" and bull["url"] == "https://example.org/bull"
    assert bull["organization"]["organization_identifiers"][0]["identifier"] == "1084418"
    assert bull["attributes"][0]["taxonomy_term"]["name"] == "Culture"
    assert "email" not in by_name["artsdepot"] and "url" not in by_name["artsdepot"]
    again = oruk.export_directory(world.engine, world.layer, actor=partner)
    assert [s["id"] for s in again["contents"]] == [s["id"] for s in document["contents"]]


def test_schema_errors_are_reported(world, tmp_path: Path) -> None:
    check = _check(world, write(tmp_path / "feed.json", json.dumps(_feed())))
    uploads.commit_check(world.engine, check, actor=world.users["partner"])
    document = oruk.export_directory(world.engine, "vcfs_directory", actor=world.users["partner"])
    broken = copy.deepcopy(document)
    del broken["contents"][0]["status"]
    broken["contents"][1]["id"] = "not-a-uuid"
    broken["total_items"] = "four"
    errors = oruk.validate_feed(broken, ORUK)
    assert any("'status' is a required property" in e for e in errors)
    assert any("contents[1]/id" in e and "uuid" in e for e in errors)
    assert any(e.startswith("page:") for e in errors)


def test_exporting_a_restricted_directory_needs_the_right_role(world) -> None:
    versions.set_rules(world.engine, "vcfs_directory", actor=world.users["officer"])
    with world.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE layers SET sensitivity = 'restricted' WHERE name = 'vcfs_directory'")
    for role in ("public", "councillor", "officer", "partner"):
        with pytest.raises(PermissionDenied):
            oruk.export_directory(world.engine, "vcfs_directory", actor=world.users[role])
    assert oruk.export_directory(world.engine, "vcfs_directory", actor=world.users["analyst"])["empty"] is True


def test_a_taxonomy_gives_a_category_list() -> None:
    taxonomy = json.loads((EXAMPLES / "taxonomy.json").read_text(encoding="utf-8"))
    assert oruk_feed.categories_from_taxonomy(taxonomy) == ["name"]
    assert oruk_feed.looks_like_feed(_feed())
    assert not oruk_feed.looks_like_feed({"type": "FeatureCollection", "features": []})
