"""The whole sample loads on both back ends with the counts the sources document."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from insight.store import layer_summaries, read_areas, read_features
from insight.store.models import Feature, Layer
from tests.conftest import DATA_DIR


def _csv_rows(path: Path) -> int:
    """Data rows of a (possibly gzipped) CSV, counted by pandas independently of the loaders."""
    return len(pd.read_csv(path, dtype=str, keep_default_na=False))


AREA_COUNTS = {
    "borough": 1,
    "wards_2022": 24,
    "wards_2011": 21,
    "town_centres": 14,
    "constituencies_2010": 3,
    "constituencies_2024": 3,
    "lsoa_2021": 220,
}
POINT_COUNTS = {"crime_2016_2018": 83_723, "crime_2024_04": 5_537, "burglary_2010_2023": 44_138}


def test_boundary_layers_have_the_documented_number_of_areas(sample_store) -> None:
    counts = {s.name: s.feature_count for s in layer_summaries(sample_store.engine) if s.kind == "boundary"}
    assert counts == AREA_COUNTS
    wards = read_areas(sample_store.engine, "wards_2022")
    assert wards["code"].str.match(r"^E050136(2[89]|[34]\d|5[01])$").all()
    assert wards.geometry.is_valid.all()


@pytest.mark.parametrize("layer,expected", POINT_COUNTS.items())
def test_every_police_row_is_stored(sample_store, layer: str, expected: int) -> None:
    with sample_store.engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(Feature).join(Layer).where(Layer.name == layer)
        ).scalar_one()
    assert stored == expected


def test_police_row_counts_match_the_shipped_files(sample_store) -> None:
    files = {
        "crime_2016_2018": "points/police_api_barnet_2016-01_2018-06.csv.gz",
        "crime_2024_04": "points/police_api_2024-04.csv",
        "burglary_2010_2023": "points/police_bulk_barnet_burglary_2010-12_2023-03.csv.gz",
    }
    for layer, file in files.items():
        assert sample_store.reports[layer].stored == _csv_rows(DATA_DIR / file)


def test_points_outside_the_borough_are_kept_and_counted(sample_store) -> None:
    report = sample_store.reports["crime_2024_04"]
    points = read_features(sample_store.engine, "crime_2024_04")
    outside = int((points["inside_authority"] == False).sum())  # noqa: E712
    assert outside == report.outside_authority
    # SOURCES.md: the API query covered a rectangle; 2,784 of 5,537 fall inside a Barnet ward.
    inside = int((points["inside_authority"] == True).sum())  # noqa: E712
    assert 2_700 <= inside <= 2_900
    assert inside + outside + report.no_location == 5_537


def test_categories_use_one_vocabulary_across_api_and_bulk(sample_store) -> None:
    with sample_store.engine.connect() as conn:
        rows = conn.execute(
            select(Layer.name, Feature.category, func.count())
            .join(Layer)
            .where(Layer.name.in_(list(POINT_COUNTS)))
            .group_by(Layer.name, Feature.category)
        ).all()
    by_layer: dict[str, set[str]] = {}
    for layer, category, _ in rows:
        by_layer.setdefault(layer, set()).add(category)
    assert by_layer["burglary_2010_2023"] == {"burglary"}
    assert "burglary" in by_layer["crime_2016_2018"]
    assert "anti-social-behaviour" in by_layer["crime_2024_04"]


def test_indicators_and_lookups_loaded(sample_store) -> None:
    summaries = {s.name: s for s in layer_summaries(sample_store.engine)}
    assert summaries["lookup_lsoa21_ward2022"].feature_count == 220
    census = summaries["census2021_population"]
    assert census.feature_count >= 220 * 6
    assert summaries["imd2019"].feature_count > 211
    assert summaries["mopac_pas_2016"].feature_count > 0


def test_illustrative_layers_are_labelled(sample_store) -> None:
    summaries = {s.name: s for s in layer_summaries(sample_store.engine)}
    assert summaries["vcfs_organisations"].illustrative
    assert summaries["assets_of_community_value"].illustrative
    assert not summaries["crime_2016_2018"].illustrative
    assert "ILLUSTRATIVE" in summaries["vcfs_organisations"].title


def test_points_are_tagged_once_per_boundary_layer(sample_store) -> None:
    from sqlalchemy import text

    query = text(
        "SELECT COUNT(*), COUNT(DISTINCT t.feature_id) FROM feature_tags t "
        "JOIN features f ON f.id = t.feature_id JOIN layers pl ON pl.id = f.layer_id "
        "JOIN layers bl ON bl.id = t.boundary_layer_id WHERE pl.name = :p AND bl.name = :b"
    )
    with sample_store.engine.connect() as conn:
        tags, distinct = conn.execute(query, {"p": "crime_2024_04", "b": "wards_2022"}).one()
    points = read_features(sample_store.engine, "crime_2024_04")
    wards = read_areas(sample_store.engine, "wards_2022")
    union = wards.geometry.union_all()
    expected = int(points.geometry.intersects(union).sum())
    assert tags == distinct == expected
