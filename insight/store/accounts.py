"""Accounts in the store: users, organisations, API tokens and sign-in attempts.

Plain reads and writes only; who may do what, password rules and rate limits are
decided by :mod:`insight.partner.auth`. Every function runs in the caller's
transaction (``conn``), so an action and its audit record land together.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from insight.errors import BadRequest, ConfigError
from insight.store.models import ROLES, ApiToken, LoginAttempt, Organisation, User, UserSession
from insight.store.timestamps import aware

__all__ = [
    "INVITED",
    "PendingRow",
    "accept_invitation",
    "ROLES",
    "SessionRow",
    "TokenInfo",
    "UserRow",
    "active_admins",
    "add_sign_in_attempt",
    "end_session",
    "end_user_sessions",
    "failed_attempt_times",
    "find_session",
    "find_invitation",
    "find_user",
    "insert_organisation",
    "insert_session",
    "insert_token",
    "insert_user",
    "integrity_problem",
    "is_unique_violation",
    "last_success",
    "live_token",
    "list_user_rows",
    "organisation_id_by_slug",
    "organisation_names",
    "organisation_slugs",
    "pending_invitations",
    "prune_sign_in_attempts",
    "reissue_invitation",
    "record_sign_in",
    "revoke_token",
    "revoke_user_tokens",
    "set_active",
    "token_owner",
    "tokens_of",
    "touch_session",
    "touch_token",
    "update_password",
    "update_role",
    "user_exists",
]


@dataclass(frozen=True)
class UserRow:
    """A user as stored, with the slug and name of their organisation."""

    id: int
    email: str
    role: str
    organisation_id: int | None
    org_slug: str | None
    org_name: str | None
    session_epoch: int
    active: bool
    password_hash: str


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


# --- integrity errors ------------------------------------------------------------------------------


def is_unique_violation(error: IntegrityError) -> bool:
    """True when ``error`` is a unique-constraint violation (the row exists already), not another broken rule.

    PostgreSQL (psycopg) reports SQLSTATE 23505 (UniqueViolation); SQLite says "UNIQUE constraint failed".
    """
    if getattr(error.orig, "sqlstate", None) == "23505":
        return True
    return str(error.orig).startswith("UNIQUE constraint failed")


def integrity_problem(error: IntegrityError, fields: dict[str, str], *, what: str) -> BadRequest:
    """A plain refusal for a broken rule other than uniqueness (a check or a foreign key), naming the field.

    ``fields`` maps a word found in the constraint's name or message (e.g. ``"role"``) to the field's name for
    people; the first that matches is named, else the last.
    """
    diag = getattr(error.orig, "diag", None)
    said = str(getattr(diag, "constraint_name", None) or error.orig).lower()
    field = next((label for word, label in fields.items() if word in said), list(fields.values())[-1])
    return BadRequest(f"{what} was not saved: the {field} given is not allowed. Choose it from the list offered")


# --- organisations ------------------------------------------------------------------------------


def organisation_id_by_slug(conn: Connection, slug: str) -> int | None:
    """The id of the organisation ``slug``, or None."""
    found: int | None = conn.execute(select(Organisation.id).where(Organisation.slug == slug)).scalar_one_or_none()
    return found


def organisation_slugs(conn: Connection) -> list[str]:
    """Every organisation's slug, in order."""
    return list(conn.execute(select(Organisation.slug).order_by(Organisation.slug)).scalars())


def insert_organisation(conn: Connection, slug: str, *, name: str, kind: str = "vcfs") -> int:
    """Add an organisation; returns its id. ConfigError if one with ``slug`` exists (even one added a moment ago
    by someone else: the store's unique index decides)."""
    try:
        with conn.begin_nested():
            new_id: int = conn.execute(
                insert(Organisation)
                .values(slug=slug, name=name, kind=kind, created_at=datetime.now(UTC))
                .returning(Organisation.id)
            ).scalar_one()
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise integrity_problem(error, {"kind": "kind", "slug": "short name"},
                                    what=f"the organisation '{slug}'") from None
        raise ConfigError(f"an organisation '{slug}' already exists (perhaps someone added it just now): "
                          "choose it from the list, or give the new one another short name") from None
    return new_id


def organisation_names(conn: Connection) -> dict[int, tuple[str, str]]:
    """Every organisation's (slug, name) by id."""
    rows = conn.execute(select(Organisation.id, Organisation.slug, Organisation.name)).all()
    return {r.id: (r.slug, r.name) for r in rows}


# --- users ------------------------------------------------------------------------------------------


_USERS = select(
    User.id, User.email, User.role, User.organisation_id, Organisation.slug, Organisation.name,
    User.session_epoch, User.active, User.password_hash,
).outerjoin(Organisation, Organisation.id == User.organisation_id)


def _user_row(row: Any) -> UserRow:
    return UserRow(row.id, row.email, row.role, row.organisation_id, row.slug, row.name, row.session_epoch,
                   bool(row.active), row.password_hash)


