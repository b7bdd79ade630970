"""Accounts, roles and the one permission check used by every page, endpoint, export and command.

Roles
-----
public (anonymous), councillor, officer, analyst, partner (member of one
organisation) and admin. What each may do is the table :data:`PERMISSIONS`;
:func:`can` reads it and nothing else decides access.

Survey respondents are counts-only: no role, page, API or command lists, exports,
opens, edits or versions the rows of a layer marked ``counts_only`` (see
:data:`COUNTS_ONLY_REFUSED`). Tokens act for their user but never manage tokens or
accounts (:data:`SESSION_ONLY`): that takes a signed-in browser session.

Passwords are hashed with Argon2id (argon2-cffi, :mod:`insight.partner.passwords`). API tokens are random, shown
once, stored as SHA-256 (a 256-bit random token needs no slow hash) and
revocable. Failed sign-ins are counted in the database per account and address,
so the limit holds across restarts and workers.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from insight.config import Settings
from insight.errors import BadRequest, ConfigError, NotFoundError, PermissionDenied, SignInRefused
from insight.partner import audit
from insight.partner.passwords import (
    DUMMY_HASH,
    MAX_PASSWORD,
    MIN_PASSWORD,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from insight.store import Connection, Engine
from insight.store import accounts as store
from insight.store.accounts import ROLES, TokenInfo, UserRow

__all__ = [
    "ANONYMOUS", "COUNTS_ONLY_REFUSED", "MAX_PASSWORD", "MIN_PASSWORD", "PERMISSIONS", "ROLES", "SESSION_ONLY",
    "SYSTEM", "TOKEN_PREFIX", "LayerRef", "NewToken", "PermissionDenied", "Principal", "RecordRef", "RowsRefused",
    "SignInRefused", "Throttle", "TokenInfo", "UploadRef", "authenticate_token", "can", "create_token",
    "create_user", "hash_password", "list_tokens", "list_users", "normalise_email", "organisation_id",
    "password_problems", "require", "revoke_token", "set_active", "set_password", "set_role", "sign_in",
    "throttle_state", "token_digest", "user_by_email", "user_by_id", "verify_password",
]

TOKEN_PREFIX = "li_"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a signed-in user, or the anonymous public."""

    id: int | None
    email: str | None
    role: str
    org_id: int | None = None
    org_slug: str | None = None
    org_name: str | None = None
    session_epoch: int = 0
    via_token: bool = False

    @property
    def signed_in(self) -> bool:
        """True for a signed-in user, False for the anonymous public."""
        return self.id is not None

    def describe(self) -> str:
        """Who this is, for messages: email, role and organisation."""
        if not self.signed_in:
            return "not signed in"
        where = f" of {self.org_name or self.org_slug}" if self.org_slug else ""
        return f"{self.email} ({self.role}{where})"


ANONYMOUS = Principal(id=None, email=None, role="public")
SYSTEM = Principal(id=None, email="system (command line)", role="admin")


@dataclass(frozen=True)
class LayerRef:
    """What a permission check needs to know about a layer."""

    name: str
    sensitivity: str = "public"
    owner_org_id: int | None = None
    partner_upload: bool = False
    counts_only: bool = False


@dataclass(frozen=True)
class RecordRef:
    """What a permission check needs to know about one record of a layer."""

    layer: LayerRef
    owner_org_id: int | None


@dataclass(frozen=True)
class UploadRef:
    """What a permission check needs to know about a pending upload: its layer and who sent it."""

    layer: LayerRef | None
    sender_id: int | None


class RowsRefused(PermissionDenied):
    """Refused because the layer's rows are counts-only (survey respondents); the refusal is to be audited.

    ``audited`` is set once the refusal is in the audit log, so it is written once.
    """

    audited: bool = False


Resource = LayerRef | RecordRef | UploadRef | None
Rule = bool | str

