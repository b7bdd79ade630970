"""Postcode files councils already hold: ONS NSPL and ONSPD (same layout), and OS Code-Point Open.

A postcode file is a lookup, not a map layer: it places things that only have a
postcode (partner rows, library lists) and answers searches by full postcode,
sector ("NW9 5") or district ("NW9"). Terminated postcodes are kept with the
month they ended, so an old address is still found, with a note. Rows without a
grid reference (NSPL ``osgrdind`` 9, latitude 99.999999) are kept without a
location and counted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from insight.errors import BadRequest, Problem
from insight.sources.base import fail, raise_if, read_bytes, read_csv_text, row_problems
from insight.store import Engine

FORMATS = ("nspl", "onspd", "codepoint")
# Outward code (area letters, district) and inward code (sector digit, unit letters); GIR 0AA is Girobank's.
POSTCODE = re.compile(r"^(?:GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$")
SECTOR = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9]$")
DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
COLUMNS = ["postcode", "display", "sector", "district", "lon", "lat", "introduced", "terminated",
           "authority", "ward", "lsoa"]
# Which source column fills each output column, per format (NSPL and ONSPD differ in a few names).
_ONS_COLUMNS = {
    "nspl": {"authority": "laua", "ward": "ward", "lsoa": "lsoa11"},
    "onspd": {"authority": "oslaua", "ward": "osward", "lsoa": "lsoa11"},
}
_CODEPOINT_NAMES = ["Postcode", "Positional_quality_indicator", "Eastings", "Northings", "Country_code",
                    "NHS_regional_HA_code", "NHS_HA_code", "Admin_county_code", "Admin_district_code",
                    "Admin_ward_code"]
_BNG_TO_WGS84 = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


@dataclass
class PostcodeFile:
    """A checked postcode file: one row per postcode in :data:`COLUMNS`, and remarks for the load report."""

    frame: pd.DataFrame
    rows_read: int
    notes: list[str] = field(default_factory=list)

    @property
    def live(self) -> int:
        """Postcodes still in use (no termination month)."""
        return int(self.frame["terminated"].isna().sum())


def compact(text: str) -> str:
    """A postcode or part of one in capitals without spaces (the stored key): ' nw9 5ab ' -> 'NW95AB'."""
    return re.sub(r"\s+", "", str(text)).upper()


def display_form(text: str) -> str:
    """A full postcode written the usual way, with one space before the last three characters."""
    key = compact(text)
    return f"{key[:-3]} {key[-3:]}" if len(key) >= 5 else key


def lookup_keys(text: str) -> list[tuple[str, str]]:
    """What a search text may ask for, most likely first: (kind, stored key) pairs.

    Kinds are 'postcode' (compact key), 'sector' ('NW9 5') and 'district' ('NW9'). Without
    a space, 'N11' is district N11 first and sector 'N1 1' second; with one, a sector.
    """
    raw = str(text).strip().upper()
    key = compact(raw)
    found: list[tuple[str, str]] = []
    if len(key) >= 5 and POSTCODE.match(display_form(key)):
        found.append(("postcode", key))
    spaced = " " in raw
    if DISTRICT.match(key) and not spaced:
        found.append(("district", key))
    if len(key) >= 3 and SECTOR.match(f"{key[:-1]} {key[-1]}"):
        found.append(("sector", f"{key[:-1]} {key[-1]}"))
    return found


def postcode_kind(text: str) -> str | None:
    """'postcode', 'sector' or 'district' for text shaped like one of them (spaces and case ignored), else None."""
    keys = lookup_keys(text)
    return keys[0][0] if keys else None


def sector_of(postcodes: pd.Series) -> pd.Series:
    """The sector of each compact full postcode: outward code, space, first inward digit ('NW95AB' -> 'NW9 5')."""
    return postcodes.str[:-3] + " " + postcodes.str[-3]


def _month(values: pd.Series) -> pd.Series:
    """NSPL 'YYYYMM' dates as 'YYYY-MM' (None where blank or malformed)."""
    text = values.str.strip()
    good = text.str.fullmatch(r"\d{4}(0[1-9]|1[0-2])")
    return (text.str[:4] + "-" + text.str[4:]).where(good, None)


def _ons(path: Path, fmt: str) -> PostcodeFile:
    names = _ONS_COLUMNS[fmt]
    raw = read_csv_text(path, required=["pcds", "doterm", "lat", "long", "dointr", *names.values()])
    key = raw["pcds"].map(compact)
    bad = ~key.map(lambda k: bool(POSTCODE.match(display_form(k)))).to_numpy()
    problems = row_problems(bad, "is not a UK postcode (expected e.g. 'NW9 5AB')", "pcds")
    lat = pd.to_numeric(raw["lat"], errors="coerce")
    lon = pd.to_numeric(raw["long"], errors="coerce")
    unparsed = (lat.isna() & (raw["lat"].str.strip() != "")) | (lon.isna() & (raw["long"].str.strip() != ""))
    problems += row_problems(unparsed.to_numpy(), "latitude or longitude is not a number", "lat")
    raise_if(path, problems)
    no_location = (lat.abs() > 90) | lat.isna() | lon.isna() | ((lat == 99.999999) & (lon == 0))
    frame = pd.DataFrame({
        "postcode": key, "lon": lon.where(~no_location), "lat": lat.where(~no_location),
        "introduced": _month(raw["dointr"]), "terminated": _month(raw["doterm"]),
        **{out: raw[col].str.strip().replace("", None) for out, col in names.items()},
    })
    return _finish(path, frame, len(raw), int(no_location.sum()))


def _codepoint(path: Path) -> PostcodeFile:
    from io import BytesIO

    data = read_bytes(path)
    first = data[:200].decode("utf-8", "replace").split(",")[0].strip('"').strip()
    header = 0 if first.lower() == "postcode" else None
    try:
        raw = pd.read_csv(BytesIO(data), dtype=str, na_filter=False, header=header,
                          names=None if header == 0 else _CODEPOINT_NAMES, usecols=range(10))
    except (pd.errors.ParserError, ValueError) as err:
        columns = ", ".join(_CODEPOINT_NAMES)
        fail(path, [Problem(f"cannot be read as Code-Point Open CSV (10 columns: {columns}): {err}")])
    raw.columns = _CODEPOINT_NAMES
    key = raw["Postcode"].map(compact)
    bad = ~key.map(lambda k: bool(POSTCODE.match(display_form(k)))).to_numpy()
    east = pd.to_numeric(raw["Eastings"], errors="coerce")
    north = pd.to_numeric(raw["Northings"], errors="coerce")
    problems = row_problems(bad, "is not a UK postcode (expected e.g. 'NW9 5AB')", "Postcode")
    problems += row_problems((east.isna() | north.isna()).to_numpy(), "eastings or northings is not a number",
                             "Eastings")
    raise_if(path, problems)
    no_location = (east == 0) & (north == 0)
    lon, lat = _BNG_TO_WGS84.transform(east.to_numpy(dtype=float), north.to_numpy(dtype=float))
    frame = pd.DataFrame({
        "postcode": key, "lon": pd.Series(lon).where(~no_location), "lat": pd.Series(lat).where(~no_location),
        "introduced": None, "terminated": None, "authority": raw["Admin_district_code"].replace("", None),
        "ward": raw["Admin_ward_code"].replace("", None), "lsoa": None,
    })
    notes = ["Code-Point Open lists live postcodes only: terminated postcodes are not in this file"]
    result = _finish(path, frame, len(raw), int(no_location.sum()))
    result.notes[:0] = notes
    return result


def _finish(path: Path, frame: pd.DataFrame, rows: int, no_location: int) -> PostcodeFile:
    repeated = frame["postcode"].duplicated(keep=False).to_numpy()
    raise_if(path, row_problems(repeated, "the same postcode appears on more than one row", "postcode"))
    frame["display"] = frame["postcode"].map(display_form)
    frame["sector"] = sector_of(frame["postcode"])
    frame["district"] = frame["postcode"].str[:-3]
    frame = frame[COLUMNS].reset_index(drop=True)
    notes = []
    terminated = int(frame["terminated"].notna().sum())
    if terminated:
        notes.append(f"{terminated} of {rows} postcodes are terminated: they are kept, so old addresses are "
                     "still found, and searches say they are no longer in use")
    if no_location:
        notes.append(f"{no_location} postcode(s) have no grid reference: kept, but they cannot place anything")
    return PostcodeFile(frame=frame, rows_read=rows, notes=notes)


def read_postcodes(path: Path, fmt: str = "nspl") -> PostcodeFile:
    """Read an NSPL, ONSPD or Code-Point Open CSV into one checked row per postcode.

    Every problem (a malformed postcode, a coordinate that is not a number, a postcode
    listed twice) is reported with its row and column in one LoadError.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BadRequest(f"unknown postcode file format '{fmt}': choose from {', '.join(FORMATS)}")
    return _codepoint(path) if fmt == "codepoint" else _ons(path, fmt)


