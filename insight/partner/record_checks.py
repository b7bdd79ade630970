"""Pure checks of uploaded rows: every problem with its row, column and a reason a non-specialist can act on.

Nothing here reads files or the database. :func:`check_table` takes what
:mod:`insight.partner.safe_files` read, the layer's :class:`Rules` and a :class:`Context`
(the authority outline, the current records, a postcode lookup if one is loaded)
and returns the rows that may be stored and the issues found.

Severities: ``error`` (the row is not loaded; fix it and upload again),
``warning`` (loaded; worth checking), ``repaired`` (loaded after a safe fix, said
so), ``note`` (for information).
"""
from __future__ import annotations

import difflib
import json
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from insight.errors import LoadError, Problem
from insight.partner.tables import RawTable
from insight.sources.base import slug

ERROR, WARNING, REPAIRED, NOTE = "error", "warning", "repaired", "note"
GB_REGION = (-8.7, 49.8, 1.9, 60.9)
BNG_RANGE = (0.0, 0.0, 700_000.0, 1_300_000.0)
HUGE = 1e7
MAX_CELL = 10_000
MAX_LENGTH = {"name": 300, "category": 100, "key": 100}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LONLAT_PAIRS = (("longitude", "latitude"), ("lon", "lat"), ("lng", "lat"), ("long", "lat"))
GRID_PAIRS = (("easting", "northing"), ("eastings", "northings"))
AUTO_PAIRS = (("x", "y"),)
EXPORT_ONLY = ("last_updated", "stale")
KEY_COLUMNS = ("id", "record_id", "ref", "reference", "source_id", "uid", "org_id", "venue_id")
NAME_COLUMNS = ("name", "title")
CATEGORY_COLUMNS = ("category", "type")
ORGANISATION_COLUMNS = ("organisation", "organization", "organisation_name", "organization_name")
POSTCODE_COLUMNS = ("postcode", "post_code", "postal_code")
ASSURED_COLUMNS = ("last_assured", "assured_date", "last_checked")
CHARITY_COLUMNS = ("charity_number", "charity_no", "charity_num", "registered_charity_number")
COMPANY_COLUMNS = ("company_number", "company_no", "companies_house_number", "company_registration_number")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHARITY = re.compile(r"(?:\d{6,8}(?:-\d{1,3})?|SC0\d{5}|NIC?\d{5,6})")
_COMPANY = re.compile(r"(?:\d{8}|[A-Z]{2}\d{6})")


@dataclass(frozen=True)
class Issue:
    """One finding: the 1-based row (None for the whole file), the column, the reason and its severity."""

    row: int | None
    column: str | None
    reason: str
    severity: str = ERROR

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason, "severity": self.severity}


@dataclass(frozen=True)
class Rules:
    """How a layer's uploads are checked (see :class:`insight.store.models.LayerRules`)."""

    categories: tuple[str, ...] | None = None
    required_fields: tuple[str, ...] = ()
    key_field: str | None = None
    location_required: bool = True
    duplicate_metres: float = 25.0
    unique_identifiers: bool = True


@dataclass(frozen=True)
class ExistingRecord:
    """A record already in the layer, for duplicate checks. ``in_scope``: the upload may replace it."""

    key: str
    name: str | None
    lon: float | None
    lat: float | None
    identifiers: dict[str, str] = field(default_factory=dict)
    in_scope: bool = True
    organisation: str | None = None


@dataclass(frozen=True)
class Context:
    """What the checks compare against: the authority outline, current records, a postcode lookup."""

    authority: BaseGeometry | None = None
    existing: tuple[ExistingRecord, ...] = ()
    postcodes: dict[str, tuple[float, float]] | None = None
    today: date = field(default_factory=lambda: datetime.now(UTC).date())


@dataclass
class Candidate:
    """A row that passed: what would be stored for it."""

    row: int
    key: str
    name: str | None
    category: str | None
    properties: dict[str, Any]
    lon: float | None
    lat: float | None
    inside_authority: bool | None
    last_assured: datetime | None
    identifiers: dict[str, str] = field(default_factory=dict)
    organisation: str | None = None


