"""The store on both back ends: migrations, round trips, and all-or-nothing writes."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DBAPIError

from insight.errors import NotFoundError
from insight.store import layer_summaries, read_areas, read_features, write_layer
from insight.store.migrate import current_revision, downgrade, head_revision, upgrade
from insight.store.models import Feature, Layer

TABLES = {"organisations", "layers", "areas", "features", "indicator_values", "area_lookups"}


def _meta(name: str, **extra) -> dict:
    return {
        "name": name, "title": name, "description": "", "source": "test", "publisher": "test",
        "licence": "OGL", "attribution": "test", "vintage": None, "area_type": None,
        "geography": None, "theme": None, "asset_kind": None, "sensitivity": "public",
        "illustrative": False, **extra,
    }


def _points(n: int, *, bad_row: int | None = None) -> gpd.GeoDataFrame:
    geoms = [Point(-0.2 + i * 1e-4, 51.6) for i in range(n)]
    if bad_row is not None:
        geoms[bad_row] = Polygon([(0, 0), (1, 0), (1, 1)])
    return gpd.GeoDataFrame(
        {
            "source_id": [str(i) for i in range(n)],
            "name": [f"street {i}" for i in range(n)],
            "category": ["burglary"] * n,
            "month": ["2024-04"] * n,
            "properties": [{"i": i} for i in range(n)],
            "inside_authority": [True] * n,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Layer)).scalar_one(),
            conn.execute(select(func.count()).select_from(Feature)).scalar_one(),
        )


def test_migrations_create_tables_and_go_down_and_up(empty_store) -> None:
    engine = empty_store.engine
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_geometry_columns_are_spatially_indexed_in_4326(store) -> None:
    engine = store.engine
    with engine.connect() as conn:
        if store.backend == "spatialite":
            rows = conn.exec_driver_sql(
                "SELECT f_table_name, srid, spatial_index_enabled FROM geometry_columns"
            ).all()
            assert {(r[0], r[1], r[2]) for r in rows} == {("areas", 4326, 1), ("features", 4326, 1),
                                                          ("custom_areas", 4326, 1)}
        else:
            rows = conn.exec_driver_sql(
                "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = current_schema()"
            ).all()
            assert {(r[0], r[1]) for r in rows} == {("areas", 4326), ("features", 4326), ("custom_areas", 4326)}
            gist = conn.exec_driver_sql(
                "SELECT tablename FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexdef ILIKE '%%USING gist%%'"
            ).scalars().all()
            assert set(gist) == {"areas", "features", "custom_areas"}


def test_points_round_trip_keeps_values_and_missing_locations(store) -> None:
    frame = _points(3)
    frame.loc[1, "geometry"] = None
    frame["inside_authority"] = [True, None, False]
    write_layer(store.engine, _meta("pts"), "points", frame, report={"rows_read": 3})
    back = read_features(store.engine, "pts")
    assert back["source_id"].tolist() == ["0", "1", "2"]
    assert back["inside_authority"].tolist() == [True, None, False]
    assert back.geometry.isna().tolist() == [False, True, False]
    assert back.geometry.iloc[2].x == pytest.approx(-0.2 + 2e-4, abs=1e-7)
    assert back["properties"].tolist() == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_areas_round_trip_and_unknown_layer_is_a_clear_error(store) -> None:
    square = MultiPolygon([Polygon([(-0.3, 51.5), (-0.2, 51.5), (-0.2, 51.6), (-0.3, 51.6)])])
    frame = gpd.GeoDataFrame(
        {"code": ["E1"], "name": ["Square"], "properties": [{"k": "v"}]}, geometry=[square], crs="EPSG:4326"
    )
    write_layer(store.engine, _meta("sq", area_type="ward", vintage="test"), "boundary", frame, report={})
    back = read_areas(store.engine, "sq")
    assert back.loc[0, "code"] == "E1" and back.loc[0, "area_type"] == "ward"
    assert shapely.equals_exact(back.geometry.iloc[0], square, tolerance=1e-9)
    with pytest.raises(NotFoundError, match="no layer named 'nope'.*sq"):
        read_areas(store.engine, "nope")


def test_failed_write_leaves_the_store_exactly_as_it_was(store) -> None:
    write_layer(store.engine, _meta("pts"), "points", _points(10), report={})
    before = _counts(store.engine)
    summary_before = layer_summaries(store.engine)[0]
    # The bad row sits in the third insert chunk, after 10,000 rows were already sent.
    with pytest.raises(DBAPIError):
        write_layer(store.engine, _meta("pts"), "points", _points(12_000, bad_row=11_500), report={})
    assert _counts(store.engine) == before
    after = layer_summaries(store.engine)[0]
    assert after.feature_count == 10 and after.loaded_at == summary_before.loaded_at
    assert len(read_features(store.engine, "pts")) == 10


def test_reloading_a_layer_replaces_its_rows(store) -> None:
    write_layer(store.engine, _meta("pts"), "points", _points(10), report={})
    write_layer(store.engine, _meta("pts"), "points", _points(4), report={})
    assert _counts(store.engine) == (1, 4)


def test_indicator_and_lookup_round_trip(store) -> None:
    from insight.store import read_indicator_values, read_lookups

    values = pd.DataFrame(
        {"area_code": ["A", "B"], "area_name": ["a", None], "geography": ["lsoa21"] * 2,
         "indicator": ["pop"] * 2, "period": ["2021"] * 2, "value": [1.5, 2.0]}
    )
    write_layer(store.engine, _meta("ind"), "indicator", values, report={})
    pd.testing.assert_frame_equal(
        read_indicator_values(store.engine, "ind").sort_values("area_code").reset_index(drop=True), values
    )
    lookup = pd.DataFrame(
        {"from_code": ["A"], "from_geography": ["lsoa21"], "from_name": ["a"], "to_code": ["W"],
         "to_geography": ["ward2022"], "to_name": ["w"], "weight": [1.0]}
    )
    write_layer(store.engine, _meta("lk"), "lookup", lookup, report={})
    pd.testing.assert_frame_equal(read_lookups(store.engine, "lk"), lookup)
