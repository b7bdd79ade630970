"""Browser sessions kept in the store: signing out ends every copy of the cookie.

A sign-in starts a session whose random secret goes in the (signed) cookie; only
its SHA-256 is stored. A session ends when its user signs out, signs out
everywhere, changes password, has their role changed or is disabled. It lasts at
most ``session_hours`` from sign-in, however much it is used (the lifetime does not
slide), and ends after ``session_idle_minutes`` without a request.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from insight.config import Settings
from insight.errors import PermissionDenied
from insight.partner import audit
from insight.partner.auth import Principal, user_by_id
from insight.store import Engine
from insight.store import accounts as store

__all__ = ["TOUCH_SECONDS", "end_session", "session_user", "sign_out_everywhere", "start_session"]

TOUCH_SECONDS = 60
"""How often a session's last use is written (not on every request, to spare the database)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start_session(engine: Engine, user: Principal) -> str:
    """Start a session for ``user`` (just signed in) and return the secret to keep in the cookie."""
    if user.id is None:
        raise PermissionDenied("sign in to start a session")
    secret = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        store.insert_session(conn, user.id, secret_hash=_digest(secret), at=datetime.now(UTC))
    return secret


def session_user(engine: Engine, secret: str, *, epoch: int | None, settings: Settings,
                 now: datetime | None = None) -> Principal | None:
    """The user of a live session, or None when it ended, is too old or idle, or the user changed since."""
    if not secret or len(secret) > 100:
        return None
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        row = store.find_session(conn, _digest(secret))
    if row is None or row.ended_at is not None:
        return None
    expired = (now - row.created_at > timedelta(hours=settings.session_hours)
               or now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes))
    user = None if expired else user_by_id(engine, row.user_id, epoch=epoch)
    if user is None:
        with engine.begin() as conn:
            store.end_session(conn, row.id)
        return None
    if now - row.last_seen_at > timedelta(seconds=TOUCH_SECONDS):
        with engine.begin() as conn:
            store.touch_session(conn, row.id, at=now)
    return user


def end_session(engine: Engine, secret: str, *, actor: Principal, ip: str | None = None) -> None:
    """Sign out: end this session for every copy of its cookie, and audit it."""
    with engine.begin() as conn:
        row = store.find_session(conn, _digest(secret)) if secret else None
        if row is not None:
            store.end_session(conn, row.id)
        if actor.signed_in:
            audit.record(conn, "sign_out", actor_id=actor.id, actor_email=actor.email, ip=ip)


def sign_out_everywhere(engine: Engine, actor: Principal, *, ip: str | None = None) -> int:
    """End every session of ``actor``, on every device; returns how many were open."""
    if actor.id is None:
        return 0
    with engine.begin() as conn:
        ended = store.end_user_sessions(conn, actor.id)
        audit.record(conn, "sign_out", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     detail={"everywhere": True, "sessions_ended": ended})
    return ended
