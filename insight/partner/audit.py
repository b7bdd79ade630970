"""The audit log: sign-ins, failed sign-ins, uploads, edits, restores, restricted exports, role changes.

Events are written in the caller's transaction, so an action and its record land together.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from insight.store.models import AuditEvent

ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "user_created",
    "role_changed",
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


@dataclass(frozen=True)
class Event:
    """One audit entry as shown to an admin."""

    at: datetime
    actor_email: str | None
    ip: str | None
    action: str
    target: str | None
    detail: dict


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
    """Append one event in the transaction of ``conn``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(ACTIONS)}")
    conn.execute(
        insert(AuditEvent).values(
            at=datetime.now(UTC), actor_id=actor_id, actor_email=actor_email, ip=ip,
            action=action, target=(target or "")[:300] or None, detail=detail or {},
        )
    )


def events(engine: Engine, *, limit: int = 200, action: str | None = None) -> list[Event]:
    """The newest ``limit`` events, newest first, optionally of one action.

    Callers check that the viewer may see the log (``auth.require(user, "view_audit")``).
    """
    query = select(
        AuditEvent.at, AuditEvent.actor_email, AuditEvent.ip, AuditEvent.action, AuditEvent.target, AuditEvent.detail
    ).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    with engine.connect() as conn:
        return [Event(*row) for row in conn.execute(query).all()]
