"""The public Open Referral UK API's documents: the directory read from the public asset layers, filtered and paged.

Pure except :func:`read_directory`, which reads the store once (the web layer caches it until a
layer changes). Only public layers are read, and only the fields the feed maps (no contact
people, nothing outside the published columns). Records of illustrative layers say so in
their descriptions.
"""
from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from insight.errors import BadRequest, NotFoundError
from insight.partner.layer_rules import layer_info
from insight.partner.oruk import NAMESPACE, service_key, services_from_records
from insight.partner.records import RecordState, current_records
from insight.store import Engine, layer_summaries
from insight.store.accounts import organisation_names
from insight.store.asset_layers import asset_layer_names
from insight.store.postcodes import PostcodeMatch

Json = dict[str, Any]
PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PROXIMITY = 100_000.0
EARTH_RADIUS = 6_371_008.8
HSDS_VERSION = "3.0"
PROFILE_URL = "https://github.com/OpenReferralUK/uk-profile"
KIND_TAXONOMY = "Local Insight asset kinds"
KIND_LABELS = {"services_people": "Services and people", "spaces": "Spaces and places", "money": "Money and funding",
               "insight": "Knowledge and insight"}
LIST_FIELDS = ("schedules", "service_areas", "service_at_locations", "languages", "funding", "cost_options",
               "contacts", "attributes", "phones")
LOCATION_LISTS = ("addresses", "accessibility", "attributes")


@dataclass(frozen=True)
class Entry:
    """One directory service with what the pages need beside its Open Referral UK document."""

    service: Json
    layer: str
    layer_title: str
    illustrative: bool
    asset_kind: str | None
    record: RecordState
    publisher: str = ""

    @property
    def lon(self) -> float | None:
        """The longitude of the service's first location, if it has one."""
        return self.record.lon

    @property
    def lat(self) -> float | None:
        """The latitude of the service's first location, if it has one."""
        return self.record.lat

    @property
    def last_checked(self) -> datetime | None:
        """When the record was last confirmed by its owner (else last changed)."""
        return self.record.last_assured or self.record.last_updated


@dataclass(frozen=True)
class Directory:
    """Every public directory service, the taxonomies their terms come from, and the terms."""

    entries: list[Entry]
    taxonomies: list[Json] = field(default_factory=list)
    terms: list[Json] = field(default_factory=list)

    def entry(self, service_id: str) -> Entry:
        """The service ``service_id``; NotFoundError when there is none."""
        for item in self.entries:
            if item.service["id"] == service_id:
                return item
        raise NotFoundError(f"there is no service with id '{service_id[:60]}'")


def _kind_term(kind: str) -> Json:
    taxonomy_id = str(uuid.uuid5(NAMESPACE, "taxonomy/asset_kind"))
    term_id = str(uuid.uuid5(NAMESPACE, f"asset_kind/{kind}"))
    return {"id": term_id, "name": KIND_LABELS.get(kind, kind.replace("_", " ").capitalize()),
            "description": f"Asset kind '{kind}' in Local Insight", "taxonomy": KIND_TAXONOMY,
            "taxonomy_id": taxonomy_id, "term": kind}


def _labelled(service: Json, *, layer: str, title: str, illustrative: bool, kind: str | None) -> Json:
    """The service with its terms' taxonomy ids, its asset kind as a term, and the ILLUSTRATIVE label."""
    service = copy.deepcopy(service)
    for attribute in service.get("attributes") or []:
        term = attribute.get("taxonomy_term")
        if isinstance(term, dict) and not term.get("taxonomy_id"):
            term["taxonomy_id"] = str(uuid.uuid5(NAMESPACE, f"taxonomy/{layer}"))
            term.setdefault("taxonomy", f"Local Insight categories ({layer})")
    if kind:
        term = _kind_term(kind)
        service.setdefault("attributes", []).append(
            {"id": str(uuid.uuid5(NAMESPACE, f"{service['id']}/asset_kind/{kind}")), "taxonomy_term_id": term["id"],
             "link_type": "asset_kind", "taxonomy_term": term})
    if illustrative:
        label = f"ILLUSTRATIVE: a fictional record from '{title}', not a real service."
        if "ILLUSTRATIVE" not in service.get("description", ""):
            service["description"] = f"{label} {service.get('description', '')}".strip()
        organisation = service.get("organization") or {}
        if "ILLUSTRATIVE" not in organisation.get("description", ""):
            organisation["description"] = f"ILLUSTRATIVE. {organisation.get('description', '')}".strip()
    return service


