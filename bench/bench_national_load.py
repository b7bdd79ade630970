"""National load: the ILLUSTRATIVE national year and the England and Wales boundaries into a fresh PostGIS, then served.

Stages, each through the real command line as a council would run it:

1. a fresh database (``CREATE DATABASE`` + ``CREATE EXTENSION postgis``), ``insight db upgrade``;
2. ``insight import`` of the 8,533 wards and the 34,753 LSOAs (GeoPackages extracted from the zip);
3. ``insight import`` of the twelve monthly police bulk CSV files as ONE point layer (concatenated into one
   temporary file; the importer takes one file), defined in a temporary ``layers/`` file so that it is marked
   illustrative, themed crime and described as generated. The import runs under ``/usr/bin/time -v`` (peak RSS)
   while its database session is watched in ``pg_stat_activity`` every 0.25 s, which splits it into stages
   (read and check the file before the first statement, COPY, tagging, counting);
4. the stored ward counts (``area_counts``) against a single-machine recount of the Parquet copy of the year;
5. serving, in a separate process: ``load_places`` start-up and RSS, a ward profile and the national ward
   shading (first call, then median and p95 over ``--calls``), beside plain-library baselines of the same run
   (``geopandas.read_postgis`` + ``sjoin`` of the ward's points; a SQL ``GROUP BY`` over the tags for the shading);
6. the same profile and shading through HTTP against ``insight serve``.

    .venv/bin/python bench/bench_national_load.py                       # everything, fresh database
    .venv/bin/python bench/bench_national_load.py --skip-load           # serving figures on the loaded database
    .venv/bin/python bench/bench_national_load.py --database-url postgresql+psycopg://u@host/db --rows 200000

The database is kept afterwards (its URL is printed) so that it can be served.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
INSIGHT = [str(Path(sys.executable).parent / "insight")]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/insight_national"
BOUNDARIES = ROOT.parent / "shared/data/national/ew_boundaries_gen.zip"
POINTS = "crime_national_2019_illustrative"
WARDS, LSOAS = "ew_wards", "ew_lsoas"
PERIOD = "2019-01:2019-12"
LICENCE = "Open Government Licence v3.0"
ATTRIBUTION = ("Contains Ordnance Survey, Office for National Statistics data © Crown copyright and database "
               "right 2016")
POINTS_TOML = f'''name = "{POINTS}"
kind = "points"
title = "ILLUSTRATIVE national crime year 2019 (generated, not real records)"
description = "ILLUSTRATIVE: about 6M generated police-format records for England and Wales, dispersing real \
London LSOA counts by area (insight national-generate, seed 12; method in docs/national.md). Not real crimes."
loader = "police-bulk"
theme = "crime"
illustrative = true
source = "ILLUSTRATIVE generator: insight national-generate (docs/national.md)"
publisher = "ILLUSTRATIVE generator (Local Insight)"
licence = "{LICENCE}"
attribution = "ILLUSTRATIVE generated data dispersing London recorded crime (Metropolitan Police, London Datastore)"
'''


def say(text: str) -> None:
    """Print one figure line at once."""
    print(text, flush=True)


def fresh_database(url: str) -> None:
    """Drop and recreate the database of ``url`` with PostGIS, through an autocommit maintenance connection."""
    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()


class Watcher(threading.Thread):
    """Samples the import's database session in ``pg_stat_activity``: a timeline of what it was doing."""

    def __init__(self, url: str, application: str) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.application = application
        self.segments: list[list[Any]] = []
        self.stop = threading.Event()
        self.started = time.perf_counter()

    def _label(self, state: str, query: str) -> str:
        words = " ".join(query.split())
        if state == "active":
            return f"SQL   {words[:80]}"
        return f"{'python' if 'transaction' in state else state:<5} ({state}, after: {words[:45]})"

    def run(self) -> None:
        """Poll until stopped, extending the current segment or opening a new one."""
        sql = sa.text("SELECT state, query FROM pg_stat_activity WHERE application_name = :app")
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                now = time.perf_counter() - self.started
                row = conn.execute(sql, {"app": self.application}).first()
                label = "python (no database session yet, or between sessions)" if row is None else self._label(
                    row[0] or "?", row[1] or "")
                if self.segments and self.segments[-1][0] == label:
                    self.segments[-1][2] = now
                else:
                    self.segments.append([label, now, now])
                time.sleep(0.25)
        self.engine.dispose()

    def report(self) -> None:
        """Print each segment of 0.5 s or more (and every statement) with its start and end since the command began."""
        for label, first, last in self.segments:
            if last - first >= 0.5 or label.startswith("SQL"):
                say(f"      {first:7.1f} s .. {last:7.1f} s  ({last - first:6.1f} s)  {label}")


