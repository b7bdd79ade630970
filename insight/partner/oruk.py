"""Open Referral UK (the UK profile of HSDS): import a feed into the directory layer, export it back.

A feed is the ``/services`` page of the API contract (``{"contents": [service, …]}``),
a list of services, one service, or an organisation with its ``services``. Each
service at a location becomes one record of the directory layer, a point at the
location (a service without a physical location is a record without one). The
feed's organisation, service, location and taxonomy terms are kept in the
record's ``oruk`` property so the export gives them back; the export is a
``/services`` page of fully nested services, valid against the published schema
(``schema/compiled/service.json``).

Import goes through the same checks, preview and versioned commit as any upload.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import Engine, select

from insight.partner import audit
from insight.partner.auth import Principal, require
from insight.errors import Problem
from insight.partner.safe_files import RawTable
from insight.store.models import Organisation
from insight.partner.versions import RecordState, current_records, layer_info

NAMESPACE = uuid.UUID("6f1c2d2e-41b4-4d0b-9a53-5b0f7c1e8a10")
SERVICE_FIELDS = ("id", "name", "description", "url", "email", "status", "fees", "accreditations", "minimum_age",
                  "maximum_age", "assured_date", "assurer_email", "alert", "last_modified")
ORGANISATION_FIELDS = ("id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id",
                       "organization_identifiers")
LOCATION_FIELDS = ("id", "location_type", "name", "description", "latitude", "longitude", "external_identifier",
                   "external_identifier_type", "addresses", "accessibility")
VOLATILE = ("last_modified", "assured_date")
STATUSES = ("active", "inactive", "defunct", "temporarily closed")
SCHEMES = {"GB-CHC": "charity_number", "GB-SC": "charity_number", "GB-NIC": "charity_number",
           "GB-COH": "company_number"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?#]*)?")


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


def _is_service(item: dict) -> bool:
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


def _terms(service: dict) -> list[dict]:
    out = []
    for attribute in service.get("attributes") or []:
        if isinstance(attribute, dict) and isinstance(attribute.get("taxonomy_term"), dict):
            out.append(attribute["taxonomy_term"])
    return out


def _identifiers(organisation: dict) -> dict[str, str]:
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


def _address(location: dict) -> dict:
    for address in location.get("addresses") or []:
        if isinstance(address, dict):
            return address
    return {}


def feed_table(document: object) -> RawTable:
    """The rows of a feed, one per service at a location, for the upload checks."""
    columns = ["id", "name", "category", "description", "organisation", "status", "email", "url", "location_name",
               "address", "postcode", "assured_date", "charity_number", "company_number", "oruk"]
    records: list[dict] = []
    geometry: list[object] = []
    problems: list[Problem] = []
    for number, service in enumerate(services_of(document), start=1):
        if not isinstance(service, dict) or not service.get("id") or not service.get("name"):
            problems.append(Problem("not an Open Referral UK service (it needs at least an id and a name)", number))
            records.append({c: None for c in columns} | {"id": f"item-{number}"})
            geometry.append(None)
            continue
        organisation = service.get("organization") if isinstance(service.get("organization"), dict) else {}
        terms = _terms(service)
        base = {
            "name": service.get("name"), "category": (terms[0].get("name") or terms[0].get("term")) if terms else None,
            "description": service.get("description"), "organisation": organisation.get("name"),
            "status": service.get("status"), "email": service.get("email"), "url": service.get("url"),
            "assured_date": service.get("assured_date"), **{k: None for k in ("charity_number", "company_number")},
            **_identifiers(organisation),
        }
        kept_service = {k: service[k] for k in SERVICE_FIELDS if k in service and k not in VOLATILE}
        kept_organisation = {k: organisation[k] for k in ORGANISATION_FIELDS if k in organisation}
        links = [s for s in service.get("service_at_locations") or [] if isinstance(s, dict)]
        if not links:
            records.append(base | {"id": str(service["id"]), "location_name": None, "address": None, "postcode": None,
                                   "oruk": {"service": kept_service, "organization": kept_organisation,
                                            "attributes": service.get("attributes") or []}})
            geometry.append(None)
            continue
        for link in links:
            location = link.get("location") if isinstance(link.get("location"), dict) else {}
            address = _address(location)
            key = str(link.get("id") or f"{service['id']}/{location.get('id', number)}")
            records.append(base | {
                "id": key, "location_name": location.get("name"), "address": address.get("address_1"),
                "postcode": address.get("postal_code"),
                "oruk": {"service": kept_service, "organization": kept_organisation,
                         "location": {k: location[k] for k in LOCATION_FIELDS if k in location},
                         "service_at_location_id": link.get("id"), "attributes": service.get("attributes") or []},
            })
            lon, lat = _number(location.get("longitude")), _number(location.get("latitude"))
            physical = location.get("location_type", "physical") == "physical"
            geometry.append(shapely.Point(lon, lat) if physical and lon is not None and lat is not None else None)
    if not records:
        problems.append(Problem("the feed holds no services"))
    return RawTable("oruk", columns, records, np.array(geometry, dtype=object), pyproj.CRS.from_epsg(4326),
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


# --- export --------------------------------------------------------------------------------------


def _uuid(value: object, *parts: object) -> str:
    if isinstance(value, str) and _UUID.fullmatch(value):
        return value.lower()
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _timestamp(value: datetime | None) -> str:
    value = (value or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _clean_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _uri(value: object) -> str | None:
    text = _clean_text(value)
    return text if text and _URL.fullmatch(text) else None


def _email(value: object) -> str | None:
    text = _clean_text(value)
    return text if text and _EMAIL.fullmatch(text) else None


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID.fullmatch(value))


def _organisation(state: RecordState, stored: dict, org_names: dict[int, tuple[str, str]], layer: str) -> dict:
    slug, name = org_names.get(state.owner_org_id, (None, None))
    label = _clean_text(state.properties.get("organisation")) or stored.get("name") or name or state.name or "Unknown"
    organisation: dict[str, Any] = {
        "id": _uuid(stored.get("id"), layer, "organisation", slug or label),
        "name": str(label),
        "description": str(stored.get("description") or state.properties.get("organisation_description") or ""),
    }
    for key, check in (("email", _email), ("website", _uri), ("uri", _uri)):
        value = check(stored.get(key))
        if value:
            organisation[key] = value
    if isinstance(stored.get("logo"), str) and stored["logo"].strip():
        organisation["logo"] = stored["logo"].strip()
    if _is_uuid(stored.get("parent_organization_id")):
        organisation["parent_organization_id"] = stored["parent_organization_id"]
    identifiers = [i for i in stored.get("organization_identifiers") or [] if isinstance(i, dict)
                   and _is_uuid(i.get("id")) and isinstance(i.get("identifier_type"), str)
                   and isinstance(i.get("identifier"), str)]
    known = {str(i["identifier"]).replace(" ", "").upper() for i in identifiers}
    for kind, label_text, scheme in (("charity_number", "Charity number", "GB-CHC"),
                                     ("company_number", "Company number", "GB-COH")):
        value = _clean_text(state.properties.get(kind))
        if value and value.replace(" ", "").upper() not in known:
            identifiers.append({"id": _uuid(None, layer, organisation["id"], kind, value),
                                "identifier_scheme": scheme, "identifier_type": label_text, "identifier": value})
    if identifiers:
        organisation["organization_identifiers"] = identifiers
    return organisation


def _location(state: RecordState, stored: dict, layer: str) -> dict:
    location = {"id": _uuid(stored.get("id"), layer, "location", state.owner_org_id, state.key),
                "location_type": "physical"}
    name = _clean_text(state.properties.get("location_name")) or stored.get("name") or state.name
    if name:
        location["name"] = str(name)
    if stored.get("description"):
        location["description"] = str(stored["description"])
    location["latitude"], location["longitude"] = state.lat, state.lon
    for key in ("external_identifier", "external_identifier_type"):
        if stored.get(key):
            location[key] = str(stored[key])
    addresses = [a for a in stored.get("addresses") or [] if isinstance(a, dict) and _is_uuid(a.get("id")) and all(
        isinstance(a.get(k), str) and a[k] for k in ("address_1", "city", "state_province", "postal_code", "country",
                                                     "address_type"))]
    if addresses:
        location["addresses"] = addresses
    accessibility = [a for a in stored.get("accessibility") or [] if isinstance(a, dict) and _is_uuid(a.get("id"))
                     and all(isinstance(v, str) for v in a.values())]
    if accessibility:
        location["accessibility"] = accessibility
    return location


def _attributes(state: RecordState, stored: list, layer: str, service_id: str) -> list[dict]:
    if not state.category:
        return []
    for attribute in stored:
        term = attribute.get("taxonomy_term") if isinstance(attribute, dict) else None
        if isinstance(term, dict) and state.category in (term.get("name"), term.get("term")):
            if attribute.get("id") and term.get("id") and term.get("name") and "description" in term:
                return [attribute]
    term_id = _uuid(None, layer, "category", state.category)
    return [{"id": _uuid(None, layer, "attribute", service_id, state.category), "taxonomy_term_id": term_id,
             "link_type": "category",
             "taxonomy_term": {"id": term_id, "name": state.category, "description": state.category,
                               "taxonomy": f"Local Insight categories ({layer})"}}]


def services_from_records(states: list[RecordState], *, layer: str,
                          org_names: dict[int, tuple[str, str]]) -> list[dict]:
    """Fully nested Open Referral UK services built from a layer's records (pure)."""
    services: dict[str, dict] = {}
    for state in states:
        stored = state.properties.get("oruk") if isinstance(state.properties.get("oruk"), dict) else {}
        stored_service = stored.get("service") if isinstance(stored.get("service"), dict) else {}
        service_id = _uuid(stored_service.get("id"), layer, "service", state.owner_org_id, state.key)
        if service_id not in services:
            service: dict[str, Any] = {k: stored_service[k] for k in ("fees", "accreditations", "alert")
                                       if isinstance(stored_service.get(k), str)}
            for key in ("minimum_age", "maximum_age"):
                if isinstance(stored_service.get(key), (int, float)) and not isinstance(stored_service.get(key), bool):
                    service[key] = stored_service[key]
            if _email(stored_service.get("assurer_email")):
                service["assurer_email"] = _email(stored_service["assurer_email"])
            status = _clean_text(state.properties.get("status")) or stored_service.get("status")
            service.update(
                id=service_id, name=state.name or "Unnamed", status=status if status in STATUSES else "active",
                description=str(state.properties.get("description") or stored_service.get("description") or ""),
                last_modified=_timestamp(state.last_updated),
            )
            if state.last_assured:
                service["assured_date"] = state.last_assured.date().isoformat()
            email, url = _email(state.properties.get("email")), _uri(state.properties.get("url"))
            if email:
                service["email"] = email
            if url:
                service["url"] = url
            service["organization"] = _organisation(state, stored.get("organization") or {}, org_names, layer)
            service["attributes"] = _attributes(state, stored.get("attributes") or [], layer, service_id)
            service["service_at_locations"] = []
            services[service_id] = service
        if state.lon is not None:
            stored_location = stored.get("location") if isinstance(stored.get("location"), dict) else {}
            link_id = _uuid(stored.get("service_at_location_id"), layer, "service_at_location", state.owner_org_id,
                            state.key)
            services[service_id]["service_at_locations"].append(
                {"id": link_id, "location": _location(state, stored_location, layer)})
    return list(services.values())


