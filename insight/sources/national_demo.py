"""A seeded, ILLUSTRATIVE national year of police-format crime records for England and Wales.

No national crime file ships with the project, so this generator disperses real
counts over every LSOA. Method (also in ``docs/national.md``):

1. **Real rates.** The Metropolitan Police recorded-crime counts per London LSOA
   (2011 codes) for one year (default 2019, before the pandemic) are read from
   ``london_data_millington/crime_lsoa11_annual`` and mapped onto the police.uk
   categories (:data:`MPS_CATEGORIES`; "Other theft" is all theft less bicycle
   theft, "Violence and sexual offences" adds the two MPS groups). There is no
   anti-social behaviour in that source, so the generated year has none.
2. **Matching by area.** Small LSOAs are dense and busy, large ones rural and
   quiet. Each England and Wales LSOA gets its area quantile among all LSOAs
   (areas measured in EPSG:27700); its *donor* is a London LSOA drawn at random
   from the :data:`DONOR_WINDOW` London LSOAs nearest the same quantile of the
   London areas. The donor's counts, all categories together, are its expected
   counts, so the mix of crime in one place stays a real mix.
3. **Scaling.** One factor ``scale = records / sum of the donors' counts`` brings
   the expected total to the requested number of records (about 6 million by
   default, near the real police.uk yearly total for England and Wales); each
   LSOA x category count is then drawn from a Poisson law with mean
   ``scale x donor count``, so the total is ``records`` give or take a few
   thousand. The factor and the total are written to ``illustrative_summary.json``.
4. **Months** are uniform over the twelve months of the year (the London source
   has annual counts only).
5. **Places** are uniform inside the LSOA polygon: candidates are drawn in the
   polygon's bounding box in EPSG:27700 (metres, so uniform by area), converted to
   WGS84, rounded to the 6 decimals written in the files and kept only if the
   LSOA polygon contains the rounded point; rejected ones are drawn again, all
   points of a round at once (vectorised with shapely).

Everything comes from ``numpy.random.default_rng(seed)``: the same seed, inputs
and record count give the same files. Output: twelve monthly CSV files in the
data.police.uk bulk format (read by the ``police-bulk`` loader) under ``csv/``
and the same records as Parquet (``month, category, x, y, lsoa_code``) under
``parquet/`` for the Dask path. Every file name says ``illustrative``, and every
record's ``Context`` says "ILLUSTRATIVE generated record": these are not real crimes.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from pyproj import Transformer

from insight.errors import ConfigError
from insight.geo.crs import METRIC_CRS, to_metric
from insight.sources.police import BULK_COLUMNS, POLICE_CATEGORIES

ILLUSTRATIVE_CONTEXT = "ILLUSTRATIVE generated record"
DONOR_WINDOW = 50
MAX_ROUNDS = 2000
LSOA_FILE = "ew_lsoa11_gen.gpkg"
WARD_FILE = "ew_wards_gen.gpkg"

MPS_CATEGORIES: dict[str, tuple[str, ...]] = {
    "criminal-damage-arson": ("major-arson",),
    "burglary": ("major-burglary",),
    "drugs": ("major-drugs",),
    "other-crime": ("major-misc",),
    "public-order": ("major-public-order",),
    "robbery": ("major-robbery",),
    "other-theft": ("major-theft-all", "-minor-theft-bicycle"),
    "vehicle-crime": ("major-vehicle-offences",),
    "violent-crime": ("major-violence", "major-sexual"),
    "possession-of-weapons": ("major-weapons",),
    "bicycle-theft": ("minor-theft-bicycle",),
}
"""police.uk category -> MPS files (``london-2011-2021-<name>.csv``) added up; a leading ``-`` subtracts."""


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote: paths, the scale factor and the totals (all ILLUSTRATIVE)."""

    out: Path
    seed: int
    year: int
    lsoas: int
    records: int
    scale: float
    by_category: dict[str, int]
    csv_files: list[str] = field(default_factory=list)
    parquet_files: list[str] = field(default_factory=list)


def london_counts(crime_dir: Path, year: int = 2019) -> pd.DataFrame:
    """Annual recorded crime per London LSOA (2011 codes) in police.uk categories, one column each."""
    column = str(year)
    frames: dict[str, pd.Series] = {}
    for name in sorted({part.lstrip("-") for parts in MPS_CATEGORIES.values() for part in parts}):
        path = Path(crime_dir) / f"london-2011-2021-{name}.csv"
        if not path.is_file():
            raise ConfigError(f"the London crime file {path} is missing (see data SOURCES.md, london_data_millington)")
        table = pd.read_csv(path, usecols=["LSOA11CD", column], dtype={"LSOA11CD": str})
        frames[name] = table.set_index("LSOA11CD")[column].fillna(0.0)
    out = pd.DataFrame(index=frames[next(iter(frames))].index)
    for slug, parts in MPS_CATEGORIES.items():
        total = sum((-frames[p[1:]] if p.startswith("-") else frames[p]) for p in parts)
        out[slug] = np.clip(np.asarray(total, dtype="float64"), 0.0, None)
    return out


