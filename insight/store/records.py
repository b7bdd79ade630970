"""Records of partner-maintained layers in the store: current features, their revisions and the layer's versions.

``features`` holds a layer's current records; ``feature_revisions`` each record's
states over versions (a removed record gets a revision marked deleted);
``layer_versions`` one row per commit. Every function runs in the caller's
transaction, so a version is written all at once or not at all. What changes and
why is decided by :mod:`insight.partner.versions`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from insight.store.models import Feature, FeatureRevision, LayerVersion
from insight.store.timestamps import aware

__all__ = [
    "FeatureRow",
    "RecordState",
    "Revision",
    "VersionInfo",
    "aware",
    "close_revision",
    "count_unkeyed",
    "delete_feature",
    "feature_rows",
    "insert_feature",
    "insert_revision",
    "insert_version",
    "latest_version",
    "open_revisions",
    "revisions_at",
    "set_feature_identity",
    "update_feature",
    "version_history",
]


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
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureRow:
    """A feature as stored; ``record_key`` is None until the layer's first version."""

    id: int
    record_key: str | None
    source_id: str | None
    owner_org_id: int | None
    name: str | None
    category: str | None
    properties: dict[str, Any]
    lon: float | None
    lat: float | None
    inside_authority: bool | None
    last_updated: datetime | None
    last_assured: datetime | None


@dataclass(frozen=True)
class Revision:
    """One stored revision of a record: its id, whether it marks a removal, and the state."""

    id: int
    deleted: bool
    state: RecordState


# --- current features ----------------------------------------------------------------------------


def feature_rows(conn: Connection, layer_id: int, *, feature_id: int | None = None) -> list[FeatureRow]:
    """The layer's features (or the one ``feature_id``) in id order, with longitude and latitude."""
    query = select(
        Feature.id, Feature.record_key, Feature.source_id, Feature.owner_org_id, Feature.name, Feature.category,
        Feature.properties, func.ST_X(Feature.geom).label("lon"), func.ST_Y(Feature.geom).label("lat"),
        Feature.inside_authority, Feature.last_updated, Feature.last_assured,
    ).where(Feature.layer_id == layer_id).order_by(Feature.id)
    if feature_id is not None:
        query = query.where(Feature.id == feature_id)
    return [
        FeatureRow(r.id, r.record_key, r.source_id, r.owner_org_id, r.name, r.category, dict(r.properties or {}),
                   None if r.lon is None else float(r.lon), None if r.lat is None else float(r.lat),
                   r.inside_authority, aware(r.last_updated), aware(r.last_assured))
        for r in conn.execute(query).all()
    ]


def count_unkeyed(conn: Connection, layer_id: int) -> int:
    """Features of the layer without a record key (loaded from a file since its last version)."""
    count: int = conn.execute(
        select(func.count()).select_from(Feature).where(Feature.layer_id == layer_id, Feature.record_key.is_(None))
    ).scalar_one()
    return count


def _feature_values(state: RecordState) -> dict[str, Any]:
    located = state.lon is not None and state.lat is not None
    geom = f"SRID=4326;POINT({float(state.lon or 0)!r} {float(state.lat or 0)!r})" if located else None
    return {
        "source_id": state.key[:100], "name": state.name, "category": state.category, "month": None,
        "inside_authority": state.inside_authority, "properties": state.properties, "geom": geom,
        "record_key": state.key, "owner_org_id": state.owner_org_id, "last_updated": state.last_updated,
        "last_assured": state.last_assured,
    }


def insert_feature(conn: Connection, layer_id: int, state: RecordState) -> None:
    """Add ``state`` as a current record of the layer."""
    conn.execute(insert(Feature).values(layer_id=layer_id, **_feature_values(state)))


def update_feature(conn: Connection, feature_id: int, state: RecordState) -> None:
    """Replace the values of feature ``feature_id`` with ``state``."""
    conn.execute(update(Feature).where(Feature.id == feature_id).values(**_feature_values(state)))


def delete_feature(conn: Connection, feature_id: int) -> None:
    """Remove feature ``feature_id`` from the current records (its revisions keep it)."""
    conn.execute(delete(Feature).where(Feature.id == feature_id))


def set_feature_identity(conn: Connection, feature_id: int, state: RecordState) -> None:
    """Give a feature loaded from a file its record key, owner and dates from ``state``."""
    conn.execute(update(Feature).where(Feature.id == feature_id).values(
        record_key=state.key, owner_org_id=state.owner_org_id, last_updated=state.last_updated,
        last_assured=state.last_assured,
    ))


