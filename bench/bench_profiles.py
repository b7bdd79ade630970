"""Profile benchmark: one ward's profile and all ward profiles, against a plain geopandas pipeline.

Loads the sample into a temporary SpatiaLite file (or uses --database-url), then times
on the snapshot (boundaries and the counts stored at load time), median and 95th percentile over repeated calls:

- ``profile``: one ward (population, IMD, a year of crime by category with rates, rank,
  borough comparison and change, assets by kind);
- ``24 profiles``: every ward;
- ``ward table``: one row per ward for a point layer;
- baseline: ``geopandas.sjoin`` of the same year of crime with the wards plus
  ``groupby`` counts by ward and category (counts only, no population or ranks).

    .venv/bin/python bench/bench_profiles.py [--repeats 50]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _timed(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000, float(np.percentile(times, 95)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import geopandas as gpd

    from insight.analysis.places import load_places
    from insight.analysis.profiles import layer_table, parse_period, profile
    from insight.config import load_settings
    from insight.layers import load_specs
    from insight.sources.ingest import load_specs_into
    from insight.store import make_engine, read_features
    from insight.store.migrate import upgrade

    tmp = tempfile.TemporaryDirectory()
    settings = load_settings(database_url=args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.sqlite'}")
    engine = make_engine(settings)
    if not args.database_url:
        upgrade(engine)
        start = time.perf_counter()
        load_specs_into(engine, load_specs(settings.layers_dir), Path(settings.data_dir), echo=lambda _: None)
        print(f"sample loaded into SpatiaLite in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    places = load_places(engine)
    print(f"snapshot read from the store in {time.perf_counter() - start:.2f} s (boundaries and whole-layer counts)\n")

    year = parse_period("2017-07:2018-06")
    wards = places.boundary("wards_2022").areas
    profile(places, "wards_2022", "Burnt Oak", period=year)  # warm the per-layer weights cache

    rows = [
        ("profile of one ward (a year of crime)", lambda: profile(places, "wards_2022", "Burnt Oak", period=year)),
        ("24 ward profiles", lambda: [profile(places, "wards_2022", c, period=year) for c in wards["code"]]),
        ("ward table, one point layer", lambda: layer_table(places, "wards_2022", "crime_2016_2018", period=year)),
    ]
    raw = read_features(engine, "crime_2016_2018")
    points = raw[(raw["month"] >= "2017-07") & (raw["month"] <= "2018-06")][["category", "geometry"]]

    def baseline() -> None:
        joined = gpd.sjoin(points, wards[["code", "geometry"]], predicate="intersects")
        joined.groupby(["code", "category"]).size().unstack(fill_value=0)

    rows.append(("baseline: sjoin + groupby, counts only", baseline))
    print(f"{'what':<42} {'median ms':>10} {'p95 ms':>8}")
    for label, fn in rows:
        median, p95 = _timed(fn, args.repeats if "24" not in label else max(5, args.repeats // 10))
        print(f"{label:<42} {median:>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
