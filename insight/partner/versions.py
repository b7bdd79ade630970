"""Partner-maintained layers: their rules, records, versions, edits, restores, staleness and export.

Every commit is a numbered version of the layer (who, when, what changed, the
source file's SHA-256). ``features`` holds the current records only, so every
other part of the platform reads a layer as before; each record's history is in
``feature_revisions``, where a removed record gets a revision marked deleted —
nothing is hard-deleted. A layer loaded from a file (``insight load-sample``)
becomes versioned at its first partner commit: its records get keys and a
"baseline" version; if such a load later replaces it, the next commit records
that as a "reload" version.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from insight.errors import ConfigError, NotFoundError, VersionConflict
from insight.partner import audit
from insight.partner.auth import LayerRef, Principal, RecordRef, can, organisation_id, require
from insight.partner.record_checks import Rules, canonical_json, neutralise_formula, parse_assured
from insight.sources import ingest
from insight.store.io import layer_ids
from insight.store.models import Feature, FeatureRevision, Layer, LayerRules, LayerVersion, Organisation

DEFAULT_STALE_DAYS = 365
COMPARED = ("name", "category", "properties", "location")



@dataclass(frozen=True)
class RecordState:
    """A record as stored: its identity (key and owning organisation), values, location and dates."""

    key: str
    owner_org_id: int | None
    name: str | None
    category: str | None
    properties: dict[str, Any]
    lon: float | None
    lat: float | None
    inside_authority: bool | None = None
    last_updated: datetime | None = None
    last_assured: datetime | None = None
    feature_id: int | None = None


@dataclass(frozen=True)
class Change:
    """What a version does to one record: ``added``, ``changed``, ``assured`` (dates only) or ``removed``."""

    kind: str
    before: RecordState | None
    after: RecordState | None
    fields: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return (self.after or self.before).key


@dataclass(frozen=True)
class VersionInfo:
    """One version of a layer, as listed in its history."""

    number: int
    created_at: datetime
    user_email: str | None
    action: str
    source_file: str | None
    source_checksum: str | None
    added: int
    changed: int
    unchanged: int
    removed: int
    restored_from: int | None
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LayerInfo:
    """A layer as the partner pages need it: identity, permissions reference and upload rules."""

    id: int
    name: str
    title: str
    kind: str
    ref: LayerRef
    rules: Rules
    owner_slug: str | None
    configured: bool = False
    theme: str | None = None


def aware(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached when the database returned it without a time zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


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


# --- layers and their rules -----------------------------------------------------------------


def _rules_from_row(row: Any | None) -> tuple[Rules, bool]:
    if row is None:
        return Rules(), False
    categories = tuple(row.categories) if row.categories is not None else None
    return Rules(
        categories=categories, required_fields=tuple(row.required_fields or ()), key_field=row.key_field,
        location_required=row.location_required, duplicate_metres=row.duplicate_metres,
        unique_identifiers=row.unique_identifiers,
    ), bool(row.partner_upload)


def layer_info(conn: Connection, name: str) -> LayerInfo:
    """The layer ``name`` with its rules; NotFoundError listing the point layers otherwise."""
    row = conn.execute(
        select(Layer.id, Layer.name, Layer.title, Layer.kind, Layer.sensitivity, Layer.owner_org_id, Layer.theme,
               Organisation.slug)
        .outerjoin(Organisation, Organisation.id == Layer.owner_org_id).where(Layer.name == name)
    ).one_or_none()
    if row is None:
        known = ", ".join(conn.execute(select(Layer.name).where(Layer.kind == "points").order_by(Layer.name)).scalars())
        raise NotFoundError(f"no layer named '{name}' (point layers: {known or 'none'})")
    rules_row = conn.execute(select(LayerRules.__table__).where(LayerRules.layer_id == row.id)).one_or_none()
    rules, partner_upload = _rules_from_row(rules_row)
    ref = LayerRef(row.name, row.sensitivity, row.owner_org_id, partner_upload)
    return LayerInfo(row.id, row.name, row.title, row.kind, ref, rules, row.slug, rules_row is not None, row.theme)


def layer_ref(engine: Engine, name: str) -> LayerRef:
    """The permission reference of layer ``name``."""
    with engine.connect() as conn:
        return layer_info(conn, name).ref


def partner_layers(engine: Engine, actor: Principal) -> list[LayerInfo]:
    """Asset layers ``actor`` may upload to (configured for uploads, or of the assets theme), by title."""
    with engine.connect() as conn:
        names = conn.execute(select(Layer.name).where(Layer.kind == "points").order_by(Layer.title)).scalars().all()
        infos = [layer_info(conn, n) for n in names]
    return [i for i in infos if (i.configured or i.theme == "assets") and can(actor, "upload", i.ref)]


def create_asset_layer(
    conn: Connection,
    name: str,
    *,
    title: str | None = None,
    owner_org_id: int | None = None,
    sensitivity: str = "public",
    licence: str = "Not stated",
) -> int:
    """Add an empty point layer maintained through uploads (no file behind it); returns its id."""
    if not name.replace("_", "").isalnum() or not name[:1].isalpha() or len(name) > 100 or name.lower() != name:
        raise ConfigError(f"layer name '{name}' must start with a letter and use lower-case letters, digits and '_'")
    now = datetime.now(UTC)
    layer_id = conn.execute(
        insert(Layer).values(
            name=name, kind="points", title=title or name.replace("_", " ").capitalize(), description="",
            source="Maintained through Local Insight uploads", publisher="Local Insight partners",
            licence=licence, attribution="Maintained by the council and its partners", sensitivity=sensitivity,
            illustrative=False, is_authority=False, loaded_at=now, feature_count=0, load_report={},
            owner_org_id=owner_org_id, theme="assets",
        ).returning(Layer.id)
    ).scalar_one()
    conn.execute(insert(LayerRules).values(
        layer_id=layer_id, partner_upload=owner_org_id is not None, categories=None, required_fields=[],
        key_field=None, location_required=True, duplicate_metres=25.0, unique_identifiers=True, updated_at=now,
    ))
    return layer_id


def set_rules(
    engine: Engine,
    layer: str,
    *,
    actor: Principal,
    partner_upload: bool | None = None,
    categories: list[str] | None | bool = False,
    required_fields: list[str] | None = None,
    key_field: str | None | bool = False,
    location_required: bool | None = None,
    duplicate_metres: float | None = None,
    unique_identifiers: bool | None = None,
    owner_org: str | None | bool = False,
) -> LayerInfo:
    """Change how uploads to ``layer`` are checked and who may make them (officers and admins).

    ``False`` for ``categories``, ``key_field`` and ``owner_org`` means "leave as is"
    (``None`` clears them).
    """
    require(actor, "manage_layers")
    with engine.begin() as conn:
        info = layer_info(conn, layer)
        if info.kind != "points":
            raise ConfigError(f"layer '{layer}' is a {info.kind} layer; only point layers take uploads")
        current = conn.execute(select(LayerRules.__table__).where(LayerRules.layer_id == info.id)).one_or_none()
        values: dict[str, Any] = {
            "partner_upload": info.ref.partner_upload, "categories": list(info.rules.categories)
            if info.rules.categories is not None else None, "required_fields": list(info.rules.required_fields),
            "key_field": info.rules.key_field, "location_required": info.rules.location_required,
            "duplicate_metres": info.rules.duplicate_metres, "unique_identifiers": info.rules.unique_identifiers,
        }
        if partner_upload is not None:
            values["partner_upload"] = partner_upload
        if categories is not False:
            cleaned = None if categories is None else list(dict.fromkeys(c.strip() for c in categories if c.strip()))
            values["categories"] = cleaned
        if required_fields is not None:
            values["required_fields"] = [f.strip() for f in required_fields if f.strip()]
        if key_field is not False:
            values["key_field"] = key_field
        if location_required is not None:
            values["location_required"] = location_required
        if duplicate_metres is not None:
            if not (0 <= duplicate_metres <= 1000) or math.isnan(duplicate_metres):
                raise ConfigError(f"duplicate distance {duplicate_metres} m must be between 0 and 1000 metres")
            values["duplicate_metres"] = duplicate_metres
        if unique_identifiers is not None:
            values["unique_identifiers"] = unique_identifiers
        values["updated_at"] = datetime.now(UTC)
        if current is None:
            conn.execute(insert(LayerRules).values(layer_id=info.id, **values))
        else:
            conn.execute(update(LayerRules).where(LayerRules.layer_id == info.id).values(**values))
        if owner_org is not False:
            org_id = None
            if owner_org:
                org_id = organisation_id(conn, owner_org)
            conn.execute(update(Layer).where(Layer.id == info.id).values(owner_org_id=org_id))
        audit.record(conn, "layer_rules_changed", actor_id=actor.id, actor_email=actor.email, target=f"layer:{layer}",
                     detail={k: v for k, v in values.items() if k != "updated_at"}
                     | ({"owner_org": owner_org} if owner_org is not False else {}))
        return layer_info(conn, layer)


# --- records -----------------------------------------------------------------------------------


def current_version(conn: Connection, layer_id: int) -> int:
    """The newest version number of a layer; 0 before its first."""
    return conn.execute(
        select(func.coalesce(func.max(LayerVersion.number), 0)).where(LayerVersion.layer_id == layer_id)
    ).scalar_one()


def _feature_rows(conn: Connection, layer_id: int, *, feature_id: int | None = None) -> list[Any]:
    query = select(
        Feature.id, Feature.record_key, Feature.source_id, Feature.owner_org_id, Feature.name, Feature.category,
        Feature.properties, func.ST_X(Feature.geom).label("lon"), func.ST_Y(Feature.geom).label("lat"),
        Feature.inside_authority, Feature.last_updated, Feature.last_assured,
    ).where(Feature.layer_id == layer_id).order_by(Feature.id)
    if feature_id is not None:
        query = query.where(Feature.id == feature_id)
    return conn.execute(query).all()


def _derived_keys(rows: list[Any]) -> dict[int, str]:
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


def _assured_from_properties(properties: dict) -> datetime | None:
    value = (properties or {}).get("last_assured")
    when, _ = parse_assured(value, today=datetime.now(UTC).date()) if value else (None, None)
    return when


def current_records(conn: Connection, layer_id: int, *, layer_owner: int | None = None) -> list[RecordState]:
    """The layer's current records. Records of a layer never versioned get the keys its baseline will give them."""
    rows = _feature_rows(conn, layer_id)
    keys = _derived_keys(rows)
    loaded_at = conn.execute(select(Layer.loaded_at).where(Layer.id == layer_id)).scalar_one()
    out = []
    for r in rows:
        unversioned = r.record_key is None
        out.append(RecordState(
            key=keys[r.id],
            owner_org_id=r.owner_org_id if not unversioned else layer_owner,
            name=r.name, category=r.category, properties=dict(r.properties or {}),
            lon=None if r.lon is None else float(r.lon), lat=None if r.lat is None else float(r.lat),
            inside_authority=r.inside_authority,
            last_updated=aware(r.last_updated) if not unversioned else aware(loaded_at),
            last_assured=aware(r.last_assured) if not unversioned else _assured_from_properties(r.properties),
            feature_id=r.id,
        ))
    return out