def find_user(conn: Connection, *, email: str | None = None, user_id: int | None = None) -> UserRow | None:
    """The user with ``email`` or ``user_id`` (give one), active or not; None if there is none."""
    query = _USERS.where(User.email == email) if email is not None else _USERS.where(User.id == user_id)
    row = conn.execute(query).one_or_none()
    return None if row is None else _user_row(row)


def list_user_rows(conn: Connection) -> list[UserRow]:
    """Every user, by email."""
    return [_user_row(r) for r in conn.execute(_USERS.order_by(User.email)).all()]


def user_exists(conn: Connection, email: str) -> bool:
    """True if an account with ``email`` exists."""
    return conn.execute(select(User.id).where(User.email == email)).scalar_one_or_none() is not None


def insert_user(conn: Connection, email: str, *, name: str, role: str, organisation_id: int | None,
                password_hash: str) -> None:
    """Add an active account; ConfigError if one with ``email`` exists (the store's unique index decides)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(User).values(
                email=email, name=name, role=role, organisation_id=organisation_id, password_hash=password_hash,
                active=True, session_epoch=0, created_at=datetime.now(UTC),
                invited_at=datetime.now(UTC) if password_hash.startswith(INVITED) else None,
            ))
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise integrity_problem(error, {"role": "role", "org": "organisation"},
                                    what=f"the account for {email}") from None
        raise ConfigError(f"an account for {email} already exists (perhaps someone added it just now)") from None


INVITED = "invited:"
"""How the password hash of an invited account starts: the SHA-256 of its one-time code follows, so no password
matches it until the invitation is accepted."""


_ISSUED = func.coalesce(User.invited_at, User.created_at).label("issued")


def _issued(row: Any) -> datetime:
    issued = aware(row.issued)
    return issued if issued is not None else datetime.now(UTC)


def find_invitation(conn: Connection, code_digest: str) -> tuple[UserRow, datetime] | None:
    """The invited account whose one-time code has this digest, with when its link was issued; None if none."""
    row = conn.execute(_USERS.add_columns(_ISSUED).where(User.password_hash == INVITED + code_digest)).one_or_none()
    return None if row is None else (_user_row(row), _issued(row))


@dataclass(frozen=True)
class PendingRow:
    """An account still waiting for its person to accept the invitation, and when its link was issued."""

    user: UserRow
    issued: datetime


def pending_invitations(conn: Connection) -> list[PendingRow]:
    """Every account whose invitation is not yet accepted, by email."""
    rows = conn.execute(_USERS.add_columns(_ISSUED).where(User.password_hash.startswith(INVITED, autoescape=True))
                        .order_by(User.email)).all()
    return [PendingRow(_user_row(r), _issued(r)) for r in rows]


def reissue_invitation(conn: Connection, user_id: int, *, code_digest: str, role: str, organisation_id: int | None,
                       name: str | None = None) -> bool:
    """Give a pending invitation a new code (the old link stops working) issued now, with this role and
    organisation; False if the account has accepted its invitation in the meantime."""
    values: dict[str, Any] = {"password_hash": INVITED + code_digest, "invited_at": datetime.now(UTC),
                              "role": role, "organisation_id": organisation_id}
    if name is not None:
        values["name"] = name
    done = conn.execute(update(User).where(User.id == user_id, User.password_hash.startswith(INVITED, autoescape=True))
                        .values(**values)).rowcount
    return bool(done)


def accept_invitation(conn: Connection, code_digest: str, password_hash: str) -> bool:
    """Give the account invited with this code digest its first password; False if the code was used already."""
    done = conn.execute(update(User).where(User.password_hash == INVITED + code_digest)
                        .values(password_hash=password_hash, session_epoch=User.session_epoch + 1)).rowcount
    return bool(done)


def update_role(conn: Connection, user_id: int, *, role: str, organisation_id: int | None) -> None:
    """Set a user's role and organisation and end their sessions (the session epoch moves on)."""
    conn.execute(update(User).where(User.id == user_id)
                 .values(role=role, organisation_id=organisation_id, session_epoch=User.session_epoch + 1))


def update_password(conn: Connection, email: str, password_hash: str) -> bool:
    """Replace a password hash and end the user's sessions; False if there is no such account."""
    done = conn.execute(update(User).where(User.email == email)
                        .values(password_hash=password_hash, session_epoch=User.session_epoch + 1)).rowcount
    return bool(done)


def record_sign_in(conn: Connection, user_id: int, *, at: datetime, password_hash: str | None = None) -> None:
    """Note a successful sign-in, replacing the stored hash when one is given (a rehash)."""
    values: dict[str, Any] = {"last_sign_in_at": at}
    if password_hash is not None:
        values["password_hash"] = password_hash
    conn.execute(update(User).where(User.id == user_id).values(**values))


def active_admins(conn: Connection) -> list[str]:
    """Emails of the active administrators."""
    return list(conn.execute(select(User.email).where(User.role == "admin", User.active.is_(True))).scalars())