@dataclass
class CheckResult:
    """The outcome of checking one upload."""

    rows_read: int
    candidates: list[Candidate]
    issues: list[Issue]
    rejected_rows: list[int]
    protected_keys: set[str]
    mapping: dict[str, str]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]


# --- single values ------------------------------------------------------------------------


def parse_coordinate(text: object) -> tuple[float | None, str | None]:
    """A coordinate from a cell: ``(value, None)``, ``(None, None)`` if blank, or ``(None, reason)``.

    Decimal numbers only; NaN, infinity, degree-minute text, decimal commas and
    numbers too large to be coordinates are refused with a reason.
    """
    if text is None:
        return None, None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
        raw = repr(text)
    else:
        raw = str(text).strip()
        if not raw:
            return None, None
        if len(raw) > 40:
            return None, f"'{raw[:20]}…' is too long to be a coordinate"
        if not _NUMBER.fullmatch(raw):
            if re.fullmatch(r"[+-]?\d+,\d+", raw):
                return None, f"'{raw}' uses a decimal comma; write it with a point, e.g. {raw.replace(',', '.')}"
            if raw.lower().lstrip("+-") in {"nan", "inf", "infinity"}:
                return None, f"'{raw}' is not a number; give a decimal coordinate"
            if any(c in raw for c in "°'\"NSEWnsew"):
                return None, f"'{raw}' is not a decimal coordinate; write decimal degrees, e.g. 51.6123"
            return None, f"'{raw}' is not a number; give a decimal coordinate such as -0.1946"
        value = float(raw)
    if not math.isfinite(value):
        return None, f"'{raw}' is not a finite number; give a decimal coordinate"
    if abs(value) > HUGE:
        return None, f"'{raw}' is far too large to be a coordinate"
    return value, None


def formula_like(value: object) -> bool:
    """True for text a spreadsheet would run as a formula (starts with = + - @ tab or CR), numbers excepted."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return False
    return not _NUMBER.fullmatch(value.strip())


def neutralise_formula(value: object) -> object:
    """The value to write into an exported CSV cell: formula-like text gets a leading apostrophe."""
    return "'" + value if formula_like(value) else value


def has_markup(value: object) -> bool:
    """True if text contains something that looks like an HTML tag."""
    return isinstance(value, str) and bool(_MARKUP.search(value))


def strip_control(value: str) -> str:
    """``value`` without NUL and other control characters (tab and line breaks kept)."""
    return _CONTROL.sub("", value)


def deep_clean(value: Any) -> tuple[Any, bool]:
    """Nested JSON-like data with control characters removed from every string, and whether any were."""
    if isinstance(value, str):
        cleaned = strip_control(value)
        return cleaned, cleaned != value
    if isinstance(value, dict):
        pairs = [(deep_clean(str(k)), deep_clean(v)) for k, v in value.items()]
        return {k[0]: v[0] for k, v in pairs}, any(k[1] or v[1] for k, v in pairs)
    if isinstance(value, list):
        items = [deep_clean(v) for v in value]
        return [i[0] for i in items], any(i[1] for i in items)
    if isinstance(value, float) and not math.isfinite(value):
        return None, True
    return value, False


def match_category(value: str, categories: Sequence[str]) -> tuple[str | None, str | None]:
    """``(canonical, None)`` if ``value`` is a category (ignoring case and spacing), else ``(None, suggestion)``."""
    folded = {" ".join(c.split()).casefold(): c for c in categories}
    key = " ".join(value.split()).casefold()
    if key in folded:
        return folded[key], None
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return None, folded[close[0]] if close else None


def normalise_identifier(value: object) -> str | None:
    """A charity or company number without spaces, upper-cased; None if blank."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"\s+", "", str(value)).upper()
    return text or None


def identifier_format_ok(kind: str, value: str) -> bool:
    """True if ``value`` is shaped like a charity number (England and Wales, Scotland, NI) or a company number."""
    if kind == "company_number":
        padded = value.zfill(8) if value.isdigit() else value
        return bool(_COMPANY.fullmatch(padded))
    return bool(_CHARITY.fullmatch(value))