PERMISSIONS: dict[str, dict[str, Rule]] = {
    #                 public      councillor   officer  analyst  partner              admin
    "read_layer":    {"public": "public", "councillor": True, "officer": True, "analyst": True,
                      "partner": "public_or_own", "admin": True},
    "export_layer":  {"public": "public", "councillor": "public", "officer": "public", "analyst": True,
                      "partner": "public_or_own", "admin": True},
    "upload":        {"public": False, "councillor": False, "officer": True, "analyst": False,
                      "partner": "own_partner_layer", "admin": True},
    "edit_record":   {"public": False, "councillor": False, "officer": True, "analyst": False,
                      "partner": "own_record", "admin": True},
    "view_history":  {"public": False, "councillor": False, "officer": True, "analyst": False,
                      "partner": "own_partner_layer", "admin": True},
    "restore":       {"public": False, "councillor": False, "officer": True, "analyst": False,
                      "partner": False, "admin": True},
    "manage_layers": {"public": False, "councillor": False, "officer": True, "analyst": False,
                      "partner": False, "admin": True},
    "view_audit":    {"public": False, "councillor": False, "officer": False, "analyst": False,
                      "partner": False, "admin": True},
    "manage_users":  {"public": False, "councillor": False, "officer": False, "analyst": False,
                      "partner": False, "admin": True},
    "use_tokens":    {"public": False, "councillor": True, "officer": True, "analyst": True,
                      "partner": True, "admin": True},
    "upload_survey": {"public": False, "councillor": False, "officer": True, "analyst": True,
                      "partner": False, "admin": True},
    "discard_upload": {"public": False, "councillor": False, "officer": True, "analyst": "own_upload",
                       "partner": "own_upload", "admin": True},
    "invite_people": {"public": False, "councillor": False, "officer": True, "analyst": False,
                      "partner": False, "admin": True},
}

COUNTS_ONLY_REFUSED = frozenset({
    "read_layer", "export_layer", "edit_record", "view_history", "restore", "manage_layers",
})
"""Actions over individual rows: refused to every role on a counts-only layer. Survey respondents change only
through the survey upload and restore pages (rights ``upload_survey`` and ``restore``, without a layer); asset
uploads refuse any layer not configured for uploads, and ``manage_layers`` here keeps a counts-only layer from
being configured."""

SESSION_ONLY = frozenset({"use_tokens", "manage_users", "invite_people"})
"""Actions an API token may never do: creating, listing or revoking tokens and changing accounts."""

_WHY = {
    "public": "only public layers are open to this role",
    "public_or_own": "partners may only use public layers and their own organisation's layers",
    "own_partner_layer": "partners may only work on layers open to partner uploads that belong to "
                         "their organisation or are shared",
    "own_record": "partners may only edit their own organisation's records",
    "own_upload": "only the person who sent an upload (or an officer or administrator) may discard it",
}
_COUNTS_ONLY_WHY = ("survey respondent rows never leave the server: only counts are shown, and the survey changes "
                    "only through the survey files page")
_SESSION_ONLY_WHY = "an API token cannot manage tokens or accounts: sign in with a browser to do that"


def _layer_of(resource: Resource) -> LayerRef | None:
    return resource.layer if isinstance(resource, (RecordRef, UploadRef)) else resource


def _own_partner_layer(user: Principal, layer: LayerRef | None) -> bool:
    return (
        layer is not None and layer.partner_upload and user.org_id is not None
        and layer.owner_org_id in (None, user.org_id)
    )


def _check_scope(rule: str, user: Principal, resource: Resource) -> bool:
    layer = _layer_of(resource)
    if rule == "public":
        return layer is not None and layer.sensitivity == "public"
    if rule == "public_or_own":
        return layer is not None and (
            layer.sensitivity == "public" or (user.org_id is not None and layer.owner_org_id == user.org_id)
        )
    if rule == "own_partner_layer":
        return _own_partner_layer(user, layer)
    if rule == "own_record":
        if not isinstance(resource, RecordRef) or not _own_partner_layer(user, resource.layer):
            return False
        owner = resource.owner_org_id if resource.owner_org_id is not None else resource.layer.owner_org_id
        return owner == user.org_id
    if rule == "own_upload":
        return isinstance(resource, UploadRef) and user.id is not None and resource.sender_id == user.id
    raise BadRequest(f"unknown permission rule {rule!r}; rules: public, public_or_own, own_partner_layer, "
                     "own_record, own_upload")


def can(user: Principal, action: str, resource: Resource = None) -> bool:
    """True if ``user`` may do ``action`` (a key of :data:`PERMISSIONS`) on ``resource``.

    BadRequest for an action or role the table does not know.
    """
    try:
        rule = PERMISSIONS[action][user.role]
    except KeyError:
        msg = (f"unknown action {action!r} or role {user.role!r}; actions: {', '.join(PERMISSIONS)}; "
               f"roles: {', '.join(ROLES)}")
        raise BadRequest(msg) from None
    if user.via_token and action in SESSION_ONLY:
        return False
    layer = _layer_of(resource)
    if layer is not None and layer.counts_only and action in COUNTS_ONLY_REFUSED:
        return False
    if isinstance(rule, bool):
        return rule
    return _check_scope(rule, user, resource)