def run_cli(url: str, args: list[str], *, env: dict[str, str] | None = None, watch: bool = False) -> dict[str, Any]:
    """Run ``insight --database-url URL ARGS`` under /usr/bin/time -v; seconds, peak RSS and its output."""
    app = f"insight-natload-{os.getpid()}"
    db_url = str(sa.make_url(url).update_query_dict({"application_name": app}).render_as_string(hide_password=False))
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        command = ["/usr/bin/time", "-v", "-o", timing.name, *INSIGHT, "--database-url", db_url, *args]
        watcher = Watcher(url, app) if watch else None
        if watcher:
            watcher.start()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if watcher:
            watcher.stop.set()
            watcher.join()
        rss = [line for line in timing.read().splitlines() if "Maximum resident set size" in line]
    if done.returncode != 0:
        raise SystemExit(f"insight {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    peak = int(rss[0].split(":")[1]) / 1024 if rss else float("nan")
    if watcher:
        watcher.report()
    return {"seconds": seconds, "peak_mib": peak, "out": done.stdout.strip()}


def load_boundaries(url: str, folder: Path) -> None:
    """Import the national wards and LSOAs through the command line, timed."""
    with zipfile.ZipFile(BOUNDARIES) as archive:
        archive.extractall(folder)
    for layer, member, area_type, vintage, title in (
        (WARDS, "ew_wards_gen.gpkg", "ward", "2013", "England and Wales wards (2013 codes, generalised)"),
        (LSOAS, "ew_lsoa11_gen.gpkg", "lsoa", "2011", "England and Wales LSOAs (2011, generalised)"),
    ):
        run = run_cli(url, [
            "import", str(folder / member), "--layer", layer, "--kind", "boundary", "--format", "boundary",
            "--area-type", area_type, "--vintage", vintage, "--title", title,
            "--source", "martinjc/UK-GeoJSON (ONS/OS generalised boundaries); data SOURCES.md section 15",
            "--publisher", "Office for National Statistics, Ordnance Survey", "--licence", LICENCE,
            "--attribution", ATTRIBUTION,
        ])
        say(f"import {layer:<9} {run['seconds']:7.1f} s  peak RSS {run['peak_mib']:6.0f} MiB  | {run['out']}")


def concatenated(csv_dir: Path, out: Path, rows: int | None) -> int:
    """The monthly CSV files as one file (one header); at most ``rows`` records when given. Returns the records."""
    written = 0
    with out.open("w", encoding="utf-8", newline="") as sink:
        for i, path in enumerate(sorted(csv_dir.glob("*.csv"))):
            with path.open(encoding="utf-8", newline="") as source:
                header = source.readline()
                if i == 0:
                    sink.write(header)
                for line in source:
                    if rows is not None and written >= rows:
                        return written
                    sink.write(line)
                    written += 1
    return written


def load_points(url: str, csv_dir: Path, folder: Path, rows: int | None) -> None:
    """Import the year as one point layer through the command line, watched and timed."""
    started = time.perf_counter()
    path = folder / "2019-illustrative-street.csv"
    records = concatenated(csv_dir, path, rows)
    say(f"concatenate {records:,} records into one file ({path.stat().st_size / 2**20:,.0f} MiB) "
        f"{time.perf_counter() - started:6.1f} s (not part of the load)")
    layers = folder / "layers"
    layers.mkdir(exist_ok=True)
    (layers / f"{POINTS}.toml").write_text(POINTS_TOML, encoding="utf-8")
    say("import points: database activity of the import (first seen .. last seen, since the command started)")
    run = run_cli(url, ["import", str(path), "--layer", POINTS], env={"INSIGHT_LAYERS_DIR": str(layers)},
                  watch=True)
    say(f"import {POINTS} {run['seconds']:7.1f} s ({records / run['seconds']:,.0f} records/s)  "
        f"peak RSS {run['peak_mib']:6.0f} MiB  | {run['out']}")


def stored_tables(url: str) -> None:
    """Row counts of what the load stored."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        for table in ("features", "feature_tags", "area_counts", "areas"):
            n = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            say(f"stored    {table:<13} {n:>12,} rows")
        title, illustrative, description = conn.execute(
            sa.text("SELECT title, illustrative, description FROM layers WHERE name = :n"), {"n": POINTS}).one()
        say(f"layer     {POINTS}: title {title!r}, illustrative={illustrative}, description {description[:60]!r}…")
    engine.dispose()


def check_counts(url: str, parquet_dir: Path) -> None:
    """Stored counts per ward (and per ward x month x category) against a single-machine recount of the Parquet."""
    import pyarrow.parquet as pq

    from insight.geo.joins import assign_points
    from insight.sources.national_demo import read_national

    started = time.perf_counter()
    wards = read_national(BOUNDARIES, "wards")
    table = pd.concat([pq.read_table(p, columns=["x", "y", "month", "category"]).to_pandas()
                       for p in sorted(parquet_dir.glob("*.parquet"))], ignore_index=True)
    index = assign_points(table["x"].to_numpy(), table["y"].to_numpy(), wards.geometry)
    inside = index >= 0
    fresh = (table.loc[inside, ["month", "category"]].assign(code=wards["code"].to_numpy()[index[inside]])
             .groupby(["code", "month", "category"]).size().rename("fresh"))
    seconds = time.perf_counter() - started
    engine = sa.create_engine(url)
    stored = pd.read_sql(sa.text(
        "SELECT a.code, c.month, c.category, sum(c.n) AS stored FROM area_counts c JOIN areas a ON a.id = c.area_id "
        "JOIN layers p ON p.id = c.point_layer_id JOIN layers b ON b.id = c.boundary_layer_id "
        "WHERE p.name = :p AND b.name = :b GROUP BY a.code, c.month, c.category"), engine,
        params={"p": POINTS, "b": WARDS}).set_index(["code", "month", "category"])["stored"]
    engine.dispose()
    both = pd.concat([fresh, stored], axis=1).fillna(0).astype("int64")
    per_ward = both.groupby(level="code").sum()
    differ = per_ward[per_ward["fresh"] != per_ward["stored"]]
    cells = int((both["fresh"] != both["stored"]).sum())
    say(f"counts    single-machine recount of {len(table):,} Parquet points in {seconds:5.1f} s: "
        f"{int(per_ward['fresh'].sum()):,} in wards; stored {int(per_ward['stored'].sum()):,}")
    say(f"          wards differing: {len(differ):,} of {len(per_ward):,}; ward x month x category cells "
        f"differing: {cells:,} of {len(both):,}")
    if len(differ):
        say("          " + differ.assign(diff=differ["stored"] - differ["fresh"]).head(10).to_string()
            .replace("\n", "\n          "))


def _timed(call: Any, n: int) -> dict[str, float]:
    """First call's seconds, then median and p95 of ``n`` more calls."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return {"first_ms": first * 1000, "median_ms": statistics.median(times) * 1000,
            "p95_ms": float(np.percentile(times, 95)) * 1000}