def export_directory(engine: Engine, layer: str, *, actor: Principal, ip: str | None = None) -> dict:
    """The layer as an Open Referral UK ``/services`` page of fully nested services.

    Checks that ``actor`` may export the layer; a restricted layer's export is audited.
    """
    with engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "export_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
        org_names = {r.id: (r.slug, r.name) for r in conn.execute(
            select(Organisation.id, Organisation.slug, Organisation.name)).all()}
        if info.ref.sensitivity != "public":
            audit.record(conn, "export_restricted", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=f"layer:{layer}", detail={"format": "openreferral-uk", "records": len(states)})
    contents = services_from_records(states, layer=layer, org_names=org_names)
    return {"total_items": len(contents), "total_pages": 1, "page_number": 1, "size": len(contents),
            "first_page": True, "last_page": True, "empty": not contents, "contents": contents}


def validate_feed(document: dict, schema_dir: Path) -> list[str]:
    """Schema errors of a ``/services`` page against the Open Referral UK schemas in ``schema_dir``.

    ``schema_dir`` holds ``openapi.json`` (for the page) and ``compiled/service.json``.
    Formats (uuid, email, uri, date-time) are checked. Returns an empty list when valid.
    """
    openapi = json.loads((schema_dir / "openapi.json").read_text(encoding="utf-8"))
    page = openapi["components"]["schemas"]["Page"]
    service = json.loads((schema_dir / "compiled" / "service.json").read_text(encoding="utf-8"))
    checker = FormatChecker()
    errors = []
    for error in Draft202012Validator(page, format_checker=checker).iter_errors(document):
        errors.append(f"page: {error.message}")
    for index, item in enumerate(document.get("contents") or []):
        for error in Draft202012Validator(service, format_checker=checker).iter_errors(item):
            where = "/".join(str(p) for p in error.absolute_path)
            errors.append(f"contents[{index}]/{where}: {error.message}")
    return errors
