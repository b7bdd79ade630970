"""National run: generate the ILLUSTRATIVE year, then count it per ward and per LSOA on Dask and on one machine.

Prints the generation time, and for each boundary the Dask count (local cluster,
or ``--scheduler``) beside the baseline of the same run: the single-machine
``assign_points`` over the same Parquet points, in one process; then checks the
two give identical counts.

    .venv/bin/python bench/bench_national.py --out var/national --records 6000000
    .venv/bin/python bench/bench_national.py --out var/national --reuse   # skip generation
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from insight.cli.national import DEFAULT_BOUNDARIES, DEFAULT_CRIME
from insight.geo.distributed import count_points_distributed
from insight.geo.joins import assign_points
from insight.sources.national_demo import generate, read_national

BY = ["month", "category"]


def single_machine(paths: list[Path], areas: pd.DataFrame) -> pd.DataFrame:
    """Baseline: read every file here and assign all points with assign_points, then group."""
    table = pd.concat([pq.read_table(p, columns=["x", "y", *BY]).to_pandas() for p in paths], ignore_index=True)
    ordered = areas.sort_values("code").reset_index(drop=True)
    index = assign_points(table["x"].to_numpy(), table["y"].to_numpy(), ordered.geometry)
    inside = index >= 0
    tagged = table.loc[inside, BY].assign(code=ordered["code"].to_numpy()[index[inside]])
    counts = tagged.groupby(["code", *BY]).size().rename("n").reset_index()
    return counts.sort_values(["code", *BY]).reset_index(drop=True)


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[["code", *BY, "n"]].astype({"code": str, "month": str, "category": str, "n": "int64"})
    return frame.sort_values(["code", *BY]).reset_index(drop=True)


def main() -> int:
    """Run the national benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("var/national"))
    parser.add_argument("--records", type=int, default=6_000_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--reuse", action="store_true", help="use the files already in --out")
    parser.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    parser.add_argument("--workers", type=int, help="local cluster size (default: the CPU count)")
    parser.add_argument("--boundary", choices=["wards", "lsoas", "both"], default="both")
    args = parser.parse_args()

    if not args.reuse:
        started = time.perf_counter()
        made = generate(args.out, boundaries_zip=DEFAULT_BOUNDARIES, crime_dir=DEFAULT_CRIME, seed=args.seed,
                        records=args.records)
        seconds = time.perf_counter() - started
        print(f"generate  {made.records:>10,} ILLUSTRATIVE records over {made.lsoas:,} LSOAs in {seconds:6.1f} s "
              f"({made.records / seconds:,.0f} records/s; scale factor {made.scale:.4f})")
    paths = sorted((args.out / "parquet").glob("*.parquet"))
    n_points = sum(pq.read_metadata(p).num_rows for p in paths)
    print(f"points    {n_points:,} in {len(paths)} Parquet files")
    identical = True
    for which in (["wards", "lsoas"] if args.boundary == "both" else [args.boundary]):
        areas = read_national(DEFAULT_BOUNDARIES, which)
        started = time.perf_counter()
        dask_counts = count_points_distributed(paths, areas, scheduler=args.scheduler, n_workers=args.workers)
        dask_s = time.perf_counter() - started
        started = time.perf_counter()
        baseline = single_machine(paths, areas)
        base_s = time.perf_counter() - started
        same = _normal(dask_counts).equals(_normal(baseline))
        identical &= same
        where = args.scheduler or f"local cluster, {args.workers or 'CPU-count'} workers"
        print(f"{which:<6} ({len(areas):,}) dask [{where}] {dask_s:6.1f} s ({n_points / dask_s:,.0f} points/s)"
              f" | baseline assign_points {base_s:6.1f} s ({n_points / base_s:,.0f} points/s)"
              f" | counted {int(np.sum(baseline['n'])):,} | identical: {same}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