def read_national(boundaries_zip: Path, which: str = "lsoas") -> gpd.GeoDataFrame:
    """The England and Wales LSOAs or wards (``which``) as ``code, name, geometry`` in EPSG:4326."""
    member, code, name = ((LSOA_FILE, "LSOA11CD", "LSOA11NM") if which == "lsoas"
                          else (WARD_FILE, "WD13CD", "WD13NM") if which == "wards" else (None, "", ""))
    if member is None:
        raise ConfigError(f"unknown national boundary {which!r}: use 'lsoas' or 'wards'")
    path = Path(boundaries_zip)
    if not path.is_file():
        raise ConfigError(f"the national boundaries {path} are missing (see data SOURCES.md section 15)")
    frame = gpd.read_file(f"/vsizip/{path.resolve()}/{member}", columns=[code, name])
    frame = frame.rename(columns={code: "code", name: "name"})[["code", "name", "geometry"]]
    return frame.sort_values("code", kind="stable").reset_index(drop=True)


def donor_rows(target_area: np.ndarray, donor_area: np.ndarray, rng: np.random.Generator,
               window: int = DONOR_WINDOW) -> np.ndarray:
    """For each target area, the row of a donor drawn near the same area quantile among the donors."""
    target_rank = pd.Series(target_area).rank(method="first").to_numpy() - 1
    quantile = target_rank / max(len(target_area) - 1, 1)
    donor_order = np.argsort(donor_area, kind="stable")
    n = len(donor_area)
    centre = np.rint(quantile * (n - 1)).astype(np.int64)
    half = min(window, n) // 2
    start = np.clip(centre - half, 0, max(n - min(window, n), 0))
    pick = start + rng.integers(0, max(min(window, n), 1), size=len(target_area))
    return np.asarray(donor_order[np.clip(pick, 0, n - 1)])


