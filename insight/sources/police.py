"""data.police.uk street-level crime: the ``police-api`` and ``police-bulk`` loaders.

Both map crime categories onto one vocabulary, :data:`POLICE_CATEGORIES`,
keyed by the API slug with the bulk CSV label as value. Values used before
May 2013 are mapped too (:data:`LEGACY_CATEGORIES`); the original value is kept
in ``properties["source_category"]`` and the load notes how many rows were
mapped. "Public disorder and weapons" became two categories in May 2013; it is
mapped to ``public-order``, so those months' public order counts include
weapons possession.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from insight.errors import ConfigError, Problem
from insight.sources.base import (
    Loaded,
    blank_to_none,
    check_months,
    decode_text,
    fail,
    json_records,
    json_text_records,
    json_value,
    missing_columns,
    none_where,
    raise_if,
    read_bytes,
    read_csv_text,
    register,
    register_text_reader,
    snake,
)
from insight.sources.geo import WGS84
from insight.sources.points import coordinate_points, missing_note, points_frame
from insight.sources.stream import StreamReader, register_stream_reader

POLICE_CATEGORIES: dict[str, str] = {
    "anti-social-behaviour": "Anti-social behaviour",
    "bicycle-theft": "Bicycle theft",
    "burglary": "Burglary",
    "criminal-damage-arson": "Criminal damage and arson",
    "drugs": "Drugs",
    "other-theft": "Other theft",
    "possession-of-weapons": "Possession of weapons",
    "public-order": "Public order",
    "robbery": "Robbery",
    "shoplifting": "Shoplifting",
    "theft-from-the-person": "Theft from the person",
    "vehicle-crime": "Vehicle crime",
    "violent-crime": "Violence and sexual offences",
    "other-crime": "Other crime",
}

LEGACY_CATEGORIES: dict[str, str] = {
    "public-disorder-weapons": "public-order",
    "Public disorder and weapons": "public-order",
    "Violent crime": "violent-crime",
    "violence-and-sexual-offences": "violent-crime",
}

API_COLUMNS = [
    "id", "persistent_id", "month", "category", "location_type", "location_subtype", "latitude",
    "longitude", "street_id", "street_name", "context", "outcome_category", "outcome_date",
]
BULK_COLUMNS = [
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
    "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
]
_BULK_PROPERTIES = {
    "Reported by": "reported_by",
    "Falls within": "falls_within",
    "LSOA code": "lsoa_code",
    "LSOA name": "lsoa_name",
    "Last outcome category": "last_outcome_category",
    "Context": "context",
}


def _key(value: str) -> str:
    return " ".join(value.split()).casefold()


_CATEGORY_KEYS: dict[str, str] = {
    **{_key(slug): slug for slug in POLICE_CATEGORIES},
    **{_key(label): slug for slug, label in POLICE_CATEGORIES.items()},
    **{_key(value): slug for value, slug in LEGACY_CATEGORIES.items()},
}
_LEGACY_KEYS = frozenset(_key(v) for v in LEGACY_CATEGORIES)


def canonical_category(value: str) -> str:
    """The API slug for a police.uk category given as a slug, a bulk label or a legacy value.

    Matching ignores case and repeated spaces. Raises ConfigError (a ValueError) for anything else.
    """
    slug = _CATEGORY_KEYS.get(_key(value)) if isinstance(value, str) else None
    if slug is None:
        raise ConfigError(f"unknown crime category {value!r}; {_CATEGORY_HINT}")
    return slug


_CATEGORY_HINT = "expected a data.police.uk category such as 'burglary' or 'Violence and sexual offences'"


def _categories(values: pd.Series, column: str) -> tuple[np.ndarray, list[Problem], dict[str, int]]:
    """Map a category column; returns slugs, problems and counts of legacy values seen."""
    lookup = {v: _CATEGORY_KEYS.get(_key(v)) for v in pd.unique(values)}
    mapped = values.map(lookup)
    slugs = none_where(mapped.isna().to_numpy(), mapped.to_numpy(dtype=object))
    problems = [
        Problem("category is blank" if not str(v).strip() else f"unknown crime category {v!r}; {_CATEGORY_HINT}",
                int(i) + 1, column)
        for i, v in zip(np.flatnonzero(pd.isna(slugs)), values.to_numpy()[pd.isna(slugs)])
    ]
    legacy_values = [v for v in lookup if _key(v) in _LEGACY_KEYS]
    legacy = {str(v): int(n) for v, n in values[values.isin(legacy_values)].value_counts().items()}
    return slugs, problems, legacy


def _legacy_notes(legacy: dict[str, int]) -> list[str]:
    return [f"{n} row(s) with legacy category {value!r} mapped to '{_CATEGORY_KEYS[_key(value)]}'"
            for value, n in legacy.items()]


def _mark_legacy(properties: list[dict[str, Any]], raw: pd.Series, legacy: dict[str, int]) -> None:
    if legacy:
        for i in np.flatnonzero(raw.isin(list(legacy)).to_numpy()):
            properties[i]["source_category"] = raw.iloc[i]


@register("police-api")
def load_police_api(path: Path) -> Loaded:
    """Load data.police.uk ``crimes-street`` API records (no options).

    ``source_id`` is the API's ``id``, which must be unique (a repeat means
    the same crime was fetched twice and would be counted twice); ``name`` is
    the street name; other fields go into ``properties``. Records without a
    location are kept with a null geometry.

    Parameters
    ----------
    path
        The flattened CSV (``latitude``, ``longitude``, ``street_name``…), the
        raw API CSV whose ``location`` and ``outcome_status`` cells are
        Python-dict text, or the API's JSON array; any of them may be gzipped.
    """
    data = read_bytes(path)
    if data.lstrip()[:1] in (b"[", b"{"):
        flat, labels, problems = _api_json(path, data)
    else:
        frame = read_csv_text(path, data=data)
        if "location" in frame.columns and "latitude" not in frame.columns:
            flat, labels, problems = _api_raw_csv(path, frame)
        else:
            raise_if(path, missing_columns(list(frame.columns), ["id", "month", "category", "latitude", "longitude"]))
            flat, labels, problems = frame, {c: c for c in frame.columns}, []
    for column in API_COLUMNS:
        if column not in flat.columns:
            flat[column] = ""
            labels.setdefault(column, column)
    notes: list[str] = []
    ids = blank_to_none(flat["id"])
    problems += _duplicate_ids(ids, labels["id"])
    if pd.isna(ids).any():
        notes.append(f"{int(pd.isna(ids).sum())} record(s) have no id")
    month, month_problems = check_months(flat["month"], labels["month"], required=True)
    category, category_problems, legacy = _categories(flat["category"].str.strip(), labels["category"])
    geometry, missing, coordinate_problems = coordinate_points(
        flat["longitude"], flat["latitude"], x_name=labels["longitude"], y_name=labels["latitude"], crs=WGS84
    )
    problems += month_problems + category_problems + coordinate_problems
    raise_if(path, sorted(problems, key=lambda p: p.row or 0))
    used = {"id", "month", "category", "latitude", "longitude", "street_name"}
    rest = flat[[c for c in flat.columns if c not in used]]
    properties = json_records(rest)
    _mark_legacy(properties, flat["category"].str.strip(), legacy)
    result = points_frame(
        source_id=ids, name=blank_to_none(flat["street_name"]), category=category, month=month,
        properties=properties, geometry=geometry,
    )
    return Loaded(frame=result, kind="points", rows_read=len(flat),
                  notes=notes + _legacy_notes(legacy) + missing_note(missing))


def _duplicate_ids(ids: np.ndarray, column: str) -> list[Problem]:
    series = pd.Series(ids, dtype=object)
    repeated = series.notna() & series.duplicated(keep="first")
    if not repeated.any():
        return []
    first = pd.Series(np.arange(1, len(series) + 1)).groupby(series.to_numpy()).transform("min")
    return [Problem(f"id {series.iloc[i]} repeats row {int(first.iloc[i])} (the same crime fetched twice?)",
                    int(i) + 1, column) for i in np.flatnonzero(repeated.to_numpy())]


def _api_raw_csv(path: Path, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], list[Problem]]:
    """Flatten the raw API CSV, whose ``location``/``outcome_status`` cells are dict text."""
    raise_if(path, missing_columns(list(frame.columns), ["id", "month", "category", "location"]))
    problems: list[Problem] = []
    locations = _literal_dicts(frame["location"], "location", problems)
    outcomes: list[dict[str, Any] | None] = (_literal_dicts(frame["outcome_status"], "outcome_status", problems)
                if "outcome_status" in frame.columns else [None] * len(frame))
    flat = frame.drop(columns=[c for c in ("location", "outcome_status") if c in frame.columns]).copy()
    flat = flat.assign(**_flatten(locations, outcomes, problems, "location"))
    labels = {c: c for c in flat.columns}
    labels.update(dict.fromkeys(("latitude", "longitude", "street_id", "street_name"), "location"))
    labels.update(dict.fromkeys(("outcome_category", "outcome_date"), "outcome_status"))
    return flat, labels, problems


def _literal_dicts(values: pd.Series, column: str, problems: list[Problem]) -> list[dict[str, Any] | None]:
    """Parse Python-dict text safely (``ast.literal_eval``, never ``eval``)."""
    out: list[dict[str, Any] | None] = []
    for row, text in enumerate(values, start=1):
        text = text.strip()
        if text in ("", "None", "nan", "null"):
            out.append(None)
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if not isinstance(value, dict):
            problems.append(Problem(f"not a readable dict: {text[:80]!r}", row, column))
        out.append(value if isinstance(value, dict) else None)
    return out


def _flatten(locations: list[dict[str, Any] | None], outcomes: list[dict[str, Any] | None], problems: list[Problem],
             location_label: str) -> dict[str, list[str]]:
    """Split API ``location`` and ``outcome_status`` objects into text columns."""
    columns: dict[str, list[str]] = {c: [] for c in
                                     ("latitude", "longitude", "street_id", "street_name", "outcome_category",
                                      "outcome_date")}
    for row, (location, outcome) in enumerate(zip(locations, outcomes), start=1):
        location = location or {}
        street = location.get("street") or {}
        if not isinstance(street, dict):
            problems.append(Problem("'street' is not an object", row, location_label))
            street = {}
        outcome = outcome if isinstance(outcome, dict) else {}
        for name, value in (("latitude", location.get("latitude")), ("longitude", location.get("longitude")),
                            ("street_id", street.get("id")), ("street_name", street.get("name")),
                            ("outcome_category", outcome.get("category")), ("outcome_date", outcome.get("date"))):
            columns[name].append("" if value is None else str(value))
    return columns


def _api_json(path: Path, data: bytes) -> tuple[pd.DataFrame, dict[str, str], list[Problem]]:
    """Flatten a JSON array of API crime objects."""
    text = decode_text(path, data, "utf-8", what="JSON")
    try:
        doc = json.loads(text, parse_constant=lambda _: None)
    except json.JSONDecodeError as err:
        fail(path, [Problem(f"not valid JSON (is the file truncated?): {err.msg} at line {err.lineno}, "
                            f"column {err.colno}")])
    if not isinstance(doc, list):
        fail(path, [Problem("expected a JSON array of crime records (the API's response), found an object")])
    if not doc:
        fail(path, [Problem("the JSON array is empty: no data rows")])
    problems: list[Problem] = []
    rows: list[dict[str, str]] = []
    locations: list[dict[str, Any] | None] = []
    outcomes: list[dict[str, Any] | None] = []
    for row, item in enumerate(doc, start=1):
        if not isinstance(item, dict):
            problems.append(Problem("not a JSON object", row))
            item = {}
        location = item.get("location")
        if location is not None and not isinstance(location, dict):
            problems.append(Problem("'location' is not an object", row, "location"))
            location = None
        locations.append(location)
        outcomes.append(item.get("outcome_status") if isinstance(item.get("outcome_status"), dict) else None)
        rows.append({k: _text(v) for k, v in item.items() if k not in ("location", "outcome_status")})
    flat = pd.DataFrame(rows, dtype=object).fillna("")
    for column in ("id", "month", "category"):
        if column not in flat.columns:
            problems.append(Problem(f"no record has the required field '{column}'", column=column))
    flat = flat.assign(**_flatten(locations, outcomes, problems, "location"))
    labels = {c: c for c in flat.columns}
    labels.update({"latitude": "location.latitude", "longitude": "location.longitude",
                   "street_id": "location.street.id", "street_name": "location.street.name"})
    raise_if(path, [p for p in problems if p.row is None])
    return flat.astype(str), labels, problems


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(json_value(value))
    return str(value)


@register("police-bulk")
def load_police_bulk(path: Path) -> Loaded:
    """Load a data.police.uk bulk "street" CSV (``Crime ID, Month, … Context``; no options).

    ``source_id`` is the Crime ID (None where blank, as for anti-social
    behaviour); ``name`` is the Location; other columns go into ``properties``
    under snake_case keys. Rows without coordinates are kept with a null
    geometry. Repeated Crime IDs are kept and counted: police.uk lists some
    crimes more than once.
    """
    return _bulk(path, as_text=False)


@register_text_reader("police-bulk")
def read_police_bulk(path: Path) -> Loaded:
    """:func:`load_police_bulk` for ingest: the same rows and checks, ``properties`` as JSON text."""
    return _bulk(path, as_text=True)


def _bulk(path: Path, *, as_text: bool) -> Loaded:
    frame = read_csv_text(path, required=BULK_COLUMNS)
    checked = check_bulk(frame, as_text=as_text)
    if checked.frame is None:
        fail(path, checked.problems)
    tally = BulkTally()
    tally.add(checked)
    return Loaded(frame=checked.frame, kind="points", rows_read=len(frame), notes=tally.notes())


@dataclass
class CheckedBulk:
    """One frame of bulk rows checked: the points (None when there are problems), the problems
    (rows numbered from 1 within the frame, sorted), and what the load's notes count."""

    frame: gpd.GeoDataFrame | None
    problems: list[Problem]
    ids: np.ndarray
    legacy: dict[str, int]
    missing: int


