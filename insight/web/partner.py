"""Partner pages: sign-in, uploads with a validation report and preview, record edits, history, audit.

Server-rendered with Jinja (every value escaped by autoescaping), no inline script
or style (a strict Content-Security-Policy is sent), a CSRF token on every form,
and the same permission check (:func:`insight.partner.auth.can`) as the command line.
Scripts use ``Authorization: Bearer <token>`` on ``/partner/api/…`` instead of a
session; those requests carry no cookie, so they need no CSRF token.
"""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from insight.config import Settings, secret_key
from insight.errors import ConfigError, InsightError, LoadError, NotFoundError
from insight.partner import audit, auth, oruk, survey_uploads, uploads, versions
from insight.partner.safe_files import human_size

CSRF_FIELD = "csrf_token"
EDITABLE_PROPERTIES = 30
RECORDS_SHOWN = 2000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SEVERITY_LABELS = {
    "error": "Not loaded",
    "warning": "Loaded – please check",
    "repaired": "Loaded after a fix",
    "note": "For information",
}
STATUS_LABELS = {
    "added": "Added",
    "changed": "Changed",
    "unchanged": "Unchanged",
    "removed": "Removed (kept in history)",
    "kept": "Kept as it is (its row has errors)",
}

bp = Blueprint("partner", __name__, url_prefix="/partner", template_folder="templates",
               static_folder="static/partner", static_url_path="/static")


def _engine():
    return current_app.extensions["insight_partner"]["context"].engine


def _settings() -> Settings:
    return current_app.extensions["insight_partner"]["context"].settings


def _ip() -> str:
    return (request.remote_addr or "unknown")[:64]


def csrf_token() -> str:
    """The session's form token, made on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


@bp.before_request
def _load_user() -> Response | None:
    g.via_token = False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = auth.authenticate_token(_engine(), header[7:].strip())
        if user is None:
            return _json_error(401, "the API token is not valid or was revoked")
        g.user, g.via_token = user, True
        return None
    g.user = auth.ANONYMOUS
    uid = session.get("uid")
    if uid is not None:
        user = auth.user_by_id(_engine(), uid, epoch=session.get("epoch"))
        if user is None:
            session.clear()
        else:
            g.user = user
    if request.method == "POST":
        sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token", "")
        expected = session.get(CSRF_FIELD, "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return _page("partner/message.html", 400, title="The form has expired",
                         message="The page you sent was too old or came from somewhere else. Go back, reload the "
                                 "page and try again.")
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


@bp.app_template_global()
def partner_user() -> auth.Principal:
    return getattr(g, "user", auth.ANONYMOUS)


@bp.app_template_global()
def partner_can(action: str, resource: object = None) -> bool:
    return auth.can(partner_user(), action, resource)


def _page(template: str, status: int = 200, **values: Any) -> Response:
    response = current_app.make_response(render_template(
        template, csrf_token=csrf_token(), severity_labels=SEVERITY_LABELS, status_labels=STATUS_LABELS, **values))
    response.status_code = status
    return response


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def signed_in(view: Callable[..., Response]) -> Callable[..., Response]:
    """Send visitors who are not signed in to the sign-in page (API callers get 401)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        if not g.user.signed_in:
            if request.path.startswith("/partner/api/"):
                return _json_error(401, "send an API token: Authorization: Bearer <token>")
            return redirect(url_for("partner.sign_in", next=request.path))
        return view(*args, **kwargs)

    return wrapper


@bp.errorhandler(auth.PermissionDenied)
def _denied(error: auth.PermissionDenied) -> Response:
    if request.method == "POST" or g.get("via_token"):
        versions.deny(_engine(), g.user, request.endpoint or "?", request.path, ip=_ip())
    if g.get("via_token"):
        return _json_error(403, str(error))
    return _page("partner/message.html", 403, title="You cannot do that", message=str(error))


@bp.errorhandler(NotFoundError)
def _not_found(error: NotFoundError) -> Response:
    if g.get("via_token"):
        return _json_error(404, str(error))
    return _page("partner/message.html", 404, title="Not found", message=str(error))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: HTTPException) -> Response:
    message = (f"The file is larger than the limit of {human_size(_settings().upload_max_bytes)}. "
               "Split it into smaller files.")
    if g.get("via_token"):
        return _json_error(413, message)
    return _page("partner/message.html", 413, title="The file is too large", message=message)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/partner/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("partner.home")


