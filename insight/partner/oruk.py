"""Open Referral UK (the UK profile of HSDS): import a feed into the directory layer, export it back.

A feed is the ``/services`` page of the API contract (``{"contents": [service, …]}``),
a list of services, one service, or an organisation with its ``services``. Each
service at a location becomes one record of the directory layer, a point at the
location (a service without a physical location is a record without one). The
feed's organisation, service, location and taxonomy terms are kept in the
record's ``oruk`` property so the export gives them back; the export is a
``/services`` page of fully nested services, valid against the published schema
(``schema/compiled/service.json``).

Reading a feed into rows is :mod:`insight.partner.oruk_feed`; import goes through the same
checks, preview and versioned commit as any upload.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from insight.partner import audit
from insight.partner.auth import Principal, require
from insight.partner.layer_rules import audited, layer_info
from insight.partner.records import RecordState, current_records
from insight.store import Engine
from insight.store.accounts import organisation_names

NAMESPACE = uuid.UUID("6f1c2d2e-41b4-4d0b-9a53-5b0f7c1e8a10")
STATUSES = ("active", "inactive", "defunct", "temporarily closed")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?#]*)?")


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


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


Json = dict[str, Any]


def _organisation(state: RecordState, stored: Json, org_names: dict[int, tuple[str, str]], layer: str) -> Json:
    owner = org_names.get(state.owner_org_id) if state.owner_org_id is not None else None
    slug, name = owner if owner is not None else (None, None)
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


def _location(state: RecordState, stored: Json, layer: str) -> Json:
    location: Json = {"id": _uuid(stored.get("id"), layer, "location", state.owner_org_id, state.key),
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
                                                     "address_type"))] or _record_address(state, location["id"])
    if addresses:
        location["addresses"] = addresses
    accessibility = [a for a in stored.get("accessibility") or [] if isinstance(a, dict) and _is_uuid(a.get("id"))
                     and all(isinstance(v, str) for v in a.values())]
    access_text = _clean_text(state.properties.get("accessibility"))
    if not accessibility and access_text:
        accessibility = [{"id": _uuid(None, location["id"], "accessibility"), "description": access_text}]
    if accessibility:
        location["accessibility"] = accessibility
    return location


def _record_address(state: RecordState, location_id: str) -> list[Json]:
    """The record's own address and postcode columns as one physical address (none when it has neither)."""
    props = state.properties
    line = _clean_text(props.get("address")) or _clean_text(props.get("address_1"))
    postcode = _clean_text(props.get("postcode")) or _clean_text(props.get("postal_code"))
    if not line and not postcode:
        return []
    return [{"id": _uuid(None, location_id, "address"), "location_id": location_id, "address_1": line or "",
             "city": _clean_text(props.get("town")) or _clean_text(props.get("city")) or "",
             "state_province": _clean_text(props.get("county")) or "", "postal_code": (postcode or "").upper(),
             "country": "GB", "address_type": "physical"}]


def _contact_fields(state: RecordState, service_id: str) -> Json:
    """The record's phone (HSDS 3 ``phones``) and opening times (a ``schedules`` description), when it has them."""
    props = state.properties
    out: Json = {}
    phone = _clean_text(props.get("phone")) or _clean_text(props.get("telephone"))
    if phone:
        out["phones"] = [{"id": _uuid(None, service_id, "phone", phone), "number": phone}]
    hours = _clean_text(props.get("opening_times")) or _clean_text(props.get("opening_hours"))
    if hours:
        out["schedules"] = [{"id": _uuid(None, service_id, "schedule"), "service_id": service_id,
                             "description": hours}]
    return out