def layer_state(conn: Connection, layer_id: int) -> str:
    """A fingerprint of the layer's state: its version and whether records were loaded outside it since."""
    unkeyed = conn.execute(
        select(func.count()).select_from(Feature).where(Feature.layer_id == layer_id, Feature.record_key.is_(None))
    ).scalar_one()
    return f"v{current_version(conn, layer_id)}" + (f"+{unkeyed}" if unkeyed else "")


def _open_revisions(conn: Connection, layer_id: int) -> list[Any]:
    return conn.execute(
        select(FeatureRevision.__table__).where(
            FeatureRevision.layer_id == layer_id, FeatureRevision.version_to.is_(None)
        )
    ).all()


def _revision_values(layer_id: int, state: RecordState, number: int, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "layer_id": layer_id, "record_key": state.key, "owner_org_id": state.owner_org_id,
        "version_from": number, "version_to": None, "deleted": deleted, "name": state.name,
        "category": state.category, "properties": state.properties, "lon": state.lon, "lat": state.lat,
        "inside_authority": state.inside_authority, "last_updated": state.last_updated,
        "last_assured": state.last_assured,
    }


def _state_of_revision(row: Any) -> RecordState:
    return RecordState(
        key=row.record_key, owner_org_id=row.owner_org_id, name=row.name, category=row.category,
        properties=dict(row.properties or {}), lon=row.lon, lat=row.lat, inside_authority=row.inside_authority,
        last_updated=aware(row.last_updated), last_assured=aware(row.last_assured),
    )