# --- signing in ------------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
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
                user = auth.sign_in(_engine(), email, password, ip=_ip(), settings=_settings())
            except auth.SignInRefused as exc:
                errors["email"] = str(exc)[:1].upper() + str(exc)[1:]
            else:
                session.clear()
                session.permanent = True
                session["uid"], session["epoch"] = user.id, user.session_epoch
                session[CSRF_FIELD] = secrets.token_urlsafe(32)
                return redirect(_safe_next(request.form.get("next")))
    return _page("partner/sign_in.html", 400 if errors else 200, errors=errors, email=email,
                 next=request.values.get("next", ""))


@bp.post("/sign-out")
def sign_out() -> Response:
    if g.user.signed_in:
        with _engine().begin() as conn:
            audit.record(conn, "sign_out", actor_id=g.user.id, actor_email=g.user.email, ip=_ip())
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("partner.sign_in"))


# --- home and uploads ----------------------------------------------------------------------------


@bp.get("/")
@signed_in
def home() -> Response:
    layers = versions.partner_layers(_engine(), g.user)
    return _page("partner/home.html", layers=layers)


@bp.route("/upload", methods=["GET", "POST"])
@signed_in
def upload() -> Response:
    layers = versions.partner_layers(_engine(), g.user)
    errors: dict[str, str] = {}
    refusal: list[Any] = []
    chosen = request.values.get("layer", "")
    if request.method == "POST":
        file = request.files.get("file")
        if not chosen:
            errors["layer"] = "Choose the layer to update"
        if file is None or not file.filename:
            errors["file"] = "Choose a file to upload"
        if not errors:
            sent, message, refusal = _stage_file(
                file, "partner.upload_report", "",
                lambda content, name: uploads.stage_upload(_engine(), content, filename=name, layer=chosen,
                                                           actor=g.user, settings=_settings(), ip=_ip())[0])
            if sent is not None:
                return sent
            errors["file"] = message or ""
    return _page("partner/upload.html", 422 if errors else 200, layers=layers, errors=errors, chosen=chosen,
                 refusal=refusal, limits=_settings())


def _not_a_survey(upload_id: int) -> None:
    if survey_uploads.is_survey_upload(_engine(), upload_id):
        raise NotFoundError(f"upload {upload_id} is a survey file: open it from the survey files page")


def _stage_file(file: Any, report: str, refused: str,
                stage: Callable[[bytes, str], int]) -> tuple[Response | None, str | None, list[Any]]:
    """Read an uploaded file (one byte over the limit, so too large is caught) and stage it.

    Returns the redirect to its report, or the form's error message and the refusal table rows.
    """
    content = file.read(_settings().upload_max_bytes + 1)
    try:
        upload_id = stage(content, file.filename)
    except LoadError as exc:
        return None, f"The file {exc.source} was not accepted{refused}", uploads.refusal_issues(exc)
    except ConfigError as exc:
        return None, str(exc), []
    return redirect(url_for(report, upload_id=upload_id), code=303), None, []


@bp.get("/uploads/<int:upload_id>")
@signed_in
def upload_report(upload_id: int) -> Response:
    if survey_uploads.is_survey_upload(_engine(), upload_id):
        return redirect(url_for("partner.survey_report", upload_id=upload_id))
    staged = uploads.staged_upload(_engine(), upload_id, actor=g.user)
    return _page("partner/report.html", staged=staged, report=staged.report)


@bp.post("/uploads/<int:upload_id>/commit")
@signed_in
def commit(upload_id: int) -> Response:
    _not_a_survey(upload_id)
    try:
        version = uploads.commit_upload(_engine(), upload_id, actor=g.user, settings=_settings(), ip=_ip())
    except (versions.VersionConflict, ConfigError, LoadError) as exc:
        staged = uploads.staged_upload(_engine(), upload_id, actor=g.user)
        return _page("partner/report.html", 409, staged=staged, report=staged.report, problem=str(exc))
    staged = uploads.staged_upload(_engine(), upload_id, actor=g.user)
    flash(f"Saved as version {version.number} of the layer: {version.added} added, {version.changed} changed, "
          f"{version.removed} removed.")
    return redirect(url_for("partner.layer", name=staged.layer), code=303)


@bp.post("/uploads/<int:upload_id>/discard")
@signed_in
def discard(upload_id: int) -> Response:
    _not_a_survey(upload_id)
    uploads.discard_upload(_engine(), upload_id, actor=g.user, ip=_ip())
    flash("The upload was discarded; nothing in the layer changed.")
    return redirect(url_for("partner.upload"), code=303)


# --- survey respondent files ------------------------------------------------------------------------


def _layers_dir() -> str:
    return current_app.extensions["insight_partner"]["context"].settings.layers_dir