def check_bulk(frame: pd.DataFrame, *, as_text: bool) -> CheckedBulk:
    """Check and convert a frame of bulk CSV text (all or part of a file) as :func:`load_police_bulk` does."""
    ids = blank_to_none(frame["Crime ID"])
    month, problems = check_months(frame["Month"], "Month", required=True)
    raw_category = frame["Crime type"].str.strip()
    category, category_problems, legacy = _categories(raw_category, "Crime type")
    geometry, missing, coordinate_problems = coordinate_points(
        frame["Longitude"], frame["Latitude"], x_name="Longitude", y_name="Latitude", crs=WGS84
    )
    problems += category_problems + coordinate_problems
    if problems:
        return CheckedBulk(None, sorted(problems, key=lambda p: p.row or 0), ids, legacy, int(missing.sum()))
    used = {"Crime ID", "Month", "Crime type", "Longitude", "Latitude", "Location"}
    rest = [c for c in frame.columns if c not in used]
    keys = [_BULK_PROPERTIES.get(c, snake(c)) for c in rest]
    text = None
    if as_text:
        source = none_where(~raw_category.isin(list(legacy)).to_numpy(), raw_category.to_numpy(dtype=object))
        text = json_text_records(frame[rest], keys=keys, extra=("source_category", source))
        properties: list[dict[str, Any]] = [{}] * len(frame)
    else:
        properties = json_records(frame[rest], keys=keys)
        _mark_legacy(properties, raw_category, legacy)
    result = points_frame(
        source_id=ids, name=blank_to_none(frame["Location"]), category=category, month=month,
        properties=properties, geometry=geometry,
    )
    if text is not None:
        result["properties"] = text
    return CheckedBulk(result, [], ids, legacy, int(missing.sum()))


