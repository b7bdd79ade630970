"""Reading an uploaded file as hostile input, into rows and geometries ready to be checked.

Every refusal is a :class:`~insight.errors.LoadError` naming the file, what is wrong and
what to do; nothing here writes to the database. Checks happen before parsing:
size, the content's real type against its extension, and for zip archives the
number of members, their paths (nothing may escape the archive), their total
uncompressed size and compression ratio (zip bombs) — all before extracting.
"""
from __future__ import annotations

import json
import shutil
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

import numpy as np
import pyogrio
import pyproj
import shapely

from insight.config import Settings
from insight.errors import LoadError, Problem
from insight.partner.oruk_feed import feed_table, looks_like_feed
from insight.partner.tables import RawTable
from insight.sources.base import binary_content, json_records, read_csv_text
from insight.sources.geo import OGR_ERRORS, read_vector

EXTENSIONS = {
    ".csv": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile",
    ".kml": "kml",
}
FORMAT_NAMES = {
    "csv": "CSV (comma-separated values)",
    "geojson": "GeoJSON",
    "gpkg": "GeoPackage",
    "shapefile": "zipped shapefile",
    "kml": "KML",
}
SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg"}
KML_HOUSEKEEPING = ("timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude", "visibility",
                    "drawOrder", "icon")
RATIO_CHECKED_FROM = 64 * 1024
MAX_COLUMNS = 200
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class UploadLimits:
    """Limits applied to every upload; see :class:`~insight.config.Settings`."""

    max_bytes: int = 10_000_000
    max_rows: int = 20_000
    max_unzipped_bytes: int = 50_000_000
    max_zip_ratio: int = 100
    max_zip_members: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        """The limits the settings ask for."""
        return cls(
            max_bytes=settings.upload_max_bytes,
            max_rows=settings.upload_max_rows,
            max_unzipped_bytes=settings.upload_max_unzipped_bytes,
            max_zip_ratio=settings.upload_max_zip_ratio,
            max_zip_members=settings.upload_max_zip_members,
        )


def _refuse(name: str, reason: str) -> LoadError:
    return LoadError(name, [Problem(reason)])


def human_size(n: int) -> str:
    """A byte count as people say it: 950 bytes, 12.5 kB, 3.2 MB."""
    if n < 1000:
        return f"{n} bytes"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def too_large(size: int, limit: int) -> str:
    """The refusal for a file over the size limit."""
    return (f"the file is {human_size(size)}; the limit is {human_size(limit)}. "
            "Split it into smaller files, or ask an officer to raise the limit")


def sniff(data: bytes) -> str:
    """What the content really is: zip, sqlite, xml, json, text, or ``binary: <description>``."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "zip"
    if data.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    binary = binary_content(data)
    if binary:
        return f"binary: {binary}"
    if head.startswith(b"<"):
        return "xml"
    if head[:1] in (b"{", b"["):
        return "json"
    return "text"


_EXPECTED = {"csv": ("text", "json"), "geojson": ("json",), "gpkg": ("sqlite",), "shapefile": ("zip",), "kml": ("xml",)}
_LOOKS = {
    "zip": "a ZIP archive (or an Excel .xlsx workbook)",
    "sqlite": "an SQLite database or GeoPackage",
    "xml": "XML or HTML",
    "json": "JSON",
    "text": "plain text",
}


def upload_format(filename: str, data: bytes) -> str:
    """The format of an upload from its extension, refused if the content is of another type."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        allowed = ", ".join(sorted(EXTENSIONS))
        raise _refuse(filename, f"files ending '{suffix or '(no extension)'}' are not accepted; "
                                f"upload one of: {allowed} (a shapefile goes in a .zip)")
    kind = sniff(data)
    if kind not in _EXPECTED[fmt]:
        looks = kind.removeprefix("binary: ") if kind.startswith("binary") else _LOOKS[kind]
        hint = " Save it from your spreadsheet as 'CSV (comma delimited)'." if fmt == "csv" else ""
        raise _refuse(filename, f"the file is named as {FORMAT_NAMES[fmt]} but its content looks like {looks}; "
                                f"nothing was loaded.{hint}")
    return fmt