def _close(conn: Connection, revision_id: int, number: int) -> None:
    conn.execute(update(FeatureRevision).where(FeatureRevision.id == revision_id).values(version_to=number))


def _insert_version(conn: Connection, layer_id: int, number: int, *, action: str, actor: Principal,
                    org_id: int | None, counts: dict[str, int], source_file: str | None = None,
                    checksum: str | None = None, restored_from: int | None = None,
                    detail: dict | None = None) -> VersionInfo:
    now = datetime.now(UTC)
    values = dict(
        layer_id=layer_id, number=number, created_at=now, user_id=actor.id, user_email=actor.email,
        org_id=org_id, action=action, source_file=source_file, source_checksum=checksum,
        added=counts.get("added", 0), changed=counts.get("changed", 0), unchanged=counts.get("unchanged", 0),
        removed=counts.get("removed", 0), restored_from=restored_from, detail=detail or {},
    )
    conn.execute(insert(LayerVersion).values(**values))
    return VersionInfo(number, now, actor.email, action, source_file, checksum, values["added"], values["changed"],
                       values["unchanged"], values["removed"], restored_from, detail or {})


def ensure_versioned(conn: Connection, layer_id: int, *, actor: Principal) -> int:
    """Give a layer loaded from a file its keys and a baseline (or reload) version; return the current version.

    Does nothing when every record already has a key.
    """
    rows = _feature_rows(conn, layer_id)
    if all(r.record_key is not None for r in rows) and (rows or current_version(conn, layer_id)):
        return current_version(conn, layer_id)
    if not rows and current_version(conn, layer_id) == 0:
        return 0
    owner = conn.execute(select(Layer.owner_org_id).where(Layer.id == layer_id)).scalar_one()
    states = current_records(conn, layer_id, layer_owner=owner)
    number = current_version(conn, layer_id) + 1
    prior = {(r.owner_org_id, r.record_key): r for r in _open_revisions(conn, layer_id)}
    counts = {"added": 0, "changed": 0, "unchanged": 0, "removed": 0}
    seen = set()
    for state in states:
        identity = (state.owner_org_id, state.key)
        seen.add(identity)
        conn.execute(update(Feature).where(Feature.id == state.feature_id).values(
            record_key=state.key, owner_org_id=state.owner_org_id, last_updated=state.last_updated,
            last_assured=state.last_assured,
        ))
        old = prior.get(identity)
        if old is not None and not old.deleted and not differences(_state_of_revision(old), state):
            counts["unchanged"] += 1
            continue
        if old is not None:
            _close(conn, old.id, number)
        counts["changed" if old is not None and not old.deleted else "added"] += 1
        conn.execute(insert(FeatureRevision).values(**_revision_values(layer_id, state, number)))
    for identity, old in prior.items():
        if identity not in seen and not old.deleted:
            _close(conn, old.id, number)
            conn.execute(insert(FeatureRevision).values(
                **_revision_values(layer_id, _state_of_revision(old), number, deleted=True)))
            counts["removed"] += 1
    action = "baseline" if number == 1 else "reload"
    _insert_version(conn, layer_id, number, action=action, actor=Principal(id=None, email="system", role="admin"),
                    org_id=owner, counts=counts,
                    detail={"note": "records loaded from a file outside the partner workflow",
                            "recorded_when": f"{actor.email or 'someone'} first changed the layer"})
    return number


