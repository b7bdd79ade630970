"""Print the backtest tables of docs/trends.md as markdown (regenerate the doc's tables with this).

Data sets: Barnet burglary 2010-12..2023-03 per ward (2022 and 2011 wards; points assigned to
wards with a geopandas spatial join, independent of the store), and the London LSOA annual
recorded-crime counts 2011-2021 (12 categories with counts; the sexual-offences file is all zeros).

    .venv/bin/python scripts/backtest_tables.py [--step N] [--lsoa-every K]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from insight.analysis.trends.backtest import backtest, summary  # noqa: E402
from insight.analysis.trends.series import annual_matrix  # noqa: E402
from insight.analysis.trends.warning import false_alarm_rate  # noqa: E402

BURGLARY = ROOT / "data/points/police_bulk_barnet_burglary_2010-12_2023-03.csv.gz"
LSOA_DIR = ROOT.parent / "shared/data/london_data_millington/crime_lsoa11_annual"
MONTHLY_HORIZONS = (1, 3, 6, 12, 24)


def barnet_matrix(wards: str) -> pd.DataFrame:
    """Month x ward burglary counts from the bulk file, by a spatial join to ``wards`` (a geojson stem)."""
    records = pd.read_csv(BURGLARY, usecols=["Month", "Longitude", "Latitude"]).dropna()
    points = gpd.GeoDataFrame(records[["Month"]], crs=4326,
                              geometry=gpd.points_from_xy(records["Longitude"], records["Latitude"]))
    areas = gpd.read_file(ROOT / f"data/boundaries/{wards}.geojson")
    code = "ONSWardCode" if "ONSWardCode" in areas.columns else "WD13CD"
    joined = gpd.sjoin(points, areas[[code, "geometry"]], predicate="within")
    matrix = joined.groupby(["Month", code]).size().unstack(fill_value=0)
    matrix.index = pd.PeriodIndex(matrix.index, freq="M")
    months = pd.period_range("2010-12", "2023-03", freq="M")
    matrix = matrix.reindex(index=months, columns=sorted(areas[code]), fill_value=0)
    matrix.index.name, matrix.columns.name = "month", "code"
    return matrix


def lsoa_matrices(every: int = 1) -> dict[str, pd.DataFrame]:
    """Year x LSOA counts per category (every ``every``-th LSOA by code; all-zero categories left out)."""
    out = {}
    for path in sorted(LSOA_DIR.glob("london-2011-2021-*.csv")):
        frame = pd.read_csv(path).sort_values("LSOA11CD").iloc[::every]
        matrix = annual_matrix(frame, "LSOA11CD")
        if matrix.to_numpy().sum() > 0:
            out[path.stem.removeprefix("london-2011-2021-")] = matrix
    return out


def markdown(frame: pd.DataFrame) -> str:
    """A small frame as a markdown table (numbers to 3 decimals)."""
    cells = frame.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.to_numpy().tolist()]
    return "\n".join(lines)


def annual_tables(matrices: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-horizon table pooled over categories (MAE averaged over categories), and per-category summaries."""
    tables, summaries = [], []
    for name, matrix in matrices.items():
        table = backtest(matrix)
        tables.append(table.assign(category=name))
        summaries.append(summary(table).assign(category=name))
    every = pd.concat(tables)
    every = every.assign(in80=every["coverage_80"] * every["n"], in95=every["coverage_95"] * every["n"])
    grouped = every.groupby(["method", "horizon"], sort=False)
    pooled = pd.DataFrame({
        "mae": grouped["mae"].mean(), "mase": grouped["mase"].mean(),
        "coverage_80": grouped["in80"].sum() / grouped["n"].sum(),
        "coverage_95": grouped["in95"].sum() / grouped["n"].sum(), "n": grouped["n"].sum(),
    }).reset_index()
    return pooled, pd.concat(summaries)[["category", "method", "mae", "mase", "coverage_80", "coverage_95"]]


def main() -> None:
    """Print every table of the doc."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", type=int, default=1, help="spacing of monthly origins")
    parser.add_argument("--lsoa-every", type=int, default=1, help="keep every K-th LSOA")
    args = parser.parse_args()
    for wards in ("wards_2022", "wards_2011"):
        matrix = barnet_matrix(wards)
        table = backtest(matrix, step=args.step)
        print(f"\n### Barnet burglary, {wards} ({matrix.shape[1]} wards, origins 2014-12 to 2023-02)\n")
        print(markdown(table[table["horizon"].isin(MONTHLY_HORIZONS)]))
        print("\nAveraged over horizons 1-24 (each horizon weighted equally; coverage pooled):\n")
        print(markdown(summary(table)))
        rate = false_alarm_rate(matrix)
        print(f"\nEarly-warning false-alarm rate (3-month window, 5% level): {rate:.3f}")
    pooled, per_category = annual_tables(lsoa_matrices(args.lsoa_every))
    print("\n### London LSOA annual counts 2011-2021 (12 categories, origins 2015-2021)\n")
    print(markdown(pooled))
    print("\nPer category, averaged over horizons 1-3:\n")
    print(markdown(per_category))
    burglary = lsoa_matrices(args.lsoa_every)["major-burglary"]
    print(f"\nEarly-warning false-alarm rate, LSOA burglary (1-year window, 5% level): "
          f"{false_alarm_rate(burglary, step=1):.3f}")


if __name__ == "__main__":
    main()
