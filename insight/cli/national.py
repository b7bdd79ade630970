"""``insight national-generate`` and ``insight national-count``: the ILLUSTRATIVE national demonstration.

Wired into ``insight`` by :func:`register`. See docs/national.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from insight.config import PROJECT_ROOT, Settings
from insight.errors import ConfigError

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_BOUNDARIES = SHARED_DATA / "national" / "ew_boundaries_gen.zip"
DEFAULT_CRIME = SHARED_DATA / "london_data_millington" / "crime_lsoa11_annual"


def cmd_national_generate(args: argparse.Namespace, settings: Settings) -> int:
    """Generate the ILLUSTRATIVE national year (monthly police bulk CSVs and Parquet) into ``--out``."""
    from insight.sources.national_demo import generate

    started = time.perf_counter()
    result = generate(Path(args.out), boundaries_zip=Path(args.boundaries), crime_dir=Path(args.crime),
                      seed=args.seed, records=args.records, year=args.year, lsoa_sample=args.lsoas)
    seconds = time.perf_counter() - started
    print(f"ILLUSTRATIVE: {result.records:,} generated records over {result.lsoas:,} LSOAs for {result.year} "
          f"(scale factor {result.scale:.4f} on the London donor counts) in {seconds:.1f} s")
    print(f"  {len(result.csv_files)} police bulk CSV files under {Path(args.out) / 'csv'}; "
          f"Parquet under {Path(args.out) / 'parquet'}; summary in illustrative_summary.json")
    return 0


def cmd_national_count(args: argparse.Namespace, settings: Settings) -> int:
    """Count the Parquet points of ``--points`` per national ward or LSOA x month x category on Dask."""
    from insight.geo.distributed import count_points_distributed
    from insight.sources.national_demo import read_national

    folder = Path(args.points)
    paths = sorted(folder.glob("*.parquet")) or sorted((folder / "parquet").glob("*.parquet"))
    if not paths:
        raise ConfigError(f"no Parquet files in {folder} (or {folder / 'parquet'}): run national-generate first")
    areas = read_national(Path(args.boundaries), args.boundary)
    started = time.perf_counter()
    counts = count_points_distributed(paths, areas, scheduler=args.scheduler, n_workers=args.workers)
    seconds = time.perf_counter() - started
    counts.to_csv(args.output, index=False)
    where = args.scheduler or "a local cluster"
    print(f"{int(counts['n'].sum()):,} points counted in {counts['code'].nunique():,} of {len(areas):,} "
          f"{args.boundary} on {where} in {seconds:.1f} s; {len(counts):,} rows written to {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``national-generate`` and ``national-count`` to the ``insight`` command."""
    gen = sub.add_parser("national-generate",
                         help="generate an ILLUSTRATIVE national year of police-format records (docs/national.md)")
    gen.add_argument("--out", required=True, help="output folder (csv/ and parquet/ are made inside)")
    gen.add_argument("--seed", type=int, default=12, help="random seed (same seed, same files)")
    gen.add_argument("--records", type=int, default=6_000_000, help="expected number of records (default 6,000,000)")
    gen.add_argument("--year", type=int, default=2019, help="year of London counts to disperse (2011-2021)")
    gen.add_argument("--lsoas", type=int, help="only this many LSOAs drawn at random (quick runs)")
    gen.add_argument("--boundaries", default=str(DEFAULT_BOUNDARIES), help="ew_boundaries_gen.zip")
    gen.add_argument("--crime", default=str(DEFAULT_CRIME), help="folder of the London LSOA crime CSV files")
    gen.set_defaults(func=cmd_national_generate)

    count = sub.add_parser("national-count", help="count Parquet points per national ward or LSOA on Dask")
    count.add_argument("--points", required=True, help="folder of Parquet point files (national-generate --out)")
    count.add_argument("--boundary", required=True, choices=["wards", "lsoas"])
    count.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: this machine)")
    count.add_argument("--workers", type=int, help="local cluster size (default: the CPU count)")
    count.add_argument("--boundaries", default=str(DEFAULT_BOUNDARIES), help="ew_boundaries_gen.zip")
    count.add_argument("-o", "--output", required=True, help="CSV file of code, month, category, n")
    count.set_defaults(func=cmd_national_count)
