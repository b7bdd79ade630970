"""What every response shares: security headers, a request id, real 404s, and plain failure messages.

A database that cannot be reached answers 503 with a plain message; anything else unexpected
answers 500 with a reference. Either way the detail (paths, host names, the stack trace) is
logged with the request's id, and only the id is shown. API paths (``/api/``) answer JSON,
pages answer HTML.
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from html import escape
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from insight.store.engine import database_unavailable, ping
from insight.web.context import AppContext

log = logging.getLogger("insight.web")

UNAVAILABLE = ("The database is not available right now. Try again in a few minutes; if it goes on, tell the "
               "site's administrators")
WENT_WRONG = "Something went wrong on our side. Try again; if it goes on, tell the site's administrators"
NOT_FOUND = "There is no page at this address. Check the address, or start from the map"
INTERNAL_PREFIXES = ("/_dash-", "/_reload-hash", "/_favicon.ico", "/assets/", "/static/", "/partner", "/healthz",
                     "/oruk", "/directory", "/areas/custom")
# Machine-readable services: unknown paths under them are JSON 404s, never the map's HTML.
JSON_SERVICES = ("/api", "/ogc", "/oruk")


def _under(path: str, prefixes: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or below one of them."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def request_id() -> str:
    """The id of the current request, shown to the user and written with every logged failure."""
    if "request_id" not in g:
        g.request_id = secrets.token_hex(6)
    return str(g.request_id)


def _wants_json() -> bool:
    return _under(request.path, JSON_SERVICES) or request.path.startswith("/_dash-") or (
        request.path == "/healthz" or request.path.startswith("/partner/api/"))


def _page(status: int, title: str, message: str) -> Response:
    body = (f'<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><title>{escape(title)} – Local Insight'
            f'</title></head><body><main><h1>{escape(title)}</h1><p role="alert">{escape(message)}.</p>'
            '<p><a href="/">Go to the map</a></p></main></body></html>')
    return Response(body, status=status, mimetype="text/html")


def answer(status: int, title: str, message: str) -> Response:
    """A failure answer: JSON ``{"error": ...}`` for API paths, a small HTML page otherwise."""
    if _wants_json():
        response = jsonify({"error": message, "reference": request_id()})
        response.status_code = status
        return response
    return _page(status, title, message)


def _page_patterns(paths: list[str]) -> list[re.Pattern[str]]:
    patterns = []
    for path in paths:
        parts = [("[^/]+" if p.startswith("<") and p.endswith(">") else re.escape(p)) for p in path.split("/")]
        patterns.append(re.compile("/".join(parts).rstrip("/") + "/?"))
    return patterns


def content_security_policy(script_hashes: Sequence[str], tile_url: str) -> str:
    """The policy for the map and area pages: scripts from this site (and Dash's inline starter), no framing."""
    tiles = ""
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme in ("http", "https") and parts.hostname:
            host = parts.hostname.replace("a.", "*.", 1) if "{s}" in tile_url else parts.hostname
            tiles = f" {parts.scheme}://{host}"
    scripts = " ".join(["'self'", "'unsafe-eval'", *script_hashes])
    return (f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; font-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'")


def install_guards(server: Flask, app_context: AppContext, *, page_paths: list[str],
                   script_hashes: Callable[[], Sequence[str]]) -> None:
    """Add the security headers, request ids, 404s and failure answers to every route of ``server``.

    ``script_hashes`` is asked once the first request has been answered: Dash adds the inline
    script of its page router when it sets itself up on that request, so asking earlier would
    leave that script out of the policy and the browser would refuse to run it.
    """
    pages = _page_patterns(page_paths)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }

    @server.before_request
    def _route_or_404() -> Response | None:
        request_id()
        path = request.path
        rule = request.url_rule.rule.split("<")[0].rstrip("/") if request.url_rule is not None else ""
        if _under(path, JSON_SERVICES) and not _under(rule, JSON_SERVICES):
            return answer(404, "Not found", f"there is no API endpoint at {path[:80]}")
        if path.startswith(INTERNAL_PREFIXES) or _under(path, JSON_SERVICES):
            return None
        if not any(p.fullmatch(path) for p in pages):
            return answer(404, "Page not found", NOT_FOUND)
        ping(app_context.engine)
        return None

    @server.after_request
    def _headers(response: Response) -> Response:
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = content_security_policy(script_hashes(),
                                                                         app_context.settings.tile_url)
        for key, value in headers.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("X-Request-Id", request_id())
        return response

    @server.errorhandler(Exception)
    def _failed(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            status = error.code or 500
            if _wants_json():
                return answer(status, error.name, error.description or error.name)
            return _page(status, error.name, (error.description or error.name).rstrip("."))
        reference = request_id()
        if database_unavailable(error):
            log.error("request %s %s %s: database unavailable: %s", reference, request.method, request.path,
                      getattr(error, "orig", error))
            return answer(503, "Not available", f"{UNAVAILABLE} (reference {reference})")
        log.exception("request %s %s %s failed", reference, request.method, request.path)
        return answer(500, "Something went wrong", f"{WENT_WRONG} (reference {reference})")
