"""The current records of an asset layer: reading them, comparing two states, viewing, staleness and CSV export.

A layer loaded from a file has no record keys until its first partner version;
:func:`current_records` gives such records the keys that version will give them.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from insight.errors import NotFoundError
from insight.partner import audit
from insight.partner.auth import Principal, RecordRef, can, require
from insight.partner.layer_rules import audited, layer_info
from insight.partner.value_checks import canonical_json, neutralise_formula, parse_assured
from insight.store import Connection, Engine
from insight.store.accounts import organisation_names
from insight.store.asset_layers import layer_loaded_at, layer_of_feature
from insight.store.records import FeatureRow, RecordState, count_unkeyed, feature_rows, latest_version
from insight.store.timestamps import aware

__all__ = [
    "COMPARED", "DEFAULT_STALE_DAYS", "Change", "RecordState", "RecordView", "aware", "current_records",
    "differences", "export_csv", "is_stale", "layer_records", "layer_state", "record_view",
]

DEFAULT_STALE_DAYS = 365
COMPARED = ("name", "category", "properties", "location")


@dataclass(frozen=True)
class Change:
    """What a version does to one record: ``added``, ``changed``, ``assured`` (dates only) or ``removed``."""

    kind: str
    before: RecordState | None
    after: RecordState | None
    fields: tuple[str, ...] = ()

    @property
    def state(self) -> RecordState:
        """The record after the change, or before it for a removal."""
        state = self.after or self.before
        if state is None:
            raise NotFoundError(f"a '{self.kind}' change names no record")
        return state

    @property
    def key(self) -> str:
        """The key of the record changed."""
        return self.state.key


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 7)


def differences(before: RecordState, after: RecordState) -> tuple[str, ...]:
    """Which of name, category, properties and location differ between two states."""
    changed = []
    if before.name != after.name:
        changed.append("name")
    if before.category != after.category:
        changed.append("category")
    if canonical_json(before.properties) != canonical_json(after.properties):
        changed.append("properties")
    if (_round(before.lon), _round(before.lat)) != (_round(after.lon), _round(after.lat)):
        changed.append("location")
    return tuple(changed)


def is_stale(last_assured: datetime | None, *, now: datetime, days: int = DEFAULT_STALE_DAYS) -> bool:
    """True if a record was never assured or not within ``days`` of ``now``."""
    if last_assured is None:
        return True
    return now - aware(last_assured) > timedelta(days=days)


# --- reading ------------------------------------------------------------------------------------


def derived_keys(rows: list[FeatureRow]) -> dict[int, str]:
    """The key of each feature by id: its record key, else a source id unique in the layer, else ``feature:<id>``."""
    counts: dict[str, int] = {}
    for r in rows:
        if r.record_key is None and r.source_id:
            counts[r.source_id] = counts.get(r.source_id, 0) + 1
    taken = {r.record_key for r in rows if r.record_key is not None}
    keys = {}
    for r in rows:
        if r.record_key is not None:
            keys[r.id] = r.record_key
        elif r.source_id and counts[r.source_id] == 1 and r.source_id not in taken:
            keys[r.id] = r.source_id[:100]
        else:
            keys[r.id] = f"feature:{r.id}"
    return keys


def _assured_from_properties(properties: dict[str, Any]) -> datetime | None:
    value = (properties or {}).get("last_assured")
    when, _ = parse_assured(value, today=datetime.now(UTC).date()) if value else (None, None)
    return when


def current_records(conn: Connection, layer_id: int, *, layer_owner: int | None = None) -> list[RecordState]:
    """The layer's current records. Records of a layer never versioned get the keys its baseline will give them."""
    rows = feature_rows(conn, layer_id)
    keys = derived_keys(rows)
    loaded_at = aware(layer_loaded_at(conn, layer_id))
    out = []
    for r in rows:
        unversioned = r.record_key is None
        out.append(RecordState(
            key=keys[r.id],
            owner_org_id=r.owner_org_id if not unversioned else layer_owner,
            name=r.name, category=r.category, properties=dict(r.properties),
            lon=r.lon, lat=r.lat, inside_authority=r.inside_authority,
            last_updated=r.last_updated if not unversioned else loaded_at,
            last_assured=r.last_assured if not unversioned else _assured_from_properties(r.properties),
            feature_id=r.id,
        ))
    return out