def lookup_key(text: str) -> tuple[str, str]:
    """The most likely reading of a search text (see :func:`lookup_keys`).

    BadRequest in plain words when the text is not a postcode, sector or district.
    """
    keys = lookup_keys(text)
    if not keys:
        raise BadRequest(f"'{str(text).strip()[:20]}' is not a postcode, sector or district "
                         "(e.g. 'NW9 5AB', 'NW9 5' or 'NW9')")
    return keys[0]


def placed(frame: pd.DataFrame) -> np.ndarray:
    """Which postcode rows have a location."""
    return (frame["lon"].notna() & frame["lat"].notna()).to_numpy()


@dataclass
class PostcodeReport:
    """What loading a postcode file did, for the CLI and the logs."""

    source_file: str
    rows_read: int
    stored: int
    live: int
    located: int
    notes: list[str]

    def lines(self) -> list[str]:
        """The report in plain words, one line each."""
        return [f"postcodes from {self.source_file}: {self.stored:,} stored ({self.live:,} live, "
                f"{self.located:,} with a location)", *self.notes]


def import_postcodes(engine: Engine, path: Path, fmt: str = "nspl") -> PostcodeReport:
    """Read ``path`` and replace the stored postcodes with it in one transaction (nothing changes on a problem)."""
    from insight.store.postcodes import replace_postcodes

    if not path.is_file():
        fail(path, [Problem(f"file not found: {path}")])
    checked = read_postcodes(path, fmt)
    stored = replace_postcodes(engine, checked.frame)
    return PostcodeReport(source_file=path.name, rows_read=checked.rows_read, stored=stored, live=checked.live,
                          located=int(placed(checked.frame).sum()), notes=checked.notes)