def parse_assured(value: object, *, today: date) -> tuple[datetime | None, str | None]:
    """A last-assured date from ``YYYY-MM-DD``, ``DD/MM/YYYY`` or an ISO timestamp; ``(None, reason)`` if not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    text = str(value).strip()
    found: date | None = None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            found = datetime.strptime(text, pattern).date()
            break
        except ValueError:
            continue
    if found is None:
        try:
            found = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            return None, f"'{text[:40]}' is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31"
    if found > today:
        return None, f"{found.isoformat()} is in the future; give the date the record was last checked"
    return datetime(found.year, found.month, found.day, tzinfo=UTC), None


# --- locations -------------------------------------------------------------------------------


def _in_region(lon: float, lat: float, region: tuple[float, float, float, float]) -> bool:
    return region[0] <= lon <= region[2] and region[1] <= lat <= region[3]


def check_lonlat(lon: float, lat: float, *, region: tuple[float, float, float, float]) -> str | None:
    """Why a longitude/latitude pair is wrong, or None. ``region`` is where points are expected."""
    if abs(lon) > 180 or abs(lat) > 90:
        if 1000 <= lon <= BNG_RANGE[2] and 1000 <= lat <= BNG_RANGE[3]:
            return (f"({lon:g}, {lat:g}) look like British National Grid eastings and northings (metres), "
                    "not longitude and latitude: put them in columns named easting and northing")
        return f"({lon:g}, {lat:g}) is not a longitude/latitude: longitude runs -180 to 180, latitude -90 to 90"
    if lon == 0 and lat == 0:
        return "(0, 0) is in the Atlantic Ocean: the coordinates are probably missing"
    if not _in_region(lon, lat, region) and _in_region(lat, lon, region):
        return (f"longitude {lon:g} and latitude {lat:g} look swapped ({lat:g} is a longitude here and "
                f"{lon:g} a latitude): swap the two columns")
    return None


def check_grid(easting: float, northing: float) -> str | None:
    """Why a British National Grid pair is wrong before projecting it, or None."""
    if abs(easting) <= 180 and abs(northing) <= 90:
        return (f"({easting:g}, {northing:g}) look like longitude and latitude, not eastings and northings: "
                "put them in columns named longitude and latitude")
    if not (BNG_RANGE[0] <= easting <= BNG_RANGE[2] and BNG_RANGE[1] <= northing <= BNG_RANGE[3]):
        return (f"({easting:g}, {northing:g}) is outside the British National Grid "
                "(eastings 0–700000, northings 0–1300000)")
    return None


def _transformer(source: pyproj.CRS | str, target: pyproj.CRS | str) -> pyproj.Transformer:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Best transformation is not available.*")
        return pyproj.Transformer.from_crs(source, target, always_xy=True)


_TO_LONLAT = _transformer("EPSG:27700", "EPSG:4326")
_TO_METRES = _transformer("EPSG:4326", "EPSG:27700")


def grid_to_lonlat(easting: float, northing: float) -> tuple[float, float]:
    """British National Grid metres to WGS84 longitude and latitude."""
    lon, lat = _TO_LONLAT.transform(easting, northing)
    return float(lon), float(lat)


def region_of(authority: BaseGeometry | None) -> tuple[float, float, float, float]:
    """Where points are expected: the authority's bounds plus a margin, or Great Britain."""
    if authority is None or authority.is_empty:
        return GB_REGION
    minx, miny, maxx, maxy = authority.bounds
    return (minx - 0.2, miny - 0.2, maxx + 0.2, maxy + 0.2)


@dataclass(frozen=True)
class Located:
    """The location found for one row: a point, nothing, or the issues that stopped it."""

    lon: float | None = None
    lat: float | None = None
    issues: tuple[tuple[str | None, str, str], ...] = ()