def _rss_mib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def busiest_ward(url: str) -> tuple[str, int]:
    """The ward with most stored records (the hardest one for the plain-library baseline)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        code, n = conn.execute(sa.text(
            "SELECT a.code, sum(c.n) FROM area_counts c JOIN areas a ON a.id = c.area_id "
            "JOIN layers b ON b.id = c.boundary_layer_id WHERE b.name = :b GROUP BY a.code ORDER BY 2 DESC LIMIT 1"),
            {"b": WARDS}).one()
    engine.dispose()
    return str(code), int(n)


def serve_phase(url: str, code: str, calls: int) -> dict[str, Any]:
    """In this (fresh) process: start-up, profile and shading timings, and the plain-library baselines."""
    from insight.analysis.places import load_places
    from insight.analysis.profiles import parse_period, profile
    from insight.analysis.views import shading, shading_options
    from insight.config import load_settings
    from insight.store import make_engine

    out: dict[str, Any] = {"rss_before_mib": _rss_mib()}
    engine = make_engine(load_settings(database_url=url))
    started = time.perf_counter()
    places = load_places(engine)
    out["load_places_s"] = time.perf_counter() - started
    out["rss_after_load_mib"] = _rss_mib()
    period = parse_period(PERIOD)
    out["profile"] = _timed(lambda: profile(places, WARDS, code, comparator="average", crime_layer=POINTS,
                                            period=period), calls)
    options = [o["value"] for o in shading_options(places, WARDS, layer=POINTS, period=period)]
    metric = "points_rate" if "points_rate" in options else options[0]
    out["shading_metric"], out["shading_options"] = metric, options[:6]
    out["shading"] = _timed(lambda: shading(places, WARDS, metric, layer=POINTS, period=period), calls)
    out["rss_after_calls_mib"] = _rss_mib()
    out["baseline_profile"] = _timed(lambda: _baseline_ward(engine, code), min(calls, 5))
    out["baseline_shading"] = _timed(lambda: _baseline_shading(engine), min(calls, 5))
    engine.dispose()
    return out


def _baseline_ward(engine: Any, code: str) -> pd.DataFrame:
    """Plain geopandas: the ward's polygon and the points in its box from PostGIS, sjoin, count by month x category."""
    import geopandas as gpd

    ward = gpd.read_postgis(sa.text(
        "SELECT a.code, a.geom FROM areas a JOIN layers l ON l.id = a.layer_id WHERE l.name = :b AND a.code = :c"),
        engine, geom_col="geom", params={"b": WARDS, "c": code})
    points = gpd.read_postgis(sa.text(
        "SELECT f.month, f.category, f.geom FROM features f JOIN layers l ON l.id = f.layer_id "
        "WHERE l.name = :p AND f.geom && (SELECT a.geom FROM areas a JOIN layers b ON b.id = a.layer_id "
        "WHERE b.name = :b AND a.code = :c)"), engine, geom_col="geom", params={"p": POINTS, "b": WARDS, "c": code})
    joined = gpd.sjoin(points, ward, predicate="intersects")
    return joined.groupby(["month", "category"]).size()


