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

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from insight.errors import LoadError, Problem
from insight.partner.choices import asset_kind_issues
from insight.partner.coordinates import (
    BNG_RANGE,
    GB_REGION,
    HUGE,
    Located,
    check_grid,
    check_lonlat,
    grid_to_lonlat,
    locate_cells,
    locate_geometry,
    parse_coordinate,
    region_of,
    to_metres,
)
from insight.partner.tables import RawTable
from insight.partner.value_checks import (
    ERROR,
    FORMULA_START,
    MAX_CELL,
    NOTE,
    REPAIRED,
    WARNING,
    Issue,
    canonical_json,
    deep_clean,
    formula_like,
    has_markup,
    identifier_format_ok,
    match_category,
    neutralise_formula,
    normalise_identifier,
    parse_assured,
    strip_control,
)
from insight.sources.base import slug

__all__ = [
    "BNG_RANGE", "CHARITY_COLUMNS", "COMPANY_COLUMNS", "ERROR", "FORMULA_START", "GB_REGION", "HUGE", "MAX_CELL",
    "MAX_LENGTH", "NOTE", "ORGANISATION_COLUMNS", "REPAIRED", "WARNING", "Candidate", "CheckResult", "Context",
    "ExistingRecord", "Issue", "Located", "Rules", "canonical_json", "check_grid", "check_lonlat", "check_table",
    "deep_clean", "formula_like", "grid_to_lonlat", "has_markup", "identifier_format_ok", "locate_cells",
    "locate_geometry", "map_columns", "match_category", "neutralise_formula", "normalise_identifier",
    "parse_assured", "parse_coordinate", "region_of", "strip_control", "to_metres",
]

MAX_LENGTH = {"name": 300, "category": 100, "key": 100}
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
        """The issues that stop a row from loading."""
        return [i for i in self.issues if i.severity == ERROR]



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


def _clean_properties(record: dict[str, Any], skip: set[str], row: int,
                      issues: list[Issue]) -> dict[str, Any] | None:
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


def _identity(record: dict[str, Any], row: int, s: _Setting,
              issues: list[Issue]) -> tuple[str | None, str | None, str | None]:
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


def _location(record: dict[str, Any], index: int, row: int, s: _Setting,
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
    if lon is not None and lat is not None and s.context.authority is not None:
        inside = bool(shapely.intersects_xy(s.context.authority, lon, lat))
        if not inside:
            issues.append(Issue(row, where, f"({lon:.5f}, {lat:.5f}) is outside the council's area: kept and flagged; "
                                            "check the coordinates if the place is inside it", WARNING))
    return lon, lat, inside


def _dates_and_numbers(record: dict[str, Any], row: int, s: _Setting,
                       issues: list[Issue]) -> tuple[datetime | None, dict[str, str]]:
    """The last-assured date and the charity and company numbers of a row."""
    assured = None
    if "assured" in s.mapping:
        assured, why = parse_assured(record.get(s.mapping["assured"]), today=s.context.today)
        if why:
            issues.append(Issue(row, s.mapping["assured"], why))
    identifiers: dict[str, str] = {}
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
        if properties is not None:
            found += asset_kind_issues(properties, row)
        issues += found
        if key:
            keys_by_row[row] = key
        if key is None or row in bad_rows or properties is None or any(i.severity == ERROR for i in found):
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


def _repeated_keys(keys_by_row: dict[int, str], mapping: dict[str, str]) -> list[Issue]:
    """Rows that repeat an earlier row's id (or, without ids, its name)."""
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
    return issues


def _shared_identifiers(candidates: list[Candidate], mapping: dict[str, str], context: Context) -> list[Issue]:
    """Charity or company numbers given to another organisation, in the file or among the existing records."""
    issues: list[Issue] = []
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    owners: dict[tuple[str, str], list[ExistingRecord]] = {}
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
    return issues


def _metres(lon: list[float | None], lat: list[float | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """British National Grid x and y of points, and the points themselves."""
    x, y = to_metres(np.array(lon, dtype=float), np.array(lat, dtype=float))
    return x, y, np.asarray(shapely.points(x, y), dtype=object)


def _nearby(candidates: list[Candidate], mapping: dict[str, str], rules: Rules, context: Context) -> list[Issue]:
    """Warnings for rows within the layer's duplicate distance of another row or of an existing record."""
    issues: list[Issue] = []
    placed = [c for c in candidates if c.lon is not None]
    others = [e for e in context.existing if e.lon is not None]
    if not placed or rules.duplicate_metres <= 0:
        return issues
    column = mapping.get("x") or "geometry"
    px, py, points = _metres([c.lon for c in placed], [c.lat for c in placed])
    left, right = shapely.STRtree(points).query(points, predicate="dwithin", distance=rules.duplicate_metres)
    for i, j in zip(left.tolist(), right.tolist()):
        if j < i:
            metres = float(np.hypot(px[i] - px[j], py[i] - py[j]))
            issues.append(Issue(placed[i].row, column, f"within {metres:.0f} m of row {placed[j].row} "
                                                       f"('{placed[j].name}'): check it is not the same place twice",
                                WARNING))
    if not others:
        return issues
    ex, ey, existing = _metres([e.lon for e in others], [e.lat for e in others])
    uploaded = {c.key for c in candidates}
    left, right = shapely.STRtree(existing).query(points, predicate="dwithin", distance=rules.duplicate_metres)
    for i, j in zip(left.tolist(), right.tolist()):
        other = others[j]
        if other.in_scope and other.key in uploaded:
            continue
        metres = float(np.hypot(px[i] - ex[j], py[i] - ey[j]))
        issues.append(Issue(placed[i].row, column, f"within {metres:.0f} m of the existing record '{other.name}' "
                                                   f"(id {other.key}): if it is the same place, use that id instead "
                                                   "of adding a second record", WARNING))
    return issues


def _duplicate_issues(candidates: list[Candidate], keys_by_row: dict[int, str], mapping: dict[str, str],
                      rules: Rules, context: Context) -> list[Issue]:
    """Repeated ids or names, shared charity or company numbers, and places that look the same."""
    issues = _repeated_keys(keys_by_row, mapping)
    if rules.unique_identifiers:
        issues += _shared_identifiers(candidates, mapping, context)
    return issues + _nearby(candidates, mapping, rules, context)
