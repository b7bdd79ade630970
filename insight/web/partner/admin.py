"""Partner pages for officers bringing partners in: open a layer to partners, add an organisation, invite a
person (the invitation link shown once) or send a new link for an invitation still waiting; and the invited
person's page to choose a password.

The same functions as the command line do the work (:mod:`insight.partner.onboarding`), so the checks,
the audit records and the refusals match.
"""
from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from insight.errors import BadRequest, ConfigError, NotFoundError, PermissionDenied
from insight.layers import ASSET_KINDS
from insight.partner import auth, onboarding, versions
from insight.partner.choices import ASSET_KIND_LABELS
from insight.web.partner.blueprint import bp, client_ip, engine, page, signed_in

FORMS = ("layer", "organisation", "invite")


def _may_onboard() -> None:
    if g.via_token:
        raise PermissionDenied("an API token cannot bring people in: sign in with a browser to do that")
    if not (auth.can(g.user, "manage_layers") or auth.can(g.user, "invite_people")):
        auth.require(g.user, "manage_layers")


def _categories(text: str) -> list[str]:
    """One category a line (commas also separate), blanks and repeats dropped."""
    parts = [p.strip() for line in text.splitlines() for p in line.split(",")]
    return list(dict.fromkeys(p for p in parts if p))[:200]


def _admin_page(status: int = 200, *, problems: dict[str, str] | None = None, sent: dict[str, str] | None = None,
                invitation: onboarding.Invitation | None = None) -> ResponseReturnValue:
    layers = [i for i in versions.partner_layers(engine(), auth.SYSTEM) if i.ref.partner_upload]
    link = url_for("partner.accept_invitation", code=invitation.code, _external=True) if invitation else None
    can_invite = auth.can(g.user, "invite_people")
    roles = onboarding.grantable_roles(g.user)
    org_options = [(o.slug, o.name) for o in onboarding.organisations(engine())]
    no_org = [("", "None (not a partner)")] if any(r != "partner" for r in roles) else []
    return page("partner/admin.html", status, organisations=onboarding.organisations(engine()), layers=layers,
                problems=problems or {}, sent=sent or {}, invitation=invitation, link=link,
                kinds=[(k, ASSET_KIND_LABELS[k]) for k in ASSET_KINDS],
                role_options=[(r, r) for r in roles], org_options=org_options, invite_orgs=no_org + org_options,
                pending=onboarding.pending_invitations(engine(), actor=g.user) if can_invite else [],
                can_invite=can_invite, can_layers=auth.can(g.user, "manage_layers"),
                can_any_role=len(roles) > 1, days=onboarding.INVITATION_DAYS)


@bp.get("/admin")
@signed_in
def admin() -> ResponseReturnValue:
    """Officers' page: open a layer to partners, add an organisation, invite a person."""
    _may_onboard()
    return _admin_page()


def _form(*names: str) -> dict[str, str]:
    return {n: request.form.get(n, "")[:2000] for n in names}


@bp.post("/admin/layers")
@signed_in
def admin_open_layer() -> ResponseReturnValue:
    """Create an asset layer open to partner uploads (recorded in the audit log)."""
    _may_onboard()
    sent = _form("name", "title", "asset_kind", "categories", "owner")
    try:
        info = onboarding.open_layer(engine(), sent["name"].strip(), title=sent["title"], asset_kind=sent["asset_kind"],
                                     categories=_categories(sent["categories"]), owner_org=sent["owner"] or None,
                                     actor=g.user, ip=client_ip())
    except (ConfigError, BadRequest, NotFoundError) as exc:
        return _admin_page(422, problems={"layer": _sentence(exc)}, sent=sent)
    flash(f"The layer '{info.title}' is open to partners"
          + (f" of {info.owner_slug}." if info.owner_slug else " (shared by every partner)."))
    return redirect(url_for("partner.admin"), code=303)


@bp.post("/admin/organisations")
@signed_in
def admin_add_organisation() -> ResponseReturnValue:
    """Add an organisation (recorded in the audit log); a short name already taken is refused plainly."""
    _may_onboard()
    sent = _form("org_name", "slug")
    try:
        added = onboarding.add_organisation(engine(), sent["org_name"], slug=sent["slug"], actor=g.user,
                                            ip=client_ip())
    except (ConfigError, BadRequest) as exc:
        return _admin_page(422, problems={"organisation": _sentence(exc)}, sent=sent)
    flash(f"Added the organisation {added.name} (short name {added.slug}).")
    return redirect(url_for("partner.admin"), code=303)


@bp.post("/admin/invitations")
@signed_in
def admin_invite() -> ResponseReturnValue:
    """Invite a person: their account waits for them to choose a password; the link is shown once."""
    _may_onboard()
    sent = _form("email", "person", "role", "org")
    try:
        invitation = onboarding.invite(engine(), sent["email"], role=sent["role"] or "partner",
                                       org_slug=sent["org"] or None, name=sent["person"], actor=g.user,
                                       ip=client_ip())
    except (ConfigError, BadRequest, NotFoundError) as exc:
        return _admin_page(422, problems={"invite": _sentence(exc)}, sent=sent)
    return _admin_page(invitation=invitation)


@bp.post("/admin/invitations/new-link")
@signed_in
def admin_reissue() -> ResponseReturnValue:
    """Send a new link for an invitation still waiting (lost or out of date): the old link stops working."""
    _may_onboard()
    sent = _form("email")
    try:
        invitation = onboarding.reissue(engine(), sent["email"], actor=g.user, ip=client_ip())
    except (ConfigError, BadRequest, NotFoundError) as exc:
        return _admin_page(422, problems={"pending": _sentence(exc)})
    return _admin_page(invitation=invitation)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


@bp.route("/invite/<code>", methods=["GET", "POST"])
def accept_invitation(code: str) -> ResponseReturnValue:
    """The invited person chooses a password; then they sign in."""
    person = onboarding.invitation_for(engine(), code)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        password, again = request.form.get("password", ""), request.form.get("again", "")
        if password != again:
            errors["again"] = "The two passwords differ: type the same password twice"
        else:
            try:
                onboarding.accept_invitation(engine(), code, password, ip=client_ip())
            except ConfigError as exc:
                errors["password"] = _sentence(exc)
            else:
                flash("Your password is set. Sign in with your email address and the password you chose.")
                return redirect(url_for("partner.sign_in"), code=303)
    return page("partner/accept.html", 422 if errors else 200, person=person, errors=errors, code=code,
                min_length=auth.MIN_PASSWORD)
