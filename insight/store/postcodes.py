"""The postcode lookup table: replaced whole in one transaction, read by postcode, sector or district."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select

from insight.store.models import Postcode

BATCH = 50_000


def replace_postcodes(engine: Engine, frame: pd.DataFrame) -> int:
    """Replace every stored postcode with ``frame``'s rows in one transaction; how many were stored."""
    columns = [c.name for c in Postcode.__table__.columns]
    clean = frame[columns].astype(object).where(frame[columns].notna(), None)
    records: list[dict[str, Any]] = [
        dict(zip(columns, row, strict=True)) for row in clean.itertuples(index=False, name=None)
    ]
    with engine.begin() as conn:
        conn.execute(delete(Postcode))
        for start in range(0, len(records), BATCH):
            conn.execute(insert(Postcode), records[start:start + BATCH])
    return len(records)


def postcode_total(engine: Engine) -> int:
    """How many postcodes are stored (0 when no postcode file has been loaded)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Postcode)).scalar_one())


@dataclass(frozen=True)
class PostcodeMatch:
    """What a postcode, sector or district search found.

    ``lon``/``lat`` is the postcode's point or the mean of the located postcodes of a
    sector or district; ``bbox`` (west, south, east, north) spans them; ``terminated``
    is the month a single postcode went out of use. ``located`` counts postcodes with a
    grid reference, ``live`` those still in use.
    """

    kind: str
    query: str
    postcodes: int
    located: int
    live: int
    lon: float | None
    lat: float | None
    bbox: tuple[float, float, float, float] | None
    terminated: str | None = None
    authority: str | None = None
    ward: str | None = None
    lsoa: str | None = None


def find_postcodes(engine: Engine, kind: str, key: str) -> PostcodeMatch | None:
    """The stored postcode (``kind`` 'postcode', compact key), sector or district ``key``; None when absent."""
    column = {"postcode": Postcode.postcode, "sector": Postcode.sector, "district": Postcode.district}[kind]
    located = Postcode.lon.is_not(None)
    query = select(
        func.count(), func.count(Postcode.lon), func.count().filter(Postcode.terminated.is_(None)),
        func.avg(Postcode.lon).filter(located), func.avg(Postcode.lat).filter(located),
        func.min(Postcode.lon), func.min(Postcode.lat), func.max(Postcode.lon), func.max(Postcode.lat),
        func.max(Postcode.display), func.max(Postcode.terminated), func.max(Postcode.authority),
        func.max(Postcode.ward), func.max(Postcode.lsoa),
    ).where(column == key)
    with engine.connect() as conn:
        row = conn.execute(query).one()
    total, n_located, live, lon, lat, west, south, east, north, display, terminated, authority, ward, lsoa = row
    if not total:
        return None
    single = kind == "postcode"
    return PostcodeMatch(
        kind=kind, query=display if single else key, postcodes=int(total), located=int(n_located), live=int(live),
        lon=None if lon is None else float(lon), lat=None if lat is None else float(lat),
        bbox=None if west is None else (float(west), float(south), float(east), float(north)),
        terminated=terminated if single else None, authority=authority if single else None,
        ward=ward if single else None, lsoa=lsoa if single else None,
    )


def first_match(engine: Engine, candidates: list[tuple[str, str]], *, located: bool = False) -> PostcodeMatch | None:
    """The first of ``candidates`` ((kind, key) readings of a search text) that is stored (and, with
    ``located``, has a location); None when none is."""
    for kind, key in candidates:
        match = find_postcodes(engine, kind, key)
        if match is not None and (not located or (match.lon is not None and match.lat is not None)):
            return match
    return None


def postcode_points(engine: Engine, keys: list[str]) -> dict[str, tuple[float, float]]:
    """The located points of compact postcodes ``keys`` (those not stored or without a location are absent)."""
    found: dict[str, tuple[float, float]] = {}
    unique = sorted(set(keys))
    with engine.connect() as conn:
        for start in range(0, len(unique), 900):
            rows = conn.execute(
                select(Postcode.postcode, Postcode.lon, Postcode.lat)
                .where(Postcode.postcode.in_(unique[start:start + 900]), Postcode.lon.is_not(None))
            )
            found.update({code: (float(lon), float(lat))
                          for code, lon, lat in rows if lon is not None and lat is not None})
    return found
