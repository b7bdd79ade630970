"""Figures read right: counts compared as shares of the comparator, rates and shares as differences,
ranks with ties, and 'no data' never shown as zero. Expected texts are written out by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from insight.web.figures import NO_DATA, figure_rows, fmt, fmt_compared, fmt_rank


def test_counts_are_compared_as_a_share_of_the_comparator_not_subtracted() -> None:
    assert fmt_compared(25_000, 390_000, "people") == "6.4% of the comparator's"
    assert fmt_compared(12, 0, "records") == "none to compare with"
    assert fmt_compared(0, 0, "records") == "both none"


def test_rates_and_shares_are_compared_as_differences() -> None:
    assert fmt_compared(12.5, 10.0, "per 1,000") == "+2.5"
    assert fmt_compared(0.25, 0.30, "share") == "−5.0 points"


def test_missing_figures_read_no_data_and_zero_reads_zero() -> None:
    assert fmt(math.nan, "people") == NO_DATA and fmt(None, "per 1,000") == NO_DATA
    assert fmt(0, "places") == "0" and fmt(0.0, "per 1,000") == "0.0"
    assert fmt_compared(math.nan, 3, "people") == NO_DATA and fmt_compared(3, None, "share") == NO_DATA


def test_ranks_say_when_areas_share_a_value() -> None:
    assert fmt_rank(3, 24) == "3 of 24"
    assert fmt_rank(7, 24, 17) == "joint 7 of 24 (with 17 others)"
    assert fmt_rank(2, 24, 1) == "joint 2 of 24 (with 1 other)"
    assert fmt_rank(math.nan, 24) == "—"


def test_figure_rows_use_the_comparison_for_each_unit() -> None:
    figures = pd.DataFrame([
        {"metric": "residents", "label": "Residents", "value": 25_000.0, "unit": "people",
         "comparator_value": 390_000.0, "difference": -365_000.0, "rank": math.nan, "of": math.nan, "ties": 0,
         "period": "2021"},
        {"metric": "kind_rate:money", "label": "Money per 1,000", "value": 0.0, "unit": "per 1,000",
         "comparator_value": 0.4, "difference": -0.4, "rank": 7.0, "of": 24.0, "ties": 17, "period": "as loaded"},
    ])
    rows = figure_rows(figures, ["residents", "kind_rate:money"])
    assert rows[0][3] == "6.4% of the comparator's" and rows[0][4] == "—"
    assert rows[1][1] == "0.0" and rows[1][3] == "−0.4" and rows[1][4] == "joint 7 of 24 (with 17 others)"


@given(st.floats(min_value=1, max_value=1e7), st.floats(min_value=1, max_value=1e7))
def test_a_count_compared_with_itself_is_all_of_it_and_shares_scale(value: float, comparator: float) -> None:
    assert fmt_compared(value, value, "people") == "100.0% of the comparator's"
    text = fmt_compared(value, comparator, "records")
    assert float(text.split("%")[0].replace(",", "")) == pytest.approx(value / comparator * 100, abs=0.051)
