"""The community directory's search: what (words, a category, an asset kind) and where (a postcode, sector or
district, or a ward), with distances from the place.

:func:`search_directory` is pure; :func:`postcode_place` reads the loaded postcode file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from insight.errors import BadRequest
from insight.partner.oruk_api import Directory, Entry, Query, distances, postcode_match, select_entries
from insight.store import Engine

RADII = (500, 1000, 2000, 5000)


@dataclass(frozen=True)
class Place:
    """Where a search is centred: a label, a point, and for a ward its outline."""

    label: str
    lon: float
    lat: float
    area: BaseGeometry | None = None
    note: str | None = None


@dataclass(frozen=True)
class Found:
    """One search result: the service and its distance in metres from the place (None without one)."""

    entry: Entry
    metres: float | None


def postcode_place(engine: Engine, text: str) -> Place:
    """The place of a postcode, sector or district in the loaded postcode file; BadRequest in plain words if not."""
    match = postcode_match(engine, text)
    if match is None or match.lon is None or match.lat is None:
        raise BadRequest(f"'{text.strip()[:20]}' was not found in the postcode file loaded here. Check it, or "
                         "search by ward instead")
    label = match.query if match.kind == "postcode" else f"postcode {match.kind} {match.query}"
    note = (f"{match.query} went out of use in {match.terminated}; distances are from where it was"
            if match.terminated else None)
    return Place(label, match.lon, match.lat, note=note)


def ward_place(name: str, area: BaseGeometry) -> Place:
    """A ward as a place: services inside its outline, distances from its central point."""
    point = area.representative_point()
    return Place(f"{name} ward", float(point.x), float(point.y), area=area)


def parse_radius(value: str | None) -> float | None:
    """A radius in metres chosen from :data:`RADII` (empty means any distance); BadRequest otherwise."""
    if value is None or value.strip() in ("", "any"):
        return None
    if value.strip() not in {str(r) for r in RADII}:
        raise BadRequest(f"choose a distance from the list ({', '.join(str(r) for r in RADII)} metres)")
    return float(value)


def search_directory(directory: Directory, *, what: str = "", term_id: str | None = None, kind: str | None = None,
                     place: Place | None = None, radius: float | None = None) -> list[Found]:
    """Services matching every word of ``what``, the category term and the asset kind; with a place, only those
    inside its area (a ward) and within ``radius`` metres, nearest first, each with its distance."""
    query = Query(search=what, taxonomy_term_id=term_id, asset_kind=kind)
    matched = [entry for entry, _ in select_entries(directory, query)]
    if place is None:
        return [Found(entry, None) for entry in matched]
    placed = [e for e in matched if e.lon is not None and e.lat is not None]
    if place.area is not None and placed:
        inside = shapely.contains_xy(place.area, np.array([e.lon for e in placed]), np.array([e.lat for e in placed]))
        placed = [e for e, keep in zip(placed, inside, strict=True) if keep]
    if not placed:
        return []
    metres = distances(place.lon, place.lat, np.array([e.lon for e in placed], dtype=float),
                       np.array([e.lat for e in placed], dtype=float))
    found = [Found(e, float(d)) for e, d in zip(placed, metres, strict=True) if radius is None or d <= radius]
    return sorted(found, key=lambda f: (f.metres, str(f.entry.service["name"]).casefold()))


def describe_distance(metres: float | None) -> str:
    """A distance in plain words: '350 metres', '1.2 km'."""
    if metres is None:
        return ""
    if metres < 1000:
        return f"{round(metres / 10) * 10:.0f} metres"
    return f"{metres / 1000:.1f} km"