def read_upload(path: Path, *, filename: str, limits: UploadLimits) -> RawTable:
    """Read the upload at ``path`` (named ``filename`` by its sender) within ``limits``.

    Raises LoadError for anything refused as a whole: empty, too large, wrong type,
    unsafe archive, unreadable, too many rows. Per-row problems are left for the checks.
    """
    size = path.stat().st_size
    if size == 0:
        raise _refuse(filename, "the file is empty (0 bytes): there is nothing to load")
    if size > limits.max_bytes:
        raise _refuse(filename, too_large(size, limits.max_bytes))
    data = path.read_bytes()
    fmt = upload_format(filename, data)
    with tempfile.TemporaryDirectory(prefix="insight-upload-") as work:
        work_dir = Path(work)
        if fmt == "csv":
            table = _read_csv(filename, data, limits)
        elif fmt == "geojson":
            table = _read_json(filename, data, work_dir, limits)
        elif fmt == "gpkg":
            target = work_dir / "upload.gpkg"
            target.write_bytes(data)
            table = _read_ogr(filename, target, limits, fmt="gpkg")
        elif fmt == "shapefile":
            table = _read_zipped_shapefile(filename, path, work_dir, limits)
        else:
            table = _read_kml(filename, data, work_dir, limits)
    if not table.records:
        raise _refuse(filename, "the file has no rows or features: there is nothing to load")
    if len(table.records) > limits.max_rows:
        raise _refuse(filename, f"the file has {len(table.records):,} rows; the limit is {limits.max_rows:,}. "
                                "Split it into smaller files")
    if len(table.columns) > MAX_COLUMNS:
        raise _refuse(filename, f"the file has {len(table.columns)} columns; at most {MAX_COLUMNS} are accepted")
    return table


def _decode(filename: str, data: bytes) -> tuple[str, list[str]]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), ["the file is UTF-16 text; it was read as such"]
        except UnicodeDecodeError:
            raise _refuse(filename, "the file starts like UTF-16 text but cannot be read as it; "
                                    "save it as 'CSV UTF-8' and upload it again") from None
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), ["the file is not UTF-8; it was read as Windows-1252 (Excel's 'CSV' format)"]
    except UnicodeDecodeError as err:
        raise _refuse(filename, f"the text cannot be read (byte 0x{data[err.start]:02x} at position {err.start}); "
                                "save it as 'CSV UTF-8' and upload it again") from None


def _read_csv(filename: str, data: bytes, limits: UploadLimits) -> RawTable:
    if data.count(b"\n") > limits.max_rows + 1000:
        raise _refuse(filename, f"the file has more than {limits.max_rows:,} rows, the limit. "
                                "Split it into smaller files")
    text, notes = _decode(filename, data)
    try:
        frame = read_csv_text(Path(filename), data=text.encode("utf-8"), encoding="utf-8")
    except LoadError as err:
        raise LoadError(filename, err.problems) from None
    columns = [str(c) for c in frame.columns]
    records = cast(list[dict[str, Any]], frame.to_dict(orient="records"))
    return RawTable("csv", columns, records, notes=notes)


