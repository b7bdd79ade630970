"""Bulk point writes (COPY on PostGIS, raw batches on SpatiaLite): atomic, and read back exactly."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from insight.errors import LoadError
from insight.layers import load_specs
from insight.sources.ingest import adhoc_spec, load_layer, load_specs_into
from insight.store import io
from insight.store.counts import grouped_counts, recount, recount_totals, stored_count_rows
from insight.store.io import feature_coordinates, layer_ids, read_features, write_layer

from .conftest import DATA_DIR, LAYERS_DIR, open_store

HEADER = ["Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
          "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context"]
CATEGORIES = ["Burglary", "Robbery", "Vehicle crime", "Anti-social behaviour"]


def _rows(n: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lon, lat = -0.2 + rng.random() * 0.1, 51.55 + rng.random() * 0.1
        rows.append([f"id{seed}-{i}", f"20{10 + i % 13}-{1 + i % 12:02d}", "Met", "Met", f"{lon:.6f}",
                     f"{lat:.6f}", f"On or near Street {i}", "E01000116", "Barnet 009B",
                     CATEGORIES[i % len(CATEGORIES)], "", ""])
    return rows


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _snapshot(store) -> tuple[list[tuple], list[tuple], int]:
    with store.engine.connect() as conn:
        features = conn.execute(text(
            "SELECT id, layer_id, source_id, month, category, ST_X(geom), ST_Y(geom) FROM features ORDER BY id"
        )).all()
        tags = conn.execute(text("SELECT * FROM feature_tags ORDER BY 1, 2")).all()
        layers = conn.execute(text("SELECT count(*) FROM layers")).scalar_one()
    return [tuple(r) for r in features], [tuple(r) for r in tags], layers


SPEC = adhoc_spec("bulk", kind="points", loader="police-bulk")


def test_bad_row_in_a_later_chunk_is_reported_and_nothing_changes(store, tmp_path, monkeypatch) -> None:
    """A bad coordinate deep in the file names its row; the earlier version of the layer is untouched."""
    monkeypatch.setattr(io, "BULK_CHUNK", 50)
    load_layer(store.engine, SPEC, _write_csv(tmp_path / "good.csv", _rows(120, 1)))
    before = _snapshot(store)
    rows = _rows(300, 2)
    rows[236][4] = "not-a-number"
    with pytest.raises(LoadError) as info:
        load_layer(store.engine, SPEC, _write_csv(tmp_path / "bad.csv", rows))
    assert any(p.row == 237 and p.column == "Longitude" for p in info.value.problems)
    assert "row 237" in str(info.value)
    assert _snapshot(store) == before


def test_failure_after_a_bulk_write_rolls_everything_back(store, tmp_path, monkeypatch) -> None:
    """An error after the rows are written (here in the after-write hook) leaves the store as it was."""
    monkeypatch.setattr(io, "BULK_CHUNK", 40)
    load_layer(store.engine, SPEC, _write_csv(tmp_path / "good.csv", _rows(90, 3)))
    before = _snapshot(store)

    def explode(conn, layer_id) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        load_layer(store.engine, SPEC, _write_csv(tmp_path / "next.csv", _rows(200, 4)), after_write=explode)
    assert _snapshot(store) == before
    if store.backend == "spatialite":
        with store.engine.connect() as conn:
            triggers = conn.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'features'"
            )).scalar_one()
        assert triggers == 8


def test_bulk_load_reads_back_identically(store, tmp_path) -> None:
    """Ids, months, categories and coordinates (to 1e-9) come back as written; the spatial index finds them."""
    rows = _rows(250, 5)
    rows[10][4] = rows[10][5] = ""
    load_layer(store.engine, SPEC, _write_csv(tmp_path / "p.csv", rows))
    back = read_features(store.engine, "bulk")
    assert back["source_id"].tolist() == [r[0] for r in rows]
    assert back["month"].tolist() == [r[1] for r in rows]
    slugs = {"Burglary": "burglary", "Robbery": "robbery", "Vehicle crime": "vehicle-crime",
             "Anti-social behaviour": "anti-social-behaviour"}
    assert back["category"].tolist() == [slugs[r[9]] for r in rows]
    assert back["name"].tolist() == [r[6] for r in rows]
    assert back["properties"].iloc[0]["lsoa_code"] == "E01000116"
    assert back.geometry.iloc[10] is None or back.geometry.iloc[10].is_empty
    located = [i for i in range(len(rows)) if i != 10]
    want_x = np.array([float(rows[i][4]) for i in located])
    want_y = np.array([float(rows[i][5]) for i in located])
    got = back.geometry.iloc[located]
    np.testing.assert_allclose(shapely.get_x(got.values), want_x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(shapely.get_y(got.values), want_y, rtol=0, atol=1e-9)
    with store.engine.connect() as conn:
        layer_id = conn.execute(text("SELECT id FROM layers WHERE name = 'bulk'")).scalar_one()
        ids, xs, ys = feature_coordinates(conn, layer_id)
        order = np.argsort(ids)
        assert ids[order].tolist() == back["id"].tolist()
        assert np.isnan(xs[order][10]) and np.isnan(ys[order][10])
        box = (want_x[0] - 1e-6, want_y[0] - 1e-6, want_x[0] + 1e-6, want_y[0] + 1e-6)
        if store.backend == "spatialite":
            found = conn.execute(text(
                "SELECT pkid FROM idx_features_geom WHERE xmin <= :x1 AND xmax >= :x0 AND ymin <= :y1 AND ymax >= :y0"
            ), {"x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]}).scalars().all()
        else:
            found = conn.execute(text(
                "SELECT id FROM features WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
            ), {"x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]}).scalars().all()
        assert int(back["id"].iloc[0]) in found


_META = {"name": "prop", "title": "Prop", "publisher": "p", "licence": "l", "attribution": "a",
         "source": "s", "sensitivity": "public", "illustrative": False, "description": ""}


@pytest.fixture(scope="module")
def spatialite(tmp_path_factory):
    s = open_store("spatialite", tmp_path_factory.mktemp("bulk-prop"))
    yield s
    s.close()


points = st.lists(
    st.tuples(
        st.one_of(st.none(), st.tuples(st.floats(-180, 180), st.floats(-90, 90))),
        st.one_of(st.none(), st.text(max_size=12)),
        st.one_of(st.none(), st.sampled_from(["2019-01", "2024-12"])),
        st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(-10**6, 10**6), st.text(max_size=8)),
                        max_size=3),
        st.sampled_from([True, False, None]),
    ),
    max_size=30,
)


def _value(v):
    """A read value with pandas' missing markers as None (string columns read NaN for NULL)."""
    return None if v is None or (not isinstance(v, (dict, list)) and pd.isna(v)) else v


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points)
def test_write_layer_round_trips_random_points(spatialite, rows) -> None:
    """Whatever points frame is written reads back with the same values on SpatiaLite."""
    geoms = [None if r[0] is None else shapely.Point(*r[0]) for r in rows]
    frame = gpd.GeoDataFrame({
        "source_id": pd.Series([r[1] for r in rows], dtype=object),
        "name": pd.Series([r[1] for r in rows], dtype=object),
        "category": pd.Series(["c"] * len(rows), dtype=object),
        "month": pd.Series([r[2] for r in rows], dtype=object),
        "inside_authority": pd.Series([r[4] for r in rows], dtype=object),
        "properties": pd.Series([r[3] for r in rows], dtype=object),
    }, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))
    write_layer(spatialite.engine, _META, "points", frame, report={})
    back = read_features(spatialite.engine, "prop")
    assert len(back) == len(rows)
    for (where, label, month, props, inside), (_, got) in zip(rows, back.iterrows()):
        assert (_value(got["source_id"]), _value(got["name"]), _value(got["month"])) == (label, label, month)
        assert got["properties"] == props
        assert _value(got["inside_authority"]) == inside
        if where is None:
            assert got.geometry is None or got.geometry.is_empty
        else:
            assert abs(got.geometry.x - where[0]) <= 5e-8 and abs(got.geometry.y - where[1]) <= 5e-8


