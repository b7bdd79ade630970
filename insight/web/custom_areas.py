"""Custom areas: upload a file or list postcodes or LSOA codes at ``/areas/custom``, or send the polygon drawn
on the map to ``/areas/custom/from-map?draw=…``; the area is stored under its content id and opens at
``/area/custom/<id>``, the same full page as a ward, under a link that can be shared.

``POST /api/profile/custom.json`` with ``{"geometry": <GeoJSON>}`` is the JSON twin: it stores the area
and answers what ``GET /api/profile/custom/<id>.json`` answers, plus the id and the page's address.

The upload form is server-rendered and works without JavaScript. Its POST carries the session's form
token (the partner pages' CSRF token, checked the same way); the JSON endpoint uses no cookie and takes
only ``application/json``, which a page on another site cannot send without the browser asking first.
"""
from __future__ import annotations

import hmac
from typing import Any, cast
from urllib.parse import urlencode

import shapely
from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request, session
from shapely.geometry.base import BaseGeometry
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as HttpResponse

from insight.analysis.profiles import Profile
from insight.analysis.views import default_boundary, parse_drawn
from insight.errors import BadRequest, InsightError
from insight.sources.custom_area import (
    AreaLimits,
    ParsedArea,
    area_from_codes,
    area_from_geojson,
    checked_area,
    read_area_file,
)
from insight.store.custom_areas import save_custom_area
from insight.web.api import checked_name, checked_period, guarded
from insight.web.context import CUSTOM_BOUNDARY, AppContext, context
from insight.web.partner.blueprint import CSRF_FIELD, csrf_token

bp = Blueprint("custom_areas", __name__, url_prefix="/areas/custom", template_folder="templates",
               static_folder="static/custom_areas", static_url_path="/static")
LIMITS = AreaLimits()
MAX_NAME = 120
MAX_CODES_TEXT = 100_000
MAP_POINTS = 500
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def page_url(area_id: str) -> str:
    """The shareable address of a custom area's page."""
    return f"/area/{CUSTOM_BOUNDARY}/{area_id}"


def custom_map_link(result: Profile) -> str:
    """The map with the area drawn on it, when its outline is one polygon the map's link can carry."""
    parts = shapely.get_parts(result.geometry)
    if len(parts) != 1 or parts[0].geom_type != "Polygon":
        return "/"
    corners = shapely.get_coordinates(shapely.get_exterior_ring(parts[0]))
    if len(corners) > MAP_POINTS:
        return "/"
    return "/?" + urlencode({"draw": ",".join(f"{x:.5f} {y:.5f}" for x, y in corners)})


def _coverage(app_context: AppContext) -> tuple[BaseGeometry | None, str]:
    """What a custom area must overlap: the council's outline, else every area of the default layer."""
    places = app_context.places()
    if places.authority is not None:
        return places.authority.areas.geometry.iloc[0], str(places.authority.areas["name"].iloc[0])
    layer = default_boundary(places)
    if layer is None:
        return None, "the loaded boundaries"
    return shapely.union_all(places.boundary(layer).areas.geometry.values), "the loaded boundaries"


def store_area(app_context: AppContext, parsed: ParsedArea, name: str) -> tuple[str, ParsedArea]:
    """Check the area against the loaded boundaries and store it; its id and the checked area."""
    coverage, where = _coverage(app_context)
    checked = checked_area(parsed, coverage=coverage, where=where, limits=LIMITS)
    return save_custom_area(app_context.engine, checked.geometry, name=name or "Custom area"), checked


def _codes_area(app_context: AppContext, text: str) -> ParsedArea:
    lsoa = app_context.places().lsoa
    if lsoa is None:
        raise BadRequest("no small-area (LSOA 2021) boundary layer is loaded, so codes and postcodes cannot be "
                         "turned into an area: upload a file instead")
    return area_from_codes(text, small_areas=lsoa.areas, engine=app_context.engine, limits=LIMITS)


def _render(status: int = 200, **values: Any) -> Response:
    values.setdefault("form", {"name": "", "codes": ""})
    body = render_template("custom_areas/new.html", csrf_token=csrf_token(), csrf_field=CSRF_FIELD,
                           limits=LIMITS, **values)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = POLICY
    return response


