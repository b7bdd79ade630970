"""Partner pages: sign-in, uploads with a validation report and preview, record edits, history, audit.

Server-rendered with Jinja (every value escaped by autoescaping), no inline script
or style (a strict Content-Security-Policy is sent), a CSRF token on every form,
and the same permission check (:func:`insight.partner.auth.can`) as the command line.
Scripts use ``Authorization: Bearer <token>`` on ``/partner/api/…`` instead of a
session; those requests carry no cookie, so they need no CSRF token.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask

from insight.config import secret_key
from insight.web.context import AppContext
from insight.web.partner import accounts, admin, records, surveys, uploads
from insight.web.partner.blueprint import EXTENSION, bp

# Importing these modules attaches their routes to the blueprint.
PAGES = (accounts, uploads, surveys, records, admin)


def register(server: Flask, context: AppContext) -> None:
    """Add the partner pages to ``server``, answering from ``context`` (its store and settings).

    Sets the session cookie to be HTTP-only, SameSite=Lax and (unless turned off)
    Secure, not renewed on each request (a sign-in's lifetime does not slide; the
    session record in the store decides when it ends), and a request size limit just
    above the upload limit.
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
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=settings.upload_max_bytes + 1_000_000,
    )
    server.extensions[EXTENSION] = {"context": context}
    server.register_blueprint(bp)
