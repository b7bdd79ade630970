"""Reading uploads as hostile input, called directly: sniffing, archive safety, nesting, CSV decoding, limits.

The upload tests (tests/test_uploads.py) send the same hazards through the whole pipeline and
check the database is untouched; these pin each guard's exact rule and message.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pyogrio
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from insight.config import load_settings
from insight.errors import LoadError
from insight.partner.safe_files import (
    MAX_JSON_DEPTH,
    RATIO_CHECKED_FROM,
    UploadLimits,
    check_archive,
    human_size,
    nesting_depth,
    read_upload,
    safe_member_path,
    saved_upload,
    sniff,
    too_large,
    upload_format,
)
from tests.conftest import DATA_DIR
from tests.partner_fixtures import ORUK, VENUES_CSV

LIMITS = UploadLimits()


def _zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


def _refusal(error: pytest.ExceptionInfo[LoadError]) -> str:
    return error.value.problems[0].reason


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


# --- what the content really is --------------------------------------------------------------------


@pytest.mark.parametrize("data, kind", [
    (b"PK\x03\x04rest", "zip"), (b"PK\x05\x06", "zip"), (b"SQLite format 3\x00....", "sqlite"),
    (b"  \n<kml xmlns='x'>", "xml"), (b"\xef\xbb\xbf{\"type\": 1}", "json"), (b"[1, 2]", "json"),
    (b"venue_id,name\nA,x\n", "text"), ("a,b\n".encode("utf-16"), "text"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "binary: a PNG image"), (b"%PDF-1.7", "binary: a PDF document"),
    (b"id,name\x00\x01", "binary: binary data"),
])
def test_sniffing_names_the_real_content(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


@given(st.binary(max_size=200))
def test_sniffing_any_bytes_gives_a_known_kind(data: bytes) -> None:
    kind = sniff(data)
    assert kind in {"zip", "sqlite", "xml", "json", "text"} or kind.startswith("binary: ")


@pytest.mark.parametrize("filename, data, fmt", [
    ("venues.csv", b"a,b\n1,2\n", "csv"), ("VENUES.CSV", b"a,b\n", "csv"), ("dir\\venues.csv", b"a,b\n", "csv"),
    ("v.json", b'{"type": "FeatureCollection"}', "geojson"), ("v.geojson", b"[]", "geojson"),
    ("v.gpkg", b"SQLite format 3\x00", "gpkg"), ("v.zip", b"PK\x03\x04", "shapefile"), ("v.kml", b"<kml/>", "kml"),
    ("feed.csv", b'[{"id": 1}]', "csv"),
])
def test_the_format_comes_from_the_extension_when_the_content_agrees(filename: str, data: bytes, fmt: str) -> None:
    assert upload_format(filename, data) == fmt


@pytest.mark.parametrize("filename, data, reason", [
    ("v.xlsx", b"PK\x03\x04", "files ending '.xlsx' are not accepted; upload one of: .csv, .geojson, .gpkg, .json, "
                              ".kml, .zip"),
    ("venues", b"a,b\n", "files ending '(no extension)' are not accepted"),
    ("v.csv", b"PK\x03\x04", "the file is named as CSV (comma-separated values) but its content looks like a ZIP "
                             "archive (or an Excel .xlsx workbook); nothing was loaded. Save it from your spreadsheet "
                             "as 'CSV (comma delimited)'."),
    ("v.geojson", b"a,b\n", "named as GeoJSON but its content looks like plain text"),
    ("v.kml", b"\x89PNG\r\n\x1a\n", "named as KML but its content looks like a PNG image"),
])
def test_content_of_another_type_is_refused(filename: str, data: bytes, reason: str) -> None:
    with pytest.raises(LoadError) as info:
        upload_format(filename, data)
    assert reason in _refusal(info)
    assert info.value.source == filename


# --- archives --------------------------------------------------------------------------------------


def _shapefile_zip(tmp_path: Path) -> zipfile.ZipFile:
    features = json.loads((DATA_DIR / "points" / "cultural_venues.geojson").read_text(encoding="utf-8"))["features"]
    frame = gpd.GeoDataFrame({"name": [f["properties"]["name"] for f in features[:5]]},
                             geometry=[shapely.Point(f["geometry"]["coordinates"]) for f in features[:5]],
                             crs="EPSG:4326").to_crs("EPSG:27700")
    pyogrio.write_dataframe(frame, tmp_path / "venues.shp")
    members = {f"venues/{p.name}": p.read_bytes() for p in sorted(tmp_path.iterdir())}
    return _zip(members | {"readme.txt": b"about"})


def test_a_real_zipped_shapefile_passes_and_its_parts_are_named(tmp_path: Path) -> None:
    archive = _shapefile_zip(tmp_path)
    parts = check_archive("venues.zip", archive.infolist(), LIMITS)
    assert sorted(PurePosixPath(p.filename).suffix for p in parts) == [".cpg", ".dbf", ".prj", ".shp", ".shx"]


def test_a_zip_bomb_is_refused_by_its_compression_ratio() -> None:
    archive = _zip({"v.shp": b"\x00" * 5_000_000, "v.shx": b"x", "v.dbf": b"x"})
    member = archive.getinfo("v.shp")
    ratio = member.file_size / member.compress_size
    assert ratio > 100
    with pytest.raises(LoadError) as info:
        check_archive("v.zip", archive.infolist(), LIMITS)
    assert _refusal(info) == (f"'v.shp' is compressed {ratio:,.0f} times (the limit is 100); this looks like a zip "
                              "bomb and is refused")


def test_small_members_are_not_judged_by_their_ratio() -> None:
    archive = _zip({"v.shp": b"\x00" * (RATIO_CHECKED_FROM - 1), "v.shx": b"x", "v.dbf": b"x"})
    member = archive.getinfo("v.shp")
    assert member.file_size / member.compress_size > 100
    assert len(check_archive("v.zip", archive.infolist(), LIMITS)) == 3


@pytest.mark.parametrize("members, limits, reason", [
    ({f"f{i}.txt": b"x" for i in range(21)}, LIMITS, "the archive holds 21 files; at most 20 are accepted"),
    ({"v.shp": bytes(range(256)) * 400, "v.shx": b"x", "v.dbf": b"x"}, UploadLimits(max_unzipped_bytes=100_000),
     "the archive would unpack to 102.4 kB; the limit is 100.0 kB"),
    ({"../v.shp": b"x"}, LIMITS, "the archive contains a path that leads outside it ('../v.shp')"),
    ({"/tmp/v.shp": b"x"}, LIMITS, "leads outside it ('/tmp/v.shp')"),
    ({"v.shp": b"x", "w.shp": b"x"}, LIMITS, "must hold exactly one .shp file (with its .shx and .dbf); found 2 "
                                             "(v.shp, w.shp)"),
    ({"v.shp": b"x", "v.shx": b"x"}, LIMITS, "the shapefile is missing its .dbf part(s)"),
    ({"v.shp": b"x", "other.shx": b"x", "other.dbf": b"x"}, LIMITS, "missing its .dbf, .shx part(s)"),
])
def test_unsafe_or_incomplete_archives_are_refused(members: dict[str, bytes], limits: UploadLimits,
                                                   reason: str) -> None:
    archive = _zip(members, method=zipfile.ZIP_STORED)
    with pytest.raises(LoadError) as info:
        check_archive("v.zip", archive.infolist(), limits)
    assert reason in _refusal(info)


def test_links_and_passwords_are_refused_before_extracting() -> None:
    link = zipfile.ZipInfo("v.shp")
    link.external_attr = 0o120777 << 16
    with pytest.raises(LoadError, match="symbolic link"):
        check_archive("v.zip", [link], LIMITS)
    locked = zipfile.ZipInfo("v.shp")
    locked.flag_bits |= 0x1
    with pytest.raises(LoadError, match="password-protected"):
        check_archive("v.zip", [locked], LIMITS)


@pytest.mark.parametrize("name, expected", [
    ("venues/v.shp", PurePosixPath("venues/v.shp")), ("./v.shp", PurePosixPath("v.shp")), ("v.shp", "v.shp"),
    ("../v.shp", None), ("a/../../v.shp", None), ("/etc/passwd", None), ("C:/v.shp", None), ("a\\b.shp", None),
    ("a\x00.shp", None), ("", None),
])
def test_member_paths(name: str, expected: PurePosixPath | str | None) -> None:
    found = safe_member_path(name)
    assert found == (PurePosixPath(expected) if isinstance(expected, str) else expected)


_SEGMENT = st.text(alphabet="abcxyz019_-.", min_size=1, max_size=8).filter(lambda s: s not in {".", ".."})


@given(st.lists(_SEGMENT, min_size=1, max_size=5))
def test_plain_relative_paths_are_kept(segments: list[str]) -> None:
    assert safe_member_path("/".join(segments)) == PurePosixPath(*segments)


@given(st.lists(_SEGMENT, max_size=4), st.lists(_SEGMENT, max_size=4))
def test_a_climbing_segment_anywhere_is_refused(before: list[str], after: list[str]) -> None:
    assert safe_member_path("/".join([*before, "..", *after])) is None
    assert safe_member_path("/" + "/".join([*before, *after, "x"])) is None


# --- JSON nesting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("document, depth", [
    (5, 0), ("text", 0), ([], 1), ({}, 1), ([[[]]], 3), ({"a": [{"b": 1}]}, 3), ([1, [2, [3]], {"x": {}}], 3),
])
def test_nesting_depth(document: object, depth: int) -> None:
    assert nesting_depth(document) == depth


@given(st.integers(0, 400))
def test_nesting_depth_counts_every_level(depth: int) -> None:
    assert nesting_depth(_nested(depth)) == depth


def test_very_deep_nesting_is_measured_without_recursion() -> None:
    assert nesting_depth(_nested(50_000)) == 50_000


def _geojson_with_depth(extra: int) -> bytes:
    """A FeatureCollection (1) > features (2) > feature (3) > properties (4) > ``extra`` nested lists."""
    feature = {"type": "Feature", "properties": {"name": "artsdepot", "deep": _nested(extra)},
               "geometry": {"type": "Point", "coordinates": [-0.1778995, 51.6134613]}}
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode("utf-8")


def test_json_nested_beyond_the_limit_is_refused_and_at_the_limit_read(tmp_path: Path) -> None:
    assert MAX_JSON_DEPTH == 32
    too_deep = tmp_path / "deep.geojson"
    too_deep.write_bytes(_geojson_with_depth(MAX_JSON_DEPTH - 3))
    with pytest.raises(LoadError) as info:
        read_upload(too_deep, filename="deep.geojson", limits=LIMITS)
    assert _refusal(info).startswith("the JSON nests more than 32 levels deep")
    at_limit = tmp_path / "ok.geojson"
    at_limit.write_bytes(_geojson_with_depth(MAX_JSON_DEPTH - 4))
    table = read_upload(at_limit, filename="ok.geojson", limits=LIMITS)
    assert table.format == "geojson" and table.records[0]["name"] == "artsdepot"


def test_json_deeper_than_python_can_parse_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.geojson"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(LoadError, match="nested too deeply|nests more than"):
        read_upload(path, filename="bomb.geojson", limits=LIMITS)


def test_an_open_referral_feed_is_read_as_a_feed(tmp_path: Path) -> None:
    table = read_upload(ORUK / "examples" / "service_full.json", filename="service_full.json", limits=LIMITS)
    service = json.loads((ORUK / "examples" / "service_full.json").read_text(encoding="utf-8"))
    assert table.format == "oruk" and len(table.records) == len(service["service_at_locations"])
    assert table.records[0]["name"] == service["name"]


# --- CSV text ----------------------------------------------------------------------------------------


def _read_csv(tmp_path: Path, data: bytes, limits: UploadLimits = LIMITS) -> tuple[list[str], list[dict], list[str]]:
    path = tmp_path / "v.csv"
    path.write_bytes(data)
    table = read_upload(path, filename="v.csv", limits=limits)
    return table.columns, table.records, table.notes


def test_the_real_venues_file_is_read_row_for_row(tmp_path: Path) -> None:
    lines = VENUES_CSV.read_text(encoding="utf-8").splitlines()
    columns, records, notes = _read_csv(tmp_path, VENUES_CSV.read_bytes())
    assert columns == lines[0].split(",") and notes == []
    assert len(records) == len(lines) - 1
    assert [r["venue_id"] for r in records] == [line.split(",")[0] for line in lines[1:]]


@pytest.mark.parametrize("encoding, note", [
    ("utf-8", None), ("utf-8-sig", None), ("utf-16", "the file is UTF-16 text; it was read as such"),
    ("cp1252", "the file is not UTF-8; it was read as Windows-1252 (Excel's 'CSV' format)"),
])
def test_csv_text_is_decoded_and_the_encoding_said(tmp_path: Path, encoding: str, note: str | None) -> None:
    text = "venue_id,name\nA,Café Nero\nB,Œuvre – “quoted”\n"
    columns, records, notes = _read_csv(tmp_path, text.encode(encoding))
    assert columns == ["venue_id", "name"]
    assert [r["name"] for r in records] == ["Café Nero", "Œuvre – “quoted”"]
    assert notes == ([note] if note else [])


def test_undecodable_text_names_the_byte(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        _read_csv(tmp_path, b"a,b\n\x81,c\n")
    assert _refusal(info) == ("the text cannot be read (byte 0x81 at position 4); save it as 'CSV UTF-8' and upload "
                              "it again")
    with pytest.raises(LoadError, match="starts like UTF-16 text but cannot be read"):
        _read_csv(tmp_path, "a,b\n1,2\n".encode("utf-16") + b"\x00")


@pytest.mark.parametrize("data, limits, reason", [
    (b"", LIMITS, "the file is empty (0 bytes): there is nothing to load"),
    (b"a,b\n" + b"1,2\n" * 12, UploadLimits(max_bytes=20), "the file is 52 bytes; the limit is 20 bytes"),
    (b"name,x\n" + b"a,1\n" * 5, UploadLimits(max_rows=3), "the file has 5 rows; the limit is 3. Split it"),
    (",".join(f"c{i}" for i in range(201)).encode() + b"\n" + b"1," * 200 + b"1\n", LIMITS,
     "the file has 201 columns; at most 200 are accepted"),
])
def test_limits_are_applied_before_checking(tmp_path: Path, data: bytes, limits: UploadLimits, reason: str) -> None:
    with pytest.raises(LoadError) as info:
        _read_csv(tmp_path, data, limits)
    assert reason in _refusal(info)


def test_sizes_are_said_as_people_say_them() -> None:
    assert [human_size(n) for n in (0, 950, 1000, 12_500, 999_999, 3_200_000)] == [
        "0 bytes", "950 bytes", "1.0 kB", "12.5 kB", "1000.0 kB", "3.2 MB"]
    assert too_large(12_500, 10_000) == ("the file is 12.5 kB; the limit is 10.0 kB. Split it into smaller files, or "
                                         "ask an officer to raise the limit")


def test_limits_come_from_the_settings() -> None:
    settings = load_settings(env={}, upload_max_rows=7, upload_max_bytes=1234, upload_max_zip_members=3)
    limits = UploadLimits.from_settings(settings)
    assert (limits.max_rows, limits.max_bytes, limits.max_zip_members) == (7, 1234, 3)


def test_a_saved_upload_is_private_named_by_its_extension_and_removed() -> None:
    with saved_upload(b"a,b\n", "..\\..\\evil.CSV") as path:
        assert path.name == "upload.csv" and path.read_bytes() == b"a,b\n"
        assert path.parent.name.startswith("insight-upload-")
    assert not path.exists() and not path.parent.exists()