def _baseline_shading(engine: Any) -> pd.DataFrame:
    """Plain SQL: records per ward over the period, GROUP BY over the raw features joined to their tags."""
    return pd.read_sql(sa.text(
        "SELECT a.code, count(*) AS n FROM feature_tags t JOIN features f ON f.id = t.feature_id "
        "JOIN areas a ON a.id = t.area_id JOIN layers b ON b.id = t.boundary_layer_id "
        "JOIN layers p ON p.id = f.layer_id WHERE b.name = :b AND p.name = :p "
        "AND f.month BETWEEN '2019-01' AND '2019-12' GROUP BY a.code"), engine, params={"b": WARDS, "p": POINTS})


def report_serving(result: dict[str, Any]) -> None:
    """Print the figures of :func:`serve_phase`."""
    say(f"load_places  {result['load_places_s']:6.2f} s; RSS {result['rss_before_mib']:.0f} MiB after imports, "
        f"{result['rss_after_load_mib']:.0f} MiB after load_places, {result['rss_after_calls_mib']:.0f} MiB after "
        "the calls below")
    rows = (("ward profile (ours, counts)", result["profile"]),
            ("  baseline read_postgis+sjoin", result["baseline_profile"]),
            (f"ward shading {result['shading_metric']} (ours)", result["shading"]),
            ("  baseline SQL GROUP BY tags", result["baseline_shading"]))
    for label, t in rows:
        say(f"{label:<36} first {t['first_ms']:8.1f} ms  median {t['median_ms']:8.1f} ms  p95 {t['p95_ms']:8.1f} ms")


