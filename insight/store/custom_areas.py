"""Custom areas people draw or upload, stored under an id made from their outline (content-addressed).

The id is the first 16 hex digits of the SHA-256 of the outline's normalised WKB (coordinates
rounded to 1e-7 degrees, about 1 cm; rings in a standard order; always a MultiPolygon) followed by
the name, so the same named area saved twice, or by two people at once, is one row and one
shareable link, and nobody's page shows a name someone else gave the same outline.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import shapely
from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import DateTime, Engine, String, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from insight.errors import BadRequest, NotFoundError
from insight.geo.crs import ewkt
from insight.store.models import SRID, Base
from insight.store.timestamps import aware

ID_LENGTH = 16
GRID = 1e-7
NAME_LENGTH = 200


class CustomAreaRow(Base):
    """A drawn or uploaded area: its content id, the name it was first saved with, its outline (EPSG:4326)."""

    __tablename__ = "custom_areas"
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True, nullable=False))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class CustomArea:
    """A stored custom area."""

    id: str
    name: str
    geometry: BaseGeometry
    created_at: datetime


def normalised(geometry: BaseGeometry) -> shapely.MultiPolygon:
    """The outline as stored: a valid MultiPolygon on a 1e-7 degree grid, in shapely's normal form."""
    if geometry.geom_type not in ("Polygon", "MultiPolygon") or shapely.is_empty(geometry):
        raise BadRequest("a custom area must be a polygon or a set of polygons")
    snapped = shapely.make_valid(shapely.set_precision(geometry, GRID))
    polygons = [p for part in shapely.get_parts(snapped) for p in shapely.get_parts(part)
                if p.geom_type == "Polygon" and not p.is_empty]
    if not polygons:
        raise BadRequest("the area has no extent left once its outline is tidied: draw or upload a larger area")
    return shapely.normalize(shapely.MultiPolygon(polygons))


def clean_name(name: str) -> str:
    """The name as stored: trimmed, at most :data:`NAME_LENGTH` characters, 'Custom area' when blank."""
    return name.strip()[:NAME_LENGTH] or "Custom area"


def area_id(geometry: BaseGeometry, name: str) -> str:
    """The content id of a named outline: 16 hex digits of the SHA-256 of its normalised WKB and its name."""
    wkb = shapely.to_wkb(normalised(geometry), output_dimension=2, byte_order=1, include_srid=False)
    return hashlib.sha256(wkb + b"\x00" + clean_name(name).encode()).hexdigest()[:ID_LENGTH]


def save_custom_area(engine: Engine, geometry: BaseGeometry, *, name: str) -> str:
    """Store the area (once: saving the same named outline again, even at the same moment, keeps one row); its id."""
    shape = normalised(geometry)
    key = area_id(shape, name)
    values = {"id": key, "name": clean_name(name),
              "geom": ewkt([shape])[0], "created_at": datetime.now(UTC)}
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(CustomAreaRow).values(**values).on_conflict_do_nothing(index_elements=["id"])
    with engine.begin() as conn:
        conn.execute(statement)
    return key


def get_custom_area(engine: Engine, key: str) -> CustomArea:
    """The stored area with id ``key``; NotFoundError when there is none."""
    if len(key) != ID_LENGTH or any(c not in "0123456789abcdef" for c in key):
        raise NotFoundError(f"'{key[:40]}' is not a custom area's id (16 letters and digits, 0-9 and a-f)")
    query = select(CustomAreaRow.id, CustomAreaRow.name, func.ST_AsBinary(CustomAreaRow.geom),
                   CustomAreaRow.created_at).where(CustomAreaRow.id == key)
    with engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    if row is None:
        raise NotFoundError(f"there is no custom area '{key}': it may have been made on another copy of Local "
                            "Insight; draw or upload it again at /areas/custom")
    found, name, wkb, created = row
    return CustomArea(id=found, name=name, geometry=shapely.from_wkb(bytes(wkb)), created_at=aware(created))
