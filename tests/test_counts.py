"""The stored counts (``area_counts``) always equal a fresh count of the raw points, on both back ends.

The expected counts are made here independently of the store's code: the raw features are read
back, joined to each boundary layer with ``geopandas.sjoin`` (intersects, lowest code first on a
shared edge, as the documented edge rule says) and grouped with pandas. They are compared with the
stored rows after a load, after partner uploads, edits and removals, and after restores.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insight.layers import ASSET_KINDS, load_specs
from insight.partner import versions
from insight.partner.records import Change, differences
from insight.sources.ingest import load_specs_into
from insight.store import layer_summaries, read_areas, read_features
from insight.store.counts import read_counts
from insight.store.records import RecordState
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.partner_fixtures import CATEGORIES, make_world

Key = tuple[str | None, str | None, str | None, str | None, str | None]


def _kind(properties: dict, theme: str | None, layer_kind: str | None) -> str | None:
    own = properties.get("asset_kind") if theme == "assets" else None
    return own or layer_kind


def _expected(engine, layer: str) -> Counter:
    """Counts of ``layer``'s points per (boundary, area code, month, category, kind), made from raw rows."""
    metas = {m.name: m for m in layer_summaries(engine)}
    meta = metas[layer]
    features = read_features(engine, layer)
    features["kind"] = [_kind(p or {}, meta.theme, meta.asset_kind) for p in features["properties"]]
    out: Counter = Counter()
    for row in features.itertuples():
        out[(None, None, row.month, row.category, row.kind)] += 1
    located = features[~features.geometry.is_empty & features.geometry.notna()]
    for name, boundary in metas.items():
        if boundary.kind != "boundary" or located.empty:
            continue
        areas = read_areas(engine, name)[["code", "geometry"]]
        joined = gpd.sjoin(located, areas, how="inner", predicate="intersects")
        first = joined.sort_values("code").drop_duplicates("id")
        for row in first.itertuples():
            out[(name, row.code, row.month, row.category, row.kind)] += 1
    return out


def _stored(engine, layer: str) -> Counter:
    out: Counter = Counter()
    boundaries = [m.name for m in layer_summaries(engine) if m.kind == "boundary"]
    for boundary in [None, *boundaries]:
        for row in read_counts(engine, layer, boundary).itertuples():
            out[(boundary, row.area_code, row.month, row.category, row.asset_kind)] += int(row.n)
    return out


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _clean(counter: Counter) -> Counter:
    return Counter({tuple(_none(v) for v in key): n for key, n in counter.items() if n})


def test_counts_equal_a_fresh_count_after_a_load(store) -> None:
    names = {"borough", "wards_2022", "lsoa_2021", "crime_2024_04", "schools", "vcfs_organisations"}
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in names]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    for layer in ("crime_2024_04", "schools", "vcfs_organisations"):
        expected = _clean(_expected(store.engine, layer))
        assert sum(n for k, n in expected.items() if k[0] is None) > 0, layer
        assert _clean(_stored(store.engine, layer)) == expected, layer


def _venues() -> list[tuple[str, float, float]]:
    features = json.loads((DATA_DIR / "points" / "cultural_venues.geojson").read_text(encoding="utf-8"))["features"]
    return [(f["properties"]["name"], *f["geometry"]["coordinates"]) for f in features]


VENUES = _venues()
STEP = st.one_of(
    st.tuples(st.just("add"), st.integers(0, len(VENUES) - 1), st.sampled_from(CATEGORIES),
              st.sampled_from([None, *ASSET_KINDS])),
    st.tuples(st.just("move"), st.integers(0, 999), st.integers(0, len(VENUES) - 1)),
    st.tuples(st.just("recategorise"), st.integers(0, 999), st.sampled_from(CATEGORIES)),
    st.tuples(st.just("remove"), st.integers(0, 999)),
    st.tuples(st.just("restore"), st.integers(1, 999)),
)


def _step(world, step: tuple, serial: list[int]) -> None:
    officer, partner = world.users["officer"], world.users["partner"]
    current = {r.state.key: r.state for r in versions.layer_records(world.engine, world.layer, actor=officer)}
    keys = sorted(current)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    change: Change | None = None
    if step[0] == "add":
        serial[0] += 1
        name, lon, lat = VENUES[step[1]]
        properties = {"asset_kind": step[3]} if step[3] else {}
        change = Change("added", None, RecordState(f"K{serial[0]}", partner.org_id, name, step[2], properties,
                                                   lon, lat, last_updated=when))
    elif step[0] in ("move", "recategorise", "remove") and keys:
        before = current[keys[step[1] % len(keys)]]
        if step[0] == "remove":
            change = Change("removed", before, None)
        else:
            after = (replace(before, lon=VENUES[step[2]][1], lat=VENUES[step[2]][2]) if step[0] == "move"
                     else replace(before, category=step[2]))
            fields = differences(before, after)
            change = Change("changed", before, after, fields) if fields else None
    elif step[0] == "restore":
        history = versions.versions(world.engine, world.layer, actor=officer)
        if len(history) > 1:
            versions.restore_version(world.engine, world.layer, history[step[1] % len(history)].number,
                                     actor=officer)
    if change is not None:
        with world.engine.begin() as conn:
            layer_id = versions.layer_info(conn, world.layer).id
            versions.apply_changes(conn, layer_id, [change], action="upload", actor=partner,
                                   org_id=partner.org_id, unchanged=0)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=6))
def test_counts_equal_a_fresh_count_after_any_edits_and_restores(store, steps) -> None:
    world = getattr(store, "world", None)
    if world is None:
        world = store.world = make_world(store.engine, boundaries=("borough", "wards_2022"))
        store.serial = [0]
    for step in steps:
        _step(world, step, store.serial)
        assert _clean(_stored(store.engine, world.layer)) == _clean(_expected(store.engine, world.layer)), step


def test_upgrading_a_database_with_points_fills_the_counts(store) -> None:
    from insight.store.migrate import downgrade, upgrade

    names = {"borough", "wards_2022", "schools"}
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in names]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    downgrade(store.engine, "0005")
    upgrade(store.engine)
    expected = _clean(_expected(store.engine, "schools"))
    assert sum(n for k, n in expected.items() if k[0] == "wards_2022") > 0
    assert _clean(_stored(store.engine, "schools")) == expected