def require(user: Principal, action: str, resource: Resource = None) -> None:
    """Raise PermissionDenied, naming the role and the reason, unless :func:`can` allows it.

    On a counts-only layer the refusal is :class:`RowsRefused`.
    """
    if can(user, action, resource):
        return
    rule = PERMISSIONS[action][user.role]
    what = action.replace("_", " ")
    target = ""
    layer = _layer_of(resource)
    if layer is not None:
        target = f" on layer '{layer.name}'"
    if layer is not None and layer.counts_only and action in COUNTS_ONLY_REFUSED:
        raise RowsRefused(f"no one may {what}{target}: {_COUNTS_ONLY_WHY}")
    if user.via_token and action in SESSION_ONLY:
        raise PermissionDenied(_SESSION_ONLY_WHY)
    if not user.signed_in:
        raise PermissionDenied(f"sign in to {what}{target}")
    reason = _WHY.get(rule, "") if isinstance(rule, str) else f"the {user.role} role does not include it"
    raise PermissionDenied(f"{user.describe()} may not {what}{target}: {reason}")


# --- users and organisations ---------------------------------------------------------------


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed email; ConfigError if it is not shaped like an address."""
    cleaned = email.strip().lower()
    if not _EMAIL.fullmatch(cleaned) or len(cleaned) > 254:
        raise ConfigError(f"'{email}' is not an email address (expected name@example.org)")
    return cleaned


def organisation_id(conn: Connection, slug: str, *, name: str | None = None, create: bool = False) -> int:
    """The id of the organisation ``slug``; with ``create``, add it if missing."""
    found = store.organisation_id_by_slug(conn, slug)
    if found is not None:
        return found
    if not create:
        known = ", ".join(store.organisation_slugs(conn))
        raise NotFoundError(f"no organisation '{slug}' (known: {known or 'none'})")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", slug):
        raise ConfigError(f"organisation slug '{slug}' must be lower-case letters, digits, '-' or '_'")
    return store.insert_organisation(conn, slug, name=name or slug)


def _principal(row: UserRow) -> Principal:
    return Principal(
        id=row.id, email=row.email, role=row.role, org_id=row.organisation_id, org_slug=row.org_slug,
        org_name=row.org_name, session_epoch=row.session_epoch,
    )


def _check_role(role: str, org_slug: str | None) -> None:
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    if role == "partner" and not org_slug:
        raise ConfigError("a partner belongs to one organisation: give its slug (--org SLUG)")
    if role != "partner" and org_slug:
        raise ConfigError(f"only partners belong to an organisation; the {role} role takes no --org")


def _check_password(password: str, email: str) -> None:
    problems = password_problems(password, email=email)
    if problems:
        raise ConfigError("password not accepted: " + "; ".join(problems))


def _found(row: UserRow | None, email: str) -> UserRow:
    if row is None:
        raise NotFoundError(f"no account for {email}")
    return row


def create_user(
    engine: Engine,
    email: str,
    *,
    role: str,
    password: str,
    org_slug: str | None = None,
    name: str = "",
    actor: Principal = SYSTEM,
    create_org: bool = False,
) -> Principal:
    """Add an account; ConfigError if the email is taken, the role unknown or the password weak."""
    require(actor, "manage_users")
    email = normalise_email(email)
    _check_role(role, org_slug)
    _check_password(password, email)
    with engine.begin() as conn:
        if store.user_exists(conn, email):
            raise ConfigError(f"an account for {email} already exists (change its role with 'insight user role')")
        org_id = organisation_id(conn, org_slug, create=create_org) if org_slug else None
        store.insert_user(conn, email, name=name, role=role, organisation_id=org_id,
                          password_hash=hash_password(password))
        audit.record(conn, "user_created", actor_id=actor.id, actor_email=actor.email, target=f"user:{email}",
                     detail={"role": role, "organisation": org_slug})
        row = _found(store.find_user(conn, email=email), email)
    return _principal(row)


def _keep_an_admin(conn: Connection, before: UserRow, *, losing: str) -> None:
    """Refuse a change that would leave no active administrator."""
    if before.role == "admin" and before.active and store.active_admins(conn) == [before.email]:
        raise ConfigError(f"{before.email} is the only administrator: make another account an administrator "
                          f"before you {losing}")


def _end_everything(conn: Connection, user_id: int) -> dict[str, int]:
    """End a user's sessions and revoke their tokens (after a role change or when disabled)."""
    return {"sessions_ended": store.end_user_sessions(conn, user_id),
            "tokens_revoked": store.revoke_user_tokens(conn, user_id)}


