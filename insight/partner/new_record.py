"""Adding one record to an asset layer from a form: checked like an upload row, saved as a new version.

A partner's record belongs to their organisation; an officer's to the layer's owner (or nobody, on
a shared layer). The record gets a new key (``rec-`` and random characters) that later uploads can use.
"""
from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from insight.errors import ConfigError, LoadError, VersionConflict
from insight.partner import audit
from insight.partner.auth import Principal, require
from insight.partner.layer_rules import audited, layer_info
from insight.partner.record_checks import Context, check_table
from insight.partner.records import Change, current_records, layer_state
from insight.partner.tables import RawTable
from insight.partner.upload_preview import existing_records
from insight.partner.value_checks import Issue
from insight.partner.versions import apply_changes, ensure_versioned, lock_layer
from insight.store import Engine, authority_geometry
from insight.store.records import RecordState, VersionInfo

__all__ = ["add_record", "check_new_record", "new_key"]

FIELDS = ("name", "category", "longitude", "latitude")


def new_key() -> str:
    """A fresh record key."""
    return "rec-" + secrets.token_hex(5)


def _owner(actor: Principal, layer_owner: int | None) -> int | None:
    return actor.org_id if actor.role == "partner" else layer_owner


def check_new_record(engine: Engine, layer: str, values: dict[str, str], *, actor: Principal,
                     ) -> tuple[RecordState | None, list[Issue]]:
    """Check a new record (``name``, ``category``, ``longitude``, ``latitude`` and any other field) with the rules
    of an upload row. Returns the record (None if there are errors) and the issues."""
    with audited(engine, actor, target=f"layer:{layer}"), engine.connect() as conn:
        info = layer_info(conn, layer)
        require(actor, "upload", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
    if not (info.configured or info.theme == "assets"):
        raise ConfigError(f"layer '{layer}' is not an asset layer open to partners")
    owner = _owner(actor, info.ref.owner_org_id)
    record: dict[str, Any] = {k: v for k, v in values.items() if v.strip() or k in FIELDS} | {"id": new_key()}
    table = RawTable("form", list(record), [record])
    context = Context(authority=authority_geometry(engine), existing=existing_records(states, owner, False))
    try:
        result = check_table(table, replace(info.rules, key_field="id"), context, source="the form")
    except LoadError as err:
        return None, [Issue(None, p.column, p.reason) for p in err.problems]
    if result.errors or not result.candidates:
        return None, result.issues
    c = result.candidates[0]
    return RecordState(c.key, owner, c.name, c.category, c.properties, c.lon, c.lat, c.inside_authority), \
        result.issues


def add_record(engine: Engine, layer: str, record: RecordState, *, actor: Principal, expected_state: str | None,
               ip: str | None = None) -> VersionInfo:
    """Save a checked new record as the layer's next version (marked checked as true today) and audit it.

    VersionConflict if the layer changed since the form was opened.
    """
    now = datetime.now(UTC)
    with audited(engine, actor, target=f"layer:{layer}", ip=ip), engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "upload", info.ref)
        lock_layer(conn, info.id)
        if expected_state is not None and layer_state(conn, info.id) != expected_state:
            raise VersionConflict(f"layer '{layer}' changed while you were filling in the form; check the list "
                                  "of records, then add yours again")
        ensure_versioned(conn, info.id, actor=actor)
        state = replace(record, owner_org_id=_owner(actor, info.ref.owner_org_id), last_updated=now,
                        last_assured=now)
        result = apply_changes(conn, info.id, [Change("added", None, state)], action="edit", actor=actor,
                               org_id=state.owner_org_id, unchanged=0)
        audit.record(conn, "record_added", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{layer}/record:{state.key}", detail={"name": state.name,
                                                                        "version": result.number})
    return result
