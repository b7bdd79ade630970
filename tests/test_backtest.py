"""Backtests of the pooled forecasting method against the naive baselines, on real data.

Barnet burglary per ward (2022 and 2011 wards, points joined to wards here with geopandas, not
through the store) and London LSOA annual counts 2011-2021 (every 4th LSOA by code, 12 categories;
docs/trends.md holds the all-LSOA tables from scripts/backtest_tables.py).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from insight.analysis.trends.backtest import backtest, summary
from insight.analysis.trends.baselines import last_value, seasonal_naive
from insight.analysis.trends.warning import false_alarm_rate

ROOT = Path(__file__).resolve().parents[1]
LSOA_DIR = Path(__file__).resolve().parents[2] / "shared/data/london_data_millington/crime_lsoa11_annual"


def _script():
    spec = importlib.util.spec_from_file_location("backtest_tables", ROOT / "scripts/backtest_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


@pytest.fixture(scope="module", params=["wards_2022", "wards_2011"])
def barnet(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ward matrix and its backtest (origins every 3rd month from 2014-12)."""
    matrix = SCRIPT.barnet_matrix(request.param)
    return matrix, backtest(matrix, step=3)


@pytest.fixture(scope="module")
def lsoa() -> dict[str, pd.DataFrame]:
    """Year x LSOA matrices, every 4th LSOA, per category with counts."""
    if not LSOA_DIR.exists():
        pytest.fail(f"the London LSOA counts are missing: expected them at {LSOA_DIR}")
    return SCRIPT.lsoa_matrices(every=4)


def test_barnet_series_is_the_whole_file(barnet: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    matrix, _ = barnet
    records = pd.read_csv(SCRIPT.BURGLARY, usecols=["Month"])
    assert len(matrix) == 148 and str(matrix.index[0]) == "2010-12" and str(matrix.index[-1]) == "2023-03"
    assert matrix.shape[1] in (21, 24)
    assert 0.97 * len(records) < matrix.to_numpy().sum() <= len(records)


def test_pooled_method_beats_every_baseline_on_barnet(barnet: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, table = barnet
    scores = summary(table).set_index("method")
    assert set(table["horizon"]) == set(range(1, 25))
    best_baseline = scores.drop(index="pooled-share")["mae"].min()
    assert scores.loc["pooled-share", "mae"] < best_baseline
    assert scores.loc["pooled-share", "mase"] < scores.drop(index="pooled-share")["mase"].min()
    by_horizon = table.pivot(index="horizon", columns="method", values="mae")
    assert (by_horizon["pooled-share"] < by_horizon["mean of last 12 months"]).all()


def test_pooled_intervals_are_calibrated_on_barnet(barnet: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, table = barnet
    scores = summary(table).set_index("method")
    assert 0.75 <= scores.loc["pooled-share", "coverage_80"] <= 0.85
    assert 0.90 <= scores.loc["pooled-share", "coverage_95"] <= 0.98
    ours = table[table["method"] == "pooled-share"]
    assert ((ours["coverage_80"] > 0.70) & (ours["coverage_80"] < 0.90)).all()
    assert scores.drop(index="pooled-share")["coverage_80"].max() < 0.75


def test_backtest_scores_match_a_plain_loop(barnet: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    matrix, table = barnet
    values = matrix.to_numpy(dtype=float)
    errors: dict[tuple[str, int], list[float]] = {}
    scaled: dict[int, list[float]] = {}
    for origin in range(48, len(values), 3):
        scale = np.abs(values[12:origin] - values[:origin - 12]).mean(axis=0)
        for h in (1, 7, 24):
            if origin + h - 1 >= len(values):
                continue
            actual = values[origin + h - 1]
            errors.setdefault(("last value", h), []).extend(np.abs(actual - values[origin - 1]))
            same_month = values[origin - 12 + (h - 1) % 12]
            errors.setdefault(("seasonal naive", h), []).extend(np.abs(actual - same_month))
            scaled.setdefault(h, []).extend(np.abs(actual - same_month) / scale)
    rows = table.set_index(["method", "horizon"])
    for (method, h), values_h in errors.items():
        assert rows.loc[(method, h), "mae"] == pytest.approx(np.mean(values_h))
        assert rows.loc[(method, h), "n"] == len(values_h)
    for h, values_h in scaled.items():
        assert rows.loc[("seasonal naive", h), "mase"] == pytest.approx(np.mean(values_h))


def test_baselines_by_hand() -> None:
    values = np.arange(30, dtype=float).reshape(15, 2)
    assert last_value(values, 2).tolist() == [[28.0, 29.0], [28.0, 29.0]]
    assert seasonal_naive(values, 13)[[0, 12]].tolist() == [[6.0, 7.0], [6.0, 7.0]]


def test_lsoa_file_facts(lsoa: dict[str, pd.DataFrame]) -> None:
    assert len(lsoa) == 12 and "major-sexual" not in lsoa
    sexual = pd.read_csv(LSOA_DIR / "london-2011-2021-major-sexual.csv")
    assert sexual.loc[:, "2011":"2021"].to_numpy().sum() == 0
    burglary = pd.read_csv(LSOA_DIR / "london-2011-2021-major-burglary.csv")
    assert len(burglary) == 4829 and burglary["2011"].sum() == 96227


@pytest.fixture(scope="module")
def lsoa_tables(lsoa: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Horizon-averaged scores per category."""
    return pd.concat([summary(backtest(m)).assign(category=name) for name, m in lsoa.items()])


def test_pooled_method_beats_every_baseline_on_lsoa_years(lsoa_tables: pd.DataFrame) -> None:
    mean_mae = lsoa_tables.groupby("method")["mae"].mean()
    assert mean_mae["pooled-share"] < mean_mae.drop("pooled-share").min()
    by_category = lsoa_tables.pivot(index="category", columns="method", values="mae")
    best = by_category.drop(columns="pooled-share").min(axis=1)
    assert (by_category["pooled-share"] < best).sum() >= 11


def test_pooled_intervals_are_calibrated_on_lsoa_years(lsoa_tables: pd.DataFrame) -> None:
    ours = lsoa_tables[lsoa_tables["method"] == "pooled-share"]
    weights = ours["n"] / ours["n"].sum()
    assert 0.75 <= (ours["coverage_80"] * weights).sum() <= 0.85
    assert 0.90 <= (ours["coverage_95"] * weights).sum() <= 0.98


def test_warning_false_alarm_rate_on_the_backtest(barnet: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    matrix, _ = barnet
    rate = false_alarm_rate(matrix, window=3, level=0.05, step=6)
    assert 0.01 <= rate <= 0.08


def test_the_doc_carries_the_tables() -> None:
    page = (ROOT / "docs/trends.md").read_text(encoding="utf-8")
    for heading in ("Barnet burglary, wards_2022", "Barnet burglary, wards_2011", "London LSOA annual counts"):
        assert heading in page
    assert page.count("| pooled-share | 24 |") == 2 and page.count("| pooled-share | 3 |") == 3
    assert "scripts/backtest_tables.py" in page and "False-alarm rate" in page