def _tag_indexes(store) -> list[tuple]:
    with store.engine.connect() as conn:
        if store.backend == "spatialite":
            sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'feature_tags' ORDER BY name"
        else:
            sql = ("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'feature_tags' "
                   "AND schemaname = current_schema() UNION ALL SELECT conname, pg_get_constraintdef(oid) "
                   "FROM pg_constraint WHERE conrelid = 'feature_tags'::regclass ORDER BY 1")
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def _with_boundaries(store) -> None:
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in ("borough", "wards_2022")]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)


def test_counts_made_in_memory_equal_a_sql_recount_of_the_tags(store, tmp_path, monkeypatch) -> None:
    """After a load and a replacement, the stored counts are exactly what GROUP BY over the tags gives."""
    monkeypatch.setattr("insight.store.io.DEFER_TAG_INDEXES", 0)  # these few hundred points count as a large load
    _with_boundaries(store)
    indexes = _tag_indexes(store)
    assert len(indexes) >= (4 if store.backend == "spatialite" else 8)
    for seed in (6, 7):
        load_layer(store.engine, SPEC, _write_csv(tmp_path / f"p{seed}.csv", _rows(400 + seed, seed)))
    assert _tag_indexes(store) == indexes
    with store.engine.connect() as conn:
        layer_id = conn.execute(text("SELECT id FROM layers WHERE name = 'bulk'")).scalar_one()
        stored = stored_count_rows(conn, layer_id)
        recount_totals(conn, layer_id)
        for boundary in layer_ids(conn, "boundary"):
            recount(conn, point_layer_id=layer_id, boundary_layer_id=boundary)
        fresh = stored_count_rows(conn, layer_id)
        conn.rollback()
    assert stored == fresh
    assert sum(r[-1] for r in stored if r[0] is None) == 407
    assert sum(r[-1] for r in stored if r[0] is not None) > 0