def _wait_ready(server: subprocess.Popen[bytes], base: str, log: Any) -> float:
    """Seconds until ``/healthz`` answers; stop with the server's log if it dies or takes over 5 minutes."""
    started = time.perf_counter()
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=5).read()
            return time.perf_counter() - started
        except OSError:
            if server.poll() is not None or time.perf_counter() - started > 300:
                log.seek(0)
                raise SystemExit(f"insight serve did not start:\n{log.read()[-3000:]}") from None
            time.sleep(0.5)


def _fetch(url: str) -> int:
    """GET ``url``; the size of the answer in bytes."""
    with urllib.request.urlopen(url, timeout=120) as answer:
        return len(answer.read())


def http_phase(url: str, code: str, calls: int, port: int, workers: int) -> None:
    """Profile and shading through HTTP against ``insight serve`` (gunicorn unless it still runs the dev server)."""
    base = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        server = subprocess.Popen([*INSIGHT, "--database-url", url, "serve", "--port", str(port), "--workers",
                                   str(workers)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "INSIGHT_COOKIE_SECURE": "false"})
        try:
            say(f"http      insight serve --workers {workers} ready in {_wait_ready(server, base, log):5.1f} s")
            for label, path in (
                ("GET profile", f"/api/profile/{WARDS}/{code}.json?layer={POINTS}&period={PERIOD}"
                                "&comparator=average"),
                ("GET shading", f"/api/shading/{WARDS}.json?layer={POINTS}&period={PERIOD}&metric=points_rate"),
            ):
                target = base + path
                started = time.perf_counter()
                _fetch(target)
                first = (time.perf_counter() - started) * 1000
                for _ in range(2 * workers):
                    _fetch(target)
                t = _timed(functools.partial(_fetch, target), calls) | {"first_ms": first}
                say(f"http {label:<31} first {t['first_ms']:8.1f} ms  median {t['median_ms']:8.1f} ms  "
                    f"p95 {t['p95_ms']:8.1f} ms  ({_fetch(target) / 1024:,.0f} KiB; then {2 * workers} "
                    "untimed calls so every worker has read its counts)")
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> int:
    """Run the national load benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--csv", type=Path, default=Path("/tmp/natbench/csv"), help="monthly bulk CSV folder")
    parser.add_argument("--parquet", type=Path, default=Path("/tmp/natbench/parquet"))
    parser.add_argument("--rows", type=int, help="load only the first N records (a quick try)")
    parser.add_argument("--skip-load", action="store_true", help="use the database as it is (serving figures only)")
    parser.add_argument("--no-check", action="store_true", help="skip the recount from Parquet")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2, help="insight serve workers for the HTTP figures")
    parser.add_argument("--serve-phase", metavar="CODE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.database_url
    if args.serve_phase:
        print(json.dumps(serve_phase(url, args.serve_phase, args.calls)))
        return 0
    if not args.skip_load:
        started = time.perf_counter()
        fresh_database(url)
        upgrade = run_cli(url, ["db", "upgrade"])
        say(f"database  fresh {sa.make_url(url).database} + insight db upgrade {time.perf_counter() - started:6.1f} s"
            f" | {upgrade['out']}")
        with tempfile.TemporaryDirectory(prefix="natload-") as folder:
            load_boundaries(url, Path(folder))
            load_points(url, args.csv, Path(folder), args.rows)
        say(f"TOTAL load (database, boundaries, points, tags, counts) {time.perf_counter() - started:7.1f} s")
    stored_tables(url)
    if not args.no_check and args.rows is None:
        check_counts(url, args.parquet)
    code, n = busiest_ward(url)
    say(f"ward      {code} (the busiest: {n:,} records)")
    child = subprocess.run([sys.executable, __file__, "--database-url", url, "--serve-phase", code, "--calls",
                            str(args.calls)], cwd=ROOT, capture_output=True, text=True)
    if child.returncode != 0:
        say(f"serving phase failed:\n{child.stderr[-4000:]}")
    else:
        report_serving(json.loads(child.stdout.strip().splitlines()[-1]))
    http_phase(url, code, args.calls, args.port, args.workers)
    say(f"database kept: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
