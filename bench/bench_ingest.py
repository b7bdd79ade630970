"""Police bulk CSV ingest benchmark: ``insight import --format police-bulk`` against plain pandas/geopandas.

Generates N police bulk rows (seeded) from the real Barnet rows in data/ (categories,
months and places; coordinates jittered by about 100 m), then, each in its own process
so peak memory (peak RSS) is that run's own:

- streamed: a fresh store with the sample boundaries (borough, wards_2022, lsoa_2021)
  loaded, then ``insight import FILE --layer bulk --kind points --format police-bulk``
  read, checked and written a chunk at a time (the path large files take), with
  validation, authority flag, tags and counts as in real use, and stage timings;
- whole: the same import with the whole file read at once (the path small files take);
- baseline: ``pandas.read_csv`` + ``DataFrame.to_sql`` (SQLite, coordinates as two float
  columns) and ``GeoDataFrame.to_postgis`` (PostGIS), which validate nothing and tag nothing;
- chunked baseline: the same, 200,000 rows at a time (``read_csv(chunksize=...)``).

Run from the repository root (several ``--rows`` show how memory grows with rows):

    .venv/bin/python bench/bench_ingest.py [--rows 200000 1000000] [--database-url postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "data" / "points" / "police_bulk_barnet_burglary_2010-12_2023-03.csv.gz"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:55432/insight_test"
BOUNDARIES = ("borough", "wards_2022", "lsoa_2021")


def generate(path: Path, rows: int, seed: int = 12) -> None:
    """Write ``rows`` police bulk rows drawn from the real file, coordinates jittered (seeded)."""
    real = pd.read_csv(SOURCE, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    frame = real.iloc[rng.integers(0, len(real), rows)].reset_index(drop=True)
    for column in ("Longitude", "Latitude"):
        values = pd.to_numeric(frame[column]) + rng.normal(0, 0.001, rows)
        frame[column] = np.round(values, 6).astype(str)
    frame["Crime ID"] = [f"{i:064x}" for i in rng.integers(0, 2**62, rows)]
    frame.to_csv(path, index=False)


def _peak_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ``ru_maxrss``, not inherited from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(module: Any, name: str, bucket: dict[str, float], key: str) -> None:
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            bucket[key] = bucket.get(key, 0.0) + time.perf_counter() - started

    setattr(module, name, wrapper)


def child_boundaries(csv_path: Path, url: str, home: Path) -> dict[str, Any]:
    """Load the sample boundaries (its own process, so their memory is not counted in the import's)."""
    from insight.cli.engines import close_engines
    from insight.cli.main import main as cli_main

    for name in BOUNDARIES:
        spec_file = ROOT / "layers" / f"{name}.toml"
        data = __import__("tomllib").loads(spec_file.read_text())["file"]
        cli_main(["--database-url", url, "import", str(ROOT / "data" / data), "--layer", name])
    close_engines()
    return {}


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def child_insight(csv_path: Path, url: str, home: Path, *, streamed: bool = True) -> dict[str, Any]:
    """Import the CSV through the CLI (streamed or whole), with stage timers, into a store with boundaries."""
    from insight.cli.engines import close_engines
    from insight.cli.main import main as cli_main
    from insight.sources import ingest, police, stream
    from insight.store import io, io_stream

    base = ["--database-url", url]
    start_mib = _rss_mib()
    stream.STREAM_BYTES = 0 if streamed else 1 << 62
    stages: dict[str, float] = {}
    _timed(ingest, "_read", stages, "read+validate")
    _timed(stream, "read_csv_text", stages, "read+validate")
    _timed(police, "check_bulk", stages, "read+validate")
    _timed(io, "_write_points", stages, "write")
    _timed(io_stream, "write_point_rows", stages, "write")
    _timed(ingest, "assign_points", stages, "tag")
    _timed(ingest, "replace_tags", stages, "tag")
    _timed(ingest, "point_values", stages, "tag")
    _timed(ingest, "store_counts", stages, "count")
    started = time.perf_counter()
    cli_main([*base, "import", str(csv_path), "--layer", "bulk", "--kind", "points", "--format", "police-bulk"])
    seconds = time.perf_counter() - started
    close_engines()
    return {"seconds": seconds, "stages": stages, "peak_mib": _peak_mib(), "start_mib": start_mib}


def child_baseline(csv_path: Path, url: str, home: Path, *, chunk: int | None = None) -> dict[str, Any]:
    """pandas.read_csv + to_sql (SQLite) or GeoDataFrame.to_postgis (PostGIS): no checks, no tags."""
    import geopandas as gpd
    from sqlalchemy import create_engine

    started, start_mib = time.perf_counter(), _rss_mib()
    engine = create_engine(url)
    frames = (pd.read_csv(csv_path, dtype={"Crime ID": str, "Context": str}, chunksize=chunk) if chunk
              else [pd.read_csv(csv_path, dtype={"Crime ID": str, "Context": str})])
    for frame in frames:
        if url.startswith("sqlite"):
            frame.to_sql("baseline", engine, index=False, chunksize=50_000, method=None, if_exists="append")
        else:
            gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["Longitude"], frame["Latitude"]),
                                   crs="EPSG:4326")
            gdf.to_postgis("baseline", engine, if_exists="append", chunksize=50_000)
        del frame
    engine.dispose()
    return {"seconds": time.perf_counter() - started, "stages": {}, "peak_mib": _peak_mib(), "start_mib": start_mib}