def _from_form(app_context: AppContext, upload: FileStorage | None, name: str, codes: str) -> str:
    """The stored id of the area the form describes (a file, or a list of codes and postcodes)."""
    if upload is not None and upload.filename:
        if codes.strip():
            raise BadRequest("give either a file or a list of codes and postcodes, not both")
        data = upload.stream.read(LIMITS.max_bytes + 1)
        parsed = read_area_file(upload.filename, data, limits=LIMITS)
        default_name = upload.filename.rsplit(".", 1)[0][:MAX_NAME]
    elif codes.strip():
        if len(codes) > MAX_CODES_TEXT:
            raise BadRequest(f"the list is longer than {MAX_CODES_TEXT:,} characters: send a shorter list")
        parsed = _codes_area(app_context, codes)
        default_name = "Custom area"
    else:
        raise BadRequest("choose a file to upload, or type some postcodes or LSOA codes")
    return store_area(app_context, parsed, name or default_name)[0]


@bp.get("")
def new_area() -> Response:
    """The form to make a custom area from a file, or from postcodes or LSOA codes."""
    return _render()


@bp.post("")
def create_area() -> HttpResponse:
    """Store the area the form describes and go to its page; the form again, with the reason, when refused."""
    name = (request.form.get("name") or "").strip()[:MAX_NAME]
    codes = request.form.get("codes") or ""
    form = {"name": name, "codes": codes[:MAX_CODES_TEXT]}
    sent = request.form.get(CSRF_FIELD) or ""
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        return _render(400, form=form, error="The form had expired or came from another site. Send it again.")
    try:
        area_id = _from_form(context(), request.files.get("file"), name, codes)
    except InsightError as exc:
        return _render(400, form=form, error=str(exc))
    return redirect(page_url(area_id), code=303)


@bp.get("/from-map")
def from_map() -> HttpResponse:
    """Store the polygon drawn on the map (``?draw=lon lat,lon lat,…``) and go to its page."""
    name = (request.args.get("name") or "").strip()[:MAX_NAME] or "Area drawn on the map"
    try:
        shape = parse_drawn((request.args.get("draw") or "")[:20_000])
        if shape is None:
            raise BadRequest("no area was drawn: draw one on the map first, then choose 'Full profile'")
        parsed = ParsedArea(shape, "the area drawn on the map")
        area_id = store_area(context(), parsed, name)[0]
    except InsightError as exc:
        return _render(400, error=str(exc))
    return redirect(page_url(area_id), code=303)


def _json_routes(server: Flask, app_context: AppContext) -> None:
    """``POST /api/profile/custom.json``: store a GeoJSON area and answer its profile."""

    @server.post("/api/profile/custom.json")
    @guarded
    def custom_profile_json() -> Response:
        if request.content_length is not None and request.content_length > LIMITS.max_bytes:
            response = jsonify({"error": f"the request is larger than {LIMITS.max_bytes:,} bytes, the limit: "
                                         "simplify the outline"})
            response.status_code = 413
            return response
        if not request.is_json:
            raise BadRequest('send JSON (Content-Type: application/json): {"geometry": <GeoJSON>}')
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "geometry" not in body:
            raise BadRequest('the body must be a JSON object with a "geometry" member holding GeoJSON')
        name = body.get("name") or "Custom area"
        if not isinstance(name, str):
            raise BadRequest('"name" must be text')
        query = {k: body[k] for k in ("comparator", "layer", "period") if body.get(k) is not None}
        for key, value in query.items():
            if not isinstance(value, str):
                raise BadRequest(f'"{key}" must be text')
        checked_name(query.get("comparator"), "comparator")
        checked_name(query.get("layer"), "layer")
        checked_period(query.get("period"))
        parsed = area_from_geojson(body["geometry"], what='"geometry"', limits=LIMITS)
        area_id, checked = store_area(app_context, parsed, name.strip()[:MAX_NAME])
        return _profile_answer(server, area_id, query, checked.notes)


def _profile_answer(server: Flask, area_id: str, query: dict[str, str], notes: list[str]) -> Response:
    """What ``GET /api/profile/custom/<id>.json`` answers (the same view function), plus the id and the page."""
    path = f"/api/profile/{CUSTOM_BOUNDARY}/{area_id}.json"
    with server.test_request_context(path, query_string=query):
        answer = cast(Response, server.view_functions["profile_json"](boundary=CUSTOM_BOUNDARY, code=area_id))
    body = answer.get_json()
    if answer.status_code != 200 or not isinstance(body, dict):
        return answer
    suffix = f"?{urlencode(query)}" if query else ""
    body.update(id=area_id, url=page_url(area_id) + suffix, profile_url=path + suffix,
                notes=[*notes, *body.get("notes", [])])
    return jsonify(body)


def register(server: Flask, app_context: AppContext) -> None:
    """Add the custom area form, the map's hand-over route and the JSON twin to ``server``."""
    server.register_blueprint(bp)
    _json_routes(server, app_context)
