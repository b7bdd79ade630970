"""The audit log in the store: append an event, read the newest ones.

Which actions exist and who may read the log is decided by :mod:`insight.partner.audit`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from insight.store.models import AuditEvent


@dataclass(frozen=True)
class Event:
    """One audit entry as shown to an admin."""

    at: datetime
    actor_email: str | None
    ip: str | None
    action: str
    target: str | None
    detail: dict[str, Any]


def insert_event(
    conn: Connection,
    action: str,
    *,
    actor_id: int | None,
    actor_email: str | None,
    ip: str | None,
    target: str | None,
    detail: dict[str, Any],
) -> None:
    """Append one event, stamped now, in the transaction of ``conn``."""
    conn.execute(insert(AuditEvent).values(
        at=datetime.now(UTC), actor_id=actor_id, actor_email=actor_email, ip=ip, action=action, target=target,
        detail=detail,
    ))


def read_events(engine: Engine, *, limit: int, action: str | None = None) -> list[Event]:
    """The newest ``limit`` events, newest first, optionally of one action."""
    query = select(
        AuditEvent.at, AuditEvent.actor_email, AuditEvent.ip, AuditEvent.action, AuditEvent.target, AuditEvent.detail
    ).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    with engine.connect() as conn:
        return [Event(*row) for row in conn.execute(query).all()]
