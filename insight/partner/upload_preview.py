"""What an asset upload would change: the rows that passed compared with the layer, and how they are kept.

:func:`diff_records` compares the rows that passed with the current records in the
upload's scope (added, changed, unchanged, removed, kept). :class:`CheckedRows` is
everything a commit needs from a check, as JSON, so a staged upload is committed
from it without reading or checking the file again.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from insight.errors import ConfigError
from insight.partner.record_checks import (
    CHARITY_COLUMNS,
    COMPANY_COLUMNS,
    ORGANISATION_COLUMNS,
    Candidate,
    ExistingRecord,
)
from insight.partner.versions import Change, RecordState, differences

ORDER = {"added": 0, "changed": 1, "removed": 2, "kept": 3, "unchanged": 4}


@dataclass(frozen=True)
class PreviewRow:
    """One line of the preview: what will happen to a record and why."""

    status: str
    key: str
    name: str | None
    category: str | None
    row: int | None = None
    fields: tuple[str, ...] = ()
    lon: float | None = None
    lat: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The line as JSON-safe values."""
        return {"status": self.status, "key": self.key, "name": self.name, "category": self.category,
                "row": self.row, "fields": list(self.fields), "lon": self.lon, "lat": self.lat}


@dataclass
class Preview:
    """What a commit would do, compared with the current version."""

    changes: list[Change]
    rows: list[PreviewRow]
    counts: dict[str, int]


def in_scope(state: RecordState, *, scope: int | None, whole_layer: bool) -> bool:
    """True if an upload scoped to organisation ``scope`` (or the whole layer) may replace ``state``."""
    return whole_layer or state.owner_org_id == scope


def _by_key(current: list[RecordState]) -> dict[str, RecordState]:
    by_key: dict[str, RecordState] = {}
    for state in current:
        if state.key in by_key:
            raise ConfigError(f"several current records share the id '{state.key}' (they belong to different "
                              "organisations): upload on behalf of one organisation")
        by_key[state.key] = state
    return by_key


def _compare(c: Candidate, before: RecordState | None, owner_org_id: int | None,
             now: datetime) -> tuple[str, tuple[str, ...], Change | None]:
    owner = before.owner_org_id if before is not None else owner_org_id
    after = RecordState(c.key, owner, c.name, c.category, c.properties, c.lon, c.lat, c.inside_authority,
                        now, c.last_assured or now, before.feature_id if before else None)
    if before is None:
        return "added", (), Change("added", None, after)
    fields = differences(before, after)
    if fields:
        return "changed", fields, Change("changed", before, after, fields)
    newer = c.last_assured is not None and (before.last_assured is None or c.last_assured > before.last_assured)
    return "unchanged", (), Change("assured", before, replace(before, last_assured=c.last_assured)) if newer else None


def diff_records(
    current: list[RecordState],
    candidates: list[Candidate],
    *,
    protected_keys: set[str] | frozenset[str],
    owner_org_id: int | None,
    now: datetime,
) -> Preview:
    """Compare the rows that passed with the current records in the upload's scope (pure).

    Records whose row had errors (``protected_keys``) are kept unchanged; records
    absent from the file are removed (they keep their history, marked deleted).
    """
    by_key = _by_key(current)
    changes: list[Change] = []
    rows: list[PreviewRow] = []
    counts = {"added": 0, "changed": 0, "unchanged": 0, "removed": 0, "kept": 0}
    for c in candidates:
        status, fields, change = _compare(c, by_key.get(c.key), owner_org_id, now)
        if change is not None:
            changes.append(change)
        counts[status] += 1
        rows.append(PreviewRow(status, c.key, c.name, c.category, c.row, fields, c.lon, c.lat))
    seen = {c.key for c in candidates}
    for key, state in by_key.items():
        if key in seen:
            continue
        status = "kept" if key in protected_keys else "removed"
        if status == "removed":
            changes.append(Change("removed", state, None))
        counts[status] += 1
        rows.append(PreviewRow(status, key, state.name, state.category, None, (), state.lon, state.lat))
    rows.sort(key=lambda r: (ORDER[r.status], r.row or 0, r.key))
    return Preview(changes, rows, counts)


def existing_records(states: list[RecordState], scope: int | None, whole_layer: bool) -> tuple[ExistingRecord, ...]:
    """The current records as the duplicate checks see them, marked in or out of the upload's scope."""
    out = []
    for s in states:
        identifiers = {kind: str(s.properties[c]).replace(" ", "").upper()
                       for kind, columns in (("charity_number", CHARITY_COLUMNS), ("company_number", COMPANY_COLUMNS))
                       for c in columns if s.properties.get(c) not in (None, "")}
        organisation = next((s.properties[c] for c in ORGANISATION_COLUMNS if s.properties.get(c)), None)
        out.append(ExistingRecord(s.key, s.name, s.lon, s.lat, identifiers,
                                  in_scope(s, scope=scope, whole_layer=whole_layer),
                                  str(organisation) if organisation else None))
    return tuple(out)


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return asdict(c) | {"last_assured": c.last_assured.isoformat() if c.last_assured else None}


def _candidate(values: dict[str, Any]) -> Candidate:
    when = values.get("last_assured")
    return Candidate(**(values | {"last_assured": datetime.fromisoformat(when) if when else None}))


@dataclass(frozen=True)
class CheckedRows:
    """Everything committing a checked asset file needs, so the file is never read or checked again.

    ``state`` is the layer's state when it was checked: a commit is refused if the
    layer changed since. ``org_id`` and ``whole_layer`` are the upload's scope.
    """

    layer: str
    layer_exists: bool
    filename: str
    sha256: str
    state: str
    org_id: int | None
    whole_layer: bool
    rows_read: int
    rejected_rows: tuple[int, ...]
    protected_keys: frozenset[str]
    candidates: tuple[Candidate, ...]
    removed: int

    @property
    def committable(self) -> bool:
        """True if committing would change something: a row passed, or records would be removed."""
        return bool(self.candidates) or bool(self.removed)

    def as_json(self) -> dict[str, Any]:
        """The rows as JSON-safe values, to keep with a staged upload."""
        return {
            "layer": self.layer, "layer_exists": self.layer_exists, "filename": self.filename,
            "sha256": self.sha256, "state": self.state, "org_id": self.org_id, "whole_layer": self.whole_layer,
            "rows_read": self.rows_read, "rejected_rows": list(self.rejected_rows),
            "protected_keys": sorted(self.protected_keys), "removed": self.removed,
            "candidates": [_candidate_json(c) for c in self.candidates],
        }

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> CheckedRows:
        """The rows kept by :meth:`as_json`."""
        return cls(
            values["layer"], values["layer_exists"], values["filename"], values["sha256"], values["state"],
            values["org_id"], values["whole_layer"], values["rows_read"], tuple(values["rejected_rows"]),
            frozenset(values["protected_keys"]), tuple(_candidate(c) for c in values["candidates"]),
            values["removed"],
        )
