"""Versions of partner-maintained layers: commits, history, restores and single-record edits.

Every commit is a numbered version of the layer (who, when, what changed, the
source file's SHA-256). ``features`` holds the current records only, so every
other part of the platform reads a layer as before; each record's history is in
``feature_revisions``, where a removed record gets a revision marked deleted —
nothing is hard-deleted. A layer loaded from a file (``insight load-sample``)
becomes versioned at its first partner commit: its records get keys and a
"baseline" version; if such a load later replaces it, the next commit records
that as a "reload" version.

The layers' rules are in :mod:`insight.partner.layer_rules`, current records in
:mod:`insight.partner.records`, staleness in :mod:`insight.partner.stale`; their
names stay importable from here.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from insight.errors import BadRequest, ConfigError, NotFoundError, VersionConflict
from insight.partner import audit
from insight.partner.auth import Principal, RecordRef, require
from insight.partner.layer_rules import (
    LayerInfo,
    audited,
    create_asset_layer,
    layer_info,
    layer_ref,
    partner_layers,
    set_rules,
)
from insight.partner.records import (
    COMPARED,
    DEFAULT_STALE_DAYS,
    Change,
    RecordView,
    current_records,
    differences,
    export_csv,
    is_stale,
    layer_records,
    layer_state,
    record_layer,
    record_state,
    record_view,
)
from insight.partner.stale import StaleRecord, stale_counts, stale_feature_ids, stale_records
from insight.sources import ingest
from insight.store import Connection, Engine
from insight.store import records as store
from insight.store.asset_layers import layer_owner, mark_layer_written
from insight.store.asset_layers import lock_layer as _lock_layer
from insight.store.io import layer_ids
from insight.store.records import RecordState, VersionInfo
from insight.store.timestamps import aware

__all__ = [
    "COMPARED", "DEFAULT_STALE_DAYS", "Change", "LayerInfo", "RecordState", "RecordView", "StaleRecord",
    "VersionConflict", "VersionInfo", "apply_changes", "aware", "create_asset_layer", "current_records",
    "current_version", "deny", "differences", "edit_record", "ensure_versioned", "export_csv", "is_stale",
    "layer_info", "layer_records", "layer_ref", "layer_state", "lock_layer", "partner_layers", "record_view",
    "records_at", "restore_version", "set_rules", "stale_counts", "stale_feature_ids", "stale_records", "versions",
]

_SYSTEM = Principal(id=None, email="system", role="admin")


def current_version(conn: Connection, layer_id: int) -> int:
    """The newest version number of a layer; 0 before its first."""
    return store.latest_version(conn, layer_id)


def lock_layer(conn: Connection, layer_id: int) -> None:
    """Serialise commits to one layer (PostgreSQL row lock; SQLite allows one writer anyway)."""
    _lock_layer(conn, layer_id)


def _new_version(conn: Connection, layer_id: int, number: int, *, action: str, actor: Principal,
                 org_id: int | None, counts: dict[str, int], **extra: Any) -> VersionInfo:
    return store.insert_version(conn, layer_id, number, action=action, user_id=actor.id, user_email=actor.email,
                                org_id=org_id, counts=counts, **extra)


def ensure_versioned(conn: Connection, layer_id: int, *, actor: Principal) -> int:
    """Give a layer loaded from a file its keys and a baseline (or reload) version; return the current version.

    Does nothing when every record already has a key.
    """
    latest = current_version(conn, layer_id)
    rows = store.feature_rows(conn, layer_id)
    if all(r.record_key is not None for r in rows) and (rows or latest):
        return latest
    if not rows and latest == 0:
        return 0
    owner = layer_owner(conn, layer_id)
    number = latest + 1
    prior = {(r.state.owner_org_id, r.state.key): r for r in store.open_revisions(conn, layer_id)}
    counts = {"added": 0, "changed": 0, "unchanged": 0, "removed": 0}
    seen = set()
    for state in current_records(conn, layer_id, layer_owner=owner):
        identity = (state.owner_org_id, state.key)
        seen.add(identity)
        store.set_feature_identity(conn, state.feature_id or 0, state)
        old = prior.get(identity)
        if old is not None and not old.deleted and not differences(old.state, state):
            counts["unchanged"] += 1
            continue
        if old is not None:
            store.close_revision(conn, old.id, number)
        counts["changed" if old is not None and not old.deleted else "added"] += 1
        store.insert_revision(conn, layer_id, state, number)
    for identity, old in prior.items():
        if identity not in seen and not old.deleted:
            store.close_revision(conn, old.id, number)
            store.insert_revision(conn, layer_id, old.state, number, deleted=True)
            counts["removed"] += 1
    _new_version(conn, layer_id, number, action="baseline" if number == 1 else "reload", actor=_SYSTEM,
                 org_id=owner, counts=counts,
                 detail={"note": "records loaded from a file outside the partner workflow",
                         "recorded_when": f"{actor.email or 'someone'} first changed the layer"})
    return number


def _write_change(conn: Connection, layer_id: int, change: Change, counts: dict[str, int]) -> None:
    """Apply one change to the current features and count it."""
    if change.kind == "added" and change.after is not None:
        store.insert_feature(conn, layer_id, change.after)
        counts["added"] += 1
    elif change.kind in ("changed", "assured") and change.after is not None and change.before is not None:
        store.update_feature(conn, change.before.feature_id or 0, change.after)
        counts["changed" if change.kind == "changed" else "unchanged"] += 1
    elif change.kind == "removed" and change.before is not None:
        store.delete_feature(conn, change.before.feature_id or 0)
        counts["removed"] += 1
    else:
        raise BadRequest(f"a change of kind {change.kind!r} cannot be applied; kinds: added, changed, assured, "
                         "removed (added needs the new state, removed the old one, changed both)")


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
    detail: dict[str, Any] | None = None,
) -> VersionInfo:
    """Write ``changes`` as the layer's next version, in the caller's transaction, and retag its points.

    Added records are inserted, changed ones updated in place, removed ones leave
    ``features`` and get a revision marked deleted.
    """
    number = current_version(conn, layer_id) + 1
    open_rows = {(r.state.owner_org_id, r.state.key): r for r in store.open_revisions(conn, layer_id)}
    counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": unchanged}
    for change in changes:
        state = change.state
        old = open_rows.get((state.owner_org_id, state.key))
        if old is not None:
            store.close_revision(conn, old.id, number)
        _write_change(conn, layer_id, change, counts)
        store.insert_revision(conn, layer_id, state, number, deleted=change.kind == "removed")
    detail = dict(detail or {})
    detail.setdefault("records", [
        {"change": c.kind, "key": c.key, "name": c.state.name, "fields": list(c.fields)} for c in changes[:500]
    ])
    info = _new_version(conn, layer_id, number, action=action, actor=actor, org_id=org_id, counts=counts,
                        source_file=source_file, checksum=checksum, restored_from=restored_from, detail=detail)
    mark_layer_written(conn, layer_id, at=info.created_at, source_file=source_file, checksum=checksum)
    ingest.retag(conn, point_layers=[layer_id], boundary_layers=layer_ids(conn, "boundary"))
    return info


# --- history -------------------------------------------------------------------------------------


def versions(engine: Engine, layer: str, *, actor: Principal) -> list[VersionInfo]:
    """Every version of ``layer``, newest first."""
    with audited(engine, actor, target=f"layer:{layer}"), engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "view_history", info.ref)
        return store.version_history(conn, info.id)


def _check_number(conn: Connection, info: LayerInfo, number: int) -> None:
    latest = current_version(conn, info.id)
    if not 1 <= number <= latest:
        raise NotFoundError(f"layer '{info.name}' has no version {number} (versions 1 to {latest})")


def records_at(engine: Engine, layer: str, number: int, *, actor: Principal) -> list[RecordState]:
    """The records of ``layer`` as they were in version ``number``."""
    with audited(engine, actor, target=f"layer:{layer}"), engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "view_history", info.ref)
        _check_number(conn, info, number)
        return store.revisions_at(conn, info.id, number)


def restore_changes(target: list[RecordState], current: list[RecordState], *,
                    now: datetime) -> tuple[list[Change], int]:
    """The changes that turn the ``current`` records into the ``target`` ones, and how many stay unchanged.

    Records are matched by owner and key; restored values are dated ``now``.
    """
    wanted = {(s.owner_org_id, s.key): s for s in target}
    present_by_identity = {(s.owner_org_id, s.key): s for s in current}
    changes: list[Change] = []
    unchanged = 0
    for identity, old in wanted.items():
        present = present_by_identity.get(identity)
        if present is None:
            changes.append(Change("added", None, replace(old, last_updated=now)))
            continue
        fields = differences(present, old)
        if fields:
            changes.append(Change("changed", present, replace(old, last_updated=now, feature_id=present.feature_id),
                                  fields))
        else:
            unchanged += 1
    changes += [Change("removed", s, None) for i, s in present_by_identity.items() if i not in wanted]
    return changes, unchanged


def restore_version(engine: Engine, layer: str, number: int, *, actor: Principal, ip: str | None = None) -> VersionInfo:
    """Make a new version of ``layer`` equal to version ``number`` (officers and admins)."""
    with audited(engine, actor, target=f"layer:{layer}", ip=ip), engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "restore", info.ref)
        lock_layer(conn, info.id)
        ensure_versioned(conn, info.id, actor=actor)
        _check_number(conn, info, number)
        changes, unchanged = restore_changes(store.revisions_at(conn, info.id, number),
                                             current_records(conn, info.id), now=datetime.now(UTC))
        result = apply_changes(conn, info.id, changes, action="restore", actor=actor, org_id=None,
                               unchanged=unchanged, restored_from=number)
        audit.record(conn, "version_restored", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{layer}", detail={"restored": number, "new_version": result.number})
    return result


# --- one record ------------------------------------------------------------------------------------


def edit_change(before: RecordState, after: RecordState, *, assured: bool, now: datetime) -> Change:
    """The change that replaces ``before`` with ``after``'s values (key and owner kept), dated ``now``.

    ``assured`` also marks the record checked as still true. ConfigError when nothing changes.
    """
    new = replace(after, key=before.key, owner_org_id=before.owner_org_id, feature_id=before.feature_id,
                  last_updated=now, last_assured=now if assured else before.last_assured)
    fields = differences(before, new)
    if not fields and not assured:
        raise ConfigError("nothing was changed: edit a value, or tick that you have checked the record")
    if not fields:
        return Change("assured", before, replace(new, last_updated=before.last_updated))
    return Change("changed", before, new, fields)


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
    with audited(engine, actor, target=f"record:{feature_id}", ip=ip), engine.begin() as conn:
        layer_name = record_layer(conn, feature_id)
        info = layer_info(conn, layer_name)
        if info.ref.counts_only:
            require(actor, "edit_record", RecordRef(info.ref, None))
        lock_layer(conn, info.id)
        before = record_state(current_records(conn, info.id, layer_owner=info.ref.owner_org_id), feature_id)
        require(actor, "edit_record", RecordRef(info.ref, before.owner_org_id))
        if expected_state is not None and layer_state(conn, info.id) != expected_state:
            raise VersionConflict(f"layer '{layer_name}' changed while you were editing; open the record again "
                                  "and re-enter your change")
        ensure_versioned(conn, info.id, actor=actor)
        before = record_state(current_records(conn, info.id), feature_id)
        change = edit_change(before, after, assured=assured, now=datetime.now(UTC))
        result = apply_changes(conn, info.id, [change], action="edit", actor=actor, org_id=before.owner_org_id,
                               unchanged=0)
        audit.record(conn, "record_edited", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{layer_name}/record:{before.key}",
                     detail={"feature_id": feature_id, "fields": list(change.fields), "assured": assured,
                             "version": result.number})
    return result


def deny(engine: Engine, actor: Principal, action: str, target: str, *, ip: str | None = None) -> None:
    """Record in the audit log that ``actor`` was refused ``action`` on ``target``."""
    with engine.begin() as conn:
        audit.record(conn, "permission_denied", actor_id=actor.id, actor_email=actor.email, ip=ip, target=target,
                     detail={"action": action})