# --- revisions -------------------------------------------------------------------------------------


def _state(row: Any) -> RecordState:
    return RecordState(
        key=row.record_key, owner_org_id=row.owner_org_id, name=row.name, category=row.category,
        properties=dict(row.properties or {}), lon=row.lon, lat=row.lat, inside_authority=row.inside_authority,
        last_updated=aware(row.last_updated), last_assured=aware(row.last_assured),
    )


def open_revisions(conn: Connection, layer_id: int) -> list[Revision]:
    """The open revision (current state, or the removal) of every record the layer ever had."""
    rows = conn.execute(
        select(FeatureRevision.__table__).where(
            FeatureRevision.layer_id == layer_id, FeatureRevision.version_to.is_(None)
        )
    ).all()
    return [Revision(r.id, bool(r.deleted), _state(r)) for r in rows]


def revisions_at(conn: Connection, layer_id: int, number: int) -> list[RecordState]:
    """The records of the layer as they were in version ``number``, by key."""
    rows = conn.execute(
        select(FeatureRevision.__table__).where(
            FeatureRevision.layer_id == layer_id, FeatureRevision.version_from <= number,
            (FeatureRevision.version_to.is_(None)) | (FeatureRevision.version_to > number),
            FeatureRevision.deleted.is_(False),
        ).order_by(FeatureRevision.record_key)
    ).all()
    return [_state(r) for r in rows]


def close_revision(conn: Connection, revision_id: int, number: int) -> None:
    """End a revision at version ``number``."""
    conn.execute(update(FeatureRevision).where(FeatureRevision.id == revision_id).values(version_to=number))


def insert_revision(conn: Connection, layer_id: int, state: RecordState, number: int, *, deleted: bool = False) -> None:
    """Open a revision of ``state`` from version ``number`` (``deleted``: the record was removed)."""
    conn.execute(insert(FeatureRevision).values(
        layer_id=layer_id, record_key=state.key, owner_org_id=state.owner_org_id, version_from=number,
        version_to=None, deleted=deleted, name=state.name, category=state.category, properties=state.properties,
        lon=state.lon, lat=state.lat, inside_authority=state.inside_authority, last_updated=state.last_updated,
        last_assured=state.last_assured,
    ))


# --- versions ---------------------------------------------------------------------------------------


def latest_version(conn: Connection, layer_id: int) -> int:
    """The newest version number of a layer; 0 before its first."""
    number: int = conn.execute(
        select(func.coalesce(func.max(LayerVersion.number), 0)).where(LayerVersion.layer_id == layer_id)
    ).scalar_one()
    return number


def insert_version(conn: Connection, layer_id: int, number: int, *, action: str, user_id: int | None,
                   user_email: str | None, org_id: int | None, counts: dict[str, int],
                   source_file: str | None = None, checksum: str | None = None, restored_from: int | None = None,
                   detail: dict[str, Any] | None = None) -> VersionInfo:
    """Record version ``number`` of the layer, stamped now, with its counts of added, changed... records."""
    info = VersionInfo(
        number, datetime.now(UTC), user_email, action, source_file, checksum, counts.get("added", 0),
        counts.get("changed", 0), counts.get("unchanged", 0), counts.get("removed", 0), restored_from, detail or {},
    )
    conn.execute(insert(LayerVersion).values(
        layer_id=layer_id, number=number, created_at=info.created_at, user_id=user_id, user_email=user_email,
        org_id=org_id, action=action, source_file=source_file, source_checksum=checksum, added=info.added,
        changed=info.changed, unchanged=info.unchanged, removed=info.removed, restored_from=restored_from,
        detail=info.detail,
    ))
    return info


def version_history(conn: Connection, layer_id: int) -> list[VersionInfo]:
    """Every version of the layer, newest first."""
    rows = conn.execute(
        select(LayerVersion.number, LayerVersion.created_at, LayerVersion.user_email, LayerVersion.action,
               LayerVersion.source_file, LayerVersion.source_checksum, LayerVersion.added, LayerVersion.changed,
               LayerVersion.unchanged, LayerVersion.removed, LayerVersion.restored_from, LayerVersion.detail)
        .where(LayerVersion.layer_id == layer_id).order_by(LayerVersion.number.desc())
    ).all()
    return [VersionInfo(r[0], aware(r[1]), *r[2:]) for r in rows]