def _attributes(state: RecordState, stored: list[Any], layer: str, service_id: str) -> list[Json]:
    if not state.category:
        return []
    for attribute in stored:
        term = attribute.get("taxonomy_term") if isinstance(attribute, dict) else None
        if (isinstance(term, dict) and state.category in (term.get("name"), term.get("term"))
                and attribute.get("id") and term.get("id") and term.get("name") and "description" in term):
            return [attribute]
    term_id = _uuid(None, layer, "category", state.category)
    return [{"id": _uuid(None, layer, "attribute", service_id, state.category), "taxonomy_term_id": term_id,
             "link_type": "category",
             "taxonomy_term": {"id": term_id, "name": state.category, "description": state.category,
                               "taxonomy": f"Local Insight categories ({layer})"}}]


def _service(state: RecordState, stored: Json, service_id: str, *, layer: str,
             org_names: dict[int, tuple[str, str]]) -> Json:
    """One service from the first record of it: its kept fields, then the record's values, organisation and term."""
    kept = _dict(stored.get("service"))
    service: Json = {k: kept[k] for k in ("fees", "accreditations", "alert") if isinstance(kept.get(k), str)}
    for key in ("minimum_age", "maximum_age"):
        if isinstance(kept.get(key), (int, float)) and not isinstance(kept.get(key), bool):
            service[key] = kept[key]
    assurer = _email(kept.get("assurer_email"))
    if assurer:
        service["assurer_email"] = assurer
    status = _clean_text(state.properties.get("status")) or kept.get("status")
    service.update(
        id=service_id, name=state.name or "Unnamed", status=status if status in STATUSES else "active",
        description=str(state.properties.get("description") or kept.get("description") or ""),
        last_modified=_timestamp(state.last_updated),
    )
    if state.last_assured:
        service["assured_date"] = state.last_assured.date().isoformat()
    email = _email(state.properties.get("email"))
    url = _uri(state.properties.get("url")) or _uri(state.properties.get("website"))
    if email:
        service["email"] = email
    if url:
        service["url"] = url
    service.update(_contact_fields(state, service_id))
    service["organization"] = _organisation(state, _dict(stored.get("organization")), org_names, layer)
    service["attributes"] = _attributes(state, stored.get("attributes") or [], layer, service_id)
    service["service_at_locations"] = []
    return service


def service_key(state: RecordState, layer: str) -> str:
    """The Open Referral UK id of the service a record belongs to (kept from an imported feed, else derived)."""
    stored = _dict(state.properties.get("oruk"))
    return _uuid(_dict(stored.get("service")).get("id"), layer, "service", state.owner_org_id, state.key)


def services_from_records(states: list[RecordState], *, layer: str,
                          org_names: dict[int, tuple[str, str]]) -> list[Json]:
    """Fully nested Open Referral UK services built from a layer's records (pure)."""
    services: dict[str, Json] = {}
    for state in states:
        stored = _dict(state.properties.get("oruk"))
        service_id = service_key(state, layer)
        if service_id not in services:
            services[service_id] = _service(state, stored, service_id, layer=layer, org_names=org_names)
        if state.lon is not None:
            link_id = _uuid(stored.get("service_at_location_id"), layer, "service_at_location", state.owner_org_id,
                            state.key)
            services[service_id]["service_at_locations"].append(
                {"id": link_id, "location": _location(state, _dict(stored.get("location")), layer)})
    return list(services.values())


def export_directory(engine: Engine, layer: str, *, actor: Principal, ip: str | None = None) -> Json:
    """The layer as an Open Referral UK ``/services`` page of fully nested services.

    Checks that ``actor`` may export the layer; a restricted layer's export is audited.
    """
    with audited(engine, actor, target=f"layer:{layer}", ip=ip), engine.begin() as conn:
        info = layer_info(conn, layer)
        require(actor, "export_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
        org_names = organisation_names(conn)
        if info.ref.sensitivity != "public":
            audit.record(conn, "export_restricted", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=f"layer:{layer}", detail={"format": "openreferral-uk", "records": len(states)})
    contents = services_from_records(states, layer=layer, org_names=org_names)
    return {"total_items": len(contents), "total_pages": 1, "page_number": 1, "size": len(contents),
            "first_page": True, "last_page": True, "empty": not contents, "contents": contents}


def validate_feed(document: Json, schema_dir: Path) -> list[str]:
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
