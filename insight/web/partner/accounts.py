"""Partner pages for accounts: signing in and out, the home page, and the administrators' audit log,
user roles and API tokens."""
from __future__ import annotations

import secrets

from flask import flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from insight.errors import ConfigError, NotFoundError, SignInRefused
from insight.partner import audit, auth, versions
from insight.web.partner.blueprint import CSRF_FIELD, bp, client_ip, engine, page, settings, signed_in


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/partner/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("partner.home")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    """Sign in with email and password; a failed attempt says why, and repeated failures pause the account."""
    errors: dict[str, str] = {}
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:254]
        password = request.form.get("password", "")
        if not email:
            errors["email"] = "Enter your email address"
        if not password:
            errors["password"] = "Enter your password"
        if not errors:
            try:
                user = auth.sign_in(engine(), email, password, ip=client_ip(), settings=settings())
            except SignInRefused as exc:
                errors["email"] = str(exc)[:1].upper() + str(exc)[1:]
            else:
                session.clear()
                session.permanent = True
                session["uid"], session["epoch"] = user.id, user.session_epoch
                session[CSRF_FIELD] = secrets.token_urlsafe(32)
                return redirect(_safe_next(request.form.get("next")))
    return page("partner/sign_in.html", 400 if errors else 200, errors=errors, email=email,
                 next=request.values.get("next", ""))


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End the session (recorded in the audit log)."""
    if g.user.signed_in:
        with engine().begin() as conn:
            audit.record(conn, "sign_out", actor_id=g.user.id, actor_email=g.user.email, ip=client_ip())
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("partner.sign_in"))


@bp.get("/")
@signed_in
def home() -> ResponseReturnValue:
    """The signed-in user's layers."""
    layers = versions.partner_layers(engine(), g.user)
    return page("partner/home.html", layers=layers)


@bp.get("/audit")
@signed_in
def audit_log() -> ResponseReturnValue:
    """The latest audit events, optionally of one kind (administrators)."""
    auth.require(g.user, "view_audit")
    action = request.args.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        action = None
    return page("partner/audit.html", events=audit.events(engine(), limit=500, action=action), action=action,
                 actions=audit.ACTIONS)


@bp.route("/users", methods=["GET", "POST"])
@signed_in
def users() -> ResponseReturnValue:
    """Everyone's account and role; an administrator changes a role here."""
    auth.require(g.user, "manage_users")
    problem = None
    if request.method == "POST":
        try:
            changed = auth.set_role(engine(), request.form.get("email", ""), role=request.form.get("role", ""),
                                    org_slug=request.form.get("org") or None, actor=g.user)
        except (ConfigError, NotFoundError) as exc:
            problem = str(exc)
        else:
            flash(f"{changed.email} is now {changed.role}.")
            return redirect(url_for("partner.users"), code=303)
    return page("partner/users.html", 422 if problem else 200, people=auth.list_users(engine(), actor=g.user),
                 roles=auth.ROLES, problem=problem)


@bp.route("/tokens", methods=["GET", "POST"])
@signed_in
def tokens() -> ResponseReturnValue:
    """The user's API tokens: create one (shown once) or revoke one."""
    auth.require(g.user, "use_tokens")
    new = None
    if request.method == "POST":
        if request.form.get("revoke"):
            try:
                auth.revoke_token(engine(), int(request.form["revoke"]), actor=g.user)
            except ValueError:
                raise NotFoundError("no such token") from None
            flash("The token was revoked.")
            return redirect(url_for("partner.tokens"), code=303)
        new = auth.create_token(engine(), g.user, request.form.get("name", ""))
    return page("partner/tokens.html", items=auth.list_tokens(engine(), g.user), new=new)