def _feature_values(layer_id: int, state: RecordState) -> dict[str, Any]:
    geom = None if state.lon is None else f"SRID=4326;POINT({float(state.lon)!r} {float(state.lat)!r})"
    return {
        "layer_id": layer_id, "source_id": state.key[:100], "name": state.name, "category": state.category,
        "month": None, "inside_authority": state.inside_authority, "properties": state.properties, "geom": geom,
        "record_key": state.key, "owner_org_id": state.owner_org_id, "last_updated": state.last_updated,
        "last_assured": state.last_assured,
    }


def apply_changes(
    conn: Connection,
    layer_id: int,
    changes: list[Change],
    *,
    action: str,
    actor: Principal,
    org_id: int | None,
    unchanged: int,
    source_file: str | None = None,
    checksum: str | None = None,
    restored_from: int | None = None,
    detail: dict | None = None,
) -> VersionInfo:
    """Write ``changes`` as the layer's next version, in the caller's transaction, and retag its points.

    Added records are inserted, changed ones updated in place, removed ones leave
    ``features`` and get a revision marked deleted.
    """
    number = current_version(conn, layer_id) + 1
    open_rows = {(r.owner_org_id, r.record_key): r for r in _open_revisions(conn, layer_id)}
    counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": unchanged}
    for change in changes:
        state = change.after or change.before
        old = open_rows.get((state.owner_org_id, state.key))
        if old is not None:
            _close(conn, old.id, number)
        if change.kind == "added":
            conn.execute(insert(Feature).values(**_feature_values(layer_id, change.after)))
            counts["added"] += 1
        elif change.kind in ("changed", "assured"):
            values = _feature_values(layer_id, change.after)
            del values["layer_id"]
            conn.execute(update(Feature).where(Feature.id == change.before.feature_id).values(**values))
            counts["changed" if change.kind == "changed" else "unchanged"] += 1
        elif change.kind == "removed":
            conn.execute(delete(Feature).where(Feature.id == change.before.feature_id))
            counts["removed"] += 1
        else:
            raise ValueError(f"unknown change kind {change.kind!r}")
        conn.execute(insert(FeatureRevision).values(
            **_revision_values(layer_id, state, number, deleted=change.kind == "removed")))
    detail = dict(detail or {})
    detail.setdefault("records", [
        {"change": c.kind, "key": c.key, "name": (c.after or c.before).name, "fields": list(c.fields)}
        for c in changes[:500]
    ])
    info = _insert_version(conn, layer_id, number, action=action, actor=actor, org_id=org_id, counts=counts,
                           source_file=source_file, checksum=checksum, restored_from=restored_from, detail=detail)
    total = conn.execute(select(func.count()).select_from(Feature).where(Feature.layer_id == layer_id)).scalar_one()
    layer_values: dict[str, Any] = {"feature_count": total, "loaded_at": info.created_at}
    if source_file is not None:
        layer_values.update(source_file=source_file, source_checksum=checksum)
    conn.execute(update(Layer).where(Layer.id == layer_id).values(**layer_values))
    ingest.retag(conn, point_layers=[layer_id], boundary_layers=layer_ids(conn, "boundary"))
    return info