def nesting_depth(document: object) -> int:
    """How deeply lists and objects nest in a parsed JSON document (iteratively, for hostile input)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        values: list[object]
        if isinstance(value, dict):
            values = list(value.values())
        elif isinstance(value, list):
            values = value
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((v, depth + 1) for v in values if isinstance(v, (dict, list)))
    return deepest


def _json_document(filename: str, data: bytes) -> object:
    text, _ = _decode(filename, data)
    try:
        document = json.loads(text, parse_constant=lambda _: None)
    except RecursionError:
        raise _refuse(filename, "the JSON is nested too deeply to be a real data file") from None
    except json.JSONDecodeError as err:
        raise _refuse(filename, f"not valid JSON (is the file truncated?): {err.msg} at line {err.lineno}, "
                                f"column {err.colno}") from None
    if nesting_depth(document) > MAX_JSON_DEPTH:
        raise _refuse(filename, f"the JSON nests more than {MAX_JSON_DEPTH} levels deep, which no data file needs; "
                                "refused as unsafe")
    return document


def _read_json(filename: str, data: bytes, work_dir: Path, limits: UploadLimits) -> RawTable:
    document = _json_document(filename, data)
    if looks_like_feed(document):
        return feed_table(document)
    target = work_dir / "upload.geojson"
    target.write_bytes(data)
    try:
        vector = read_vector(target)
    except LoadError as err:
        raise LoadError(filename, err.problems) from None
    except RecursionError:
        raise _refuse(filename, "the JSON is nested too deeply to be a real data file") from None
    return RawTable("geojson", vector.columns, vector.records, vector.geometry, vector.crs, problems=vector.problems)


def _read_ogr(filename: str, target: Path, limits: UploadLimits, *, fmt: str) -> RawTable:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            layers = [str(name) for name in pyogrio.list_layers(target)[:, 0]]
            counts = [pyogrio.read_info(target, layer=name)["features"] for name in layers]
    except OGR_ERRORS as err:
        raise _refuse(filename, f"the {FORMAT_NAMES[fmt]} cannot be opened: {err}") from None
    if not layers:
        raise _refuse(filename, f"the {FORMAT_NAMES[fmt]} has no layers")
    if len(layers) > 1:
        raise _refuse(filename, f"the {FORMAT_NAMES[fmt]} has {len(layers)} layers ({', '.join(layers[:10])}); "
                                "upload one layer per file")
    if counts[0] > limits.max_rows:
        raise _refuse(filename, f"the file has {counts[0]:,} features; the limit is {limits.max_rows:,}. "
                                "Split it into smaller files")
    try:
        vector = read_vector(target, layer=layers[0] if fmt == "gpkg" else None)
    except LoadError as err:
        raise LoadError(filename, err.problems) from None
    return RawTable(fmt, vector.columns, vector.records, vector.geometry, vector.crs, problems=vector.problems)


def safe_member_path(name: str) -> PurePosixPath | None:
    """The member's path if it stays inside the archive; None if it is absolute or climbs out."""
    if not name or "\x00" in name or "\\" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        return None
    return path


