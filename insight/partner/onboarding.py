"""Bringing partners in: opening a layer to partners, adding an organisation, inviting a person.

The partner pages and the command line call these, so the checks, the audit records and the
refusals are the same wherever an officer does it. An invitation is an account whose password hash
is ``invited:`` and the SHA-256 of a one-time code (shown once, like an API token): no password
matches it, so the account cannot sign in until the person follows the link and chooses a password. A link
that was lost or ran out is replaced by inviting the same address again (or "Send a new link"): the account
keeps waiting, gets a new code, and the time starts again.
Two officers doing the same thing at once cannot both succeed: the store's unique indexes decide and
the second is told plainly.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from insight.errors import BadRequest, ConfigError, NotFoundError, PermissionDenied
from insight.partner import audit
from insight.partner.auth import ROLES, Principal, can, normalise_email, organisation_id, require
from insight.partner.layer_rules import LayerInfo, audited, change_rules, create_asset_layer
from insight.partner.passwords import hash_password, password_problems
from insight.store import Connection, Engine
from insight.store import accounts as store
from insight.store.accounts import INVITED, UserRow

__all__ = ["INVITATION_DAYS", "Invitation", "Organisation", "PendingInvitation", "accept_invitation",
           "add_organisation", "grantable_roles", "invitation_for", "invite", "open_layer", "organisations",
           "pending_invitations", "reissue", "slug_of"]

INVITATION_DAYS = 14
INVITE_PREFIX = "inv_"
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


@dataclass(frozen=True)
class Organisation:
    """An organisation as listed: its short name (slug) and full name."""

    slug: str
    name: str


@dataclass(frozen=True)
class Invitation:
    """An invitation just made: ``code`` is shown once and never stored."""

    email: str
    role: str
    org_slug: str | None
    code: str
    expires: datetime


@dataclass(frozen=True)
class PendingInvitation:
    """An invitation not yet accepted: who, as what, when its link was issued and whether it has run out."""

    email: str
    role: str
    org_slug: str | None
    issued: datetime
    expires: datetime

    @property
    def expired(self) -> bool:
        """True once the link no longer works (a new one can be sent)."""
        return datetime.now(UTC) > self.expires


def slug_of(name: str) -> str:
    """A short name for an organisation from its full name ("Barnet Together CIC" -> "barnet-together-cic")."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100]


def organisations(engine: Engine) -> list[Organisation]:
    """Every organisation, by name."""
    with engine.connect() as conn:
        rows = store.organisation_names(conn).values()
    return sorted((Organisation(slug, name) for slug, name in rows), key=lambda o: (o.name.casefold(), o.slug))


def add_organisation(engine: Engine, name: str, *, slug: str = "", actor: Principal, ip: str | None = None,
                     ) -> Organisation:
    """Add an organisation (officers and administrators); ConfigError if its short name is taken or unusable."""
    require(actor, "manage_layers")
    name = " ".join(name.split())[:200]
    if not name:
        raise ConfigError("give the organisation's name")
    slug = (slug.strip().lower() or slug_of(name))[:100]
    if not _SLUG.fullmatch(slug):
        raise ConfigError(f"the short name '{slug}' must start with a letter or digit and use only lower-case "
                          "letters, digits, '-' or '_'")
    with engine.begin() as conn:
        if store.organisation_id_by_slug(conn, slug) is not None:
            raise ConfigError(f"an organisation '{slug}' already exists: choose it from the list, or give the new "
                              "one another short name")
        organisation_id(conn, slug, name=name, create=True)
        audit.record(conn, "organisation_created", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"organisation:{slug}", detail={"name": name})
    return Organisation(slug, name)


def open_layer(
    engine: Engine,
    name: str,
    *,
    title: str,
    asset_kind: str,
    categories: list[str],
    owner_org: str | None,
    actor: Principal,
    ip: str | None = None,
) -> LayerInfo:
    """Create an asset layer open to partner uploads (owned by ``owner_org``, or shared by every partner).

    The same steps as ``insight asset-layer NAME --partners``: the empty layer, then its rules
    (recorded as ``layer_rules_changed``), with ``layer_created`` in the audit log as well. Both land in one
    transaction: if any step fails, there is no layer, and trying again can succeed.
    """
    require(actor, "manage_layers")
    title = " ".join(title.split())[:200]
    if not title:
        raise ConfigError("give the layer a title people will recognise")
    with audited(engine, actor, target=f"layer:{name}", ip=ip), engine.begin() as conn:
        org_id = organisation_id(conn, owner_org) if owner_org else None
        create_asset_layer(conn, name, title=title, owner_org_id=org_id, asset_kind=asset_kind)
        audit.record(conn, "layer_created", actor_id=actor.id, actor_email=actor.email, ip=ip, target=f"layer:{name}",
                     detail={"title": title, "asset_kind": asset_kind, "owner_org": owner_org})
        return change_rules(conn, name, actor=actor, partner_upload=True, categories=categories or None,
                            owner_org=owner_org or None)


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def grantable_roles(actor: Principal) -> tuple[str, ...]:
    """The roles ``actor`` may invite people into: officers invite partners; administrators any role but public."""
    if can(actor, "manage_users"):
        return tuple(r for r in ROLES if r != "public")
    return ("partner",) if can(actor, "invite_people") else ()