def lock_layer(conn: Connection, layer_id: int) -> None:
    """Serialise commits to one layer (PostgreSQL row lock; SQLite allows one writer anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(Layer.id).where(Layer.id == layer_id).with_for_update())


# --- history -------------------------------------------------------------------------------------


def versions(engine: Engine, layer: str, *, actor: Principal) -> list[VersionInfo]:
    """Every version of ``layer``, newest first."""
    with engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "view_history", info.ref)
        rows = conn.execute(
            select(LayerVersion.number, LayerVersion.created_at, LayerVersion.user_email, LayerVersion.action,
                   LayerVersion.source_file, LayerVersion.source_checksum, LayerVersion.added, LayerVersion.changed,
                   LayerVersion.unchanged, LayerVersion.removed, LayerVersion.restored_from, LayerVersion.detail)
            .where(LayerVersion.layer_id == info.id).order_by(LayerVersion.number.desc())
        ).all()
    return [VersionInfo(r[0], aware(r[1]), *r[2:]) for r in rows]


def _records_at(conn: Connection, layer_id: int, number: int) -> list[RecordState]:
    rows = conn.execute(
        select(FeatureRevision.__table__).where(
            FeatureRevision.layer_id == layer_id, FeatureRevision.version_from <= number,
            (FeatureRevision.version_to.is_(None)) | (FeatureRevision.version_to > number),
            FeatureRevision.deleted.is_(False),
        ).order_by(FeatureRevision.record_key)
    ).all()
    return [_state_of_revision(r) for r in rows]


def records_at(engine: Engine, layer: str, number: int, *, actor: Principal) -> list[RecordState]:
    """The records of ``layer`` as they were in version ``number``."""
    with engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "view_history", info.ref)
        latest = current_version(conn, info.id)
        if not 1 <= number <= latest:
            raise NotFoundError(f"layer '{layer}' has no version {number} (versions 1 to {latest})")
        return _records_at(conn, info.id, number)


def restore_version(engine: Engine, layer: str, number: int, *, actor: Principal, ip: str | None = None) -> VersionInfo:
    """Make a new version of ``layer`` equal to version ``number`` (officers and admins)."""
    with engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "restore", info.ref)
        lock_layer(conn, info.id)
        ensure_versioned(conn, info.id, actor=actor)
        latest = current_version(conn, info.id)
        if not 1 <= number <= latest:
            raise NotFoundError(f"layer '{layer}' has no version {number} (versions 1 to {latest})")
        target = {(s.owner_org_id, s.key): s for s in _records_at(conn, info.id, number)}
        now = datetime.now(UTC)
        current = {(s.owner_org_id, s.key): s for s in current_records(conn, info.id)}
        changes: list[Change] = []
        unchanged = 0
        for identity, old in target.items():
            present = current.get(identity)
            if present is None:
                changes.append(Change("added", None, replace(old, last_updated=now)))
                continue
            fields = differences(present, old)
            if fields:
                changes.append(Change("changed", present, replace(old, last_updated=now,
                                                                   feature_id=present.feature_id), fields))
            else:
                unchanged += 1
        changes += [Change("removed", s, None) for i, s in current.items() if i not in target]
        result = apply_changes(conn, info.id, changes, action="restore", actor=actor, org_id=None,
                               unchanged=unchanged, restored_from=number)
        audit.record(conn, "version_restored", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{layer}", detail={"restored": number, "new_version": result.number})
    return result


# --- one record ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordView:
    """A current record with what the viewer may do with it."""

    state: RecordState
    layer: str
    owner_slug: str | None
    stale: bool
    editable: bool


def record_view(engine: Engine, feature_id: int, *, actor: Principal, stale_days: int = DEFAULT_STALE_DAYS) -> RecordView:
    """One record, if ``actor`` may edit it; NotFoundError otherwise (it does not reveal other records)."""
    with engine.connect() as conn:
        layer_name = conn.execute(
            select(Layer.name).join(Feature, Feature.layer_id == Layer.id).where(Feature.id == feature_id)
        ).scalar_one_or_none()
        if layer_name is None:
            raise NotFoundError(f"no record {feature_id}")
        info = layer_info(conn, layer_name)
        state = next(s for s in current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
                      if s.feature_id == feature_id)
        slug = conn.execute(select(Organisation.slug).where(Organisation.id == state.owner_org_id)
                            ).scalar_one_or_none() if state.owner_org_id else None
    require(actor, "edit_record", RecordRef(info.ref, state.owner_org_id))
    return RecordView(state, info.name, slug, is_stale(state.last_assured, now=datetime.now(UTC), days=stale_days),
                      True)


def layer_records(engine: Engine, layer: str, *, actor: Principal,
                  stale_days: int = DEFAULT_STALE_DAYS) -> list[RecordView]:
    """The current records of ``layer`` that ``actor`` may read, each flagged stale or not and editable or not."""
    now = datetime.now(UTC)
    with engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "read_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
        slugs = dict(conn.execute(select(Organisation.id, Organisation.slug)).all())
    return [
        RecordView(s, info.name, slugs.get(s.owner_org_id), is_stale(s.last_assured, now=now, days=stale_days),
                   can(actor, "edit_record", RecordRef(info.ref, s.owner_org_id)))
        for s in states
    ]


def edit_record(
    engine: Engine,
    feature_id: int,
    after: RecordState,
    *,
    actor: Principal,
    assured: bool,
    expected_state: str | None = None,
    ip: str | None = None,
) -> VersionInfo:
    """Replace one record's values with ``after`` (already checked) as a new version.

    ``expected_state`` is the :func:`layer_state` the editor saw; if the layer
    changed since, VersionConflict asks them to look again. Key and owner never change.
    """
    with engine.begin() as conn:
        layer_name = conn.execute(
            select(Layer.name).join(Feature, Feature.layer_id == Layer.id).where(Feature.id == feature_id)
        ).scalar_one_or_none()
        if layer_name is None:
            raise NotFoundError(f"no record {feature_id}")
        info = layer_info(conn, layer_name)
        lock_layer(conn, info.id)
        before = next(s for s in current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
                      if s.feature_id == feature_id)
        require(actor, "edit_record", RecordRef(info.ref, before.owner_org_id))
        if expected_state is not None and layer_state(conn, info.id) != expected_state:
            raise VersionConflict(f"layer '{layer_name}' changed while you were editing; open the record again "
                                  "and re-enter your change")
        ensure_versioned(conn, info.id, actor=actor)
        before = next(s for s in current_records(conn, info.id) if s.feature_id == feature_id)
        now = datetime.now(UTC)
        new = replace(after, key=before.key, owner_org_id=before.owner_org_id, feature_id=feature_id,
                      last_updated=now, last_assured=now if assured else before.last_assured)
        fields = differences(before, new)
        if not fields and not assured:
            raise ConfigError("nothing was changed: edit a value, or tick that you have checked the record")
        kind = "changed" if fields else "assured"
        if not fields:
            new = replace(new, last_updated=before.last_updated)
        result = apply_changes(conn, info.id, [Change(kind, before, new, fields)], action="edit", actor=actor,
                               org_id=before.owner_org_id, unchanged=0)
        audit.record(conn, "record_edited", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{layer_name}/record:{before.key}",
                     detail={"feature_id": feature_id, "fields": list(fields), "assured": assured,
                             "version": result.number})
    return result


def deny(engine: Engine, actor: Principal, action: str, target: str, *, ip: str | None = None) -> None:
    """Record in the audit log that ``actor`` was refused ``action`` on ``target``."""
    with engine.begin() as conn:
        audit.record(conn, "permission_denied", actor_id=actor.id, actor_email=actor.email, ip=ip, target=target,
                     detail={"action": action})


# --- staleness ----------------------------------------------------------------------------------


def is_stale(last_assured: datetime | None, *, now: datetime, days: int = DEFAULT_STALE_DAYS) -> bool:
    """True if a record was never assured or not within ``days`` of ``now``."""
    if last_assured is None:
        return True
    return now - aware(last_assured) > timedelta(days=days)


@dataclass(frozen=True)
class StaleRecord:
    """A record not checked as still true for too long."""

    feature_id: int
    key: str
    name: str | None
    last_assured: date | None
    days_since: int | None


def stale_records(engine: Engine, layer: str, *, days: int = DEFAULT_STALE_DAYS,
                  now: datetime | None = None) -> list[StaleRecord]:
    """The records of ``layer`` not assured within ``days`` (never-assured ones included), oldest first.

    For the map and the catalogue: callers decide who sees the layer.
    """
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        info = layer_info(conn, layer)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
    out = [
        StaleRecord(s.feature_id, s.key, s.name, s.last_assured.date() if s.last_assured else None,
                    (now - s.last_assured).days if s.last_assured else None)
        for s in states if is_stale(s.last_assured, now=now, days=days)
    ]
    return sorted(out, key=lambda r: (r.last_assured is not None, r.last_assured or date.min))


def stale_counts(engine: Engine, *, days: int = DEFAULT_STALE_DAYS,
                 now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """For the catalogue: (stale, total) records of every asset layer (configured for uploads or of the assets theme)."""
    with engine.connect() as conn:
        names = conn.execute(
            select(Layer.name).outerjoin(LayerRules, LayerRules.layer_id == Layer.id)
            .where(Layer.kind == "points", (Layer.theme == "assets") | LayerRules.layer_id.is_not(None))
        ).scalars().all()
        totals = dict(conn.execute(
            select(Layer.name, func.count(Feature.id)).join(Feature, Feature.layer_id == Layer.id)
            .where(Layer.name.in_(names)).group_by(Layer.name)
        ).all())
    return {name: (len(stale_records(engine, name, days=days, now=now)), totals.get(name, 0)) for name in names}


def stale_feature_ids(engine: Engine, layer: str, *, days: int = DEFAULT_STALE_DAYS,
                      now: datetime | None = None) -> set[int]:
    """Feature ids of the stale records of ``layer``, for flagging points on the map."""
    return {r.feature_id for r in stale_records(engine, layer, days=days, now=now)}


# --- export ----------------------------------------------------------------------------------------


def export_csv(engine: Engine, layer: str, *, actor: Principal, ip: str | None = None,
               stale_days: int = DEFAULT_STALE_DAYS) -> str:
    """The current records of ``layer`` as CSV text, formula-like cells neutralised.

    Exports of restricted layers are recorded in the audit log.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "export_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
        if info.ref.sensitivity != "public":
            audit.record(conn, "export_restricted", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=f"layer:{layer}", detail={"format": "csv", "records": len(states)})
    extra = list(dict.fromkeys(k for s in states for k in s.properties))
    base = ["id", "name", "category", "longitude", "latitude", "last_updated", "last_assured", "stale"]
    extra = [k for k in extra if k not in base]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(base + extra)
    for s in states:
        row = [s.key, s.name, s.category, s.lon, s.lat,
               s.last_updated.isoformat() if s.last_updated else "",
               s.last_assured.date().isoformat() if s.last_assured else "",
               "yes" if is_stale(s.last_assured, now=now, days=stale_days) else "no"]
        row += [s.properties.get(k) for k in extra]
        writer.writerow(["" if v is None else neutralise_formula(v) for v in row])
    return buffer.getvalue()