class BulkTally:
    """The notes of a bulk load, counted over the frames of a file checked one after another.

    Repeated Crime IDs are found across the whole file from a 64-bit hash of each ID
    (8 bytes a row instead of the text).
    """

    def __init__(self) -> None:
        """An empty tally."""
        self.blank_ids = 0
        self.hashes: list[np.ndarray] = []
        self.legacy: dict[str, tuple[int, int]] = {}
        self.missing = 0
        self.rows = 0

    def add(self, checked: CheckedBulk) -> None:
        """Count one checked frame, the next in the file."""
        present = pd.notna(checked.ids)
        self.blank_ids += int((~present).sum())
        self.hashes.append(pd.util.hash_array(np.asarray(checked.ids[present], dtype=object)))
        for order, (value, n) in enumerate(checked.legacy.items()):
            count, first = self.legacy.get(value, (0, self.rows + order))
            self.legacy[value] = (count + n, first)
        self.missing += checked.missing
        self.rows += len(checked.ids)

    def notes(self) -> list[str]:
        """The load's notes, worded as for a whole file read at once."""
        legacy = dict(sorted(((v, n) for v, (n, _) in self.legacy.items()),
                             key=lambda item: (-item[1], self.legacy[item[0]][1])))
        hashes = pd.Series(np.concatenate(self.hashes) if self.hashes else np.array([], dtype=np.uint64))
        return (_bulk_notes(self.blank_ids, int(hashes.duplicated(keep=False).sum()), int(hashes.nunique()))
                + _legacy_notes(legacy) + (missing_note(np.ones(self.missing, dtype=bool)) if self.missing else []))


def _bulk_notes(blank_ids: int, repeated: int, distinct: int) -> list[str]:
    notes = []
    if blank_ids:
        notes.append(f"{blank_ids} row(s) have no Crime ID (police.uk leaves it blank for anti-social behaviour "
                     "and some early months)")
    if repeated:
        notes.append(f"{repeated} row(s) share a Crime ID with another row ({distinct} distinct IDs); "
                     "all are kept")
    return notes


register_stream_reader("police-bulk", StreamReader(
    required=tuple(BULK_COLUMNS), check=lambda frame: check_bulk(frame, as_text=True), tally=BulkTally,
))