def _check_grant(actor: Principal, role: str) -> None:
    """BadRequest for a role no one is invited into; PermissionDenied for one ``actor`` may not give."""
    if role not in ROLES or role == "public":
        allowed = ", ".join(f"'{r}'" for r in grantable_roles(actor)) or "none"
        raise BadRequest(f"'{role[:40]}' is not a role a person can be invited into; choose one of {allowed}")
    if role not in grantable_roles(actor):
        require(actor, "manage_users")


def _replace_invitation(conn: Connection, row: UserRow, digest: str, *, role: str, org_id: int | None,
                        name: str | None, actor: Principal) -> None:
    """A new code for an invitation still waiting; ConfigError for an account in use or disabled."""
    if not row.password_hash.startswith(INVITED):
        raise ConfigError(f"an account for {row.email} already exists")
    if not row.active:
        raise ConfigError(f"the invitation for {row.email} was withdrawn (the account is disabled): "
                          "an administrator can enable it first")
    _check_grant(actor, row.role)
    if not store.reissue_invitation(conn, row.id, code_digest=digest, role=role, organisation_id=org_id,
                                    name=name):
        raise ConfigError(f"an account for {row.email} already exists (the invitation was accepted just now)")


def invite(engine: Engine, email: str, *, role: str = "partner", org_slug: str | None = None,
           name: str | None = "", actor: Principal, ip: str | None = None) -> Invitation:
    """Make an account that waits for its person to choose a password, and its one-time code.

    Officers invite partners (into an existing organisation); administrators invite any role but public.
    Inviting an address whose invitation is still waiting sends a new link instead (the old one stops working
    and the time starts again; recorded as ``invitation_reissued``). ``name`` None keeps the name it has.
    """
    require(actor, "invite_people")
    _check_grant(actor, role)
    email = normalise_email(email)
    if role == "partner" and not org_slug:
        raise ConfigError("a partner belongs to one organisation: choose it (or add it first)")
    if role != "partner" and org_slug:
        raise ConfigError(f"only partners belong to an organisation; the {role} role takes none")
    code = INVITE_PREFIX + secrets.token_urlsafe(24)
    cleaned = None if name is None else " ".join(name.split())[:200]
    with engine.begin() as conn:
        org_id = organisation_id(conn, org_slug) if org_slug else None
        existing = store.find_user(conn, email=email)
        if existing is None:
            store.insert_user(conn, email, name=cleaned or "", role=role, organisation_id=org_id,
                              password_hash=INVITED + _digest(code))
        else:
            _replace_invitation(conn, existing, _digest(code), role=role, org_id=org_id, name=cleaned, actor=actor)
        audit.record(conn, "user_invited" if existing is None else "invitation_reissued", actor_id=actor.id,
                     actor_email=actor.email, ip=ip, target=f"user:{email}",
                     detail={"role": role, "organisation": org_slug})
    return Invitation(email, role, org_slug, code, datetime.now(UTC) + timedelta(days=INVITATION_DAYS))


def reissue(engine: Engine, email: str, *, actor: Principal, ip: str | None = None) -> Invitation:
    """A new link for the invitation waiting for ``email``, with its role and organisation; NotFoundError if
    none is waiting."""
    require(actor, "invite_people")
    email = normalise_email(email)
    with engine.connect() as conn:
        row = store.find_user(conn, email=email)
    if row is None or not row.password_hash.startswith(INVITED):
        raise NotFoundError(f"no invitation is waiting for {email}: it may have been accepted already")
    return invite(engine, email, role=row.role, org_slug=row.org_slug, name=None, actor=actor, ip=ip)


def pending_invitations(engine: Engine, *, actor: Principal) -> list[PendingInvitation]:
    """The invitations not yet accepted that ``actor`` may send a new link for, by email."""
    require(actor, "invite_people")
    roles = grantable_roles(actor)
    with engine.connect() as conn:
        rows = store.pending_invitations(conn)
    return [PendingInvitation(p.user.email, p.user.role, p.user.org_slug, p.issued,
                              p.issued + timedelta(days=INVITATION_DAYS))
            for p in rows if p.user.active and p.user.role in roles]


def invitation_for(engine: Engine, code: str) -> Principal:
    """Who the one-time ``code`` invites; NotFoundError if it is unknown, used or out of date."""
    from insight.partner.auth import user_by_id

    found = None
    if code.startswith(INVITE_PREFIX) and len(code) < 100:
        with engine.connect() as conn:
            found = store.find_invitation(conn, _digest(code))
    if found is None or datetime.now(UTC) - found[1] > timedelta(days=INVITATION_DAYS) or not found[0].active:
        raise NotFoundError("this invitation link is not valid: it was already used, has expired, or was copied "
                            "wrongly. Ask the officer who invited you for a new one")
    user = user_by_id(engine, found[0].id)
    if user is None:
        raise NotFoundError("this invitation's account was disabled: ask the officer who invited you")
    return user


def accept_invitation(engine: Engine, code: str, password: str, *, ip: str | None = None) -> Principal:
    """Set the invited person's password (the code then stops working); ConfigError for a weak password."""
    user = invitation_for(engine, code)
    if user.email is None:
        raise PermissionDenied("this invitation names no one")
    problems = password_problems(password, email=user.email)
    if problems:
        raise ConfigError("password not accepted: " + "; ".join(problems))
    with engine.begin() as conn:
        if not store.accept_invitation(conn, _digest(code), hash_password(password)):
            raise NotFoundError("this invitation was used a moment ago: sign in with the password chosen then")
        audit.record(conn, "invitation_accepted", actor_id=user.id, actor_email=user.email, ip=ip,
                     target=f"user:{user.email}")
    return user

