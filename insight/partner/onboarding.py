"""Bringing partners in: opening a layer to partners, adding an organisation, inviting a person.

The partner pages and the command line call these, so the checks, the audit records and the
refusals are the same wherever an officer does it. An invitation is an account whose password hash
is ``invited:`` and the SHA-256 of a one-time code (shown once, like an API token): no password
matches it, so the account cannot sign in until the person follows the link and chooses a password.
Two officers doing the same thing at once cannot both succeed: the store's unique indexes decide and
the second is told plainly.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from insight.errors import ConfigError, NotFoundError, PermissionDenied
from insight.partner import audit
from insight.partner.auth import Principal, normalise_email, organisation_id, require
from insight.partner.layer_rules import LayerInfo, create_asset_layer, set_rules
from insight.partner.passwords import hash_password, password_problems
from insight.store import Engine
from insight.store import accounts as store
from insight.store.accounts import INVITED

__all__ = ["INVITATION_DAYS", "Invitation", "Organisation", "accept_invitation", "add_organisation",
           "invitation_for", "invite", "open_layer", "organisations", "slug_of"]

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
    (recorded as ``layer_rules_changed``), with ``layer_created`` in the audit log as well.
    """
    require(actor, "manage_layers")
    title = " ".join(title.split())[:200]
    if not title:
        raise ConfigError("give the layer a title people will recognise")
    with engine.begin() as conn:
        org_id = organisation_id(conn, owner_org) if owner_org else None
        create_asset_layer(conn, name, title=title, owner_org_id=org_id, asset_kind=asset_kind)
        audit.record(conn, "layer_created", actor_id=actor.id, actor_email=actor.email, ip=ip, target=f"layer:{name}",
                     detail={"title": title, "asset_kind": asset_kind, "owner_org": owner_org})
    return set_rules(engine, name, actor=actor, partner_upload=True, categories=categories or None,
                     owner_org=owner_org or None)


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def invite(engine: Engine, email: str, *, role: str = "partner", org_slug: str | None = None, name: str = "",
           actor: Principal, ip: str | None = None) -> Invitation:
    """Make an account that waits for its person to choose a password, and its one-time code.

    Officers invite partners (into an existing organisation); administrators invite any role.
    """
    require(actor, "invite_people")
    if role != "partner":
        require(actor, "manage_users")
    email = normalise_email(email)
    if role == "partner" and not org_slug:
        raise ConfigError("a partner belongs to one organisation: choose it (or add it first)")
    code = INVITE_PREFIX + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        if store.user_exists(conn, email):
            raise ConfigError(f"an account for {email} already exists")
        org_id = organisation_id(conn, org_slug) if org_slug and role == "partner" else None
        if role != "partner" and org_slug:
            raise ConfigError(f"only partners belong to an organisation; the {role} role takes none")
        store.insert_user(conn, email, name=" ".join(name.split())[:200], role=role, organisation_id=org_id,
                          password_hash=INVITED + _digest(code))
        audit.record(conn, "user_invited", actor_id=actor.id, actor_email=actor.email, ip=ip, target=f"user:{email}",
                     detail={"role": role, "organisation": org_slug})
    return Invitation(email, role, org_slug, code, datetime.now(UTC) + timedelta(days=INVITATION_DAYS))


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