def _survey_spec(name: str):
    try:
        return survey_uploads.survey_spec(_layers_dir(), name)
    except ConfigError as exc:
        raise NotFoundError(str(exc)) from None


@bp.route("/surveys", methods=["GET", "POST"])
@signed_in
def surveys() -> Response:
    auth.require(g.user, "upload_survey")
    specs = survey_uploads.survey_specs(_layers_dir())
    errors: dict[str, str] = {}
    refusal: list[Any] = []
    chosen = request.values.get("layer", "") or (specs[0].name if len(specs) == 1 else "")
    if request.method == "POST":
        file = request.files.get("file")
        spec = next((s for s in specs if s.name == chosen), None)
        if not chosen:
            errors["layer"] = "Choose the survey layer to replace"
        elif spec is None:
            errors["layer"] = (f"'{chosen}' is not a survey layer; survey files can only replace the survey layers "
                               "listed here")
        if file is None or not file.filename:
            errors["file"] = "Choose a survey file (CSV) to upload"
        if not errors:
            sent, message, refusal = _stage_file(
                file, "partner.survey_report", ": nothing was saved",
                lambda content, name: survey_uploads.stage_survey(_engine(), content, filename=name, spec=spec,
                                                                  actor=g.user, settings=_settings(), ip=_ip())[0])
            if sent is not None:
                return sent
            errors["file"] = message or ""
    with _engine().connect() as conn:
        stored = {s.name: survey_uploads.stored_survey(conn, s.name) for s in specs}
    last = {s.name: survey_uploads.last_upload(_engine(), s.name, actor=g.user) for s in specs}
    return _page("partner/surveys.html", 422 if errors else 200, specs=specs, stored=stored, last=last,
                 errors=errors, refusal=refusal, chosen=chosen, limits=_settings(),
                 shown_count=survey_uploads.shown_count)


def _survey_page(upload_id: int, status: int = 200, **values: Any) -> Response:
    staged = survey_uploads.survey_upload(_engine(), upload_id, actor=g.user)
    return _page("partner/survey_report.html", status, staged=staged, report=staged.report, **values)


@bp.get("/surveys/uploads/<int:upload_id>")
@signed_in
def survey_report(upload_id: int) -> Response:
    return _survey_page(upload_id)


@bp.post("/surveys/uploads/<int:upload_id>/commit")
@signed_in
def survey_commit(upload_id: int) -> Response:
    staged = survey_uploads.survey_upload(_engine(), upload_id, actor=g.user)
    spec = _survey_spec(staged.layer)
    try:
        done = survey_uploads.commit_survey(_engine(), upload_id, spec=spec, actor=g.user, settings=_settings(),
                                            ip=_ip())
    except LoadError as exc:
        return _survey_page(upload_id, 409, problem=f"The file {exc.source} no longer passes the checks",
                            refusal=uploads.refusal_issues(exc))
    except ConfigError as exc:
        return _survey_page(upload_id, 409, problem=str(exc))
    flash(f"{spec.title}: saved {staged.filename} as version {done.version_number}; the layer now holds "
          f"{done.report.get('rows_read', 0):,} respondents.")
    return redirect(url_for("partner.survey_history", layer=spec.name), code=303)


@bp.post("/surveys/uploads/<int:upload_id>/discard")
@signed_in
def survey_discard(upload_id: int) -> Response:
    staged = survey_uploads.discard_survey(_engine(), upload_id, actor=g.user, ip=_ip())
    flash(f"{staged.filename} was discarded; nothing in the survey layer changed.")
    return redirect(url_for("partner.surveys"), code=303)


@bp.get("/surveys/<layer>/history")
@signed_in
def survey_history(layer: str) -> Response:
    auth.require(g.user, "upload_survey")
    spec = _survey_spec(layer)
    items = survey_uploads.survey_history(_engine(), layer, actor=g.user)
    with _engine().connect() as conn:
        stored = survey_uploads.stored_survey(conn, layer)
    return _page("partner/survey_history.html", spec=spec, items=items, stored=stored,
                 shown_count=survey_uploads.shown_count)


@bp.post("/surveys/<layer>/versions/<int:number>/restore")
@signed_in
def survey_restore(layer: str, number: int) -> Response:
    auth.require(g.user, "upload_survey")
    auth.require(g.user, "restore")
    spec = _survey_spec(layer)
    try:
        done = survey_uploads.restore_survey(_engine(), layer, number, spec=spec, actor=g.user,
                                             settings=_settings(), ip=_ip())
    except (LoadError, ConfigError) as exc:
        return _page("partner/message.html", 409, title=f"{spec.title}: version {number} was not restored",
                     message=str(exc))
    flash(f"{spec.title}: version {number} was restored as version {done.version_number}.")
    return redirect(url_for("partner.survey_history", layer=layer), code=303)