def _collect_terms(entries: list[Entry]) -> tuple[list[Json], list[Json]]:
    taxonomies: dict[str, Json] = {}
    terms: dict[str, Json] = {}
    for item in entries:
        for attribute in item.service.get("attributes") or []:
            term = attribute.get("taxonomy_term")
            if not isinstance(term, dict) or not term.get("id"):
                continue
            terms.setdefault(term["id"], term)
            taxonomy_id = term.get("taxonomy_id")
            if taxonomy_id and taxonomy_id not in taxonomies:
                name = str(term.get("taxonomy") or "Local Insight categories")
                taxonomies[taxonomy_id] = {"id": taxonomy_id, "name": name, "description": name}
    ordered = sorted(terms.values(), key=lambda t: (str(t.get("taxonomy")), str(t["name"])))
    return sorted(taxonomies.values(), key=lambda t: str(t["name"])), ordered


def build_directory(layers: Iterable[tuple[Any, list[RecordState]]],
                    org_names: dict[int, tuple[str, str]]) -> Directory:
    """The directory from (layer summary, current records) pairs (pure).

    A summary needs ``name``, ``title``, ``illustrative``, ``asset_kind`` and ``publisher``.
    """
    entries: list[Entry] = []
    for summary, states in layers:
        by_id: dict[str, RecordState] = {}
        for state in states:
            by_id.setdefault(service_key(state, summary.name), state)
        for service in services_from_records(states, layer=summary.name, org_names=org_names):
            state = by_id[service["id"]]
            kind = str(state.properties.get("asset_kind") or summary.asset_kind or "") or None
            entries.append(Entry(
                _labelled(service, layer=summary.name, title=summary.title, illustrative=summary.illustrative,
                          kind=kind),
                summary.name, summary.title, bool(summary.illustrative), kind, state, summary.publisher))
    taxonomies, terms = _collect_terms(entries)
    return Directory(entries, taxonomies, terms)


def read_directory(engine: Engine) -> Directory:
    """Every record of every public asset layer, as directory services (read once; cache the result)."""
    summaries = {s.name: s for s in layer_summaries(engine) if s.kind == "points" and s.sensitivity == "public"}
    layers = []
    with engine.connect() as conn:
        names = [n for n in asset_layer_names(conn) if n in summaries]
        for name in sorted(names):
            info = layer_info(conn, name)
            if info.ref.sensitivity != "public" or info.ref.counts_only:
                continue
            layers.append((summaries[name], current_records(conn, info.id, layer_owner=info.ref.owner_org_id)))
        org_names = organisation_names(conn)
    return build_directory(layers, org_names)


# --- queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What a list asks for: free text, terms, an organisation, a point with a radius, a page."""

    search: str = ""
    taxonomy_term_id: str | None = None
    taxonomy_id: str | None = None
    organization_id: str | None = None
    asset_kind: str | None = None
    centre: tuple[float, float] | None = None
    proximity: float | None = None
    page: int = 1
    per_page: int = PER_PAGE


