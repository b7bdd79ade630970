"""A failed load leaves the store exactly as it was, on both back ends."""
from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from insight.errors import LoadError
from insight.layers import load_specs
from insight.sources.ingest import load_layer
from insight.store import read_features
from insight.store.models import Area, AreaLookup, Feature, IndicatorValue, Layer
from tests.conftest import DATA_DIR, LAYERS_DIR

SPECS = {s.name: s for s in load_specs(LAYERS_DIR)}


def _snapshot(engine) -> tuple:
    with engine.connect() as conn:
        counts = tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Layer, Area, Feature, IndicatorValue, AreaLookup)
        )
        layers = conn.execute(select(Layer.name, Layer.feature_count, Layer.loaded_at).order_by(Layer.name)).all()
    return counts, layers


def _break_police_columns(src: Path, dst: Path) -> None:
    lines = src.read_text(encoding="utf-8").splitlines()
    dst.write_text("\n".join([lines[0].replace("latitude", "lat_typo")] + lines[1:50]) + "\n", encoding="utf-8")


def _truncate(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])


def _garbage_geometry(src: Path, dst: Path) -> None:
    text_ = src.read_text(encoding="utf-8")
    dst.write_text(text_.replace('"type" : "Polygon"', '"type" : "Blob"', 1), encoding="utf-8")


def _bad_crs(src: Path, dst: Path) -> None:
    text_ = src.read_text(encoding="utf-8")
    dst.write_text(text_.replace("urn:ogc:def:crs:EPSG::27700", "urn:ogc:def:crs:EPSG::999999"), encoding="utf-8")


def _empty(src: Path, dst: Path) -> None:
    dst.write_bytes(b"")


def _bulk_bad_month(src: Path, dst: Path) -> None:
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(40)]
    lines[5] = lines[5].replace(",20", ",13-20", 1)
    dst.write_text("".join(lines), encoding="utf-8")


CASES = [
    ("crime_2024_04", "points/police_api_2024-04.csv", _break_police_columns, "lat_typo.csv", "latitude"),
    ("wards_2022", "boundaries/wards_2022.geojson", _truncate, "wards.geojson", "truncated"),
    ("wards_2022", "boundaries/wards_2022.geojson", _garbage_geometry, "wards.geojson", "geometry"),
    ("lsoa_2021", "boundaries/lsoa_2021_bng.geojson", _bad_crs, "lsoa.geojson", "999999"),
    ("imd2019", "indicators/imd2019_lsoa11.csv", _empty, "imd.csv", "empty"),
    ("burglary_2010_2023", "points/police_bulk_barnet_burglary_2010-12_2023-03.csv.gz", _bulk_bad_month,
     "bulk.csv", "Month"),
]


@pytest.mark.parametrize("layer,file,breaker,name,expected", CASES, ids=[c[2].__name__ for c in CASES])
def test_a_broken_file_changes_nothing(store, tmp_path: Path, layer, file, breaker, name, expected) -> None:
    for first in ("borough", layer):  # an earlier good version of the same layer must survive
        load_layer(store.engine, SPECS[first], DATA_DIR / SPECS[first].file)
    before = _snapshot(store.engine)
    broken = tmp_path / name
    breaker(DATA_DIR / file, broken)
    with pytest.raises(LoadError) as info:
        load_layer(store.engine, SPECS[layer], broken)
    message = str(info.value)
    assert message.startswith(name) and expected.lower() in message.lower(), message
    assert _snapshot(store.engine) == before


def test_points_outside_the_authority_are_flagged_not_dropped(store, tmp_path: Path) -> None:
    load_layer(store.engine, SPECS["borough"], DATA_DIR / SPECS["borough"].file)
    csv = tmp_path / "two.csv"
    csv.write_text(
        "longitude,latitude,name\n-0.2,51.6,inside Barnet\n-0.1,51.5,central London\n", encoding="utf-8"
    )
    spec = replace(SPECS["vcfs_organisations"], options={"x": "longitude", "y": "latitude", "name_field": "name"})
    report = load_layer(store.engine, spec, csv)
    assert (report.stored, report.outside_authority) == (2, 1)
    flags = read_features(store.engine, "vcfs_organisations").set_index("name")["inside_authority"]
    assert flags.to_dict() == {"inside Barnet": True, "central London": False}
