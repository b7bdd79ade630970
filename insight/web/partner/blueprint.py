"""The partner blueprint and what its pages share: the signed-in user, CSRF tokens, security headers,
page rendering, error pages and the template filters.

Routes attach to :data:`bp` in :mod:`~insight.web.partner.accounts`, :mod:`~insight.web.partner.uploads`,
:mod:`~insight.web.partner.surveys` and :mod:`~insight.web.partner.records`.
"""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from insight.config import Settings
from insight.errors import ConfigError, InsightError, LoadError, NotFoundError, PermissionDenied, http_status
from insight.partner import auth, sessions, uploads, versions
from insight.partner.safe_files import human_size
from insight.store import Engine
from insight.web.context import AppContext

CSRF_FIELD = "csrf_token"
EXTENSION = "insight_partner"
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

# Templates and static files live beside the Dash assets, in insight/web/.
bp = Blueprint("partner", __name__, url_prefix="/partner", template_folder="templates",
               static_folder="static/partner", static_url_path="/static", root_path=str(Path(__file__).parent.parent))


def partner_context() -> AppContext:
    """The app context the partner pages were registered with."""
    return current_app.extensions[EXTENSION]["context"]


def engine() -> Engine:
    """The store the partner pages read and write."""
    return partner_context().engine


def settings() -> Settings:
    """The app's settings (read once at start)."""
    return partner_context().settings


def client_ip() -> str:
    """The client's address as recorded in the audit log (truncated)."""
    return (request.remote_addr or "unknown")[:64]


def csrf_token() -> str:
    """The session's form token, made on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def check_csrf() -> bool:
    """Whether this POST carries the session's form token (a form field, or the X-CSRF-Token header)."""
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token", "")
    expected = session.get(CSRF_FIELD, "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


MAX_ID = 2**31 - 1
"""The largest id a page address may name (ids are 32-bit in the store)."""


def _bad_id() -> bool:
    return any(isinstance(v, int) and not 0 <= v <= MAX_ID for v in (request.view_args or {}).values())


def _session_user() -> auth.Principal:
    secret = session.get("sid")
    if not isinstance(secret, str):
        if session.get("uid") is not None:
            session.clear()
        return auth.ANONYMOUS
    epoch = session.get("epoch")
    user = sessions.session_user(engine(), secret, epoch=epoch if isinstance(epoch, int) else -1,
                                 settings=settings())
    if user is None:
        session.clear()
        return auth.ANONYMOUS
    return user


@bp.before_request
def _load_user() -> Response | None:
    g.via_token = False
    g.user = auth.ANONYMOUS
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = auth.authenticate_token(engine(), header[7:].strip())
        if user is None:
            return json_error(401, "the API token is not valid or was revoked")
        g.user, g.via_token = user, True
        return json_error(404, "no such record, upload or version") if _bad_id() else None
    if request.path.startswith("/partner/api/") and request.method != "GET":
        return json_error(401, "the API takes a token: Authorization: Bearer <token>")
    g.user = _session_user()
    if _bad_id():
        return page("partner/message.html", 404, title="Not found", message="There is no such record, upload "
                    "or version. Check the address.")
    if request.method == "POST" and not check_csrf():
        return page("partner/message.html", 400, title="The form has expired",
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
    """The signed-in user, or the anonymous principal (for templates)."""
    return getattr(g, "user", auth.ANONYMOUS)


@bp.app_template_global()
def partner_can(action: str, resource: auth.Resource = None) -> bool:
    """Whether the signed-in user may do ``action`` (for templates)."""
    return auth.can(partner_user(), action, resource)


def page(template: str, status: int = 200, **values: Any) -> Response:
    """Render a partner page with the form token and the report labels."""
    response = current_app.make_response(render_template(
        template, csrf_token=csrf_token(), severity_labels=SEVERITY_LABELS, status_labels=STATUS_LABELS, **values))
    response.status_code = status
    return response


def json_error(status: int, message: str) -> Response:
    """A JSON error answer for API callers."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def signed_in(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Send visitors who are not signed in to the sign-in page (API callers get 401)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if not g.user.signed_in:
            if request.path.startswith("/partner/api/"):
                return json_error(401, "send an API token: Authorization: Bearer <token>")
            return redirect(url_for("partner.sign_in", next=request.path))
        return view(*args, **kwargs)

    return wrapper


def stage_file(file: FileStorage, report: str, refused: str,
               stage: Callable[[bytes, str], int]) -> tuple[ResponseReturnValue | None, str | None, list[Any]]:
    """Read an uploaded file (one byte over the limit, so too large is caught) and stage it.

    Returns the redirect to its report, or the form's error message and the refusal table rows.
    """
    content = file.read(settings().upload_max_bytes + 1)
    try:
        upload_id = stage(content, file.filename or "")
    except LoadError as exc:
        return None, f"The file {exc.source} was not accepted{refused}", uploads.refusal_issues(exc)
    except ConfigError as exc:
        return None, str(exc), []
    return redirect(url_for(report, upload_id=upload_id), code=303), None, []


@bp.errorhandler(PermissionDenied)
def _denied(error: PermissionDenied) -> Response:
    rows = isinstance(error, auth.RowsRefused)
    if not getattr(error, "audited", False) and (rows or request.method == "POST" or g.get("via_token")):
        versions.deny(engine(), g.user, request.endpoint or "?", request.path, ip=client_ip())
    if g.get("via_token"):
        return json_error(403, str(error))
    return page("partner/message.html", 403, title="You cannot do that", message=str(error))


@bp.errorhandler(NotFoundError)
def _not_found(error: NotFoundError) -> Response:
    if g.get("via_token"):
        return json_error(404, str(error))
    return page("partner/message.html", 404, title="Not found", message=str(error))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: HTTPException) -> Response:
    message = (f"The file is larger than the limit of {human_size(settings().upload_max_bytes)}. "
               "Split it into smaller files.")
    if g.get("via_token"):
        return json_error(413, message)
    return page("partner/message.html", 413, title="The file is too large", message=message)


@bp.errorhandler(InsightError)
def _insight_error(error: InsightError) -> Response:
    status = http_status(error)
    if g.get("via_token"):
        return json_error(status, str(error))
    return page("partner/message.html", status, title="That did not work", message=str(error))


@bp.app_template_filter("when")
def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    value = versions.aware(value)
    return value.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


@bp.app_template_filter("day")
def day(value: datetime | None) -> str:
    """A date as '03 Dec 2026', or 'never'."""
    return "never" if value is None else versions.aware(value).strftime("%d %b %Y")