def test_failure_while_tagging_restores_tags_indexes_and_counts(store, tmp_path, monkeypatch) -> None:
    """An error after the tags are written (tag indexes then being rebuilt) leaves the store as it was."""
    monkeypatch.setattr("insight.store.io.DEFER_TAG_INDEXES", 0)
    _with_boundaries(store)
    load_layer(store.engine, SPEC, _write_csv(tmp_path / "good.csv", _rows(60, 8)))
    before, indexes = _snapshot(store), _tag_indexes(store)
    with store.engine.connect() as conn:
        counts = conn.execute(text("SELECT * FROM area_counts ORDER BY id")).all()

    def boom(*args, **kwargs) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("insight.sources.ingest.store_counts", boom)
    with pytest.raises(RuntimeError, match="boom"):
        load_layer(store.engine, SPEC, _write_csv(tmp_path / "big.csv", _rows(500, 9)))
    assert _snapshot(store) == before
    assert _tag_indexes(store) == indexes
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM area_counts ORDER BY id")).all() == counts


@pytest.mark.parametrize("width", [12, 6000])
def test_grouped_counts_equal_counting_each_row(width: int) -> None:
    """Grouping in numpy (small key space, and the fallback for a huge one) counts like a plain Counter, None kept."""
    rng = np.random.default_rng(width)
    n = 6000
    columns = []
    for _ in range(6):
        values = np.array([f"v{v}" for v in rng.integers(0, width, n)], dtype=object)
        values[rng.random(n) < 0.1] = None
        columns.append(values)
    if width < 100:
        columns[0] = rng.integers(1, 40, n)
    else:
        assert np.prod([float(len(set(c.tolist())) + 1) for c in columns]) >= 2.0**62
    want = Counter(zip(*(c.tolist() for c in columns)))
    got = grouped_counts(columns)
    assert len(got) == len(want)
    assert {row[:-1]: row[-1] for row in got} == dict(want)


_KEYS = {"Reported by": "reported_by", "Falls within": "falls_within", "LSOA code": "lsoa_code",
         "LSOA name": "lsoa_name", "Last outcome category": "last_outcome_category", "Context": "context"}
_LEGACY = {"Violent crime", "Public disorder and weapons"}


def test_bulk_properties_read_back_as_the_csv_says(store, tmp_path) -> None:
    """Each stored properties dict is the row's other columns (blank as None, legacy type kept).

    SpatiaLite keeps the JSON text, so the key order is the file's too (JSONB orders keys its own way)."""
    rows = _rows(40, 11)
    rows[1][2] = ""
    rows[2][3] = "  "
    rows[3][8] = 'Barnet "009B" – Café\\ ünï'
    rows[4][9] = "Violent crime"
    rows[5][9] = " Public disorder and weapons "
    rows[6][10] = "Under investigation"
    rows[7][11] = "line\twith tab\nand newline"
    path = _write_csv(tmp_path / "props.csv", rows)
    load_layer(store.engine, SPEC, path)
    back = read_features(store.engine, "bulk")
    with path.open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    assert len(back) == len(raw) == 40
    for record, props in zip(raw, back["properties"]):
        want = {key: (record[column] if record[column].strip() else None) for column, key in _KEYS.items()}
        if record["Crime type"].strip() in _LEGACY:
            want["source_category"] = record["Crime type"].strip()
        assert props == want
        if store.backend == "spatialite":
            assert list(props) == list(want)
    assert back["properties"].iloc[4]["source_category"] == "Violent crime"
    assert back["properties"].iloc[1]["reported_by"] is None
