"""What a map popup says about a point beyond its name: contact, owner and when it was last checked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from insight.store.models import Feature, Layer, Organisation

CONTACT_KEYS = {"website": ("website", "url", "uri", "location_url"), "phone": ("phone", "telephone"),
                "email": ("email",)}
CHUNK = 900


@dataclass(frozen=True)
class PointDetail:
    """A point's contact details (as stored), its owner's name and its last-checked and last-updated dates."""

    website: str | None
    phone: str | None
    email: str | None
    owner: str | None
    checked: str | None
    updated: str | None


def _first(properties: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = properties.get(key)
        if value not in (None, ""):
            return str(value)[:300]
    return None


def _day(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)[:10] if value else None


def point_details(engine: Engine, layer: str, ids: list[int]) -> dict[int, PointDetail]:
    """The details of the points ``ids`` of ``layer``, by id; the owner is the record's organisation, else the
    layer's, else its publisher."""
    if not ids:
        return {}
    with engine.connect() as conn:
        about = conn.execute(
            select(Layer.id, Layer.publisher, Organisation.name)
            .outerjoin(Organisation, Organisation.id == Layer.owner_org_id).where(Layer.name == layer)
        ).first()
        if about is None:
            return {}
        orgs = {int(i): str(n) for i, n in conn.execute(select(Organisation.id, Organisation.name)).all()}
        rows: list[Any] = []
        for start in range(0, len(ids), CHUNK):
            rows += conn.execute(
                select(Feature.id, Feature.properties, Feature.owner_org_id, Feature.last_assured,
                       Feature.last_updated)
                .where(Feature.layer_id == about[0], Feature.id.in_(ids[start:start + CHUNK]))
            ).all()
    layer_owner = about[2] or about[1]
    out = {}
    for fid, properties, owner_id, assured, updated in rows:
        props = dict(properties or {})
        out[int(fid)] = PointDetail(
            website=_first(props, CONTACT_KEYS["website"]), phone=_first(props, CONTACT_KEYS["phone"]),
            email=_first(props, CONTACT_KEYS["email"]), owner=orgs.get(owner_id) or layer_owner,
            checked=_day(assured) or _day(props.get("last_assured")), updated=_day(updated),
        )
    return out