def set_role(
    engine: Engine, email: str, *, role: str, org_slug: str | None = None, actor: Principal = SYSTEM
) -> Principal:
    """Change a user's role (and organisation); their sessions end and their tokens are revoked.

    ConfigError if it would leave no administrator.
    """
    require(actor, "manage_users")
    email = normalise_email(email)
    _check_role(role, org_slug)
    with engine.begin() as conn:
        before = _found(store.find_user(conn, email=email), email)
        if role != "admin":
            _keep_an_admin(conn, before, losing="change its role")
        org_id = organisation_id(conn, org_slug) if org_slug else None
        store.update_role(conn, before.id, role=role, organisation_id=org_id)
        ended = _end_everything(conn, before.id)
        audit.record(conn, "role_changed", actor_id=actor.id, actor_email=actor.email, target=f"user:{email}",
                     detail={"from": before.role, "to": role, "organisation": org_slug,
                             "previous_organisation": before.org_slug} | ended)
        row = _found(store.find_user(conn, user_id=before.id), email)
    return _principal(row)


def set_active(engine: Engine, email: str, *, active: bool, actor: Principal = SYSTEM) -> Principal:
    """Enable or disable an account; disabling ends its sessions and revokes its tokens.

    ConfigError if it would leave no administrator.
    """
    require(actor, "manage_users")
    email = normalise_email(email)
    with engine.begin() as conn:
        before = _found(store.find_user(conn, email=email), email)
        ended: dict[str, int] = {}
        if not active:
            _keep_an_admin(conn, before, losing="disable it")
            ended = _end_everything(conn, before.id)
        store.set_active(conn, before.id, active=active)
        audit.record(conn, "user_enabled" if active else "user_disabled", actor_id=actor.id,
                     actor_email=actor.email, target=f"user:{email}", detail=ended)
        row = _found(store.find_user(conn, user_id=before.id), email)
    return _principal(row)


def set_password(engine: Engine, email: str, password: str, *, actor: Principal = SYSTEM) -> None:
    """Replace a user's password (the user themself, or an admin); their sessions end."""
    email = normalise_email(email)
    if actor.email != email or actor.via_token:
        require(actor, "manage_users")
    _check_password(password, email)
    with engine.begin() as conn:
        row = store.find_user(conn, email=email)
        if row is None or not store.update_password(conn, email, hash_password(password)):
            raise NotFoundError(f"no account for {email}")
        store.end_user_sessions(conn, row.id)
        audit.record(conn, "password_changed", actor_id=actor.id, actor_email=actor.email, target=f"user:{email}")


def user_by_id(engine: Engine, user_id: int, *, epoch: int | None = None) -> Principal | None:
    """The active user ``user_id``; None if missing, disabled or (with ``epoch``) signed out since."""
    with engine.connect() as conn:
        row = store.find_user(conn, user_id=user_id)
    if row is None or not row.active or (epoch is not None and row.session_epoch != epoch):
        return None
    return _principal(row)


def user_by_email(engine: Engine, email: str) -> Principal:
    """The user with ``email``; NotFoundError otherwise."""
    email = normalise_email(email)
    with engine.connect() as conn:
        row = store.find_user(conn, email=email)
    if row is None:
        raise NotFoundError(f"no account for {email} (create it with 'insight user add {email} --role ROLE')")
    return _principal(row)


def list_users(engine: Engine, *, actor: Principal) -> list[Principal]:
    """Every account, for admins."""
    require(actor, "manage_users")
    with engine.connect() as conn:
        return [_principal(r) for r in store.list_user_rows(conn)]


# --- signing in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """Whether sign-in is paused for an account and address, and for how long."""

    blocked: bool
    retry_after: timedelta = timedelta(0)


def throttle_state(
    failures_pair: list[datetime], failures_ip: list[datetime], *, now: datetime, settings: Settings
) -> Throttle:
    """Pure rule: pause when the account+address or the address alone has too many recent failures.

    ``failures_*`` are the times of failed attempts within the window (newest last).
    """
    window = timedelta(minutes=settings.login_window_minutes)
    limits = ((failures_pair, settings.login_max_failures), (failures_ip, settings.login_max_failures_per_ip))
    for times, limit in limits:
        recent = sorted(t for t in times if now - t < window)
        if len(recent) >= limit:
            return Throttle(True, recent[len(recent) - limit] + window - now)
    return Throttle(False)


