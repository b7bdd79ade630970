"""The audit log: sign-ins, failed sign-ins, uploads, edits, restores, restricted exports, role changes.

Events are written in the caller's transaction, so an action and its record land together.
"""
from __future__ import annotations

from typing import Any

from insight.errors import BadRequest
from insight.store import Connection, Engine
from insight.store.audit import Event, insert_event, read_events

__all__ = ["ACTIONS", "Event", "events", "record"]

ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "user_created",
    "user_invited",
    "invitation_accepted",
    "invitation_reissued",
    "organisation_created",
    "layer_created",
    "record_added",
    "role_changed",
    "user_disabled",
    "user_enabled",
    "password_changed",
    "token_created",
    "token_revoked",
    "upload_staged",
    "upload_committed",
    "upload_discarded",
    "record_edited",
    "version_restored",
    "layer_rules_changed",
    "export_restricted",
    "permission_denied",
)


def record(
    conn: Connection,
    action: str,
    *,
    actor_id: int | None = None,
    actor_email: str | None = None,
    ip: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event in the transaction of ``conn``; BadRequest for an action not in :data:`ACTIONS`."""
    if action not in ACTIONS:
        raise BadRequest(f"unknown audit action {action!r}; expected one of {', '.join(ACTIONS)}")
    insert_event(conn, action, actor_id=actor_id, actor_email=actor_email, ip=ip,
                 target=(target or "")[:300] or None, detail=detail or {})


def events(engine: Engine, *, limit: int = 200, action: str | None = None) -> list[Event]:
    """The newest ``limit`` events, newest first, optionally of one action.

    Callers check that the viewer may see the log (``auth.require(user, "view_audit")``).
    """
    return read_events(engine, limit=limit, action=action)