# --- layers, records and history ------------------------------------------------------------------


@bp.get("/layers/<name>")
@signed_in
def layer(name: str) -> Response:
    records = versions.layer_records(_engine(), name, actor=g.user, stale_days=_settings().stale_days)
    ref = versions.layer_ref(_engine(), name)
    return _page("partner/layer.html", name=name, ref=ref, records=records[:RECORDS_SHOWN], total=len(records),
                 stale_days=_settings().stale_days)


@bp.get("/layers/<name>/export.csv")
@signed_in
def export_csv(name: str) -> Response:
    text = versions.export_csv(_engine(), name, actor=g.user, ip=_ip(), stale_days=_settings().stale_days)
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@bp.get("/layers/<name>/oruk.json")
@bp.get("/api/layers/<name>/oruk.json")
@signed_in
def export_oruk(name: str) -> Response:
    return jsonify(oruk.export_directory(_engine(), name, actor=g.user, ip=_ip()))


def _editable_keys(properties: dict[str, Any]) -> list[str]:
    keys = [k for k, v in properties.items() if v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    return keys[:EDITABLE_PROPERTIES]


_FIELD_LABELS = {"name": "Name", "category": "Category", "longitude": "Longitude", "latitude": "Latitude"}


@bp.route("/records/<int:feature_id>/edit", methods=["GET", "POST"])
@signed_in
def edit(feature_id: int) -> Response:
    view = versions.record_view(_engine(), feature_id, actor=g.user, stale_days=_settings().stale_days)
    with _engine().connect() as conn:
        info = versions.layer_info(conn, view.layer)
        state = versions.layer_state(conn, info.id)
    keys = _editable_keys(view.state.properties)
    values = {"name": view.state.name or "", "category": view.state.category or "",
              "longitude": "" if view.state.lon is None else repr(view.state.lon),
              "latitude": "" if view.state.lat is None else repr(view.state.lat)}
    values |= {f"prop-{i}": "" if view.state.properties.get(k) is None else str(view.state.properties[k])
               for i, k in enumerate(keys)}
    errors: dict[str, str] = {}
    notices: list[Any] = []
    if request.method == "POST":
        values = {k: request.form.get(k, "")[:10_000] for k in values}
        submitted = {"name": values["name"], "category": values["category"], "longitude": values["longitude"],
                     "latitude": values["latitude"]} | {k: values[f"prop-{i}"] for i, k in enumerate(keys)}
        after, issues = uploads.check_record_edit(_engine(), feature_id, submitted, actor=g.user)
        field_of = {"name": "name", "category": "category", "longitude": "longitude", "latitude": "latitude",
                    "longitude/latitude": "longitude", "geometry": "longitude"}
        field_of |= {k: f"prop-{i}" for i, k in enumerate(keys)}
        for issue in issues:
            if issue.severity == "error":
                errors.setdefault(field_of.get(issue.column or "", "name"), issue.reason[:1].upper() + issue.reason[1:])
            else:
                notices.append(issue)
        if not errors and after is not None:
            try:
                version = versions.edit_record(_engine(), feature_id, after, actor=g.user,
                                               assured=request.form.get("assured") == "yes",
                                               expected_state=request.form.get("state"), ip=_ip())
            except (ConfigError, versions.VersionConflict) as exc:
                errors["name"] = str(exc)[:1].upper() + str(exc)[1:]
            else:
                flash(f"Saved '{after.name}' as version {version.number} of the layer.")
                return redirect(url_for("partner.layer", name=view.layer), code=303)
    return _page("partner/edit.html", 422 if errors else 200, view=view, keys=keys, values=values, errors=errors,
                 notices=notices, labels=_FIELD_LABELS, categories=info.rules.categories, state=state)


@bp.get("/layers/<name>/versions")
@signed_in
def history(name: str) -> Response:
    items = versions.versions(_engine(), name, actor=g.user)
    ref = versions.layer_ref(_engine(), name)
    return _page("partner/history.html", name=name, items=items, ref=ref)


@bp.get("/layers/<name>/versions/<int:number>")
@signed_in
def version(name: str, number: int) -> Response:
    records = versions.records_at(_engine(), name, number, actor=g.user)
    ref = versions.layer_ref(_engine(), name)
    return _page("partner/version.html", name=name, number=number, records=records, ref=ref)


@bp.post("/layers/<name>/versions/<int:number>/restore")
@signed_in
def restore(name: str, number: int) -> Response:
    result = versions.restore_version(_engine(), name, number, actor=g.user, ip=_ip())
    flash(f"Version {number} was restored as version {result.number}: {result.added} added, {result.changed} "
          f"changed, {result.removed} removed.")
    return redirect(url_for("partner.history", name=name), code=303)


# --- administration -------------------------------------------------------------------------------


@bp.get("/audit")
@signed_in
def audit_log() -> Response:
    auth.require(g.user, "view_audit")
    action = request.args.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        action = None
    return _page("partner/audit.html", events=audit.events(_engine(), limit=500, action=action), action=action,
                 actions=audit.ACTIONS)


@bp.route("/users", methods=["GET", "POST"])
@signed_in
def users() -> Response:
    auth.require(g.user, "manage_users")
    problem = None
    if request.method == "POST":
        try:
            changed = auth.set_role(_engine(), request.form.get("email", ""), role=request.form.get("role", ""),
                                    org_slug=request.form.get("org") or None, actor=g.user)
        except (ConfigError, NotFoundError) as exc:
            problem = str(exc)
        else:
            flash(f"{changed.email} is now {changed.role}.")
            return redirect(url_for("partner.users"), code=303)
    return _page("partner/users.html", 422 if problem else 200, people=auth.list_users(_engine(), actor=g.user),
                 roles=auth.ROLES, problem=problem)


@bp.route("/tokens", methods=["GET", "POST"])
@signed_in
def tokens() -> Response:
    auth.require(g.user, "use_tokens")
    new = None
    if request.method == "POST":
        if request.form.get("revoke"):
            try:
                auth.revoke_token(_engine(), int(request.form["revoke"]), actor=g.user)
            except ValueError:
                raise NotFoundError("no such token") from None
            flash("The token was revoked.")
            return redirect(url_for("partner.tokens"), code=303)
        new = auth.create_token(_engine(), g.user, request.form.get("name", ""))
    return _page("partner/tokens.html", items=auth.list_tokens(_engine(), g.user), new=new)


# --- API for scripts -----------------------------------------------------------------------------------


@bp.post("/api/uploads")
@signed_in
def api_upload() -> Response:
    if not g.via_token:
        return _json_error(401, "the API takes a token: Authorization: Bearer <token>")
    file = request.files.get("file")
    layer_name = request.form.get("layer", "")
    if file is None or not file.filename or not layer_name:
        return _json_error(400, "send the file as 'file' and the layer name as 'layer' (multipart/form-data)")
    try:
        upload_id, check = uploads.stage_upload(_engine(), file.read(_settings().upload_max_bytes + 1),
                                                filename=file.filename, layer=layer_name, actor=g.user,
                                                settings=_settings(), ip=_ip())
    except LoadError as exc:
        return jsonify({"accepted": False, "problems": [i.as_dict() for i in uploads.refusal_issues(exc)]}), 422
    body: dict[str, Any] = {"accepted": True, "upload": upload_id, "report": check.report()}
    if request.form.get("commit") == "true":
        try:
            version = uploads.commit_upload(_engine(), upload_id, actor=g.user, settings=_settings(), ip=_ip())
        except (versions.VersionConflict, ConfigError) as exc:
            return jsonify(body | {"committed": False, "problem": str(exc)}), 409
        body |= {"committed": True, "version": version.number}
    return jsonify(body)


@bp.errorhandler(InsightError)
def _insight_error(error: InsightError) -> Response:
    if g.get("via_token"):
        return _json_error(400, str(error))
    return _page("partner/message.html", 400, title="That did not work", message=str(error))


def register(server: Flask, context: Any) -> None:
    """Add the partner pages to ``server``; ``context`` is an :class:`insight.web.api.AppContext`.

    Sets the session cookie to be HTTP-only, SameSite=Lax and (unless turned off)
    Secure, and a request size limit just above the upload limit.
    """
    settings = context.settings
    if not server.secret_key:
        server.secret_key = secret_key(settings)
    server.config.update(
        SESSION_COOKIE_NAME="insight_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=settings.upload_max_bytes + 1_000_000,
    )
    server.extensions["insight_partner"] = {"context": context}
    server.register_blueprint(bp)


@bp.app_template_filter("when")
def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    value = versions.aware(value)
    return value.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


@bp.app_template_filter("day")
def _day(value: datetime | None) -> str:
    return "never" if value is None else versions.aware(value).strftime("%d %b %Y")