def layer_state(conn: Connection, layer_id: int) -> str:
    """A fingerprint of the layer's state: its version and whether records were loaded outside it since."""
    unkeyed = count_unkeyed(conn, layer_id)
    return f"v{latest_version(conn, layer_id)}" + (f"+{unkeyed}" if unkeyed else "")


def record_layer(conn: Connection, feature_id: int) -> str:
    """The name of the layer holding record ``feature_id``; NotFoundError if there is no such record."""
    name = layer_of_feature(conn, feature_id)
    if name is None:
        raise NotFoundError(f"no record {feature_id}")
    return name


def record_state(states: list[RecordState], feature_id: int) -> RecordState:
    """The state of record ``feature_id`` among ``states``; NotFoundError if it is not there."""
    for state in states:
        if state.feature_id == feature_id:
            return state
    raise NotFoundError(f"no record {feature_id}")


# --- viewing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordView:
    """A current record with what the viewer may do with it."""

    state: RecordState
    layer: str
    owner_slug: str | None
    stale: bool
    editable: bool


def record_view(engine: Engine, feature_id: int, *, actor: Principal,
                stale_days: int = DEFAULT_STALE_DAYS) -> RecordView:
    """One record, if ``actor`` may edit it; NotFoundError otherwise (it does not reveal other records)."""
    with audited(engine, actor, target=f"record:{feature_id}"), engine.connect() as conn:
        info = layer_info(conn, record_layer(conn, feature_id))
        if info.ref.counts_only:
            require(actor, "edit_record", RecordRef(info.ref, None))
        state = record_state(current_records(conn, info.id, layer_owner=info.ref.owner_org_id), feature_id)
        names = organisation_names(conn) if state.owner_org_id else {}
    require(actor, "edit_record", RecordRef(info.ref, state.owner_org_id))
    slug = names[state.owner_org_id][0] if state.owner_org_id in names else None
    return RecordView(state, info.name, slug, is_stale(state.last_assured, now=datetime.now(UTC), days=stale_days),
                      True)


def layer_records(engine: Engine, layer: str, *, actor: Principal,
                  stale_days: int = DEFAULT_STALE_DAYS) -> list[RecordView]:
    """The current records of ``layer`` that ``actor`` may read, each flagged stale or not and editable or not."""
    now = datetime.now(UTC)
    with audited(engine, actor, target=f"layer:{layer}"), engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "read_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
        slugs = {org_id: slug for org_id, (slug, _) in organisation_names(conn).items()}
    return [
        RecordView(s, info.name, slugs.get(s.owner_org_id) if s.owner_org_id is not None else None,
                   is_stale(s.last_assured, now=now, days=stale_days),
                   can(actor, "edit_record", RecordRef(info.ref, s.owner_org_id)))
        for s in states
    ]


# --- export ---------------------------------------------------------------------------------------


def export_csv(engine: Engine, layer: str, *, actor: Principal, ip: str | None = None,
               stale_days: int = DEFAULT_STALE_DAYS) -> str:
    """The current records of ``layer`` as CSV text, formula-like cells neutralised.

    Exports of restricted layers are recorded in the audit log.
    """
    now = datetime.now(UTC)
    with audited(engine, actor, target=f"layer:{layer}", ip=ip), engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "export_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
        if info.ref.sensitivity != "public":
            audit.record(conn, "export_restricted", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=f"layer:{layer}", detail={"format": "csv", "records": len(states)})
    base = ["id", "name", "category", "longitude", "latitude", "last_updated", "last_assured", "stale"]
    extra = [k for k in dict.fromkeys(k for s in states for k in s.properties) if k not in base]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(base + extra)
    for s in states:
        row: list[object] = [
            s.key, s.name, s.category, s.lon, s.lat, s.last_updated.isoformat() if s.last_updated else "",
            s.last_assured.date().isoformat() if s.last_assured else "",
            "yes" if is_stale(s.last_assured, now=now, days=stale_days) else "no",
        ]
        row += [s.properties.get(k) for k in extra]
        writer.writerow(["" if v is None else neutralise_formula(v) for v in row])
    return buffer.getvalue()
