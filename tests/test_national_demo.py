"""The ILLUSTRATIVE national generator: seeded, scaled as asked, inside its LSOAs, readable by the real loader.

Needs the shared source data (``../shared/data``: national boundaries and the London
LSOA crime counts); skipped when it is absent.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from insight.errors import ConfigError
from insight.sources.national_demo import generate
from insight.sources.police import POLICE_CATEGORIES, load_police_bulk

SHARED = Path(os.environ.get("INSIGHT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
ZIP = SHARED / "national" / "ew_boundaries_gen.zip"
CRIME = SHARED / "london_data_millington" / "crime_lsoa11_annual"
RECORDS, LSOAS, SEED = 20_000, 300, 7

pytestmark = pytest.mark.skipif(not (ZIP.exists() and CRIME.is_dir()), reason="shared national data not available")


def _generate(out: Path, seed: int = SEED) -> Path:
    generate(out, boundaries_zip=ZIP, crime_dir=CRIME, seed=seed, records=RECORDS, lsoa_sample=LSOAS)
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("national"))


@pytest.fixture(scope="module")
def loaded(made: Path) -> gpd.GeoDataFrame:
    frames = [load_police_bulk(path).frame for path in sorted((made / "csv").glob("*.csv"))]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def test_twelve_monthly_files_named_and_marked_illustrative(made: Path, loaded: gpd.GeoDataFrame) -> None:
    csvs = sorted(p.name for p in (made / "csv").iterdir())
    assert csvs == [f"2019-{m:02d}-illustrative-street.csv" for m in range(1, 13)]
    assert all("illustrative" in p.name for p in (made / "parquet").iterdir())
    assert len(list((made / "parquet").iterdir())) == 12
    assert sorted(loaded["month"].unique()) == [f"2019-{m:02d}" for m in range(1, 13)]
    contexts = {p["context"] for p in loaded["properties"]}
    assert contexts == {"ILLUSTRATIVE generated record"}
    summary = json.loads((made / "illustrative_summary.json").read_text())
    assert "ILLUSTRATIVE" in summary and summary["records"] == len(loaded)
    assert loaded["source_id"].is_unique


def test_the_real_loader_reads_what_the_parquet_holds(made: Path, loaded: gpd.GeoDataFrame) -> None:
    table = pd.concat([pq.read_table(p).to_pandas() for p in sorted((made / "parquet").glob("*.parquet"))],
                      ignore_index=True)
    assert len(table) == len(loaded)
    assert set(loaded["category"]) <= set(POLICE_CATEGORIES)
    assert "anti-social-behaviour" not in set(loaded["category"])
    from_csv = loaded.assign(x=shapely.get_x(loaded.geometry.values), y=shapely.get_y(loaded.geometry.values))
    key = ["month", "category", "x", "y"]
    left = from_csv[key].sort_values(key).reset_index(drop=True)
    right = table[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


def test_total_and_categories_follow_the_request_and_the_london_mix(made: Path, loaded: gpd.GeoDataFrame) -> None:
    assert abs(len(loaded) - RECORDS) < 0.04 * RECORDS
    summary = json.loads((made / "illustrative_summary.json").read_text())
    assert summary["by_category"] == loaded["category"].value_counts().to_dict()
    london = {slug: pd.read_csv(CRIME / f"london-2011-2021-{name}.csv")["2019"].sum()
              for slug, name in (("burglary", "major-burglary"), ("drugs", "major-drugs"),
                                 ("robbery", "major-robbery"), ("bicycle-theft", "minor-theft-bicycle"))}
    violence = sum(pd.read_csv(CRIME / f"london-2011-2021-major-{n}.csv")["2019"].sum()
                   for n in ("violence", "sexual"))
    share = loaded["category"].value_counts(normalize=True)
    total_london = sum(pd.read_csv(p)["2019"].sum() for p in CRIME.glob("london-2011-2021-major-*.csv"))
    for slug, n in {**london, "violent-crime": violence}.items():
        assert share[slug] == pytest.approx(n / total_london, rel=0.35), slug


def test_every_point_is_inside_the_lsoa_it_names(loaded: gpd.GeoDataFrame) -> None:
    lsoas = gpd.read_file(f"/vsizip/{ZIP.resolve()}/ew_lsoa11_gen.gpkg").set_index("LSOA11CD")
    codes = [p["lsoa_code"] for p in loaded["properties"]]
    assert len(set(codes)) > 250
    polygons = lsoas.geometry.loc[codes].to_numpy()
    assert shapely.contains(polygons, loaded.geometry.to_numpy()).all()


def test_same_seed_same_files_other_seed_other_points(made: Path, tmp_path: Path) -> None:
    again = _generate(tmp_path / "again")
    for name in ("csv/2019-01-illustrative-street.csv", "csv/2019-12-illustrative-street.csv"):
        assert (again / name).read_bytes() == (made / name).read_bytes()
    other = _generate(tmp_path / "other", seed=SEED + 1)
    first = pq.read_table(made / "parquet" / "2019-01-illustrative.parquet").to_pandas()
    assert not first.equals(pq.read_table(other / "parquet" / "2019-01-illustrative.parquet").to_pandas())


def test_bad_inputs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="records"):
        generate(tmp_path, boundaries_zip=ZIP, crime_dir=CRIME, records=0)
    with pytest.raises(ConfigError, match="missing"):
        generate(tmp_path, boundaries_zip=tmp_path / "none.zip", crime_dir=CRIME, records=10)


def test_the_cli_generates_then_counts_on_a_local_cluster(tmp_path: Path) -> None:
    from insight.cli.national import register
    from insight.config import load_settings

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out, counts = tmp_path / "year", tmp_path / "counts.csv"
    args = parser.parse_args(["national-generate", "--out", str(out), "--seed", "3", "--records", "5000",
                              "--lsoas", "120", "--boundaries", str(ZIP), "--crime", str(CRIME)])
    assert args.func(args, load_settings()) == 0
    args = parser.parse_args(["national-count", "--points", str(out), "--boundary", "lsoas", "--workers", "2",
                              "--boundaries", str(ZIP), "-o", str(counts)])
    assert args.func(args, load_settings()) == 0
    table = pd.concat([pq.read_table(p).to_pandas() for p in sorted((out / "parquet").glob("*.parquet"))])
    result = pd.read_csv(counts)
    assert result["n"].sum() == len(table)
    per_lsoa = result.groupby("code")["n"].sum()
    named = table["lsoa_code"].value_counts()
    assert (per_lsoa.reindex(named.index, fill_value=0) == named).mean() > 0.98
