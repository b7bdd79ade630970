"""The public community directory at ``/directory``: server-rendered pages that work without JavaScript.

Search by what (words, a category, an asset kind) and where (a postcode, sector or district from
the loaded postcode file, or a ward), a page per service with a small drawn map, and a page
saying how to report a change to the organisation that owns the record.
"""
from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request

from insight.analysis.views import default_boundary
from insight.errors import BadRequest, InsightError, NotFoundError
from insight.partner import directory_search as ds
from insight.partner.oruk_api import KIND_LABELS, KIND_TAXONOMY, Entry
from insight.web.context import AppContext, context
from insight.web.oruk import directory

bp = Blueprint("directory", __name__, url_prefix="/directory", template_folder="templates",
               static_folder="static/directory", static_url_path="/static")
PER_PAGE = 25
MAP_SIZE = 320
MAP_METRES = 1500
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def _render(template: str, status: int = 200, **values: Any) -> Response:
    response = Response(render_template(f"directory/{template}", **values), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = POLICY
    return response


def _wards() -> tuple[str | None, list[tuple[str, str]]]:
    places = context().places()
    name = default_boundary(places)
    if name is None:
        return None, []
    areas = places.boundary(name).areas
    return name, sorted(zip(areas["code"].astype(str), areas["name"].astype(str), strict=True), key=lambda p: p[1])


def _choices() -> dict[str, Any]:
    found = directory()
    terms = [t for t in found.terms if t.get("taxonomy") != KIND_TAXONOMY]
    groups: dict[str, list[dict]] = {}
    for term in terms:
        groups.setdefault(str(term.get("taxonomy") or "Categories"), []).append(term)
    kinds = sorted({e.asset_kind for e in found.entries if e.asset_kind})
    return {"term_groups": groups, "kinds": [(k, KIND_LABELS.get(k, k)) for k in kinds], "radii": ds.RADII}


def _place(form: dict[str, str]) -> ds.Place | None:
    if form["postcode"]:
        return ds.postcode_place(context().engine, form["postcode"])
    if form["ward"]:
        boundary, wards = _wards()
        names = dict(wards)
        if boundary is None or form["ward"] not in names:
            raise BadRequest("choose a ward from the list")
        areas = context().places().boundary(boundary).areas
        area = areas.geometry[areas["code"].astype(str) == form["ward"]].iloc[0]
        return ds.ward_place(names[form["ward"]], area)
    return None


def _form() -> dict[str, str]:
    keys = ("q", "term", "kind", "postcode", "ward", "radius", "page")
    return {k: (request.args.get(k) or "").strip()[:120] for k in keys}


@bp.get("")
@bp.get("/")
def search() -> Response:
    """The search form, and the results when anything was asked for."""
    form = _form()
    error, results, place, pages, page = None, None, None, 0, 1
    asked = any(form[k] for k in ("q", "term", "kind", "postcode", "ward"))
    try:
        page = int(form["page"]) if form["page"].isdigit() and 0 < len(form["page"]) < 6 else 1
        radius = ds.parse_radius(form["radius"])
        if asked:
            place = _place(form)
            found = ds.search_directory(directory(), what=form["q"], term_id=form["term"] or None,
                                        kind=form["kind"] or None, place=place, radius=radius)
            pages = max(1, math.ceil(len(found) / PER_PAGE))
            page = min(page, pages)
            results = found
    except InsightError as refused:
        error = str(refused)
    shown = results[(page - 1) * PER_PAGE: page * PER_PAGE] if results is not None else None
    _, wards = _wards()
    return _render("search.html", status=400 if error else 200, form=form, error=error, results=results,
                   shown=shown, place=place, page=page, pages=pages, wards=wards, distance=ds.describe_distance,
                   page_link=lambda n: _page_link(form, n), **_choices())


def _page_link(form: dict[str, str], number: int) -> str:
    from urllib.parse import urlencode

    return "?" + urlencode({**{k: v for k, v in form.items() if v and k != "page"}, "page": number})


def _entry(service_id: str) -> Entry:
    try:
        return directory().entry(service_id[:80])
    except NotFoundError:
        abort(404, description="There is no service at this address in the directory")


def _projected(lon: float, lat: float, centre: tuple[float, float]) -> tuple[float, float]:
    scale = MAP_SIZE / (2 * MAP_METRES)
    dx = math.radians(lon - centre[0]) * 6_371_008.8 * math.cos(math.radians(centre[1]))
    dy = math.radians(lat - centre[1]) * 6_371_008.8
    return MAP_SIZE / 2 + dx * scale, MAP_SIZE / 2 - dy * scale


def _path(geometry: Any, centre: tuple[float, float]) -> str:
    parts = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        for ring in [polygon.exterior, *polygon.interiors]:
            points = [_projected(x, y, centre) for x, y in ring.coords]
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) + " Z")
    return " ".join(parts)


