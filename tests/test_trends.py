"""Trends, change tests, forecasts and warnings: hand-worked values, synthetic truths, properties, real data."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from insight.analysis.trends.forecast import forecast, seasonal_factors
from insight.analysis.trends.quantiles import count_quantile
from insight.analysis.trends.series import annual_matrix, monthly_matrix, pandemic_mask
from insight.analysis.trends.trend import change, rate_ratio, trend
from insight.analysis.trends.warning import early_warning
from insight.errors import BadRequest

SEASON = 1 + 0.25 * np.cos(2 * np.pi * (np.arange(12) - 0) / 12)


def _synthetic(growth: float, areas: int = 20, years: int = 10, base: float = 30.0, seed: int = 1) -> pd.DataFrame:
    """Monthly NB counts with a known yearly growth and seasonality (2012-01 onwards, no pandemic months)."""
    rng = np.random.default_rng(seed)
    months = pd.period_range("2008-01", periods=12 * years, freq="M")
    t = np.arange(len(months)) / 12.0
    mean = base * (1 + growth) ** t * SEASON[np.asarray(months.month) - 1]
    size = 20.0
    values = rng.negative_binomial(size, size / (size + mean[:, None] * np.ones(areas)))
    return pd.DataFrame(values, index=months, columns=[f"A{i:02d}" for i in range(areas)])


def test_rate_ratio_by_hand() -> None:
    estimate, lower, upper, p_value = rate_ratio(10, 20)
    by_hand = 2 * sum(math.comb(30, k) for k in range(11)) / 2**30
    assert estimate == 2.0
    assert p_value == pytest.approx(by_hand, rel=1e-9)
    assert p_value == pytest.approx(0.0987, abs=1e-4)
    p_low, p_high = stats.beta.ppf(0.025, 20, 11), stats.beta.ppf(0.975, 21, 10)
    assert lower == pytest.approx(p_low / (1 - p_low))
    assert upper == pytest.approx(p_high / (1 - p_high))


def test_rate_ratio_with_unequal_periods() -> None:
    estimate, lower, upper, p_value = rate_ratio(12, 12, first_periods=12, second_periods=6)
    assert estimate == 2.0
    pmf = [math.comb(24, k) * (1 / 3) ** k * (2 / 3) ** (24 - k) for k in range(25)]
    by_hand = sum(p for p in pmf if p <= pmf[12] * (1 + 1e-7))
    assert p_value == pytest.approx(by_hand, rel=1e-9)
    assert lower < 2 < upper


@given(st.integers(1, 400), st.integers(1, 400), st.floats(0.5, 24), st.floats(0.5, 24))
@settings(max_examples=60, deadline=None)
def test_rate_ratio_interval_contains_estimate(a: int, b: int, ta: float, tb: float) -> None:
    estimate, lower, upper, p_value = rate_ratio(a, b, ta, tb)
    assert lower <= estimate <= upper
    assert 0 <= p_value <= 1


def test_known_trend_is_recovered() -> None:
    matrix = _synthetic(0.10)
    table = trend(matrix)
    inside = ((table["lower"] <= 10) & (table["upper"] >= 10)).sum()
    assert inside >= 17
    assert table["estimate"].median() == pytest.approx(10, abs=1.5)
    flat = trend(_synthetic(0.0, seed=2))
    assert ((flat["lower"] <= 0) & (flat["upper"] >= 0)).sum() >= 17


def test_seasonality_is_recovered() -> None:
    matrix = _synthetic(0.0, areas=100)
    factors = seasonal_factors(matrix.to_numpy().sum(axis=1), pd.PeriodIndex(matrix.index))
    assert factors == pytest.approx(SEASON / SEASON.mean(), abs=0.05)


def test_change_finds_a_doubling() -> None:
    matrix = _synthetic(0.0, areas=3, years=3)
    matrix.loc[pd.Period("2010-01", "M"):, "A00"] *= 2
    table = change(matrix, ("2009-01", "2009-12"), ("2010-01", "2010-12")).set_index("code")
    assert table.loc["A00", "lower"] > 1.5 and table.loc["A00", "p_value"] < 1e-6
    assert table.loc["A01", "lower"] < 1 < table.loc["A01", "upper"]


def test_pandemic_window() -> None:
    months = pd.period_range("2020-01", "2021-12", freq="M")
    mask = pandemic_mask(months)
    assert mask.sum() == 16 and not mask[1] and mask[2] and mask[17] and not mask[18]


@st.composite
def _matrices(draw: st.DrawFn) -> pd.DataFrame:
    months = draw(st.integers(30, 60))
    areas = draw(st.integers(1, 5))
    values = draw(arrays(np.int64, (months, areas), elements=st.integers(0, 60)))
    return pd.DataFrame(values, index=pd.period_range("2015-01", periods=months, freq="M"),
                        columns=[f"C{i}" for i in range(areas)])


@given(_matrices(), st.integers(1, 12))
@settings(max_examples=25, deadline=None)
def test_forecast_intervals_nest_and_are_non_negative(matrix: pd.DataFrame, horizon: int) -> None:
    result = forecast(matrix, horizon=horizon)
    assert len(result) == horizon * matrix.shape[1]
    assert (result["forecast"] >= 0).all() and (result["lower_95"] >= 0).all()
    assert (result["lower_95"] <= result["lower_80"]).all()
    assert (result["lower_80"] <= result["upper_80"]).all()
    assert (result["upper_80"] <= result["upper_95"]).all()


@given(_matrices(), st.integers(0, 10**6))
@settings(max_examples=20, deadline=None)
def test_until_ignores_later_data(matrix: pd.DataFrame, seed: int) -> None:
    until = matrix.index[24]
    changed = matrix.copy()
    rng = np.random.default_rng(seed)
    changed.iloc[25:] = rng.integers(0, 500, size=changed.iloc[25:].shape)
    first, second = forecast(matrix, until=until, horizon=6), forecast(changed, until=until, horizon=6)
    pd.testing.assert_frame_equal(first, second)
    assert first["month"].iloc[0] == str(until + 1)


QUANTILES = st.sampled_from([0.025, 0.1, 0.5, 0.9, 0.975])


@given(st.floats(0.01, 200), st.one_of(st.just(0.0), st.floats(1e-6, 3)), QUANTILES)
@settings(max_examples=80, deadline=None)
def test_count_quantile_matches_scipy(mu: float, alpha: float, q: float) -> None:
    ours = count_quantile(q, np.array([mu]), alpha)[0]
    size = 1 / alpha if alpha else 0.0
    expected = stats.nbinom.ppf(q, size, size / (size + mu)) if alpha else stats.poisson.ppf(q, mu)
    assert ours == expected


def test_warning_flags_a_real_rise_and_says_so() -> None:
    matrix = _synthetic(0.0, areas=12, years=6)
    matrix.iloc[-3:, 0] = matrix.iloc[-3:, 0] * 3
    table = early_warning(matrix, what="burglaries", measure=False).set_index("code")
    assert table.loc["A00", "flag"]
    assert table.loc["A00", "evidence"].startswith("rising faster than expected: ")
    assert f"{table.loc['A00', 'observed']} burglaries in the last 3 months" in table.loc["A00", "evidence"]
    assert table["flag"].sum() <= 3
    assert table.loc["A00", "observed"] > table.loc["A00", "upper"] > table.loc["A00", "expected"]


def test_annual_matrix_and_forecast() -> None:
    frame = pd.DataFrame({"code": ["X", "Y"], "2019": [3, 5], "2020": [4, 6], "2021": [5, 7], "2022": [6, 9]})
    matrix = annual_matrix(frame, "code")
    assert matrix.loc[pd.Period("2020", "Y"), "Y"] == 6
    result = forecast(matrix, until="2021", horizon=2)
    assert result["year"].tolist() == ["2022", "2022", "2023", "2023"]
    with pytest.raises(BadRequest):
        annual_matrix(frame.assign(**{"2021": [1, None]}), "code")


@pytest.fixture(scope="module")
def sjoin_counts() -> dict[str, pd.DataFrame]:
    """Ward x month burglary counts by an independent geopandas spatial join."""
    from tests.test_backtest import SCRIPT

    return {wards: SCRIPT.barnet_matrix(wards) for wards in ("wards_2022", "wards_2011")}


def test_monthly_matrix_from_the_store_equals_the_spatial_join(sample_store, sjoin_counts) -> None:
    from insight.analysis.places import load_places

    places = load_places(sample_store.engine)
    for wards, expected in sjoin_counts.items():
        matrix = monthly_matrix(places, "burglary_2010_2023", wards)
        assert matrix.index.equals(expected.index)
        pd.testing.assert_frame_equal(matrix[expected.columns], expected, check_names=False, check_dtype=False)
        part = monthly_matrix(places, "burglary_2010_2023", wards, category="burglary", period="2019-01:2019-12")
        assert part.to_numpy().sum() == expected.loc["2019-01":"2019-12"].to_numpy().sum()
    with pytest.raises(BadRequest):
        monthly_matrix(places, "burglary_2010_2023", "wards_2022", category="Arson")


def test_barnet_trend_is_falling_like_the_raw_totals(sjoin_counts) -> None:
    matrix = sjoin_counts["wards_2022"]
    totals = matrix.sum(axis=1)
    first, last = totals["2011-01":"2013-12"].sum(), totals["2017-01":"2019-12"].sum()
    raw_per_year = 100 * ((last / first) ** (1 / 6) - 1)
    table = trend(matrix.sum(axis=1).to_frame("all"), ("2011-01", "2019-12"))
    assert table.loc[0, "lower"] < raw_per_year < table.loc[0, "upper"]
    assert table.loc[0, "upper"] < 0