def set_active(conn: Connection, user_id: int, *, active: bool) -> None:
    """Enable or disable an account; disabling also ends its sessions (the session epoch moves on)."""
    values: dict[str, Any] = {"active": active}
    if not active:
        values["session_epoch"] = User.session_epoch + 1
    conn.execute(update(User).where(User.id == user_id).values(**values))


# --- sign-in attempts --------------------------------------------------------------------------------


def prune_sign_in_attempts(conn: Connection, before: datetime) -> None:
    """Forget sign-in attempts older than ``before``."""
    conn.execute(delete(LoginAttempt).where(LoginAttempt.at < before))


def last_success(conn: Connection, email: str, ip: str) -> datetime | None:
    """When ``email`` last signed in successfully from ``ip``, or None."""
    when: datetime | None = conn.execute(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(True)
        )
    ).scalar_one_or_none()
    return aware(when)


def failed_attempt_times(conn: Connection, *, ip: str, after: datetime, email: str | None = None) -> list[datetime]:
    """Times (UTC) of failed attempts from ``ip`` (and for ``email``, if given) later than ``after``."""
    query = select(LoginAttempt.at).where(
        LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(False), LoginAttempt.at > after
    )
    if email is not None:
        query = query.where(LoginAttempt.email == email)
    return [t for t in (aware(t) for t in conn.execute(query).scalars()) if t is not None]


def add_sign_in_attempt(conn: Connection, email: str, ip: str, *, at: datetime, succeeded: bool) -> None:
    """Record one sign-in attempt."""
    conn.execute(insert(LoginAttempt).values(email=email, ip=ip, at=at, succeeded=succeeded))


# --- API tokens ------------------------------------------------------------------------------------


def insert_token(conn: Connection, user_id: int, *, name: str, prefix: str, token_hash: str) -> int:
    """Store a token's digest; returns the token's id."""
    token_id: int = conn.execute(
        insert(ApiToken).values(user_id=user_id, name=name, prefix=prefix, token_hash=token_hash,
                                created_at=datetime.now(UTC)).returning(ApiToken.id)
    ).scalar_one()
    return token_id


def tokens_of(conn: Connection, user_id: int) -> list[TokenInfo]:
    """A user's tokens, newest first."""
    rows = conn.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.created_at, ApiToken.last_used_at,
               ApiToken.revoked_at).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    ).all()
    return [TokenInfo(*r) for r in rows]


def token_owner(conn: Connection, token_id: int) -> int | None:
    """The id of the user a token belongs to, or None if there is no such token."""
    owner: int | None = conn.execute(select(ApiToken.user_id).where(ApiToken.id == token_id)).scalar_one_or_none()
    return owner


def revoke_token(conn: Connection, token_id: int) -> None:
    """Mark a token revoked now (a token already revoked keeps its first date)."""
    conn.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                 .values(revoked_at=datetime.now(UTC)))


def live_token(conn: Connection, token_hash: str) -> tuple[int, int] | None:
    """(token id, user id) of the unrevoked token with this digest, or None."""
    found = conn.execute(
        select(ApiToken.id, ApiToken.user_id).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
    ).one_or_none()
    return None if found is None else (found.id, found.user_id)


def touch_token(conn: Connection, token_id: int) -> None:
    """Note that a token was used now."""
    conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=datetime.now(UTC)))


def revoke_user_tokens(conn: Connection, user_id: int) -> int:
    """Revoke every live token of a user; returns how many were live."""
    done: int = conn.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=datetime.now(UTC))).rowcount
    return done


# --- browser sessions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    """A browser session as stored (never its secret)."""

    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


def insert_session(conn: Connection, user_id: int, *, secret_hash: str, at: datetime) -> int:
    """Start a session; returns its id."""
    session_id: int = conn.execute(
        insert(UserSession).values(user_id=user_id, secret_hash=secret_hash, created_at=at, last_seen_at=at)
        .returning(UserSession.id)
    ).scalar_one()
    return session_id


def find_session(conn: Connection, secret_hash: str) -> SessionRow | None:
    """The session with this secret digest, ended or not; None if there is none."""
    row = conn.execute(
        select(UserSession.id, UserSession.user_id, UserSession.created_at, UserSession.last_seen_at,
               UserSession.ended_at).where(UserSession.secret_hash == secret_hash)
    ).one_or_none()
    if row is None:
        return None
    return SessionRow(row.id, row.user_id, aware(row.created_at), aware(row.last_seen_at), aware(row.ended_at))


def touch_session(conn: Connection, session_id: int, *, at: datetime) -> None:
    """Note that a session was used at ``at``."""
    conn.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=at))


def end_session(conn: Connection, session_id: int) -> None:
    """End one session now (a session already ended keeps its first end)."""
    conn.execute(update(UserSession).where(UserSession.id == session_id, UserSession.ended_at.is_(None))
                 .values(ended_at=datetime.now(UTC)))


def end_user_sessions(conn: Connection, user_id: int) -> int:
    """End every open session of a user now; returns how many were open."""
    done: int = conn.execute(update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                             .values(ended_at=datetime.now(UTC))).rowcount
    return done