def annual_counts(expected: np.ndarray, records: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Poisson counts scaled so their expected total is ``records``; returns the counts and the factor."""
    base = float(expected.sum())
    if base <= 0:
        raise ConfigError("the donor LSOAs have no recorded crime: nothing to disperse")
    scale = records / base
    return rng.poisson(expected * scale).astype(np.int64), scale


def _to_wgs84() -> Transformer:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Best transformation is not available.*")
        return Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def sample_points(polygons: np.ndarray, metric_bounds: np.ndarray, owner: np.ndarray,
                  rng: np.random.Generator, decimals: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside ``polygons[owner[i]]`` (EPSG:4326), drawn by rejection in EPSG:27700.

    ``metric_bounds`` are the polygons' EPSG:27700 bounds. Each round draws every
    pending point at once; a point is kept when its polygon contains it after
    rounding to ``decimals`` (the precision written to the files).
    """
    shapely.prepare(polygons)
    transformer = _to_wgs84()
    lon = np.full(len(owner), np.nan)
    lat = np.full(len(owner), np.nan)
    pending = np.arange(len(owner))
    for _ in range(MAX_ROUNDS):
        if len(pending) == 0:
            return lon, lat
        b = metric_bounds[owner[pending]]
        ex = b[:, 0] + rng.random(len(pending)) * (b[:, 2] - b[:, 0])
        ny = b[:, 1] + rng.random(len(pending)) * (b[:, 3] - b[:, 1])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Best transformation is not available.*")
            x, y = transformer.transform(ex, ny)
        x, y = np.round(x, decimals), np.round(y, decimals)
        hit = shapely.contains_xy(polygons[owner[pending]], x, y)
        lon[pending[hit]], lat[pending[hit]] = x[hit], y[hit]
        pending = pending[~hit]
    raise ConfigError(f"{len(pending)} point(s) could not be placed inside their LSOA after {MAX_ROUNDS} rounds")


def _records(lsoas: gpd.GeoDataFrame, counts: np.ndarray, slugs: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """One row per record: LSOA row, category, month and place, sorted by month then LSOA."""
    flat = counts.ravel()
    cell = np.repeat(np.arange(flat.size), flat)
    owner, category = np.divmod(cell, len(slugs))
    month = rng.integers(1, 13, size=len(cell))
    metric = to_metric(lsoas[["geometry"]])
    lon, lat = sample_points(lsoas.geometry.to_numpy(), shapely.bounds(metric.geometry.to_numpy()), owner, rng)
    order = np.argsort(month, kind="stable")
    return pd.DataFrame({"owner": owner[order], "category": category[order].astype(np.int16),
                         "month": month[order].astype(np.int8), "x": lon[order], "y": lat[order]})


def _write_month(out: Path, label: str, part: pd.DataFrame, start: int, lsoas: gpd.GeoDataFrame,
                 slugs: list[str], seed: int) -> tuple[str, str]:
    """Write one month as a police bulk CSV and as Parquet; returns the two relative paths."""
    owner = pa.array(part["owner"].to_numpy())
    codes = pa.array(lsoas["code"].to_numpy(dtype=object), pa.string()).take(owner)
    names = pa.array(lsoas["name"].to_numpy(dtype=object), pa.string()).take(owner)
    labels = pa.array([POLICE_CATEGORIES[s] for s in slugs], pa.string()).take(pa.array(part["category"].to_numpy()))
    number = pa.array(np.arange(start, start + len(part))).cast(pa.string())
    n = len(part)

    def constant(value: str) -> pa.Array:
        return pa.array(np.full(n, value, dtype=object), pa.string())

    columns = {
        "Crime ID": pc.binary_join_element_wise(constant(f"ILLUSTRATIVE-{seed}-"), number, ""),
        "Month": constant(label),
        "Reported by": constant("ILLUSTRATIVE generator"),
        "Falls within": constant("ILLUSTRATIVE generator"),
        "Longitude": pc.round(pa.array(part["x"].to_numpy()), 6),
        "Latitude": pc.round(pa.array(part["y"].to_numpy()), 6),
        "Location": constant("On or near ILLUSTRATIVE point"),
        "LSOA code": codes,
        "LSOA name": names,
        "Crime type": labels,
        "Last outcome category": constant(""),
        "Context": constant(ILLUSTRATIVE_CONTEXT),
    }
    table = pa.table([columns[c] for c in BULK_COLUMNS], names=BULK_COLUMNS)
    csv_name = f"csv/{label}-illustrative-street.csv"
    pacsv.write_csv(table, out / csv_name, pacsv.WriteOptions(quoting_style="needed"))
    slug_labels = pa.array(slugs, pa.string()).take(pa.array(part["category"].to_numpy()))
    points = pa.table({"month": constant(label), "category": slug_labels, "x": part["x"].to_numpy(),
                       "y": part["y"].to_numpy(), "lsoa_code": codes})
    parquet_name = f"parquet/{label}-illustrative.parquet"
    pq.write_table(points, out / parquet_name)
    return csv_name, parquet_name


def generate(out: Path, *, boundaries_zip: Path, crime_dir: Path, seed: int = 12, records: int = 6_000_000,
             year: int = 2019, lsoa_sample: int | None = None) -> Generated:
    """Generate the ILLUSTRATIVE national year into ``out`` (``csv/``, ``parquet/`` and a summary).

    ``lsoa_sample`` draws that many LSOAs at random (seeded) instead of all of
    them, for tests and quick runs; the donors are always all London LSOAs.
    """
    if records <= 0:
        raise ConfigError(f"--records must be positive, not {records}")
    rng = np.random.default_rng(seed)
    lsoas = read_national(boundaries_zip, "lsoas")
    hectares = to_metric(lsoas[["geometry"]]).geometry.area.to_numpy() / 10_000
    london = london_counts(crime_dir, year)
    donor = np.flatnonzero(lsoas["code"].isin(london.index).to_numpy())
    if len(donor) == 0:
        raise ConfigError("no London LSOA of the crime files is in the national boundaries: check both inputs")
    donor_counts = london.loc[lsoas["code"].to_numpy()[donor]].to_numpy()
    donor_hectares = hectares[donor]
    if lsoa_sample is not None:
        keep = np.sort(rng.choice(len(lsoas), size=min(lsoa_sample, len(lsoas)), replace=False))
        lsoas, hectares = lsoas.iloc[keep].reset_index(drop=True), hectares[keep]
    rows = donor_rows(hectares, donor_hectares, rng)
    counts, scale = annual_counts(donor_counts[rows], records, rng)
    slugs = list(london.columns)
    frame = _records(lsoas, counts, slugs, rng)
    (out / "csv").mkdir(parents=True, exist_ok=True)
    (out / "parquet").mkdir(parents=True, exist_ok=True)
    result = Generated(out=out, seed=seed, year=year, lsoas=len(lsoas), records=len(frame), scale=scale,
                       by_category={s: int(n) for s, n in zip(slugs, counts.sum(axis=0))})
    bounds = np.searchsorted(frame["month"].to_numpy(), np.arange(1, 14))
    for month in range(1, 13):
        part = frame.iloc[bounds[month - 1]:bounds[month]]
        csv_name, parquet_name = _write_month(out, f"{year}-{month:02d}", part, int(bounds[month - 1]), lsoas,
                                              slugs, seed)
        result.csv_files.append(csv_name)
        result.parquet_files.append(parquet_name)
    _write_summary(result)
    return result


def _write_summary(result: Generated) -> None:
    """``illustrative_summary.json``: the method's parameters and totals, marked ILLUSTRATIVE."""
    summary = {"ILLUSTRATIVE": "generated records, not real crimes: see docs/national.md",
               **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()},
               "method": "London LSOA counts matched by area quantile, scaled, Poisson; months uniform; "
                         "points uniform in the LSOA (see insight/sources/national_demo.py)"}
    (result.out / "illustrative_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
