"""Change over time on the web (issue 13): the area page's trend, forecast fan, tested accuracy and early
warning, and the map shaded by trend, forecast change and early warning, on the real Barnet burglary
series 2010-12 to 2023-03 in the 2022 wards. Browser checks in headless Chromium, axe included.

Expected figures come from the statistical core (``insight.analysis.trends``: ``area_trends``,
``forecast``, ``area_warnings``), from plain numpy on the count matrix, or from the published backtest
table in docs/trends.md, never from the web code under test.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from insight.analysis.trend_views import diverging_breaks, record_noun, trend_words
from insight.analysis.trends import area_forecast, area_trends, area_warnings, forecast, monthly_matrix
from tests.test_accessibility import BLOCKING, axe_violations, describe
from tests.web_support import app_places, close_app, loaded_app, serve

LAYERS = {"borough", "wards_2022", "burglary_2010_2023", "crime_2024_04"}
LAYER, BOUNDARY = "burglary_2010_2023", "wards_2022"
WARD = "E05013629"  # Brunswick Park: flagged by the early warning in 2023-01 to 2023-03
QUIET = "E05013630"  # Burnt Oak: not flagged
MONTHS = 12 * 12 + 4  # 2010-12 .. 2023-03
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("trends-web"), LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def places(web_app):
    return app_places(web_app)


@pytest.fixture(scope="module")
def app_url(web_app) -> Iterator[str]:
    yield from serve(web_app)


@pytest.fixture(scope="module")
def matrix(places) -> pd.DataFrame:
    return monthly_matrix(places, LAYER, BOUNDARY)


@pytest.fixture(scope="module")
def trends(places) -> pd.DataFrame:
    return area_trends(places, LAYER, BOUNDARY).set_index("code")


@pytest.fixture(scope="module")
def area_page(page_factory, app_url: str):
    page = page_factory()
    page.goto(f"{app_url}/area/{BOUNDARY}/{WARD}")
    page.wait_for_selector("#change-chart .main-svg", timeout=60000)
    yield page
    page.close()


@pytest.fixture(scope="module")
def page_factory(browser):
    return lambda: browser.new_page(viewport={"width": 1400, "height": 1000})


def _expected_trend_sentence(row: pd.Series) -> str:
    """The trend in words, built here from area_trends' numbers (the ward's trend is a clear fall)."""
    assert row["upper"] < 0
    return (f"Burglaries fell by {-row['estimate']:.1f}% a year (95% interval {-row['upper']:.1f}% to "
            f"{-row['lower']:.1f}% a year) from 2010-12 to 2023-03.")


def _independent_accuracy(matrix: pd.DataFrame, code: str, horizon: int) -> dict[str, float]:
    """The ward's forecast errors at one horizon over the backtest's origins (months 49..end), recomputed with
    the public ``forecast(..., until=...)`` (24 months ahead, as the published backtest) and numpy baselines."""
    values = matrix[code].to_numpy(dtype=float)
    names = ("pooled", "last value", "seasonal naive", "mean of last 12 months")
    errors: dict[str, list[float]] = {name: [] for name in names}
    inside = []
    for origin in range(48, len(values) - horizon + 1):
        actual = values[origin + horizon - 1]
        ahead = forecast(matrix, until=str(matrix.index[origin - 1]), horizon=24)
        row = ahead[(ahead["code"] == code) & (ahead["horizon"] == horizon)].iloc[0]
        errors["pooled"].append(abs(actual - row["forecast"]))
        inside.append(row["lower_80"] <= actual <= row["upper_80"])
        errors["last value"].append(abs(actual - values[origin - 1]))
        errors["seasonal naive"].append(abs(actual - values[origin - 12 + (horizon - 1) % 12]))
        errors["mean of last 12 months"].append(abs(actual - values[origin - 12:origin].mean()))
    out = {name: float(np.mean(e)) for name, e in errors.items()}
    out["coverage_80"] = float(np.mean(inside))
    return out


# ---- the area page in the browser --------------------------------------------------------------------------


def test_area_page_draws_the_change_over_time_chart_with_a_table_of_every_month(area_page, matrix) -> None:
    assert len(matrix) == MONTHS
    assert area_page.locator("#change-over-time").inner_text() == "Change over time"
    assert area_page.locator("#change-chart .main-svg").count() >= 1
    assert area_page.locator("figure.chart[aria-describedby=change-chart-summary]").count() == 1
    assert area_page.locator("#change-table tbody tr").count() == MONTHS
    assert area_page.locator("#forecast-table tbody tr").count() == 12
    first = area_page.locator("#change-table tbody tr").first.text_content()
    assert first.startswith(f"2010-12{int(matrix[WARD].iloc[0]):,}")
    summary = area_page.locator("#change-chart-summary").inner_text()
    assert f"{int(matrix[WARD].sum()):,} burglaries in Brunswick Park in {MONTHS} months from 2010-12 to 2023-03" \
        in summary
    assert "The forecast for 2023-04 to 2024-03" in summary
    assert area_page.locator("#forecast-table tbody tr").first.text_content().startswith("2023-04")


def test_the_trend_sentence_carries_area_trends_figures(area_page, trends) -> None:
    assert area_page.locator("#trend-sentence").inner_text() == _expected_trend_sentence(trends.loc[WARD])
    legend = area_page.locator("#change-chart .legend").text_content()
    assert f"Trend ({trends.loc[WARD, 'estimate']:+.1f}% a year)" in legend


def test_the_change_sentence_is_a_rate_ratio_with_an_exact_interval_not_a_bare_percentage(area_page, matrix) -> None:
    from scipy import stats

    series = matrix[WARD].to_numpy(dtype=int)
    before, latest = int(series[-24:-12].sum()), int(series[-12:].sum())
    test = stats.binomtest(latest, before + latest, 0.5)
    low, high = test.proportion_ci(confidence_level=0.95, method="exact")
    ratio, lower, upper = latest / before, low / (1 - low), high / (1 - high)
    text = area_page.locator("#trend-change").inner_text()
    assert f"there were {latest:,} burglaries against {before:,} in the 12 before" in text
    assert f"p = {test.pvalue:.3f}" in text or (test.pvalue < 0.001 and "p < 0.001" in text)
    if lower > 1 or upper < 1:
        word = "more" if ratio > 1 else "fewer"
        bounds = sorted((abs(lower - 1) * 100, abs(upper - 1) * 100))
        assert f"{abs(ratio - 1):.0%} {word} (95% interval {bounds[0]:.0f}% to {bounds[1]:.0f}% {word}" in text
    else:
        assert f"(95% interval {lower - 1:+.0%} to {upper - 1:+.0%}" in text and "chance alone" in text


def test_the_backtest_sentence_gives_the_wards_tested_accuracy(area_page, matrix) -> None:
    one = _independent_accuracy(matrix, WARD, 1)
    best = min(("last value", "seasonal naive", "mean of last 12 months"), key=one.__getitem__)
    text = area_page.locator("#trend-accuracy").inner_text()
    assert "a forecast of every month from 2014-12 to 2023-03" in text
    assert (f"forecasts one month ahead were off by {one['pooled']:.1f} burglaries a month on average, against "
            f"{one[best]:.1f} for the best simple rule ({best})") in text
    assert f"{one['coverage_80']:.0%} of outcomes fell inside the 80% range" in text
    rows = area_page.locator("#accuracy-table tbody tr")
    assert rows.count() == 4
    assert rows.first.text_content().startswith(f"1{one['pooled']:,.2f}")


def test_the_early_warning_shows_the_evidence_when_an_area_is_flagged(area_page, places, matrix) -> None:
    warnings = area_warnings(places, LAYER, BOUNDARY, what="burglaries").set_index("code")
    flagged = warnings.loc[WARD]
    assert bool(flagged["flag"]) and not bool(warnings.loc[QUIET, "flag"])
    assert int(flagged["observed"]) == int(matrix[WARD].iloc[-3:].sum())
    text = area_page.locator("#trend-warning").inner_text()
    assert text.startswith("Early warning: rising faster than expected")
    assert (f"{int(flagged['observed'])} burglaries in the last 3 months (2023-01 to 2023-03) against "
            f"{flagged['expected']:.0f} expected (95% upper {flagged['upper']:.0f})") in text
    assert f"{flagged['false_alarm_rate']:.1%}" in text


def test_the_area_page_with_change_over_time_passes_axe(area_page) -> None:
    area_page.wait_for_load_state("networkidle")
    violations = axe_violations(area_page)
    print(f"\naxe on the area page with change over time:\n{describe(violations)}")
    assert not [v for v in violations if v["impact"] in BLOCKING], describe(violations)


# ---- the map -----------------------------------------------------------------------------------------------


def _render(web_app, metric: str) -> tuple:
    from insight.web.explore_render import render

    with web_app.server.test_request_context():
        return render({"boundary": BOUNDARY, "metric": metric, "from": "2023-01", "to": "2023-03"}, None)


def test_map_shading_by_trend_gives_each_wards_trend(web_app, places, trends) -> None:
    out = _render(web_app, "trend")
    values = out[1]["values"]
    codes = places.boundary(BOUNDARY).areas["code"].tolist()
    assert len(codes) == 24 and sorted(values) == sorted(codes)
    for code in codes:
        assert values[code] == pytest.approx(trends.loc[code, "estimate"], rel=1e-12)
    assert out[5] is None  # no problem reported: the map is shaded by the trend asked for
    assert out[1]["breaks"][2] == 0.0 and len(out[1]["colours"]) == 6


def test_the_shading_api_serves_the_trend_figures_too(web_app, places, trends) -> None:
    client = web_app.server.test_client()
    body = client.get(f"/api/shading/{BOUNDARY}.json", query_string={"metric": "trend"}).get_json()
    for code in places.boundary(BOUNDARY).areas["code"]:
        assert body["values"][code] == pytest.approx(trends.loc[code, "estimate"], rel=1e-12)
    assert client.get(f"/api/shading/{BOUNDARY}.json", query_string={"metric": "trend", "layer": "x y"}
                      ).status_code == 400


def test_map_shading_by_forecast_change_and_warning(web_app, places, matrix) -> None:
    change = _render(web_app, "forecast_change")[1]["values"]
    ahead = area_forecast(places, LAYER, BOUNDARY, horizon=12).groupby("code")["forecast"].sum()
    last = matrix.iloc[-12:].sum()
    for code in matrix.columns:
        assert change[code] == pytest.approx(100 * (ahead[code] / last[code] - 1), rel=1e-9)
    flags = _render(web_app, "warning")[1]["values"]
    warned = area_warnings(places, LAYER, BOUNDARY).set_index("code")["flag"]
    assert flags == {code: float(bool(warned[code])) for code in matrix.columns}


def test_the_map_offers_and_explains_the_trend_shading(page_factory, app_url: str, trends) -> None:
    page = page_factory()
    try:
        page.goto(f"{app_url}/?boundary={BOUNDARY}&metric=trend")
        page.wait_for_selector("#legend li", timeout=60000)
        labels = page.locator("#metric option").all_text_contents()
        assert "Change over time: trend (% a year)" in labels
        assert "Change over time: early warning (rising faster than expected)" in labels
        legend = page.locator("#legend").inner_text()
        assert "Trend in burglaries, % a year" in legend and "falling by" in legend and "rising by" in legend
        assert "quasi-Poisson" in legend
        rows = page.locator("#map-table tbody tr")
        assert rows.count() == 24
        burnt_oak = trends.loc[QUIET]
        assert (f"{burnt_oak['estimate']:+.1f}% a year (95% interval {burnt_oak['lower']:+.1f}% to "
                f"{burnt_oak['upper']:+.1f}%)") in page.locator("#map-table").text_content()
    finally:
        page.close()


# ---- the page's parts, without the browser -----------------------------------------------------------------


def test_the_new_chart_uses_only_trace_types_of_the_basic_plotly_bundle(web_app) -> None:
    from insight.web.area import layout
    from insight.web.plotly_bundle import TRACE_TYPES
    from tests.test_web_pages import _trace_types

    with web_app.server.test_request_context():
        page = layout(boundary=BOUNDARY, code=WARD)
    found = []

    def charts(component) -> None:
        if isinstance(component, (list, tuple)):
            for c in component:
                charts(c)
        elif getattr(component, "id", None) == "change-chart":
            found.append(component)
        elif component is not None and not isinstance(component, (str, int, float)):
            charts(getattr(component, "children", None))

    charts(page)
    assert len(found) == 1
    types = _trace_types(found)
    assert types == {"scatter"} and types <= TRACE_TYPES


def test_a_short_layer_falls_back_to_the_longest_series_and_says_so(web_app) -> None:
    from insight.web.area import layout
    from tests.test_web_pages import _texts

    with web_app.server.test_request_context():
        text = _texts(layout(boundary=BOUNDARY, code=QUIET, layer="crime_2024_04"))
    assert "'Street-level crime and ASB, April 2024' has 1 month of records, too few for a trend" in text
    assert "Monthly burglaries from 'Burglary, Dec 2010 to Mar 2023 (bulk download)', 2010-12 to 2023-03." in text


def test_the_mean_of_the_wards_errors_is_the_published_backtest(web_app, places) -> None:
    """Averaged over the 24 wards (each scored at the same origins), the per-ward accuracy behind the page
    gives the pooled figures of docs/trends.md's wards_2022 table at horizons 1 and 12."""
    from insight.web.area_trends import layer_tables

    with web_app.server.test_request_context():
        accuracy = layer_tables(places, LAYER, BOUNDARY).accuracy
    means = accuracy.groupby(["method", "horizon"])[["mae", "coverage_80", "coverage_95"]].mean()
    published = {("pooled-share", 1): (3.456, 0.827, 0.960), ("pooled-share", 12): (3.708, 0.813, 0.947)}
    for key, (mae, c80, c95) in published.items():
        assert means.loc[key].round(3).tolist() == [mae, c80, c95]
    assert round(means.loc[("mean of last 12 months", 1), "mae"], 3) == 3.637
    assert round(means.loc[("seasonal naive", 12), "mae"], 3) == 4.786


def test_words_and_classes_worked_by_hand() -> None:
    row = pd.Series({"period": "2010-12:2023-03", "estimate": 0.4, "lower": -1.5, "upper": 2.25})
    assert trend_words(row, "burglaries") == (
        "Burglaries changed by between a 1.5% fall and a 2.2% rise a year (95% interval; best estimate a 0.4% "
        "rise) from 2010-12 to 2023-03: the data cannot tell a rise from a fall.")
    rising = pd.Series({"period": "2019-01:2020-12", "estimate": 3.04, "lower": 1.0, "upper": 5.16})
    assert trend_words(rising, "records") == (
        "Records rose by 3.0% a year (95% interval 1.0% to 5.2% a year) from 2019-01 to 2020-12.")
    assert diverging_breaks(np.array([-8.6, 2.0, np.nan])) == [-6.0, -3.0, 0.0, 3.0, 6.0, 9.0]
    assert diverging_breaks(np.array([0.2])) == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]


def test_record_nouns(places) -> None:
    assert record_noun(places.point_layer(LAYER)) == "burglaries"
    assert record_noun(places.point_layer("crime_2024_04")) == "records"
