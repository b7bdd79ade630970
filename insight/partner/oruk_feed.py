"""Open Referral UK feeds read into rows: detect a feed and flatten its services into a table.

One row per service at a location, with the organisation, service, location and taxonomy
terms kept under ``oruk`` so an export can give them back (see :mod:`insight.partner.oruk`).
Pure: no database, no files.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyproj
import shapely

from insight.errors import Problem
from insight.partner.tables import RawTable

SERVICE_FIELDS = ("id", "name", "description", "url", "email", "status", "fees", "accreditations", "minimum_age",
                  "maximum_age", "assured_date", "assurer_email", "alert", "last_modified")
ORGANISATION_FIELDS = ("id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id",
                       "organization_identifiers")
LOCATION_FIELDS = ("id", "location_type", "name", "description", "latitude", "longitude", "external_identifier",
                   "external_identifier_type", "addresses", "accessibility")
VOLATILE = ("last_modified", "assured_date")
Json = dict[str, Any]
SCHEMES = {"GB-CHC": "charity_number", "GB-SC": "charity_number", "GB-NIC": "charity_number",
           "GB-COH": "company_number"}


def looks_like_feed(document: object) -> bool:
    """True if a JSON document is an Open Referral UK feed rather than GeoJSON."""
    if isinstance(document, list):
        return bool(document) and all(isinstance(d, dict) and _is_service(d) for d in document[:5])
    if not isinstance(document, dict) or document.get("type") in ("FeatureCollection", "Feature"):
        return False
    contents = document.get("contents")
    if isinstance(contents, list):
        return all(isinstance(d, dict) and _is_service(d) for d in contents[:5])
    return _is_service(document) or (isinstance(document.get("services"), list) and "name" in document)


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _is_service(item: Json) -> bool:
    return "id" in item and "name" in item and any(
        k in item for k in ("status", "service_at_locations", "organization"))


def services_of(document: object) -> list[object]:
    """The services a feed holds, each with its organisation attached."""
    if isinstance(document, list):
        return list(document)
    if not isinstance(document, dict):
        return []
    if isinstance(document.get("contents"), list):
        return list(document["contents"])
    if isinstance(document.get("services"), list):
        organisation = {k: v for k, v in document.items() if k != "services"}
        return [{**s, "organization": s.get("organization") or organisation} if isinstance(s, dict) else s
                for s in document["services"]]
    return [document]


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _terms(service: Json) -> list[Json]:
    out = []
    for attribute in service.get("attributes") or []:
        if isinstance(attribute, dict) and isinstance(attribute.get("taxonomy_term"), dict):
            out.append(attribute["taxonomy_term"])
    return out


def _identifiers(organisation: Json) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in organisation.get("organization_identifiers") or []:
        if isinstance(item, dict):
            kind = SCHEMES.get(str(item.get("identifier_scheme", "")).upper())
            if kind is None:
                text = str(item.get("identifier_type", "")).lower()
                kind = "charity_number" if "charity" in text else "company_number" if "company" in text else None
            if kind and item.get("identifier") not in (None, ""):
                found.setdefault(kind, str(item["identifier"]))
    return found


def _address(location: Json) -> Json:
    for address in location.get("addresses") or []:
        if isinstance(address, dict):
            return address
    return {}


COLUMNS = ["id", "name", "category", "description", "organisation", "status", "email", "url", "location_name",
           "address", "postcode", "assured_date", "charity_number", "company_number", "oruk"]


def _service_rows(service: Json, number: int) -> list[tuple[Json, object]]:
    """The rows of one service, one per location (one without a place if it has none), each with its point."""
    organisation = _dict(service.get("organization"))
    terms = _terms(service)
    base = {
        "name": service.get("name"), "category": (terms[0].get("name") or terms[0].get("term")) if terms else None,
        "description": service.get("description"), "organisation": organisation.get("name"),
        "status": service.get("status"), "email": service.get("email"), "url": service.get("url"),
        "assured_date": service.get("assured_date"), **dict.fromkeys(("charity_number", "company_number")),
        **_identifiers(organisation),
    }
    kept = {"service": {k: service[k] for k in SERVICE_FIELDS if k in service and k not in VOLATILE},
            "organization": {k: organisation[k] for k in ORGANISATION_FIELDS if k in organisation}}
    attributes = service.get("attributes") or []
    links = [s for s in service.get("service_at_locations") or [] if isinstance(s, dict)]
    if not links:
        return [(base | {"id": str(service["id"]), "location_name": None, "address": None, "postcode": None,
                         "oruk": kept | {"attributes": attributes}}, None)]
    rows: list[tuple[Json, object]] = []
    for link in links:
        location = _dict(link.get("location"))
        address = _address(location)
        key = str(link.get("id") or f"{service['id']}/{location.get('id', number)}")
        row = base | {
            "id": key, "location_name": location.get("name"), "address": address.get("address_1"),
            "postcode": address.get("postal_code"),
            "oruk": kept | {"location": {k: location[k] for k in LOCATION_FIELDS if k in location},
                            "service_at_location_id": link.get("id"), "attributes": attributes},
        }
        lon, lat = _number(location.get("longitude")), _number(location.get("latitude"))
        physical = location.get("location_type", "physical") == "physical"
        rows.append((row, shapely.Point(lon, lat) if physical and lon is not None and lat is not None else None))
    return rows


def feed_table(document: object) -> RawTable:
    """The rows of a feed, one per service at a location, for the upload checks."""
    records: list[Json] = []
    geometry: list[object] = []
    problems: list[Problem] = []
    for number, service in enumerate(services_of(document), start=1):
        if not isinstance(service, dict) or not service.get("id") or not service.get("name"):
            problems.append(Problem("not an Open Referral UK service (it needs at least an id and a name)", number))
            records.append(dict.fromkeys(COLUMNS) | {"id": f"item-{number}"})
            geometry.append(None)
            continue
        for row, point in _service_rows(service, number):
            records.append(row)
            geometry.append(point)
    if not records:
        problems.append(Problem("the feed holds no services"))
    return RawTable("oruk", list(COLUMNS), records, np.array(geometry, dtype=object), pyproj.CRS.from_epsg(4326),
                    notes=["read as an Open Referral UK feed: one record per service at a location"], problems=problems)


def categories_from_taxonomy(document: object) -> list[str]:
    """Term names of a taxonomy (``taxonomy.json``) or a taxonomy term list, to use as a layer's categories."""
    items: list[object] = []
    if isinstance(document, dict):
        items = document.get("taxonomy_terms") or document.get("contents") or []
    elif isinstance(document, list):
        items = document
    names = [str(t.get("name") or t.get("term")).strip() for t in items if isinstance(t, dict)
             and (t.get("name") or t.get("term"))]
    return list(dict.fromkeys(n for n in names if n))
