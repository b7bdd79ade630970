"""Custom areas: upload a file or list postcodes or LSOA codes at ``/areas/custom``, or hand the polygon drawn
on the map to ``/areas/custom/from-map?draw=…``; the area is stored under its content id and opens at
``/area/custom/<id>``, the same full page as a ward, under a link that can be shared.

``POST /api/profile/custom.json`` with ``{"geometry": <GeoJSON>}`` is the JSON twin: it stores the area
and answers what ``GET /api/profile/custom/<id>.json`` answers, plus the id and the page's address.

Nothing is stored on a GET: the map's link opens a page that shows the drawn area's name field and a
"Make the full profile" form. The forms are server-rendered and work without JavaScript; their POSTs
carry the session's form token (the partner pages' CSRF token, :func:`check_csrf`). The JSON endpoint
uses no cookie and takes only ``application/json``, which a page on another site cannot send without the
browser asking first. Each client address may store at most :data:`AREAS_PER_HOUR` new areas an hour
(:class:`CreationLimit`, kept in this process's memory); more get a 429.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import shapely
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request
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
    json_document,
    read_area_file,
)
from insight.store.custom_areas import save_custom_area
from insight.web.api import checked_name, checked_period, guarded, profile_payload
from insight.web.context import CUSTOM_BOUNDARY, AppContext, context
from insight.web.partner.blueprint import CSRF_FIELD, check_csrf, client_ip, csrf_token

bp = Blueprint("custom_areas", __name__, url_prefix="/areas/custom", template_folder="templates",
               static_folder="static/custom_areas", static_url_path="/static")
LIMITS = AreaLimits()
MAX_NAME = 120
MAX_CODES_TEXT = 100_000
MAP_POINTS = 500
MAX_DRAW_TEXT = 20_000
AREAS_PER_HOUR = 30
EXTENSION = "insight_custom_areas"
EXPIRED = "The form had expired or came from another site. Send it again."
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


@dataclass
class CreationLimit:
    """At most ``limit`` new custom areas from one client address in any ``window`` seconds (process memory)."""

    limit: int = AREAS_PER_HOUR
    window: float = 3600.0
    max_addresses: int = 10_000
    _times: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self, address: str, now: float | None = None) -> float:
        """Seconds ``address`` must wait before it may store another area (0 when it may now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times.get(address)
            while times and now - times[0] >= self.window:
                times.popleft()
            if not times or len(times) < self.limit:
                return 0.0
            return times[len(times) - self.limit] + self.window - now

    def record(self, address: str, now: float | None = None) -> None:
        """Count one new area stored for ``address``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if address not in self._times and len(self._times) >= self.max_addresses:
                for key in [k for k, t in self._times.items() if not t or now - t[-1] >= self.window]:
                    del self._times[key]
            self._times.setdefault(address, deque()).append(now)


def _limit() -> CreationLimit:
    limit: CreationLimit = current_app.extensions[EXTENSION]
    return limit


def _too_many() -> str | None:
    """Why this client may not store another area now, or None when it may."""
    wait = _limit().wait(client_ip())
    if wait <= 0:
        return None
    minutes = max(1, int(wait // 60) + 1)
    return (f"You have made {_limit().limit} areas in the last hour from this address, the most allowed. "
            f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again, or open an area you have made.")


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
    """Check the area against the loaded boundaries and store it (counted against the client's limit)."""
    coverage, where = _coverage(app_context)
    checked = checked_area(parsed, coverage=coverage, where=where, limits=LIMITS)
    key = save_custom_area(app_context.engine, checked.geometry, name=name or "Custom area")
    _limit().record(client_ip())
    return key, checked


def _codes_area(app_context: AppContext, text: str) -> ParsedArea:
    lsoa = app_context.places().lsoa
    if lsoa is None:
        raise BadRequest("no small-area (LSOA 2021) boundary layer is loaded, so codes and postcodes cannot be "
                         "turned into an area: upload a file instead")
    return area_from_codes(text, small_areas=lsoa.areas, engine=app_context.engine, limits=LIMITS)


def _render(status: int = 200, template: str = "custom_areas/new.html", **values: Any) -> Response:
    values.setdefault("form", {"name": "", "codes": ""})
    body = render_template(template, csrf_token=csrf_token(), csrf_field=CSRF_FIELD, limits=LIMITS, **values)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = POLICY
    if status == 429:
        response.headers["Retry-After"] = str(max(1, int(_limit().wait(client_ip())) + 1))
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
    if not check_csrf():
        return _render(400, form=form, error=EXPIRED)
    if refusal := _too_many():
        return _render(429, form=form, error=refusal)
    try:
        area_id = _from_form(context(), request.files.get("file"), name, codes)
    except InsightError as exc:
        return _render(400, form=form, error=str(exc))
    return redirect(page_url(area_id), code=303)


def _drawn(text: str) -> ParsedArea:
    """The polygon drawn on the map (``lon lat,lon lat,…``), BadRequest when there is none or it is malformed."""
    shape = parse_drawn(text[:MAX_DRAW_TEXT])
    if shape is None:
        raise BadRequest("no area was drawn: draw one on the map first, then choose 'Open the full profile'")
    return ParsedArea(shape, "the area drawn on the map")


def _from_map_page(status: int, draw: str, name: str, error: str | None = None) -> Response:
    link = "/?" + urlencode({"draw": draw}) if draw else "/"
    return _render(status, "custom_areas/from_map.html", draw=draw, name=name, map_link=link, error=error)


@bp.get("/from-map")
def from_map() -> Response:
    """The polygon drawn on the map (``?draw=lon lat,lon lat,…``), with a form to name it and make its profile.

    Nothing is stored here: a GET must not write, so another site's link or image cannot make areas.
    """
    draw = (request.args.get("draw") or "")[:MAX_DRAW_TEXT]
    name = (request.args.get("name") or "").strip()[:MAX_NAME]
    try:
        coverage, where = _coverage(context())
        checked_area(_drawn(draw), coverage=coverage, where=where, limits=LIMITS)
    except InsightError as exc:
        return _from_map_page(400, "", name, str(exc))
    return _from_map_page(200, draw, name)


@bp.post("/from-map")
def store_drawn() -> HttpResponse:
    """Store the drawn polygon the confirmation form sends and go to its page (303)."""
    draw = (request.form.get("draw") or "")[:MAX_DRAW_TEXT]
    name = (request.form.get("name") or "").strip()[:MAX_NAME]
    if not check_csrf():
        return _from_map_page(400, draw, name, EXPIRED)
    if refusal := _too_many():
        return _from_map_page(429, draw, name, refusal)
    try:
        area_id = store_area(context(), _drawn(draw), name or "Area drawn on the map")[0]
    except InsightError as exc:
        return _from_map_page(400, "", name, str(exc))
    return redirect(page_url(area_id), code=303)


def _json_body() -> dict:
    """The request's JSON object (read with the upload's depth limit), BadRequest when it is not one."""
    if not request.is_json:
        raise BadRequest('send JSON (Content-Type: application/json): {"geometry": <GeoJSON>}')
    try:
        body = json_document("the request body", request.stream.read(LIMITS.max_bytes + 1), LIMITS)
    except BadRequest as exc:
        raise BadRequest(f'{exc} (send a JSON object with a "geometry" member holding GeoJSON)') from None
    if not isinstance(body, dict) or "geometry" not in body:
        raise BadRequest('the body must be a JSON object with a "geometry" member holding GeoJSON')
    return body


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _json_routes(server: Flask, app_context: AppContext) -> None:
    """``POST /api/profile/custom.json``: store a GeoJSON area and answer its profile."""

    @server.post("/api/profile/custom.json")
    @guarded
    def custom_profile_json() -> Response:
        if request.content_length is not None and request.content_length > LIMITS.max_bytes:
            return _json_error(413, f"the request is larger than {LIMITS.max_bytes:,} bytes, the limit: "
                                    "simplify the outline")
        if refusal := _too_many():
            response = _json_error(429, refusal)
            response.headers["Retry-After"] = str(max(1, int(_limit().wait(client_ip())) + 1))
            return response
        body = _json_body()
        name = body.get("name") or "Custom area"
        if not isinstance(name, str):
            raise BadRequest('"name" must be text')
        query = {k: body[k] for k in ("comparator", "layer", "period") if body.get(k) is not None}
        for key, value in query.items():
            if not isinstance(value, str):
                raise BadRequest(f'"{key}" must be text')
        parsed = area_from_geojson(body["geometry"], what='"geometry"', limits=LIMITS)
        comparator = checked_name(query.get("comparator"), "comparator") or "borough"
        layer, period = checked_name(query.get("layer"), "layer"), checked_period(query.get("period"))
        area_id, checked = store_area(app_context, parsed, name.strip()[:MAX_NAME])
        result = app_context.with_surveys(app_context.area_profile(
            app_context.places(), CUSTOM_BOUNDARY, area_id, comparator=comparator, crime_layer=layer,
            period=period), crime_layer=layer, period=period)
        answer = profile_payload(result)
        suffix = f"?{urlencode(query)}" if query else ""
        answer.update(id=area_id, url=page_url(area_id) + suffix,
                      profile_url=f"/api/profile/{CUSTOM_BOUNDARY}/{area_id}.json{suffix}",
                      notes=[*checked.notes, *answer["notes"]])
        return jsonify(answer)


def register(server: Flask, app_context: AppContext) -> None:
    """Add the custom area form, the map's hand-over route and the JSON twin to ``server``."""
    server.register_blueprint(bp)
    server.extensions[EXTENSION] = CreationLimit()
    _json_routes(server, app_context)
