"""Join-and-count benchmark: insight.geo.joins against plain geopandas and a bare shapely loop.

Each method runs in its own process on the same points and areas (median of 3 runs),
so peak memory is that method's own. Points are uniform random in the areas' bounding
box (seeded). Run from the repository root:

    .venv/bin/python bench/bench_joins.py [--points 1000000]

Cases: the 24 Barnet wards at full OS Boundary-Line resolution (data/), and the 4,994
London LSOAs (2021, 20 m; read from ../shared/data, skipped if that is absent). The bare
loop is run for the wards only: over 4,994 LSOAs it takes about two minutes a run.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "barnet_wards_24": (ROOT / "data" / "boundaries" / "wards_2022.geojson", "ONSWardCode"),
    "london_lsoa_4994": (
        ROOT.parent / "shared" / "data" / "london_data_millington" / "geographies" / "london-2021-lsoa-gen20.shp",
        "LSOA21CD",
    ),
}
METHODS = ("insight", "geopandas_sjoin", "shapely_loop")


def _load(case: str, n: int):
    import geopandas as gpd

    path, code = CASES[case]
    areas = gpd.read_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        areas = areas.to_crs(4326).sort_values(code).reset_index(drop=True)
    minx, miny, maxx, maxy = areas.total_bounds
    rng = np.random.default_rng(20261126)
    return areas, code, rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


def _run(method: str, areas, code: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if method == "insight":
        from insight.geo.joins import assign_points, count_by_area

        return count_by_area(assign_points(x, y, areas.geometry), len(areas))
    if method == "geopandas_sjoin":
        import geopandas as gpd

        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=areas.crs)
        joined = gpd.sjoin(points, areas[[code, "geometry"]], predicate="within")
        return joined.groupby(code).size().reindex(areas[code], fill_value=0).to_numpy()
    if method == "shapely_loop":
        import shapely

        index = np.full(len(x), -1)
        for i, geom in enumerate(areas.geometry.values):
            shapely.prepare(geom)
            index[shapely.contains_xy(geom, x, y)] = i
        return np.bincount(index[index >= 0], minlength=len(areas))
    raise ValueError(method)


def child(case: str, method: str, n: int, repeats: int) -> dict:
    """Time one method in this process and report its peak memory above the loaded data."""
    areas, code, x, y = _load(case, n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    counts = None
    for _ in range(repeats):
        start = time.perf_counter()
        counts = _run(method, areas, code, x, y)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": float(np.median(times)), "peak_mib": (peak - before) / 1024,
            "counted": int(np.asarray(counts).sum()), "areas": len(areas)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.points, args.repeats)))
        return
    print(f"{args.points:,} points, median of {args.repeats} runs, one process per method\n")
    print(f"{'case':<18} {'method':<17} {'seconds':>8} {'Mpts/s':>7} {'peak MiB':>9} "
          f"{'counted':>9} {'vs sjoin':>9} {'vs loop':>8}")
    for case, (path, _) in CASES.items():
        if not path.exists():
            print(f"{case:<18} skipped: {path} not found")
            continue
        results = {}
        methods = METHODS if case == "barnet_wards_24" else METHODS[:2]
        for method in methods:
            out = subprocess.run(
                [sys.executable, __file__, "--points", str(args.points), "--repeats", str(args.repeats),
                 "--child", case, method],
                check=True, capture_output=True, text=True, cwd=ROOT,
            )
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
        base_a = results["geopandas_sjoin"]["seconds"]
        base_b = results.get("shapely_loop", {}).get("seconds")
        for method, r in results.items():
            vs_loop = f"{r['seconds'] / base_b:>8.2f}" if base_b else f"{'—':>8}"
            print(f"{case:<18} {method:<17} {r['seconds']:>8.3f} {args.points / r['seconds'] / 1e6:>7.2f} "
                  f"{r['peak_mib']:>9.0f} {r['counted']:>9,} {r['seconds'] / base_a:>9.2f} {vs_loop}")
        if not base_b:
            print(f"{case:<18} shapely_loop      not run: one full pass over the points per area (~2 min a run here)")
        print()


if __name__ == "__main__":
    main()
