"""Stale records: records of asset layers not checked as still true for too long, for the map and the catalogue."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from insight.partner.auth import SYSTEM, require
from insight.partner.layer_rules import audited, layer_info
from insight.partner.records import DEFAULT_STALE_DAYS, current_records, is_stale
from insight.store import Engine
from insight.store.asset_layers import asset_layer_names, feature_totals


@dataclass(frozen=True)
class StaleRecord:
    """A record not checked as still true for too long."""

    feature_id: int
    key: str
    name: str | None
    last_assured: date | None
    days_since: int | None


def stale_records(engine: Engine, layer: str, *, days: int = DEFAULT_STALE_DAYS,
                  now: datetime | None = None) -> list[StaleRecord]:
    """The records of ``layer`` not assured within ``days`` (never-assured ones included), oldest first.

    For the map and the catalogue: callers decide who sees the layer. Refused (RowsRefused) for a counts-only
    layer, whose records are never listed.
    """
    now = now or datetime.now(UTC)
    with audited(engine, SYSTEM, target=f"layer:{layer}"), engine.connect() as conn:
        info = layer_info(conn, layer)
        require(SYSTEM, "read_layer", info.ref)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
    out = [
        StaleRecord(s.feature_id or 0, s.key, s.name, s.last_assured.date() if s.last_assured else None,
                    (now - s.last_assured).days if s.last_assured else None)
        for s in states if is_stale(s.last_assured, now=now, days=days)
    ]
    return sorted(out, key=lambda r: (r.last_assured is not None, r.last_assured or date.min))


def stale_counts(engine: Engine, *, days: int = DEFAULT_STALE_DAYS,
                 now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """For the catalogue: (stale, total) records of every asset layer (with upload rules or of the assets theme)."""
    with engine.connect() as conn:
        names = asset_layer_names(conn)
        totals = feature_totals(conn, names)
    return {name: (len(stale_records(engine, name, days=days, now=now)), totals.get(name, 0)) for name in names}


def stale_feature_ids(engine: Engine, layer: str, *, days: int = DEFAULT_STALE_DAYS,
                      now: datetime | None = None) -> set[int]:
    """Feature ids of the stale records of ``layer``, for flagging points on the map."""
    return {r.feature_id for r in stale_records(engine, layer, days=days, now=now)}