CHILDREN: dict[str, Callable[[Path, str, Path], dict[str, Any]]] = {
    "streamed": child_insight,
    "whole": functools.partial(child_insight, streamed=False),
    "baseline": child_baseline,
    "chunked-baseline": functools.partial(child_baseline, chunk=200_000),
    "boundaries": child_boundaries,
}
RUNS = ("streamed", "whole", "baseline", "chunked-baseline")


def _pg_schema(url: str, create: bool, schema: str) -> str | None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'{"CREATE" if create else "DROP"} SCHEMA "{schema}"{"" if create else " CASCADE"}'))
    except Exception as exc:
        return str(exc).splitlines()[0]
    finally:
        admin.dispose()
    return None


def _run_child(kind: str, csv_path: Path, url: str, home: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--csv", str(csv_path), "--database-url", url, "--home", str(home)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(label: str, rows: int, result: dict[str, Any]) -> str:
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result["stages"].items())
    return (f"  {label:<16} {rows / result['seconds']:>10,.0f} rows/s  {result['seconds']:6.1f} s  "
            f"peak {result['peak_mib']:6.0f} MiB (at start {result['start_mib']:4.0f})  {stages}")


def _run_all(rows: int, database_url: str, tmp: Path, runs: list[str], backends: list[str]) -> None:
    """Generate ``rows`` rows, then run every child on SpatiaLite and PostGIS, printing a line each."""
    csv_path = tmp / f"police_bulk_{rows}.csv"
    started = time.perf_counter()
    generate(csv_path, rows)
    print(f"generated {rows:,} rows ({csv_path.stat().st_size / 2**20:.0f} MiB) "
          f"in {time.perf_counter() - started:.1f} s")
    print("SpatiaLite")
    for kind in runs if "spatialite" in backends else []:
        url = f"sqlite:///{tmp / f'{kind}-{rows}.sqlite'}"
        if kind in ("streamed", "whole"):
            _run_child("boundaries", csv_path, url, tmp)
        print(_line(kind, rows, _run_child(kind, csv_path, url, tmp)), flush=True)
    if "postgis" not in backends:
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    problem = _pg_schema(database_url, True, schema)
    if problem:
        print(f"PostGIS skipped: {problem}")
        return
    sep = "&" if "?" in database_url else "?"
    scoped = f"{database_url}{sep}options=-csearch_path%3D{schema},public"
    print("PostGIS")
    try:
        for kind in runs:
            if kind in ("streamed", "whole"):
                _run_child("boundaries", csv_path, scoped, tmp)
            print(_line(kind, rows, _run_child(kind, csv_path, scoped, tmp)), flush=True)
            _pg_schema(database_url, False, schema)
            _pg_schema(database_url, True, schema)
    finally:
        _pg_schema(database_url, False, schema)
    csv_path.unlink()


def main() -> None:
    """Generate each file, run insight (streamed and whole) and the baselines on both back ends, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--backends", nargs="+", choices=("spatialite", "postgis"), default=["spatialite", "postgis"])
    parser.add_argument("--child", choices=tuple(CHILDREN))
    parser.add_argument("--csv")
    parser.add_argument("--home")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](Path(args.csv), args.database_url, Path(args.home))))
        return
    with tempfile.TemporaryDirectory() as tmp_dir:
        for rows in args.rows:
            _run_all(rows, args.database_url, Path(tmp_dir), args.runs, args.backends)


if __name__ == "__main__":
    main()
