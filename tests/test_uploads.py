"""Partner uploads on both back ends: formats, row checks, preview, atomic versioned commits, hostile input.

Every hostile case is refused with a reason a non-specialist can act on, and the
database is byte-for-byte unchanged afterwards (every application table is digested).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from insight.errors import ConfigError, LoadError, NotFoundError, PermissionDenied
from insight.layers import load_specs
from insight.partner import uploads, versions
from insight.partner.record_checks import (
    GB_REGION,
    check_lonlat,
    formula_like,
    match_category,
    neutralise_formula,
    normalise_identifier,
    parse_assured,
    parse_coordinate,
    to_metres,
)
from insight.partner.safe_files import safe_member_path
from insight.sources.ingest import load_specs_into
from insight.store.models import Feature, FeatureRevision, FeatureTag
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.partner_fixtures import ORUK, VENUES_CSV, fingerprint, make_world, run_cli, settings, write

GOOD_ROWS = 6
BARNET = (-0.306, 51.555, -0.129, 51.671)


@pytest.fixture
def world(store):
    return make_world(store.engine)


def _check(world, path: Path, *, who: str = "partner", **limits):
    return uploads.check_upload(world.engine, path, layer=world.layer, actor=world.users[who],
                                settings=settings(**limits))


def _commit(world, path: Path, *, who: str = "partner"):
    return uploads.commit_check(world.engine, _check(world, path, who=who), actor=world.users[who])


# --- the venues file: row errors, preview, commit ------------------------------------------------


def test_bad_rows_are_reported_by_row_column_and_reason_and_good_rows_preview_as_added(world) -> None:
    check = _check(world, VENUES_CSV)
    errors = {(i.row, i.column): i.reason for i in check.result.issues if i.severity == "error"}
    assert "look swapped" in errors[(7, "longitude/latitude")]
    assert "British National Grid" in errors[(8, "longitude/latitude")]
    assert "unknown category 'Musuem'" in errors[(9, "category")]
    assert "Categories for this layer" in errors[(9, "category")]
    assert "missing required field 'name'" in errors[(10, "name")]
    assert "'nan' is not a number" in errors[(11, "longitude")]
    assert check.result.rejected_rows == [7, 8, 9, 10, 11]
    assert check.preview.counts == {"added": GOOD_ROWS, "changed": 0, "unchanged": 0, "removed": 0, "kept": 0}
    assert {r.key for r in check.preview.rows} == {f"CV-0{i}" for i in range(1, 7)}


def test_commit_is_a_version_with_checksum_and_points_are_tagged(store, tmp_path: Path) -> None:
    world = make_world(store.engine, boundaries=("borough", "wards_2022"))
    version = _commit(world, VENUES_CSV)
    assert (version.number, version.action, version.added) == (1, "upload", GOOD_ROWS)
    assert version.source_checksum == hashlib.sha256(VENUES_CSV.read_bytes()).hexdigest()
    history = versions.versions(world.engine, world.layer, actor=world.users["officer"])
    assert [v.number for v in history] == [1] and history[0].user_email == world.users["partner"].email
    with store.engine.connect() as conn:
        tags = conn.execute(select(func.count()).select_from(FeatureTag)).scalar_one()
        stored = conn.execute(select(Feature.record_key, Feature.owner_org_id, Feature.last_updated,
                                     Feature.last_assured)).all()
    assert tags == 2 * GOOD_ROWS
    assert {r.record_key for r in stored} == {f"CV-0{i}" for i in range(1, 7)}
    assert all(r.owner_org_id == world.users["partner"].org_id and r.last_updated and r.last_assured for r in stored)


def test_second_upload_previews_changes_and_removals_and_keeps_records_of_bad_rows(world, tmp_path: Path) -> None:
    _commit(world, VENUES_CSV)
    lines = VENUES_CSV.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("artsdepot", "artsdepot (North Finchley)")
    lines[3] = lines[3].replace("-0.163686", "abc")
    del lines[6]
    lines.append("CV-12,Vue Finchley North,Culture,-0.1733206,51.603832")
    second = write(tmp_path / "venues.csv", "\n".join(lines) + "\n")
    check = _check(world, second)
    status = {r.key: (r.status, r.fields) for r in check.preview.rows}
    assert status["CV-02"] == ("changed", ("name",))
    assert status["CV-03"][0] == "kept"
    assert status["CV-06"][0] == "removed"
    assert status["CV-12"][0] == "added"
    assert status["CV-01"][0] == "unchanged"
    version = uploads.commit_check(world.engine, check, actor=world.users["partner"])
    assert (version.added, version.changed, version.removed) == (1, 1, 1)
    names = {r.state.key: r.state.name for r in versions.layer_records(world.engine, world.layer,
                                                                      actor=world.users["partner"])}
    assert "CV-06" not in names and names["CV-03"] == "Phoenix (East Finchley)"
    with world.engine.connect() as conn:
        deleted = conn.execute(select(FeatureRevision.record_key).where(FeatureRevision.deleted.is_(True))).scalars()
        assert list(deleted) == ["CV-06"]
    old = versions.records_at(world.engine, world.layer, 1, actor=world.users["officer"])
    assert {s.key for s in old} == {f"CV-0{i}" for i in range(1, 7)}


def test_restore_makes_a_new_version_equal_to_the_old_one(world, tmp_path: Path) -> None:
    _commit(world, VENUES_CSV)
    lines = VENUES_CSV.read_text(encoding="utf-8").splitlines()[:4]
    _commit(world, write(tmp_path / "venues.csv", "\n".join(lines) + "\n"))
    assert len(versions.layer_records(world.engine, world.layer, actor=world.users["officer"])) == 3
    with pytest.raises(PermissionDenied):
        versions.restore_version(world.engine, world.layer, 1, actor=world.users["partner"])
    restored = versions.restore_version(world.engine, world.layer, 1, actor=world.users["officer"])
    assert (restored.number, restored.action, restored.restored_from, restored.added) == (3, "restore", 1, 3)
    now = {(s.state.key, s.state.name, s.state.lon, s.state.lat)
           for s in versions.layer_records(world.engine, world.layer, actor=world.users["officer"])}
    then = {(s.key, s.name, s.lon, s.lat) for s in versions.records_at(world.engine, world.layer, 1,
                                                                         actor=world.users["officer"])}
    assert now == then


def test_a_layer_loaded_from_a_file_gets_a_baseline_version_at_its_first_partner_commit(store, tmp_path) -> None:
    world = make_world(store.engine, boundaries=("borough",))
    load_specs_into(store.engine, [s for s in load_specs(LAYERS_DIR) if s.name == "vcfs_organisations"], DATA_DIR,
                    echo=lambda _: None)
    versions.set_rules(store.engine, "vcfs_organisations", actor=world.users["officer"], partner_upload=True)
    row = "org_id,name,category,longitude,latitude\nBT-HUB,Barnet Together hub,Community,-0.2061,51.6059\n"
    check = uploads.check_upload(store.engine, write(tmp_path / "orgs.csv", row), layer="vcfs_organisations",
                                 actor=world.users["partner"], settings=settings())
    assert check.preview.counts["added"] == 1 and check.preview.counts["removed"] == 0
    uploads.commit_check(store.engine, check, actor=world.users["partner"])
    history = versions.versions(store.engine, "vcfs_organisations", actor=world.users["officer"])
    assert [(v.number, v.action, v.added) for v in history] == [(2, "upload", 1), (1, "baseline", 150)]
    stale = versions.stale_records(store.engine, "vcfs_organisations", days=365, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert stale and all(r.last_assured is None or (date(2027, 1, 1) - r.last_assured).days > 365 for r in stale)


def test_stale_records_are_flagged_by_last_assured(world, tmp_path: Path) -> None:
    rows = ("venue_id,name,category,longitude,latitude,last_assured\n"
            "A,The Bull Theatre,Culture,-0.2009637,51.6536034,2020-01-31\n"
            "B,artsdepot,Culture,-0.1778995,51.6134613,\n")
    _commit(world, write(tmp_path / "v.csv", rows))
    stale = versions.stale_records(world.engine, world.layer, days=365)
    assert [r.key for r in stale] == ["A"] and stale[0].last_assured == date(2020, 1, 31)
    assert versions.stale_feature_ids(world.engine, world.layer, days=365) == {stale[0].feature_id}
    assert versions.stale_counts(world.engine, days=365) == {world.layer: (1, 2)}


def test_a_commit_that_fails_half_way_leaves_nothing_behind(world, monkeypatch, tmp_path: Path) -> None:
    _commit(world, VENUES_CSV)
    lines = VENUES_CSV.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("artsdepot", "artsdepot (North Finchley)")
    del lines[3]
    check = _check(world, write(tmp_path / "venues.csv", "\n".join(lines) + "\n"))
    assert check.preview.counts["changed"] == 1 and check.preview.counts["removed"] == 1
    before = fingerprint(world.engine)

    def failing_retag(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the disk filled up while tagging")

    monkeypatch.setattr("insight.sources.ingest.retag", failing_retag)
    with pytest.raises(RuntimeError, match="disk filled up"):
        uploads.commit_check(world.engine, check, actor=world.users["partner"])
    assert fingerprint(world.engine) == before


def test_an_officer_commit_after_a_partner_preview_makes_the_preview_stale(world, tmp_path: Path) -> None:
    early = _check(world, VENUES_CSV)
    _commit(world, write(tmp_path / "one.csv", "venue_id,name,category,longitude,latitude\n"
                                              "X,artsdepot,Culture,-0.1778995,51.6134613\n"), who="officer")
    before = fingerprint(world.engine)
    with pytest.raises(versions.VersionConflict, match="changed after this file was checked"):
        uploads.commit_check(world.engine, early, actor=world.users["partner"])
    assert fingerprint(world.engine) == before


def test_duplicates_by_distance_and_charity_number(world, tmp_path: Path) -> None:
    _commit(world, write(tmp_path / "a.csv", "venue_id,name,category,longitude,latitude,charity_number\n"
                                            "A,artsdepot,Culture,-0.1778995,51.6134613,1084418\n"))
    check = _check(world, write(tmp_path / "b.csv", "venue_id,name,category,longitude,latitude,charity_number\n"
                                                   "B,Arts Depot,Culture,-0.1779500,51.6134613,\n"
                                                   "C,Another,Culture,-0.2009637,51.6536034,1084418\n"
                                                   "D,Third,Culture,-0.1929961,51.5961004,1084418\n"
                                                   "E,Next door,Culture,-0.1929961,51.5962004,\n"))
    reasons = {(i.row, i.severity): i.reason for i in check.result.issues}
    assert "within 3 m of the existing record 'artsdepot' (id A)" in reasons[(1, "warning")]
    assert "charity number 1084418 already belongs to the record 'artsdepot' (id A)" in reasons[(2, "error")]
    assert "charity number 1084418 is also on row 2" in reasons[(3, "error")]
    assert "within 11 m of row 3 ('Third')" in reasons[(4, "warning")]
    assert check.result.rejected_rows == [2, 3]


def test_formula_text_is_kept_and_neutralised_on_export(world, tmp_path: Path) -> None:
    _commit(world, write(tmp_path / "f.csv", 'venue_id,name,category,longitude,latitude,notes\n'
                                            'F,=HYPERLINK("http://x.example")," Culture",-0.2009637,51.6536034,'
                                            '@SUM(A1)\n'))
    record = versions.layer_records(world.engine, world.layer, actor=world.users["partner"])[0].state
    assert record.name == '=HYPERLINK("http://x.example")' and record.properties["notes"] == "@SUM(A1)"
    assert record.category == "Culture"
    exported = versions.export_csv(world.engine, world.layer, actor=world.users["partner"])
    assert "'=HYPERLINK" in exported and "'@SUM(A1)" in exported


def test_every_format_gives_the_same_records(world, tmp_path: Path) -> None:
    frame = gpd.read_file(VENUES_CSV.with_name("venues.csv"), engine="pyogrio").head(GOOD_ROWS)
    points = gpd.GeoDataFrame(
        frame[["venue_id", "name", "category"]],
        geometry=shapely.points(frame["longitude"].astype(float), frame["latitude"].astype(float)), crs="EPSG:4326")
    expected = {(r.venue_id, r.name) for r in points.itertuples()}
    files = {"venues.geojson": None, "venues.gpkg": "GPKG", "venues.kml": "KML"}
    for name, driver in files.items():
        path = tmp_path / name
        if driver is None:
            path.write_text(points.to_json(), encoding="utf-8")
        else:
            pyogrio.write_dataframe(points, path, driver=driver)
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    pyogrio.write_dataframe(points.to_crs("EPSG:27700"), shp_dir / "venues.shp")
    with zipfile.ZipFile(tmp_path / "venues.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for part in shp_dir.iterdir():
            archive.write(part, f"venues/{part.name}")
    bng = points.to_crs("EPSG:27700")
    (tmp_path / "bng.csv").write_text(
        "venue_id,name,category,easting,northing\n" + "".join(
            f"{r.venue_id},{r.name},{r.category},{r.geometry.x:.1f},{r.geometry.y:.1f}\n" for r in bng.itertuples()),
        encoding="utf-8")
    for name in [*files, "venues.zip", "bng.csv"]:
        check = _check(world, tmp_path / name)
        assert not check.result.errors, (name, check.result.errors)
        found = {(c.key, c.name) for c in check.result.candidates}
        if name == "venues.kml":
            assert {n for _, n in found} == {n for _, n in expected}, name
        else:
            assert found == expected, name
        for c in check.result.candidates:
            lon, lat = {r.venue_id: (r.geometry.x, r.geometry.y) for r in points.itertuples()}.get(
                c.key, (c.lon, c.lat))
            assert math.isclose(c.lon, lon, abs_tol=1e-5) and math.isclose(c.lat, lat, abs_tol=1e-5), name


def test_postcodes_are_placed_only_when_a_postcode_lookup_is_loaded(world, tmp_path: Path) -> None:
    rows = "venue_id,name,category,postcode\nA,artsdepot,Culture,N12 0GA\n"
    with pytest.raises(LoadError, match="no postcode lookup is loaded"):
        _check(world, write(tmp_path / "p.csv", rows))


def test_a_row_with_only_a_postcode_is_placed_from_the_loaded_postcode_file(world, tmp_path: Path) -> None:
    import csv as csv_module

    from insight.sources.postcodes import import_postcodes

    nspl = Path(__file__).resolve().parents[2] / "shared" / "data" / "postcodes" / "NSPL_NOV_2021_UK_WC.csv"
    if not nspl.is_file():
        pytest.skip("the shared NSPL extract is beside the repository")
    with nspl.open(newline="", encoding="utf-8") as f:
        live = next(r for r in csv_module.DictReader(f) if not r["doterm"] and r["osgrdind"] == "1")
    import_postcodes(world.engine, nspl)
    rows = (f"venue_id,name,category,postcode\nA,Holborn hall,Culture,{live['pcds'].lower()}\n"
            "B,Nowhere,Culture,ZZ9 9ZZ\n")
    check = _check(world, write(tmp_path / "p.csv", rows))
    placed = {c.key: (c.lon, c.lat) for c in check.result.candidates}
    assert placed["A"] == pytest.approx((float(live["long"]), float(live["lat"])))
    text = " ".join(str(i) for i in check.result.issues)
    assert f"placed at the centre of postcode {live['pcds'].lower()}" in text
    assert "postcode 'ZZ9 9ZZ' is not in the postcode lookup" in text and "B" not in placed


def test_officers_may_create_a_new_asset_layer_by_uploading_and_partners_may_not(world, tmp_path: Path) -> None:
    path = write(tmp_path / "n.csv", "id,name,category,longitude,latitude\nA,artsdepot,Culture,-0.1779,51.6135\n")
    before = fingerprint(world.engine)
    for role in ("partner", "councillor", "analyst", "public"):
        with pytest.raises(PermissionDenied):
            uploads.check_upload(world.engine, path, layer="new_layer", actor=world.users[role], settings=settings())
    assert fingerprint(world.engine) == before
    check = uploads.check_upload(world.engine, path, layer="new_layer", actor=world.users["officer"],
                                 settings=settings())
    assert "committing creates it" in " ".join(check.notes)
    assert uploads.commit_check(world.engine, check, actor=world.users["officer"]).added == 1


def test_a_partner_cannot_upload_to_another_organisations_layer(world) -> None:
    before = fingerprint(world.engine)
    with pytest.raises(PermissionDenied, match="partners may only work on layers"):
        uploads.check_upload(world.engine, VENUES_CSV, layer=world.layer, actor=world.other_partner,
                             settings=settings())
    assert fingerprint(world.engine) == before


def test_staged_upload_keeps_the_file_and_commits_later(world) -> None:
    partner = world.users["partner"]
    upload_id, check = uploads.stage_upload(world.engine, VENUES_CSV.read_bytes(), filename="../../venues.csv",
                                            layer=world.layer, actor=partner, settings=settings())
    staged = uploads.staged_upload(world.engine, upload_id, actor=partner)
    assert staged.filename == "venues.csv" and staged.status == "pending"
    with pytest.raises(NotFoundError, match="no upload"):
        uploads.staged_upload(world.engine, upload_id, actor=world.other_partner)
    version = uploads.commit_upload(world.engine, upload_id, actor=partner, settings=settings())
    assert version.added == GOOD_ROWS
    assert uploads.staged_upload(world.engine, upload_id, actor=partner).status == "committed"
    with pytest.raises(ConfigError, match="already committed"):
        uploads.commit_upload(world.engine, upload_id, actor=partner, settings=settings())


def test_cli_upload_previews_and_commits_only_when_asked(store, capsys, tmp_path: Path) -> None:
    world = make_world(store.engine)
    email = world.users["partner"].email
    before = fingerprint(store.engine)
    out = run_cli(store, capsys, "upload", str(VENUES_CSV), "--layer", world.layer, "--as", email)
    assert "would load 6, not loaded (errors) 5" in out and "9  category  error  unknown category 'Musuem'" in out
    assert "nothing written" in out and fingerprint(store.engine) == before
    out = run_cli(store, capsys, "upload", str(VENUES_CSV), "--layer", world.layer, "--as", email, "--commit")
    assert "committed as version 1 of 'partner_venues': 6 added" in out
    out = run_cli(store, capsys, "asset-layer", "vcfs_directory", "--title", "Directory", "--partners",
                  "--category", "Culture", "--category", "Food support")
    assert "created point layer 'vcfs_directory'" in out and "categories Culture, Food support" in out
    out = run_cli(store, capsys, "stale", world.layer, "--days", "30")
    assert "0 record(s) of 'partner_venues' not assured in the last 30 days" in out
    target = tmp_path / "feed.json"
    out = run_cli(store, capsys, "oruk", "export", world.layer, "--schemas", str(ORUK), "--out", str(target))
    assert "wrote 6 services" in out and json.loads(target.read_text(encoding="utf-8"))["total_items"] == 6


# --- hostile input: refused, database unchanged ---------------------------------------------------


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("venues.shp")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _encrypted_zip() -> bytes:
    data = bytearray(_zip({"venues.shp": b"\x00\x00\x27\x0a" + b"\x00" * 96}))
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 1
    data[6] |= 1
    return bytes(data)


def _bng_geojson() -> str:
    feature = {"type": "Feature", "properties": {"name": "RAF Museum", "category": "Culture"},
               "geometry": {"type": "Point", "coordinates": [522235, 190317]}}
    return json.dumps({"type": "FeatureCollection", "features": [feature]})


def _two_layer_gpkg(path: Path) -> bytes:
    frame = gpd.GeoDataFrame({"name": ["artsdepot"]}, geometry=[shapely.Point(-0.1779, 51.6135)], crs="EPSG:4326")
    pyogrio.write_dataframe(frame, path, layer="a", driver="GPKG")
    pyogrio.write_dataframe(frame, path, layer="b", driver="GPKG", append=True)
    return path.read_bytes()


HEADER = "venue_id,name,category,longitude,latitude\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BOMB = _zip({"venues.shp": b"\x00" * 5_000_000})
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                  '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&lol2;</name>'
                  '<Point><coordinates>-0.17,51.61</coordinates></Point></Placemark></kml>')

HOSTILE = {
    "empty file": ("venues.csv", b"", "the file is empty"),
    "header only": ("venues.csv", HEADER, "header but no data rows"),
    "too large": ("venues.csv", HEADER + "A,x,Culture,-0.17,51.61\n" * 200, "the limit is 2.0 kB"),
    "too many rows": ("venues.csv", HEADER + "A,x,Culture,-0.17,51.61\n" * 30, "the limit is 20"),
    "too many columns": ("venues.csv", ",".join(f"c{i}" for i in range(250)) + "\n" + ",".join("1" * 250) + "\n",
                         "at most 200 are accepted"),
    "truncated csv row": ("venues.csv", HEADER + "A,x,Culture,-0.17\n", "has 4 field(s) but the header has 5"),
    "png named csv": ("venues.csv", PNG, "its content looks like a PNG image"),
    "xlsx named csv": ("venues.csv", _zip({"[Content_Types].xml": b"<Types/>"}), "ZIP archive (or an Excel"),
    "binary garbage named csv": ("venues.csv", b"id,name\x00\x01\x02\xff" * 20, "binary data"),
    "html named csv": ("venues.csv", "<html><body><script>alert(1)</script></body></html>", "XML or HTML"),
    "zip named geojson": ("venues.geojson", _zip({"a.txt": b"x"}), "looks like a ZIP archive"),
    "text named geopackage": ("venues.gpkg", HEADER, "named as GeoPackage but its content looks like plain text"),
    "unknown extension": ("venues.exe", b"MZ\x90\x00", "files ending '.exe' are not accepted"),
    "no extension": ("venues", HEADER, "(no extension)"),
    "zip bomb": ("venues.zip", BOMB, "looks like a zip bomb"),
    "zip too big unpacked": ("venues.zip", _zip({"venues.shp": bytes(range(256)) * 4000}, method=zipfile.ZIP_STORED),
                             "would unpack to"),
    "zip path traversal": ("venues.zip", _zip({"../../outside.shp": b"x"}), "leads outside it"),
    "zip absolute path": ("venues.zip", _zip({"/etc/cron.d/venues.shp": b"x"}), "leads outside it"),
    "zip symbolic link": ("venues.zip", _symlink_zip(), "symbolic link"),
    "zip with a password": ("venues.zip", _encrypted_zip(), "password-protected"),
    "zip with too many files": ("venues.zip", _zip({f"f{i}.txt": b"x" for i in range(30)}), "at most 20"),
    "zip without a shapefile": ("venues.zip", _zip({"readme.txt": b"x"}), "exactly one .shp"),
    "shapefile without dbf": ("venues.zip", _zip({"v.shp": b"\x00\x00\x27\x0a", "v.shx": b"x"}), "missing its .dbf"),
    "corrupt zip": ("venues.zip", b"PK\x03\x04" + b"\x00" * 40, "cannot be read"),
    "kml entity expansion": ("venues.kml", BILLION_LAUGHS, "DOCTYPE"),
    "html named kml": ("venues.kml", "<html><body>hello</body></html>", "has no <kml> element"),
    "deeply nested json": ("venues.geojson", "[" * 5000 + "]" * 5000, "nest"),
    "truncated geojson": ("venues.geojson", _bng_geojson()[:60], "not valid JSON"),
    "corrupt geopackage": ("venues.gpkg", b"SQLite format 3\x00" + b"\x07" * 200, "cannot be opened"),
    "no coordinate columns": ("venues.csv", "venue_id,name,category\nA,artsdepot,Culture\n", "no coordinate columns"),
    "no name column": ("venues.csv", "venue_id,title2,longitude,latitude\nA,x,-0.17,51.61\n", "no 'name' column"),
}
LIMITS = {"too large": {"upload_max_bytes": 2000}, "too many rows": {"upload_max_rows": 20},
          "zip too big unpacked": {"upload_max_unzipped_bytes": 500_000}}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_and_changes_nothing(world, tmp_path: Path, case: str) -> None:
    name, content, expected = HOSTILE[case]
    path = write(tmp_path / name, content)
    _commit(world, VENUES_CSV)
    before = fingerprint(world.engine)
    with pytest.raises(LoadError) as info:
        uploads.stage_upload(world.engine, path.read_bytes(), filename=name, layer=world.layer,
                             actor=world.users["partner"], settings=settings(**LIMITS.get(case, {})))
    assert expected in str(info.value), str(info.value)
    assert fingerprint(world.engine) == before
    assert not list(tmp_path.parent.glob("insight-upload-*"))


def test_geopackage_with_two_layers_is_refused(world, tmp_path: Path) -> None:
    content = _two_layer_gpkg(tmp_path / "two.gpkg")
    before = fingerprint(world.engine)
    with pytest.raises(LoadError, match="upload one layer per file"):
        uploads.stage_upload(world.engine, content, filename="venues.gpkg", layer=world.layer,
                             actor=world.users["partner"], settings=settings())
    assert fingerprint(world.engine) == before


HOSTILE_ROWS = {
    "huge coordinate": ("1e308", "51.6", "far too large"),
    "huge but finite text": ("99999999999", "51.6", "far too large"),
    "infinity": ("inf", "51.6", "is not a number"),
    "nan": ("NaN", "51.6", "is not a number"),
    "decimal comma": ("-0,17", "51,6", "decimal comma"),
    "degrees and minutes": ("0°10'W", "51°36'N", "decimal degrees"),
    "null island": ("0", "0", "Atlantic Ocean"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_hostile_coordinates_are_row_errors_and_a_file_of_only_those_commits_nothing(world, tmp_path, case) -> None:
    lon, lat, expected = HOSTILE_ROWS[case]
    path = write(tmp_path / "v.csv", HEADER + f'A,artsdepot,Culture,"{lon}","{lat}"\n')
    before = fingerprint(world.engine)
    check = _check(world, path)
    assert check.result.rejected_rows == [1]
    assert expected in " ".join(i.reason for i in check.result.errors)
    with pytest.raises(ConfigError, match="nothing to commit"):
        uploads.commit_check(world.engine, check, actor=world.users["partner"])
    assert fingerprint(world.engine) == before


def test_geojson_hazards_are_row_errors(world, tmp_path: Path) -> None:
    features = [
        {"type": "Feature", "properties": {"name": "BNG point"}, "geometry": {"type": "Point",
                                                                              "coordinates": [522235, 190317]}},
        {"type": "Feature", "properties": {"name": "NaN point"}, "geometry": {"type": "Point",
                                                                              "coordinates": [None, 51.6]}},
        {"type": "Feature", "properties": {"name": "Line"},
         "geometry": {"type": "LineString", "coordinates": [[-0.17, 51.6], [-0.18, 51.61]]}},
        {"type": "Feature", "properties": {"name": "Bow tie", "category": "Culture"}, "geometry": {
            "type": "Polygon", "coordinates": [[[-0.180, 51.610], [-0.170, 51.620], [-0.170, 51.610],
                                                [-0.180, 51.620], [-0.180, 51.610]]]}},
        {"type": "Feature", "properties": {"name": "Nul\u0000byte\u0007", "category": "Culture"},
         "geometry": {"type": "Point", "coordinates": [-0.1778995, 51.6134613]}},
    ]
    path = write(tmp_path / "v.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    check = _check(world, path)
    reasons = {i.row: [] for i in check.result.issues}
    for issue in check.result.issues:
        reasons[issue.row].append((issue.severity, issue.reason))
    assert any("British National Grid" in r for s, r in reasons[1] if s == "error")
    assert any(s == "error" for s, _ in reasons[2])
    assert any("found a LineString" in r for s, r in reasons[3] if s == "error")
    assert any(s == "repaired" and "invalid" in r for s, r in reasons[4])
    assert any(s == "repaired" and "control characters" in r for s, r in reasons[5])
    assert [c.name for c in check.result.candidates] == ["Bow tie", "Nulbyte"]
    uploads.commit_check(world.engine, check, actor=world.users["partner"])
    stored = {r.state.name: (r.state.lon, r.state.lat)
              for r in versions.layer_records(world.engine, world.layer, actor=world.users["partner"])}
    assert stored["Nulbyte"] == (-0.1778995, 51.6134613)
    assert shapely.make_valid(shapely.Polygon([(-0.18, 51.61), (-0.17, 51.62), (-0.17, 51.61), (-0.18, 51.62)])).covers(
        shapely.Point(stored["Bow tie"]))


def test_html_in_text_is_stored_exactly_as_given(world, tmp_path: Path) -> None:
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    path = write(tmp_path / "v.csv", HEADER + f'A,"{name.replace(chr(34), chr(34) * 2)}",Culture,-0.1779,51.6135\n')
    check = _check(world, path)
    assert any(i.severity == "note" and "HTML-like tags" in i.reason for i in check.result.issues)
    uploads.commit_check(world.engine, check, actor=world.users["partner"])
    stored = versions.layer_records(world.engine, world.layer, actor=world.users["partner"])[0].state
    assert stored.name == name


# --- the validators, property-tested ----------------------------------------------------------------


@given(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False))
def test_any_finite_decimal_coordinate_parses_back_to_itself(value: float) -> None:
    assert parse_coordinate(repr(value)) == (value, None)
    assert parse_coordinate(f"  {value!r} ") == (value, None)


@given(st.text(max_size=60))
def test_parse_coordinate_never_raises_and_returns_a_value_or_a_reason(text: str) -> None:
    value, reason = parse_coordinate(text)
    assert (value is None) or (reason is None)
    if value is not None:
        assert math.isfinite(value) and abs(value) <= 1e7
    if reason is not None:
        assert isinstance(reason, str) and reason


@given(st.floats(BARNET[0], BARNET[2]), st.floats(BARNET[1], BARNET[3]))
def test_points_in_the_borough_pass_and_swapped_ones_are_caught(lon: float, lat: float) -> None:
    region = (BARNET[0] - 0.2, BARNET[1] - 0.2, BARNET[2] + 0.2, BARNET[3] + 0.2)
    assert check_lonlat(lon, lat, region=region) is None
    assert "look swapped" in check_lonlat(lat, lon, region=region)
    assert "look swapped" in check_lonlat(lat, lon, region=GB_REGION)


@given(st.floats(BARNET[0], BARNET[2]), st.floats(BARNET[1], BARNET[3]))
def test_grid_metres_in_lonlat_columns_are_named_as_such(lon: float, lat: float) -> None:
    x, y = to_metres([lon], [lat])
    assert "British National Grid" in check_lonlat(float(x[0]), float(y[0]), region=GB_REGION)


@given(st.text(max_size=40))
def test_neutralised_cells_never_start_a_formula(text: str) -> None:
    out = neutralise_formula(text)
    assert not formula_like(out)
    assert out == text or out == "'" + text


@given(st.text(max_size=80))
def test_archive_paths_that_pass_stay_inside(name: str) -> None:
    path = safe_member_path(name)
    if path is not None:
        assert not path.is_absolute() and ".." not in path.parts and "\\" not in name


@given(st.sampled_from(["Culture", "Nightlife", "Urban sport", "Landmarks"]),
       st.sampled_from([str.lower, str.upper, str.title, lambda s: f"  {s} ", lambda s: s.replace(" ", "  ")]))
def test_categories_match_whatever_the_case_and_spacing(category: str, vary) -> None:
    assert match_category(vary(category), ["Culture", "Nightlife", "Urban sport", "Landmarks"]) == (category, None)


@given(st.one_of(st.text(max_size=20), st.integers(0, 10**9)))
def test_identifier_normalising_is_idempotent(value) -> None:
    once = normalise_identifier(value)
    assert once is None or (normalise_identifier(once) == once and " " not in once)


@hsettings(max_examples=200)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)))
def test_assured_dates_in_the_future_are_refused(day: date) -> None:
    today = date(2026, 6, 1)
    when, reason = parse_assured(day.isoformat(), today=today)
    assert (when is None) == (day > today)
    if when is not None:
        assert when.date() == day and parse_assured(day.strftime("%d/%m/%Y"), today=today)[0] == when