def check_archive(filename: str, members: list[zipfile.ZipInfo], limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """Refuse unsafe archives before extracting; return the shapefile's members.

    Checks the member count, every path, symbolic links, encryption, the total
    declared size and each large member's compression ratio.
    """
    files = [m for m in members if not m.is_dir()]
    if len(files) > limits.max_zip_members:
        raise _refuse(filename, f"the archive holds {len(files)} files; at most {limits.max_zip_members} are accepted")
    for member in members:
        if safe_member_path(member.filename) is None:
            raise _refuse(filename, f"the archive contains a path that leads outside it ({member.filename!r}); "
                                    "archives like this are refused")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise _refuse(filename, f"the archive contains a symbolic link ({member.filename!r}); links are refused")
        if member.flag_bits & 0x1:
            raise _refuse(filename, "the archive is password-protected; upload it without a password")
    total = sum(m.file_size for m in files)
    if total > limits.max_unzipped_bytes:
        raise _refuse(filename, f"the archive would unpack to {human_size(total)}; the limit is "
                                f"{human_size(limits.max_unzipped_bytes)}")
    for member in files:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_CHECKED_FROM and ratio > limits.max_zip_ratio:
            raise _refuse(filename, f"{member.filename!r} is compressed {ratio:,.0f} times (the limit is "
                                    f"{limits.max_zip_ratio}); this looks like a zip bomb and is refused")
    shapefiles = [m for m in files if m.filename.lower().endswith(".shp")]
    if len(shapefiles) != 1:
        found = ", ".join(m.filename for m in files[:10]) or "nothing"
        raise _refuse(filename, f"a zipped shapefile must hold exactly one .shp file (with its .shx and .dbf); "
                                f"found {len(shapefiles)} ({found})")
    stem = PurePosixPath(shapefiles[0].filename).with_suffix("")
    parts = [m for m in files if PurePosixPath(m.filename).with_suffix("") == stem
             and PurePosixPath(m.filename).suffix.lower() in SHAPEFILE_PARTS]
    present = {PurePosixPath(m.filename).suffix.lower() for m in parts}
    missing = sorted({".shp", ".shx", ".dbf"} - present)
    if missing:
        raise _refuse(filename, f"the shapefile is missing its {', '.join(missing)} part(s); "
                                "zip all of its files together")
    return parts


def _extract(filename: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    written = 0
    with archive.open(member) as src, target.open("wb") as dst:
        while block := src.read(1 << 16):
            written += len(block)
            if written > member.file_size or written > budget:
                raise _refuse(filename, f"{member.filename!r} unpacks to more than it declares; refused as unsafe")
            dst.write(block)
    return written


def _read_zipped_shapefile(filename: str, path: Path, work_dir: Path, limits: UploadLimits) -> RawTable:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise _refuse(filename, f"the zip archive cannot be read: {err}") from None
    with archive:
        parts = check_archive(filename, archive.infolist(), limits)
        budget = limits.max_unzipped_bytes
        for member in parts:
            target = work_dir / ("upload" + PurePosixPath(member.filename).suffix.lower())
            try:
                budget -= _extract(filename, archive, member, target, budget)
            except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as err:
                raise _refuse(filename, f"{member.filename!r} cannot be unpacked: {err}") from None
    return _read_ogr(filename, work_dir / "upload.shp", limits, fmt="shapefile")


def _read_kml(filename: str, data: bytes, work_dir: Path, limits: UploadLimits) -> RawTable:
    head = data[:65536].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise _refuse(filename, "the KML declares a DOCTYPE or entities, which real KML never needs; "
                                "refused as unsafe (XML entity expansion)")
    if b"<kml" not in head:
        raise _refuse(filename, "the file is named as KML but has no <kml> element")
    target = work_dir / "upload.kml"
    target.write_bytes(data)
    try:
        layers = [str(name) for name in pyogrio.list_layers(target)[:, 0]]
    except OGR_ERRORS as err:
        raise _refuse(filename, f"the KML cannot be opened: {err}") from None
    columns: list[str] = []
    records: list[dict[str, Any]] = []
    geometries: list[object] = []
    for name in layers:
        try:
            frame = pyogrio.read_dataframe(target, layer=name)
        except OGR_ERRORS as err:
            raise _refuse(filename, f"the KML folder {name!r} cannot be read: {err}") from None
        if len(records) + len(frame) > limits.max_rows:
            raise _refuse(filename, f"the KML has more than {limits.max_rows:,} placemarks, the limit")
        attributes = frame.drop(columns=frame.geometry.name)
        keep = [c for c in attributes.columns if c not in KML_HOUSEKEEPING or attributes[c].notna().any()]
        attributes = attributes[keep].rename(columns={"Name": "name"})
        if "id2" in attributes and ("id" not in attributes or attributes["id"].isna().all()):
            attributes = attributes.drop(columns=[c for c in ("id",) if c in attributes]).rename(columns={"id2": "id"})
        rows = json_records(attributes)
        for row in rows:
            row["folder"] = name
        records += rows
        geometries += list(frame.geometry.values)
        columns += [c for c in [*attributes.columns, "folder"] if c not in columns]
    return RawTable("kml", columns, records, np.asarray(shapely.force_2d(np.array(geometries, dtype=object))),
                    pyproj.CRS.from_epsg(4326))


@contextmanager
def saved_upload(content: bytes, filename: str) -> Iterator[Path]:
    """``content`` written to a private temporary file named like ``filename``, removed afterwards."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()[:10]
    folder = Path(tempfile.mkdtemp(prefix="insight-upload-"))
    try:
        path = folder / f"upload{suffix}"
        path.write_bytes(content)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