def _recent_failures(conn: Connection, email: str, ip: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
    """Failures for the account and address since its last success (within the window), and for the address."""
    last = store.last_success(conn, email, ip)
    start = max(since, last) if last else since
    pair = store.failed_attempt_times(conn, ip=ip, after=start, email=email)
    by_ip = store.failed_attempt_times(conn, ip=ip, after=since)
    return pair, by_ip


def _refusal_reason(row: UserRow | None) -> str:
    if row is not None and row.password_hash.startswith(store.INVITED):
        return "invitation not accepted yet"
    return "disabled account" if row is not None and not row.active else "wrong email or password"


def sign_in(engine: Engine, email: str, password: str, *, ip: str, settings: Settings) -> Principal:
    """Check a password sign-in, record the attempt and audit it; SignInRefused with a reason otherwise.

    The same message answers an unknown email and a wrong password.
    """
    now = datetime.now(UTC)
    key = email.strip().lower()[:254]
    ip = (ip or "unknown")[:64]
    window = timedelta(minutes=settings.login_window_minutes)
    with engine.begin() as conn:
        store.prune_sign_in_attempts(conn, now - 4 * window)
        pair, by_ip = _recent_failures(conn, key, ip, now - window)
        throttle = throttle_state(pair, by_ip, now=now, settings=settings)
        if throttle.blocked:
            minutes = max(1, int(throttle.retry_after.total_seconds() // 60) + 1)
            audit.record(conn, "sign_in_failed", actor_email=key, ip=ip, detail={"reason": "rate limited"})
            raise SignInRefused(f"too many failed sign-in attempts: wait {minutes} minute(s) and try again")
        row = store.find_user(conn, email=key)
        invited = row is not None and row.password_hash.startswith(store.INVITED)
        checked = row.password_hash if row is not None and not invited else DUMMY_HASH
        matches = verify_password(checked, password) and not invited
        user = row if matches and row is not None and row.active else None
        store.add_sign_in_attempt(conn, key, ip, at=now, succeeded=user is not None)
        if user is None:
            audit.record(conn, "sign_in_failed", actor_email=key, ip=ip, detail={"reason": _refusal_reason(row)})
    if user is None:
        raise SignInRefused("the email address or password is not right")
    with engine.begin() as conn:
        rehash = hash_password(password) if needs_rehash(user.password_hash) else None
        store.record_sign_in(conn, user.id, at=now, password_hash=rehash)
        audit.record(conn, "sign_in", actor_id=user.id, actor_email=user.email, ip=ip)
    return _principal(user)


# --- API tokens ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is shown once and never stored."""

    id: int
    name: str
    token: str


def token_digest(token: str) -> str:
    """SHA-256 hex of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, user: Principal, name: str) -> NewToken:
    """A new API token for ``user`` (who must be signed in)."""
    require(user, "use_tokens")
    if user.id is None:
        raise PermissionDenied("sign in to use tokens")
    name = name.strip()[:100] or "script"
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        token_id = store.insert_token(conn, user.id, name=name, prefix=token[:10], token_hash=token_digest(token))
        audit.record(conn, "token_created", actor_id=user.id, actor_email=user.email, target=f"token:{token_id}",
                     detail={"name": name})
    return NewToken(token_id, name, token)


def list_tokens(engine: Engine, user: Principal) -> list[TokenInfo]:
    """The user's tokens, newest first (PermissionDenied when asked with a token)."""
    if user.id is None:
        return []
    require(user, "use_tokens")
    with engine.connect() as conn:
        return store.tokens_of(conn, user.id)


def revoke_token(engine: Engine, token_id: int, *, actor: Principal) -> None:
    """Revoke a token: its owner or an admin may, from a signed-in session; NotFoundError if it is not theirs."""
    if actor.via_token:
        require(actor, "use_tokens")
    with engine.begin() as conn:
        owner = store.token_owner(conn, token_id)
        if owner is None or (owner != actor.id and not can(actor, "manage_users")):
            raise NotFoundError(f"no token {token_id} of yours")
        store.revoke_token(conn, token_id)
        audit.record(conn, "token_revoked", actor_id=actor.id, actor_email=actor.email, target=f"token:{token_id}")


def authenticate_token(engine: Engine, token: str) -> Principal | None:
    """The active user a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with engine.begin() as conn:
        found = store.live_token(conn, token_digest(token))
        if found is None:
            return None
        token_id, user_id = found
        store.touch_token(conn, token_id)
        row = store.find_user(conn, user_id=user_id)
    if row is None or not row.active:
        return None
    return replace(_principal(row), via_token=True)