def place_by_postcode(engine: Engine, frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, list[str]]:
    """Points for the rows of ``frame`` from the postcodes in ``column`` (then dropped), and notes saying
    how many were placed and which were not (kept without a location)."""
    import geopandas as gpd
    import shapely

    from insight.store.postcodes import postcode_points, postcode_total

    codes = frame[column].fillna("").map(compact)
    found = postcode_points(engine, [c for c in codes if c])
    xy = np.array([found.get(c, (np.nan, np.nan)) for c in codes], dtype=float).reshape(-1, 2)
    placed_rows = ~np.isnan(xy[:, 0])
    geometry = np.where(placed_rows, shapely.points(np.nan_to_num(xy)), None)
    result = gpd.GeoDataFrame(frame.drop(columns=[column, "geometry"]),
                              geometry=gpd.GeoSeries(geometry, crs="EPSG:4326", index=frame.index))
    n, placed_n = len(frame), int(placed_rows.sum())
    if not postcode_total(engine):
        return result, [f"no postcode file is loaded, so none of the {n} rows could be placed: they are kept "
                        "without a location (load one with 'insight import NSPL.csv --layer postcodes "
                        "--format nspl', then import this file again)"]
    missed = [f"row {i + 1} ({str(frame[column].iloc[i])[:10] or 'blank'})" for i in np.flatnonzero(~placed_rows)]
    notes = [f"{placed_n} of {n} rows placed at the centre of their postcode from the loaded postcode file"]
    if missed:
        shown = ", ".join(missed[:10]) + (f" and {len(missed) - 10} more" if len(missed) > 10 else "")
        notes.append(f"{len(missed)} row(s) not placed (postcode blank, not in the postcode file, or without a "
                     f"location there), kept without a location: {shown}")
    return result, notes