def small_map(entry: Entry) -> dict[str, Any] | None:
    """An inline map of the service's surroundings: ward outlines within 1.5 km and the service's point."""
    if entry.lon is None or entry.lat is None:
        return None
    import shapely

    centre = (entry.lon, entry.lat)
    boundary, _ = _wards()
    outlines, ward = [], None
    if boundary is not None:
        areas = context().places().boundary(boundary).areas
        degrees = MAP_METRES / 111_000
        window = shapely.box(entry.lon - 2 * degrees, entry.lat - degrees, entry.lon + 2 * degrees, entry.lat + degrees)
        for name, geometry in zip(areas["name"], areas.geometry, strict=True):
            if geometry is not None and geometry.intersects(window):
                outlines.append(_path(geometry.intersection(window), centre))
                if geometry.contains(shapely.Point(centre)):
                    ward = str(name)
    return {"size": MAP_SIZE, "outlines": outlines, "x": MAP_SIZE / 2, "y": MAP_SIZE / 2, "ward": ward,
            "width_km": 2 * MAP_METRES / 1000}


def _details(entry: Entry) -> dict[str, Any]:
    service = entry.service
    locations = [link.get("location") or {} for link in service.get("service_at_locations") or []]
    addresses = [a for loc in locations for a in loc.get("addresses") or []]
    access = [a.get("description") for loc in locations for a in loc.get("accessibility") or [] if a.get("description")]
    terms = [a["taxonomy_term"]["name"] for a in service.get("attributes") or [] if a.get("taxonomy_term")
             and a["taxonomy_term"].get("taxonomy") != KIND_TAXONOMY]
    organisation = service.get("organization") or {}
    return {"phones": [p["number"] for p in service.get("phones") or []], "email": service.get("email"),
            "url": service.get("url"), "addresses": addresses, "access": access, "terms": terms,
            "hours": [s.get("description") for s in service.get("schedules") or [] if s.get("description")],
            "organisation": organisation, "venue": entry.record.properties.get("venue_name"),
            "kind": KIND_LABELS.get(entry.asset_kind or "", entry.asset_kind)}


@bp.get("/service/<service_id>")
def service(service_id: str) -> Response:
    """One service: organisation, description, contacts, opening times, accessibility, map, last checked."""
    entry = _entry(service_id)
    return _render("service.html", entry=entry, service=entry.service, map=small_map(entry), **_details(entry))


@bp.get("/service/<service_id>/report")
def report(service_id: str) -> Response:
    """How to report a change: an email to the owning organisation when it publishes one, else who maintains it."""
    entry = _entry(service_id)
    details = _details(entry)
    email = details["email"] or details["organisation"].get("email")
    return _render("report.html", entry=entry, service=entry.service, email=email)


@bp.get("/<path:rest>")
def unknown(rest: str) -> Response:
    """Any other address under ``/directory``: a 404 page (not the map)."""
    abort(404, description="There is no page at this address in the directory")


def register(server: Flask, app_context: AppContext) -> None:
    """Add the directory pages to ``server``."""
    server.register_blueprint(bp)