def locate_cells(x: object, y: object, *, x_name: str, y_name: str, system: str,
                 region: tuple[float, float, float, float]) -> Located:
    """Locate a CSV row from two cells. ``system`` is ``lonlat``, ``grid`` or ``auto`` (x/y columns)."""
    xv, x_why = parse_coordinate(x)
    yv, y_why = parse_coordinate(y)
    found = []
    if x_why:
        found.append((x_name, f"unreadable coordinate: {x_why}", ERROR))
    if y_why:
        found.append((y_name, f"unreadable coordinate: {y_why}", ERROR))
    if found:
        return Located(issues=tuple(found))
    if xv is None and yv is None:
        return Located()
    if xv is None or yv is None:
        blank, other = (x_name, y_name) if xv is None else (y_name, x_name)
        return Located(issues=((blank, f"blank while {other} has a value: give both coordinates or neither", ERROR),))
    if system == "auto":
        system = "lonlat" if abs(xv) <= 180 and abs(yv) <= 90 else "grid"
    pair = f"{x_name}/{y_name}"
    if system == "grid":
        why = check_grid(xv, yv)
        if why:
            return Located(issues=((pair, why, ERROR),))
        lon, lat = grid_to_lonlat(xv, yv)
        if not _in_region(lon, lat, region):
            slon, slat = grid_to_lonlat(yv, xv) if check_grid(yv, xv) is None else (math.inf, math.inf)
            if _in_region(slon, slat, region):
                return Located(issues=((pair, f"easting {xv:g} and northing {yv:g} look swapped: swap the two columns",
                                        ERROR),))
        return Located(lon, lat)
    why = check_lonlat(xv, yv, region=region)
    if why:
        return Located(issues=((pair, why, ERROR),))
    return Located(xv, yv)


def locate_geometry(geom: object, *, declared: pyproj.CRS | None,
                    region: tuple[float, float, float, float]) -> Located:
    """Locate a feature from its geometry, repairing what is safe to repair and saying so."""
    if geom is None or not isinstance(geom, BaseGeometry) or geom.is_empty:
        return Located()
    notes: list[tuple[str | None, str, str]] = []
    kind = geom.geom_type
    if kind == "MultiPoint":
        if len(geom.geoms) != 1:
            return Located(issues=(("geometry", f"one feature holds {len(geom.geoms)} points; give each place "
                                                "its own feature", ERROR),))
        geom = geom.geoms[0]
        notes.append(("geometry", "a single-point MultiPoint was read as a point", REPAIRED))
    elif kind in ("Polygon", "MultiPolygon"):
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
            notes.append(("geometry", f"the {kind} was invalid ({shapely.is_valid_reason(geom) or 'self-intersecting'});"
                                      " it was repaired", REPAIRED))
        if geom.is_empty or not np.isfinite(shapely.get_coordinates(geom)).all():
            return Located(issues=(("geometry", f"the {kind} has no usable coordinates", ERROR),))
        geom = geom.point_on_surface()
        notes.append(("geometry", f"a {kind} was given; a point inside it is used as the location", REPAIRED))
    elif kind != "Point":
        return Located(issues=(("geometry", f"expected a point (or an area), found a {kind}", ERROR),))
    x, y = float(shapely.get_x(geom)), float(shapely.get_y(geom))
    if not (math.isfinite(x) and math.isfinite(y)):
        return Located(issues=(("geometry", "the coordinates are not finite numbers (NaN or infinity)", ERROR),))
    if abs(x) > HUGE or abs(y) > HUGE:
        return Located(issues=(("geometry", f"({x:g}, {y:g}) is far too large to be a coordinate", ERROR),))
    if declared is not None and not declared.is_geographic:
        if declared.equals(pyproj.CRS.from_epsg(27700)):
            why = check_grid(x, y)
            if why:
                return Located(issues=(("geometry", why, ERROR),))
        lon, lat = _transformer(declared, "EPSG:4326").transform(x, y)
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return Located(issues=(("geometry", f"({x:g}, {y:g}) cannot be placed using the file's CRS "
                                                f"{declared.to_string()}", ERROR),))
        return Located(float(lon), float(lat), tuple(notes))
    why = check_lonlat(x, y, region=region)
    if why:
        return Located(issues=(("geometry", why.replace("put them in columns named easting and northing",
                                                         "declare the file's CRS (EPSG:27700) or export it as WGS84"),
                                ERROR),))
    return Located(x, y, tuple(notes))


