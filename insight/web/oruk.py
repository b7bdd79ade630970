"""The Open Referral UK API at ``/oruk/``: the profile's nine GET endpoints, read anonymously with CORS.

Documents are built by :mod:`insight.partner.oruk_api` from the public asset layers, read once
and kept until a layer changes. A bad parameter answers 400 and an unknown id 404, as JSON.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

from insight.errors import BadRequest, InsightError, http_status
from insight.partner import oruk_api
from insight.partner.oruk_api import Directory, Query
from insight.web.context import AppContext, context

bp = Blueprint("oruk", __name__, url_prefix="/oruk")
MAX_TEXT = 200
CACHE_SECONDS = 60


def directory() -> Directory:
    """The directory, read from the store once and kept until a layer is loaded or edited."""
    app_context = context()
    return app_context.view(("oruk-directory",), lambda: oruk_api.read_directory(app_context.engine))


def _text(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise BadRequest(f"{name} is too long (at most {MAX_TEXT} characters)")
    return value.strip()


def list_query() -> Query:
    """The list filters of the request: search, terms, organisation, postcode with proximity, and paging."""
    page, per_page = oruk_api.paging(request.args.get("page"), request.args.get("per_page"))
    postcode = _text("postcode")
    proximity = oruk_api.proximity_metres(request.args.get("proximity"))
    if proximity is not None and postcode is None:
        raise BadRequest("proximity needs a postcode to measure from, e.g. postcode=WC1A 1AA&proximity=1000")
    centre = oruk_api.postcode_centre(context().engine, postcode) if postcode else None
    return Query(search=_text("search") or "", taxonomy_term_id=_text("taxonomy_term_id"),
                 taxonomy_id=_text("taxonomy_id"), organization_id=_text("organization_id"),
                 centre=centre, proximity=proximity, page=page, per_page=per_page)


def _page(items: list, query: Query) -> Response:
    contents, fields = oruk_api.page_of(items, query.page, query.per_page)
    return jsonify({**fields, "contents": contents})


@bp.get("/")
def root() -> ResponseReturnValue:
    """The API's description: HSDS version, profile and contract."""
    return jsonify(oruk_api.root_document(request.host_url.rstrip("/") + "/oruk/", directory()))


@bp.get("/services")
def services() -> ResponseReturnValue:
    """A page of services (one-to-one fields and organisation), filtered."""
    query = list_query()
    found = oruk_api.select_entries(directory(), query)
    return _page([oruk_api.service_summary(item.service) for item, _ in found], query)


@bp.get("/services/<path:service_id>")
def service(service_id: str) -> ResponseReturnValue:
    """One fully nested service."""
    return jsonify(directory().entry(service_id).service)


@bp.get("/service_at_locations")
def service_at_locations() -> ResponseReturnValue:
    """A page of services at locations, filtered (nearest first when a postcode is given)."""
    query = list_query()
    found = [item for item, _ in oruk_api.select_entries(directory(), query)]
    links = oruk_api.service_at_locations(directory(), found)
    return _page([oruk_api.service_at_location_summary(item, link) for item, link in links], query)


@bp.get("/service_at_locations/<path:link_id>")
def service_at_location(link_id: str) -> ResponseReturnValue:
    """One fully nested service at a location."""
    return jsonify(oruk_api.service_at_location_full(directory(), link_id))


@bp.get("/taxonomies")
def taxonomies() -> ResponseReturnValue:
    """A page of the taxonomies the directory's terms come from."""
    page, per_page = oruk_api.paging(request.args.get("page"), request.args.get("per_page"))
    return _page(directory().taxonomies, Query(page=page, per_page=per_page))


@bp.get("/taxonomies/<path:taxonomy_id>")
def taxonomy(taxonomy_id: str) -> ResponseReturnValue:
    """One taxonomy with its terms."""
    return jsonify(oruk_api.taxonomy_document(directory(), taxonomy_id))


@bp.get("/taxonomy_terms")
def taxonomy_terms() -> ResponseReturnValue:
    """A page of taxonomy terms, optionally of one taxonomy."""
    page, per_page = oruk_api.paging(request.args.get("page"), request.args.get("per_page"))
    wanted = _text("taxonomy_id")
    terms = [t for t in directory().terms if wanted is None or t.get("taxonomy_id") == wanted]
    return _page(terms, Query(page=page, per_page=per_page))


@bp.get("/taxonomy_terms/<path:term_id>")
def taxonomy_term(term_id: str) -> ResponseReturnValue:
    """One taxonomy term."""
    return jsonify(oruk_api.taxonomy_term(directory(), term_id))


@bp.errorhandler(InsightError)
def _refused(error: InsightError) -> ResponseReturnValue:
    response = jsonify({"error": str(error)})
    response.status_code = http_status(error)
    return response


def _cors(response: Response) -> Response:
    if request.path == "/oruk" or request.path.startswith("/oruk/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        if response.status_code == 200:
            response.headers.setdefault("Cache-Control", f"public, max-age={CACHE_SECONDS}")
    return response


def register(server: Flask, app_context: AppContext) -> None:
    """Add the Open Referral UK API to ``server``; every ``/oruk`` answer, errors included, allows any origin."""
    server.register_blueprint(bp)
    server.after_request(_cors)