def _integer(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if not text.lstrip("+").isdigit() or len(text) > 9:
        raise BadRequest(f"{name} must be a whole number from {low} to {high:,} (got '{text[:20]}')")
    number = int(text)
    if not low <= number <= high:
        raise BadRequest(f"{name} must be from {low} to {high:,} (got {number:,})")
    return number


def paging(page: str | None, per_page: str | None) -> tuple[int, int]:
    """``page`` (from 1) and ``per_page`` (1 to :data:`MAX_PER_PAGE`) read from the query string; BadRequest if bad."""
    return (_integer(page, "page", 1, 1, 1_000_000),
            _integer(per_page, "per_page", PER_PAGE, 1, MAX_PER_PAGE))


def proximity_metres(value: str | None) -> float | None:
    """A radius in metres from the query string (above 0, at most 100 km); BadRequest if it is not one."""
    if value is None or value.strip() == "":
        return None
    try:
        metres = float(value.strip())
    except ValueError:
        raise BadRequest(f"proximity must be a distance in metres, e.g. 1000 (got '{value.strip()[:20]}')") from None
    if not math.isfinite(metres) or not 0 < metres <= MAX_PROXIMITY:
        raise BadRequest(f"proximity must be more than 0 and at most {MAX_PROXIMITY:,.0f} metres")
    return metres


def postcode_match(engine: Engine, text: str) -> PostcodeMatch | None:
    """The first located reading of a postcode, sector or district in the loaded postcode file (None if none).

    BadRequest in plain words when ``text`` is not shaped like a postcode, sector or district.
    """
    from insight.sources.postcodes import lookup_keys
    from insight.store.postcodes import first_match

    keys = lookup_keys(text[:20])
    if not keys:
        raise BadRequest(f"'{text.strip()[:20]}' is not a postcode, sector or district. Try one like "
                         "'NW9 5AB', 'NW9 5' or 'NW9'")
    return first_match(engine, keys, located=True)


def postcode_centre(engine: Engine, text: str) -> tuple[float, float]:
    """The point of a postcode, sector or district in the loaded postcode file; BadRequest when it cannot be placed."""
    match = postcode_match(engine, text)
    if match is None or match.lon is None or match.lat is None:
        raise BadRequest(f"'{text.strip()[:20]}' is not in the postcode file loaded here, or has no location")
    return match.lon, match.lat


def distances(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle distances in metres from (lon, lat) to each point (haversine on the mean Earth radius)."""
    p1, p2 = np.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons) - np.radians(lon)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS * np.arcsin(np.sqrt(np.clip(a, 0, 1))))


def search_text(item: Entry) -> str:
    """What free text is matched against: names, description, organisation, terms, place and postcode."""
    service = item.service
    parts = [service.get("name"), service.get("description"), (service.get("organization") or {}).get("name"),
             item.layer_title, item.record.category]
    parts += [(a.get("taxonomy_term") or {}).get("name") for a in service.get("attributes") or []]
    for link in service.get("service_at_locations") or []:
        location = link.get("location") or {}
        parts.append(location.get("name"))
        parts += [f"{a.get('address_1')} {a.get('postal_code')}" for a in location.get("addresses") or []]
    parts += [item.record.properties.get(k) for k in ("venue_name", "postcode")]
    return " ".join(str(p) for p in parts if p).casefold()


def _terms_of(item: Entry) -> list[Json]:
    return [a["taxonomy_term"] for a in item.service.get("attributes") or []
            if isinstance(a.get("taxonomy_term"), dict)]


def select_entries(directory: Directory, query: Query) -> list[tuple[Entry, float | None]]:
    """The services matching ``query`` with their distance in metres from its centre (nearest first when it has
    one, else by name); services without a location are left out when a radius is given."""
    words = query.search.casefold().split()
    chosen = []
    for item in directory.entries:
        terms = _terms_of(item)
        if words and not all(w in search_text(item) for w in words):
            continue
        if query.taxonomy_term_id and not any(t.get("id") == query.taxonomy_term_id for t in terms):
            continue
        if query.taxonomy_id and not any(t.get("taxonomy_id") == query.taxonomy_id for t in terms):
            continue
        if query.organization_id and (item.service.get("organization") or {}).get("id") != query.organization_id:
            continue
        if query.asset_kind and item.asset_kind != query.asset_kind:
            continue
        chosen.append(item)
    if query.centre is None:
        return [(item, None) for item in sorted(chosen, key=lambda e: (str(e.service["name"]).casefold(), e.layer))]
    placed = [e for e in chosen if e.lon is not None and e.lat is not None]
    metres = distances(query.centre[0], query.centre[1], np.array([e.lon for e in placed], dtype=float),
                       np.array([e.lat for e in placed], dtype=float)) if placed else np.array([])
    found: list[tuple[Entry, float | None]] = [
        (e, float(d)) for e, d in zip(placed, metres, strict=True)
        if query.proximity is None or d <= query.proximity]
    found.sort(key=lambda pair: (pair[1], str(pair[0].service["name"])))
    if query.proximity is None:
        found += [(e, None) for e in chosen if e.lon is None or e.lat is None]
    return found


def page_of(items: list[Any], page: int, per_page: int) -> tuple[list[Any], Json]:
    """One page of ``items`` and the profile's paging fields for it."""
    total = len(items)
    pages = math.ceil(total / per_page)
    contents = items[(page - 1) * per_page: page * per_page]
    return contents, {"total_items": total, "total_pages": pages, "page_number": page, "size": len(contents),
                      "first_page": page == 1, "last_page": page >= pages, "empty": not contents}


# --- documents -------------------------------------------------------------------------------------


def root_document(base_url: str, directory: Directory) -> Json:
    """``/``: the HSDS version, the profile and where the API contract is, and which layers are served."""
    layers = sorted({(e.layer, e.layer_title, e.illustrative) for e in directory.entries})
    return {"version": HSDS_VERSION, "profile": PROFILE_URL, "openapi_url": f"{base_url}openapi.json",
            "description": "Open Referral UK API of the Local Insight community directory: public asset layers only. "
                           "Records of layers marked ILLUSTRATIVE are fictional.",
            "layers": [{"name": n, "title": t, "illustrative": i} for n, t, i in layers]}


def service_summary(service: Json) -> Json:
    """A service with its one-to-one fields only (``/services`` lists), and its organisation."""
    out = {k: v for k, v in service.items() if k not in LIST_FIELDS}
    organisation = service.get("organization")
    if isinstance(organisation, dict):
        out["organization_id"] = organisation["id"]
        out["organization"] = {k: v for k, v in organisation.items() if k not in ("organization_identifiers",
                                                                                     "attributes")}
    return out


def _location_summary(location: Json) -> Json:
    return {k: v for k, v in location.items() if k not in LOCATION_LISTS}


def service_at_locations(directory: Directory, selected: list[Entry] | None = None) -> list[tuple[Entry, Json]]:
    """Every (service, service-at-location link) pair of ``selected`` (default: the whole directory)."""
    return [(item, link) for item in (directory.entries if selected is None else selected)
            for link in item.service.get("service_at_locations") or []]


def service_at_location_summary(item: Entry, link: Json) -> Json:
    """A service at a location with one-to-one fields: its location and its service, without their lists."""
    location = link.get("location") or {}
    return {"id": link["id"], "service_id": item.service["id"], "location_id": location.get("id"),
            "location": _location_summary(location), "service": service_summary(item.service)}


def service_at_location_full(directory: Directory, link_id: str) -> Json:
    """The fully nested service at a location ``link_id``; NotFoundError when there is none."""
    for item, link in service_at_locations(directory):
        if link["id"] == link_id:
            location = link.get("location") or {}
            return {"id": link["id"], "service_id": item.service["id"], "location_id": location.get("id"),
                    "location": location, "service": item.service}
    raise NotFoundError(f"there is no service at a location with id '{link_id[:60]}'")


def taxonomy_document(directory: Directory, taxonomy_id: str) -> Json:
    """One taxonomy with its terms; NotFoundError when there is none."""
    for taxonomy in directory.taxonomies:
        if taxonomy["id"] == taxonomy_id:
            terms = [t for t in directory.terms if t.get("taxonomy_id") == taxonomy_id]
            return {**taxonomy, "taxonomy_terms": terms}
    raise NotFoundError(f"there is no taxonomy with id '{taxonomy_id[:60]}'")


def taxonomy_term(directory: Directory, term_id: str) -> Json:
    """One taxonomy term; NotFoundError when there is none."""
    for term in directory.terms:
        if term["id"] == term_id:
            return term
    raise NotFoundError(f"there is no taxonomy term with id '{term_id[:60]}'")
