"""Partner pages for accounts: signing in and out, the home page, and the administrators' audit log,
user roles and API tokens."""
from __future__ import annotations

import secrets

from flask import flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from insight.errors import BadRequest, ConfigError, NotFoundError, PermissionDenied, SignInRefused
from insight.partner import audit, auth, sessions, versions
from insight.web.partner.blueprint import CSRF_FIELD, MAX_ID, bp, client_ip, engine, page, settings, signed_in


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
                session["sid"] = sessions.start_session(engine(), user)
                session["uid"], session["epoch"] = user.id, user.session_epoch
                session[CSRF_FIELD] = secrets.token_urlsafe(32)
                return redirect(_safe_next(request.form.get("next")))
    return page("partner/sign_in.html", 400 if errors else 200, errors=errors, email=email,
                 next=request.values.get("next", ""))


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End the session for every copy of its cookie (recorded in the audit log)."""
    secret = session.get("sid")
    sessions.end_session(engine(), secret if isinstance(secret, str) else "", actor=g.user, ip=client_ip())
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("partner.sign_in"))


@bp.post("/sign-out-everywhere")
@signed_in
def sign_out_everywhere() -> ResponseReturnValue:
    """End every session of the signed-in user, on every device (API tokens stay: revoke them separately)."""
    if g.via_token:
        raise PermissionDenied("an API token cannot sign anyone out: sign in with a browser to do that")
    ended = sessions.sign_out_everywhere(engine(), g.user, ip=client_ip())
    session.clear()
    flash(f"You have signed out everywhere ({ended} session(s) ended).")
    return redirect(url_for("partner.sign_in"))


def _token_id(raw: str) -> int:
    """The token id sent in a form; BadRequest unless it is a whole number an id can be."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_ID:
        raise BadRequest(f"'{raw[:20]}' is not a token number: choose the token to revoke from the list")
    return int(raw)


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
            auth.revoke_token(engine(), _token_id(request.form["revoke"]), actor=g.user)
            flash("The token was revoked.")
            return redirect(url_for("partner.tokens"), code=303)
        new = auth.create_token(engine(), g.user, request.form.get("name", ""))
    return page("partner/tokens.html", items=auth.list_tokens(engine(), g.user), new=new)