def to_metres(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude to British National Grid metres (for distances)."""
    x, y = _TO_METRES.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


# --- columns ------------------------------------------------------------------------------------


def _find(columns: Sequence[str], names: Iterable[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def map_columns(table: RawTable, rules: Rules) -> dict[str, str]:
    """Which column holds what: name, category, key, coordinates, postcode, assured date, identifiers."""
    columns = table.columns
    found: dict[str, str] = {}
    for role, names in (("name", NAME_COLUMNS), ("category", CATEGORY_COLUMNS), ("postcode", POSTCODE_COLUMNS),
                        ("organisation", ORGANISATION_COLUMNS),
                        ("assured", ASSURED_COLUMNS), ("charity_number", CHARITY_COLUMNS),
                        ("company_number", COMPANY_COLUMNS)):
        column = _find(columns, names)
        if column:
            found[role] = column
    key = _find(columns, [rules.key_field.lower()]) if rules.key_field else _find(columns, KEY_COLUMNS)
    if key:
        found["key"] = key
    if table.geometry is None:
        for system, pairs in (("lonlat", LONLAT_PAIRS), ("grid", GRID_PAIRS), ("auto", AUTO_PAIRS)):
            for x_name, y_name in pairs:
                x, y = _find(columns, [x_name]), _find(columns, [y_name])
                if x and y:
                    found.update(x=x, y=y, system=system)
                    break
            if "x" in found:
                break
    return found


def _file_problems(table: RawTable, rules: Rules, mapping: dict[str, str], context: Context) -> list[Problem]:
    problems = []
    if "name" not in mapping:
        problems.append(Problem(f"there is no 'name' column (columns found: {', '.join(table.columns[:20])}); "
                                "add one with the name of each place", column="name"))
    if rules.key_field and "key" not in mapping:
        problems.append(Problem(f"this layer identifies records by the column '{rules.key_field}', which the file "
                                "lacks; add it so that updates match the right records", column=rules.key_field))
    for required in rules.required_fields:
        if _find(table.columns, [required.lower()]) is None:
            problems.append(Problem(f"the layer requires a column '{required}', which the file lacks",
                                    column=required))
    if rules.categories is not None and "category" not in mapping:
        shown = ", ".join(f"'{c}'" for c in rules.categories[:12])
        problems.append(Problem(f"this layer needs a 'category' column; its categories are {shown}",
                                column="category"))
    if table.geometry is None and "x" not in mapping:
        if "postcode" in mapping and context.postcodes is None:
            problems.append(Problem(
                "the file places rows by postcode, but no postcode lookup is loaded, so postcodes cannot be "
                "placed on the map; add longitude and latitude (or easting and northing) columns",
                column=mapping["postcode"]))
        elif "postcode" not in mapping and rules.location_required:
            problems.append(Problem(
                "there are no coordinate columns: add longitude and latitude (decimal degrees) or easting and "
                f"northing (British National Grid metres) (columns found: {', '.join(table.columns[:20])})"))
    return problems


# --- the whole table ----------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _clean_text(value: str, row: int, column: str, issues: list[Issue]) -> str | None:
    """Text kept as given apart from control characters; None (with an error) if too long."""
    if len(value) > MAX_CELL:
        issues.append(Issue(row, column, f"the text is {len(value):,} characters long; the limit is {MAX_CELL:,}"))
        return None
    stripped = strip_control(value)
    if stripped != value:
        issues.append(Issue(row, column, "invisible control characters were removed", REPAIRED))
    if formula_like(stripped):
        issues.append(Issue(row, column, f"starts with '{stripped[:1]}', which spreadsheets run as a formula; "
                                         "kept as text, and exports make it harmless", WARNING))
    elif has_markup(stripped):
        issues.append(Issue(row, column, "contains HTML-like tags; they are kept as typed and always shown as "
                                         "plain text", NOTE))
    return stripped


def _clean_properties(record: dict, skip: set[str], row: int, issues: list[Issue]) -> dict[str, Any] | None:
    cleaned: dict[str, Any] = {}
    ok = True
    for column, value in record.items():
        if column in skip:
            continue
        if isinstance(value, str):
            value = _clean_text(value, row, column, issues)
            ok = ok and value is not None
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, (dict, list)):
            value, changed = deep_clean(value)
            if changed:
                issues.append(Issue(row, column, "invisible control characters were removed", REPAIRED))
            if len(canonical_json(value)) > 20 * MAX_CELL:
                issues.append(Issue(row, column, "the nested data is too large to keep"))
                ok = False
        cleaned[str(column)] = value
    return cleaned if ok else None


@dataclass(frozen=True)
class _Setting:
    """What every row of one table is checked against."""

    table: RawTable
    rules: Rules
    context: Context
    mapping: dict[str, str]
    region: tuple[float, float, float, float]
    postcodes: dict[str, tuple[float, float]]


def _identity(record: dict, row: int, s: _Setting, issues: list[Issue]) -> tuple[str | None, str | None, str | None]:
    """Name, key and category of a row, with their issues."""
    mapping, rules = s.mapping, s.rules
    name = _text(record.get(mapping["name"]))
    if name is None:
        issues.append(Issue(row, mapping["name"], "missing required field 'name': every row needs a name"))
    else:
        name = _clean_text(name, row, mapping["name"], issues)
        if name is not None and len(name) > MAX_LENGTH["name"]:
            issues.append(Issue(row, mapping["name"], f"the name is {len(name)} characters; at most "
                                                      f"{MAX_LENGTH['name']} are allowed"))
    for required in rules.required_fields:
        column = _find(s.table.columns, [required.lower()])
        if column and column != mapping["name"] and _text(record.get(column)) is None:
            issues.append(Issue(row, column, f"missing required field '{required}'"))
    raw_key = _text(record.get(mapping["key"])) if "key" in mapping else None
    if raw_key is not None and (len(raw_key) > MAX_LENGTH["key"] or strip_control(raw_key) != raw_key):
        issues.append(Issue(row, mapping["key"], f"the id must be at most {MAX_LENGTH['key']} printable characters"))
        raw_key = None
    key = raw_key or (f"name:{slug(name)[:90]}" if name else None)
    category = _text(record.get(mapping["category"])) if "category" in mapping else None
    if category is not None:
        category = _clean_text(category, row, mapping["category"], issues)
    if category is not None and rules.categories is not None:
        canonical, suggestion = match_category(category, rules.categories)
        if canonical is None:
            hint = f" Did you mean '{suggestion}'?" if suggestion else ""
            shown = ", ".join(f"'{c}'" for c in rules.categories[:12])
            more = " …" if len(rules.categories) > 12 else ""
            issues.append(Issue(row, mapping["category"], f"unknown category '{category[:60]}'.{hint} "
                                                          f"Categories for this layer: {shown}{more}"))
        elif canonical != category:
            issues.append(Issue(row, mapping["category"], f"category '{category}' read as '{canonical}'", REPAIRED))
            category = canonical
    elif category is not None and len(category) > MAX_LENGTH["category"]:
        issues.append(Issue(row, mapping["category"], f"the category is longer than {MAX_LENGTH['category']} "
                                                      "characters"))
    elif category is None and rules.categories is not None and "category" in mapping:
        issues.append(Issue(row, mapping["category"], "missing category: choose one of the layer's categories"))
    return name, key, category


def _location(record: dict, index: int, row: int, s: _Setting,
              issues: list[Issue]) -> tuple[float | None, float | None, bool | None]:
    """Longitude, latitude and whether inside the authority, with their issues."""
    mapping, table = s.mapping, s.table
    if table.geometry is None and "x" in mapping:
        located = locate_cells(record.get(mapping["x"]), record.get(mapping["y"]), x_name=mapping["x"],
                               y_name=mapping["y"], system=mapping["system"], region=s.region)
    elif table.geometry is not None:
        located = locate_geometry(table.geometry[index], declared=table.crs, region=s.region)
    else:
        located = Located()
    issues += [Issue(row, column, reason, severity) for column, reason, severity in located.issues]
    failed = any(severity == ERROR for _, _, severity in located.issues)
    lon, lat = located.lon, located.lat
    where = mapping.get("x") or "geometry"
    if lon is None and not failed and "postcode" in mapping:
        code = _text(record.get(mapping["postcode"]))
        if code and s.context.postcodes is None:
            issues.append(Issue(row, mapping["postcode"], "no coordinates, and postcodes cannot be placed because no "
                                                          "postcode lookup is loaded: add coordinates"))
            failed = True
        elif code:
            found = s.postcodes.get(re.sub(r"\s+", "", code).upper())
            if found is None:
                issues.append(Issue(row, mapping["postcode"], f"postcode '{code[:12]}' is not in the postcode lookup: "
                                                              "check it or add coordinates"))
                failed = True
            else:
                lon, lat = found
                issues.append(Issue(row, mapping["postcode"], f"placed at the centre of postcode {code}", NOTE))
    if lon is None and s.rules.location_required and not failed:
        issues.append(Issue(row, where, "no location: this layer needs coordinates for every row"))
    inside = None
    if lon is not None and s.context.authority is not None:
        inside = bool(shapely.intersects_xy(s.context.authority, lon, lat))
        if not inside:
            issues.append(Issue(row, where, f"({lon:.5f}, {lat:.5f}) is outside the council's area: kept and flagged; "
                                            "check the coordinates if the place is inside it", WARNING))
    return lon, lat, inside


def _dates_and_numbers(record: dict, row: int, s: _Setting,
                       issues: list[Issue]) -> tuple[datetime | None, dict[str, str]]:
    """The last-assured date and the charity and company numbers of a row."""
    assured = None
    if "assured" in s.mapping:
        assured, why = parse_assured(record.get(s.mapping["assured"]), today=s.context.today)
        if why:
            issues.append(Issue(row, s.mapping["assured"], why))
    identifiers = {}
    for kind in ("charity_number", "company_number"):
        if kind in s.mapping:
            value = normalise_identifier(record.get(s.mapping[kind]))
            if value:
                identifiers[kind] = value
                if not identifier_format_ok(kind, value):
                    issues.append(Issue(row, s.mapping[kind], f"'{value[:20]}' does not look like a "
                                                              f"{kind.replace('_', ' ')}; check it", WARNING))
    return assured, identifiers


def check_table(table: RawTable, rules: Rules, context: Context, *, source: str = "upload") -> CheckResult:
    """Check every row of ``table`` against ``rules`` and ``context``.

    Raises LoadError when the file as a whole cannot be used (no name column, no
    way to place rows); otherwise returns the rows that pass and every issue.
    """
    mapping = map_columns(table, rules)
    problems = _file_problems(table, rules, mapping, context)
    if problems:
        raise LoadError(source, problems)
    if context.authority is not None:
        shapely.prepare(context.authority)
    setting = _Setting(table, rules, context, mapping, region_of(context.authority),
                       {re.sub(r"\s+", "", k).upper(): v for k, v in (context.postcodes or {}).items()})
    issues = [Issue(p.row, p.column, p.reason, ERROR) for p in table.problems]
    bad_rows = {p.row for p in table.problems if p.row is not None}
    skip = {mapping[k] for k in ("x", "y", "assured", "name", "category", "key") if k in mapping}
    skip |= {c for c in table.columns if c.strip().lower() in EXPORT_ONLY}
    candidates: list[Candidate] = []
    keys_by_row: dict[int, str] = {}
    for index, record in enumerate(table.records):
        row = index + 1
        found: list[Issue] = []
        name, key, category = _identity(record, row, setting, found)
        lon, lat, inside = _location(record, index, row, setting, found)
        assured, identifiers = _dates_and_numbers(record, row, setting, found)
        properties = _clean_properties(record, skip, row, found)
        issues += found
        if key:
            keys_by_row[row] = key
        if row in bad_rows or properties is None or any(i.severity == ERROR for i in found):
            continue
        organisation = _text(record.get(mapping["organisation"])) if "organisation" in mapping else None
        candidates.append(Candidate(row, key, name, category, properties, lon, lat, inside, assured, identifiers,
                                    organisation or name))
    issues += _duplicate_issues(candidates, keys_by_row, mapping, rules, context)
    rejected = sorted({i.row for i in issues if i.severity == ERROR and i.row is not None})
    kept = [c for c in candidates if c.row not in set(rejected)]
    protected = {keys_by_row[r] for r in rejected if r in keys_by_row}
    issues.sort(key=lambda i: (i.row or 0, i.column or ""))
    return CheckResult(len(table.records), kept, issues, rejected, protected, mapping)


def _folded(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _duplicate_issues(candidates: list[Candidate], keys_by_row: dict[int, str], mapping: dict[str, str],
                      rules: Rules, context: Context) -> list[Issue]:
    issues: list[Issue] = []
    first_row: dict[str, int] = {}
    for row, key in sorted(keys_by_row.items()):
        if key in first_row:
            column = mapping.get("key", mapping["name"])
            what = "id" if "key" in mapping and not key.startswith("name:") else "name (and no id)"
            issues.append(Issue(row, column, f"the same {what} as row {first_row[key]}: each record must appear "
                                             "once; give them different ids or remove one"))
        else:
            first_row[key] = row
    if rules.unique_identifiers:
        seen: dict[tuple[str, str], tuple[int, str]] = {}
        owners = {}
        for record in context.existing:
            for kind, value in record.identifiers.items():
                owners.setdefault((kind, value), []).append(record)
        for candidate in candidates:
            who = _folded(candidate.organisation)
            for kind, value in candidate.identifiers.items():
                label = kind.replace("_", " ")
                first = seen.get((kind, value))
                if first is not None and first[1] != who:
                    issues.append(Issue(candidate.row, mapping[kind], f"{label} {value} is also on row {first[0]} "
                                                                      "under another name: is this a duplicate?"))
                    continue
                seen.setdefault((kind, value), (candidate.row, who))
                clash = [r for r in owners.get((kind, value), [])
                         if not (r.in_scope and r.key == candidate.key) and _folded(r.organisation or r.name) != who]
                if clash:
                    issues.append(Issue(candidate.row, mapping[kind], f"{label} {value} already belongs to the record "
                                                                      f"'{clash[0].name}' (id {clash[0].key}): if it "
                                                                      "is the same organisation, use that id"))
    placed = [c for c in candidates if c.lon is not None]
    others = [e for e in context.existing if e.lon is not None]
    if not placed or rules.duplicate_metres <= 0:
        return issues
    px, py = to_metres(np.array([c.lon for c in placed]), np.array([c.lat for c in placed]))
    points = shapely.points(px, py)
    tree = shapely.STRtree(points)
    left, right = tree.query(points, predicate="dwithin", distance=rules.duplicate_metres)
    for i, j in zip(left.tolist(), right.tolist()):
        if j < i:
            metres = float(np.hypot(px[i] - px[j], py[i] - py[j]))
            issues.append(Issue(placed[i].row, mapping.get("x") or "geometry",
                                f"within {metres:.0f} m of row {placed[j].row} ('{placed[j].name}'): "
                                "check it is not the same place twice", WARNING))
    if others:
        ex, ey = to_metres(np.array([e.lon for e in others]), np.array([e.lat for e in others]))
        existing_tree = shapely.STRtree(shapely.points(ex, ey))
        uploaded = {c.key for c in candidates}
        left, right = existing_tree.query(points, predicate="dwithin", distance=rules.duplicate_metres)
        for i, j in zip(left.tolist(), right.tolist()):
            other = others[j]
            if other.in_scope and other.key in uploaded:
                continue
            metres = float(np.hypot(px[i] - ex[j], py[i] - ey[j]))
            issues.append(Issue(placed[i].row, mapping.get("x") or "geometry",
                                f"within {metres:.0f} m of the existing record '{other.name}' (id {other.key}): "
                                "if it is the same place, use that id instead of adding a second record", WARNING))
    return issues


def canonical_json(value: Any) -> str:
    """A stable text form of JSON-like data, for comparing properties."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
