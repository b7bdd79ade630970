"""Perception against recorded crime, from the stored (restricted) survey layer to the map, API, page and exports.

Expected survey figures are worked out here from the raw respondent CSV with plain pandas
(weighted shares, unweighted bases); expected crime rates from :func:`insight.analysis.profiles.layer_table`,
a separate code path from the one :mod:`insight.analysis.perception` uses.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insight.analysis.perception import (
    SurveyData,
    perception,
    profile_rows,
    read_surveys,
    shading_values,
    summary_sentence,
    with_perception,
)
from insight.analysis.places import load_places
from insight.analysis.profiles import layer_table, profile
from insight.analysis.survey.disclosure import DisclosureRules
from insight.errors import ConfigError
from insight.layers import load_specs
from insight.store import layer_summaries
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.web_support import SURVEY_LAYERS, app_places, close_app, loaded_app, serve

RAW = DATA_DIR / "surveys" / "resident_perception_illustrative.csv"
WARD = "E05013630"  # Burnt Oak
BOROUGH = "E09000003"
CRIME = "crime_2016_2018"
PERIOD = (2017 * 12 + 6, 2018 * 12 + 5)  # 2017-07 to 2018-06


@pytest.fixture(scope="module")
def places(sample_store):
    return load_places(sample_store.engine)


@pytest.fixture(scope="module")
def survey(sample_store) -> SurveyData:
    found = read_surveys(sample_store.engine, load_specs(LAYERS_DIR), layer_summaries(sample_store.engine))
    assert [s.layer.name for s in found] == ["resident_survey_illustrative"]
    return found[0]


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(RAW, dtype=str)


def _by_hand(raw: pd.DataFrame, wave: str, reported: set[str], excluded: set[str]) -> pd.DataFrame:
    """Unweighted base, reported count and weighted share per ward, straight from the CSV."""
    rows = raw[(raw["wave"] == wave)]
    out = {}
    for ward, part in rows.groupby("ward_code"):
        answered = part[~part["safe_after_dark"].isin(excluded) & part["safe_after_dark"].notna()]
        w = answered["weight"].astype(float)
        yes = answered["safe_after_dark"].isin(reported)
        out[ward] = {"n": len(answered), "n_yes": int(yes.sum()), "share": float((w * yes).sum() / w.sum())}
    return pd.DataFrame(out).T


def test_published_shares_match_a_hand_computation_and_small_cells_are_withheld(places, survey, raw) -> None:
    result = perception(places, survey, "safe_after_dark", "wards_2022", crime_layer=CRIME, period=PERIOD)
    assert result.wave == "2026" and result.waves == ["2025", "2026"]
    expected = _by_hand(raw, "2026", {"1", "2"}, {"8"})
    areas = result.areas.set_index("area_code")
    assert len(areas) == 24
    shown = areas[areas["published"]]
    assert 10 <= len(shown) < 24, "the shipped sample has both published and withheld wards"
    for code, row in shown.iterrows():
        assert row["share"] == pytest.approx(expected.loc[code, "share"], abs=1e-9)
        assert row["n"] == expected.loc[code, "n"] >= 30
        assert row["ci_low"] < row["share"] < row["ci_high"]
        assert expected.loc[code, "n_yes"] >= 5 and expected.loc[code, "n"] - expected.loc[code, "n_yes"] >= 5
    for _code, row in areas[~areas["published"]].iterrows():
        assert row["share"] is None and row["n"] is None and row["ci_low"] is None
        assert row["classification"] == "not enough responses to say"
        assert isinstance(row["suppression_reason"], str)
    small = [c for c in expected.index if expected.loc[c, "n"] < 30]
    assert small and not areas.loc[small, "published"].any()


def test_recorded_rates_and_borough_values_agree_with_the_ward_table(places, survey) -> None:
    table = layer_table(places, "wards_2022", CRIME, period=PERIOD).set_index("code")
    for qid, pick in (("safe_after_dark", "crime"), ("worried_asb", "asb")):
        result = perception(places, survey, qid, "wards_2022", crime_layer=CRIME, period=PERIOD)
        asb = table["anti-social-behaviour"]
        count = asb if pick == "asb" else table["count"] - asb
        areas = result.areas.set_index("area_code")
        np.testing.assert_allclose(areas["count"], count.loc[areas.index])
        np.testing.assert_allclose(areas["rate"], count.loc[areas.index] / table.loc[areas.index, "residents"] * 1000,
                                   rtol=1e-3)
        assert (areas["rate_ci_low"] <= areas["rate"]).all() and (areas["rate"] <= areas["rate_ci_high"]).all()
        whole = layer_table(places, "borough", CRIME, period=PERIOD).iloc[0]
        asb = whole["anti-social-behaviour"]
        borough_count = asb if pick == "asb" else whole["count"] - asb
        assert result.borough["count"] == borough_count
        assert result.borough["area_code"] == BOROUGH and result.borough["published"]
        assert result.crime_period == "2017-07 to 2018-06"


def test_classification_follows_the_intervals(places, survey) -> None:
    for qid in ("safe_after_dark", "worried_asb", "worried_crime"):
        result = perception(places, survey, qid, "wards_2022", crime_layer=CRIME, period=PERIOD)
        b = result.borough
        for row in result.areas.itertuples():
            if row.classification == result.labels.less:
                assert row.ci_high < b["share"] and not row.rate_ci_low > b["rate"]
                assert row.gap_code == -1
            elif row.classification == result.labels.more:
                assert row.ci_low > b["share"] and not row.rate_ci_high < b["rate"]
                assert row.gap_code == 1
            elif row.published:
                assert row.gap_code == 0
                below = row.ci_high < b["share"] and not row.rate_ci_low > b["rate"]
                above = row.ci_low > b["share"] and not row.rate_ci_high < b["rate"]
                assert not below and not above
            else:
                assert np.isnan(row.gap_code)
    shading = shading_values(perception(places, survey, "safe_after_dark", "wards_2022"))
    assert sorted(v for v in shading["values"].values() if v is not None) != []
    assert set(shading["values"].values()) <= {-1.0, 0.0, 1.0, None}


def test_profile_rows_export_the_area_and_borough_side_by_side(places, survey) -> None:
    result = perception(places, survey, "safe_after_dark", "wards_2022", crime_layer=CRIME, period=PERIOD)
    base = profile(places, "wards_2022", WARD, crime_layer=CRIME, period=PERIOD)
    extended = with_perception(base, [result])
    added = extended.figures.iloc[len(base.figures):].set_index("metric")
    assert list(added.index) == [row["metric"] for row in profile_rows(result, WARD)]
    assert set(added["section"]) == {"Resident perception (ILLUSTRATIVE)"}
    row = result.row(WARD)
    assert added.loc["perception:safe_after_dark:share", "value"] == pytest.approx(row["share"])
    assert added.loc["perception:safe_after_dark:share", "comparator_value"] == pytest.approx(result.borough["share"])
    assert added.loc["perception:safe_after_dark:rate", "value"] == pytest.approx(row["rate"])
    assert summary_sentence(result, WARD) in extended.notes
    assert any(n.startswith("ILLUSTRATIVE") for n in extended.notes)
    other = with_perception(profile(places, "town_centres", places.boundary("town_centres").areas["code"][0]),
                            [result])
    assert not other.figures["section"].str.startswith("Resident").any()


def test_refuses_boundaries_questions_and_waves_it_cannot_serve(places, survey) -> None:
    with pytest.raises(ConfigError, match="not areas of"):
        perception(places, survey, "safe_after_dark", "town_centres")
    with pytest.raises(ConfigError, match="no question 'nope'"):
        perception(places, survey, "nope", "wards_2022")
    with pytest.raises(ConfigError, match="wave '1999'"):
        perception(places, survey, "safe_after_dark", "wards_2022", wave="1999")
    earlier = perception(places, survey, "safe_after_dark", "wards_2022", wave="2025")
    assert earlier.wave == "2025" and "verdict" not in earlier.areas


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(min_value=0.05, max_value=1.0), seed=st.integers(0, 10_000),
       min_base=st.integers(10, 60), min_count=st.integers(1, 5))
def test_no_published_ward_figure_rests_on_a_small_count(places, survey, raw, fraction, seed, min_base,
                                                          min_count) -> None:
    """Whatever respondents remain, a published share has its base and both answer groups over the thresholds."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(survey.respondents)) < fraction
    part = SurveyData(layer=survey.layer, spec=survey.spec, respondents=survey.respondents[keep])
    rules = DisclosureRules(min_base=max(min_base, 2 * min_count), min_count=min_count)
    result = perception(places, part, "safe_after_dark", "wards_2022", crime_layer=CRIME, period=PERIOD,
                        wave="2026", rules=rules)
    rows = raw[keep & (raw["wave"] == "2026").to_numpy()]
    answered = rows[rows["safe_after_dark"].isin(["1", "2", "3", "4"])]
    for r in result.areas.itertuples():
        mine = answered[answered["ward_code"] == r.area_code]
        yes = int(mine["safe_after_dark"].isin(["1", "2"]).sum())
        if r.published:
            assert len(mine) >= rules.min_base and yes >= min_count and len(mine) - yes >= min_count
        else:
            assert r.share is None and r.model_share is None


# ---- the web app: API, exports, map shading, area page -------------------------------------------


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("perception"), SURVEY_LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def client(web_app):
    return web_app.server.test_client()


def test_api_serves_published_aggregates_only(client, raw) -> None:
    response = client.get("/api/perception/wards_2022.json?question=safe_after_dark")
    assert response.status_code == 200
    body = response.get_json()
    assert body["illustrative"] and body["title"].startswith("ILLUSTRATIVE")
    assert body["wave"] == "2026" and len(body["areas"]) == 24
    text = response.get_data(as_text=True)
    assert not any(rid in text for rid in raw["respondent_id"].head(200))
    for area in body["areas"]:
        assert "n_reported" not in area and "n_not_reported" not in area
        if area["published"]:
            assert area["n"] >= 30 and 0 <= area["ci_low"] <= area["share"] <= area["ci_high"] <= 1
        else:
            assert area["share"] is None and area["n"] is None
    expected = _by_hand(raw, "2026", {"1", "2"}, {"8"})
    burnt_oak = next(a for a in body["areas"] if a["area_code"] == WARD)
    assert burnt_oak["share"] == pytest.approx(expected.loc[WARD, "share"])


@pytest.mark.parametrize(("url", "status", "words"), [
    ("/api/perception/wards_2022.json?question=nope", 400, "no question 'nope'"),
    ("/api/perception/wards_2022.json?wave=1999", 400, "wave '1999'"),
    ("/api/perception/wards_2022.json?period=2018-13:2018-01", 400, "not YYYY-MM"),
    ("/api/perception/town_centres.json", 404, "no loaded survey"),
    ("/api/perception/nowhere.json", 404, "no public boundary layer"),
    ("/api/perception/wards_2022.json?survey=other", 404, "no survey layer 'other'"),
    ("/api/perception/wards_2022.json?question=%3Cscript%3E", 400, "not a valid name"),
])
def test_api_refuses_bad_parameters_clearly(client, url: str, status: int, words: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert words in response.get_json()["error"]


def test_profile_json_and_csv_export_carry_the_perception_rows(client) -> None:
    figures = client.get(f"/api/profile/wards_2022/{WARD}.json").get_json()["figures"]
    survey_rows = [f for f in figures if f["section"] == "Resident perception (ILLUSTRATIVE)"]
    assert {f["metric"] for f in survey_rows} >= {"perception:safe_after_dark:share", "perception:worried_asb:rate"}
    api = client.get("/api/perception/wards_2022.json?question=safe_after_dark").get_json()
    share = next(f for f in survey_rows if f["metric"] == "perception:safe_after_dark:share")
    assert share["value"] == pytest.approx(next(a for a in api["areas"] if a["area_code"] == WARD)["share"])
    with client.get(f"/api/export/wards_2022/{WARD}.csv") as response:  # closing it closes the file it sends
        text = response.get_data(as_text=True)
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["metric"] == "perception:safe_after_dark:share"]
    assert len(rows) == 1 and float(rows[0]["value"]) == pytest.approx(share["value"])
    with client.get(f"/api/export/wards_2022/{WARD}.json") as response:
        assert json.loads(response.get_data(as_text=True))


def test_map_shading_callback_colours_wards_by_class(web_app) -> None:
    from insight.web.explore import render

    with web_app.server.test_request_context():
        out = render({"boundary": "wards_2022", "metric": "perception:resident_survey_illustrative:safe_after_dark",
                      "layers": []}, None)
        places = app_places(web_app)
    hideout, legend, table, status = out[1], out[2], out[4], out[5]
    assert status is None
    assert set(hideout["values"]) == set(places.boundary("wards_2022").areas["code"])
    assert hideout["breaks"] == [-0.5, 0.5, 1.5] and len(hideout["colours"]) == 3
    text = str(legend)
    assert "ILLUSTRATIVE" in text and "not enough responses to say" in text
    assert "feels less safe than its recorded crime suggests" in text
    assert "95% interval" in str(table)
    with web_app.server.test_request_context():
        chosen = render({"boundary": "wards_2022", "area": WARD, "layers": [],
                         "metric": "perception:resident_survey_illustrative:safe_after_dark"}, None)
    assert "ILLUSTRATIVE survey: Burnt Oak, wave 2026" in str(chosen[8])


@pytest.mark.browser
def test_area_page_shows_both_side_by_side_and_the_scatter(web_app, page) -> None:
    for url in serve(web_app):
        page.goto(f"{url}/area/wards_2022/{WARD}")
        page.wait_for_selector("#perception-chart-0 .main-svg", timeout=20000)
        section = page.locator("section[aria-labelledby=perception]")
        assert "ILLUSTRATIVE" in section.locator("h2").inner_text()
        rows = page.locator("#perception-table-0 tbody tr")
        assert rows.count() == 2
        assert rows.nth(0).locator("th").inner_text() == "Burnt Oak"
        assert rows.nth(1).locator("th").inner_text() == "Barnet"
        points = page.locator("#perception-chart-0 .scatterlayer .point").count()
        published = page.locator("#perception-chart-0-table tbody tr").count()
        assert published == 24 and points >= 10
        benchmark = page.locator("#benchmark-table-0 tbody tr")
        assert benchmark.count() == 4 and "Barnet - Colindale" in page.locator("#benchmark-table-0").text_content()
        page.goto(f"{url}/?metric=perception:resident_survey_illustrative:worried_asb")
        page.wait_for_selector("#legend li")
        assert "ASB" in page.locator("#legend").inner_text()
        assert page.locator("#metric").input_value() == "perception:resident_survey_illustrative:worried_asb"


def test_the_real_pas_2016_results_show_beside_each_question(client) -> None:
    """The four Barnet police neighbourhoods' real MOPAC PAS 2016 shares, read from the CSV text here."""
    rows = list(csv.reader((DATA_DIR / "indicators" / "mopac_pas_2016_neighbourhood.csv").read_text(
        encoding="utf-8").splitlines()))
    header, data = rows[0], rows[2:]
    for question, column in (("worried_asb", "Are you worried about ASB in this area?"),
                             ("safe_after_dark", "How safe do you feel walking alone in this area after dark?")):
        benchmark = client.get(f"/api/perception/wards_2022.json?question={question}").get_json()["benchmark"]
        assert benchmark["source"] == "MOPAC Public Attitude Survey 2016 (neighbourhoods)"
        got = {a["area_name"]: a["share"] for a in benchmark["areas"]}
        index = header.index(column)
        assert got == pytest.approx({r[0]: float(r[index]) / 100 for r in data})
        assert len(got) == 4
    page = client.get(f"/api/profile/wards_2022/{WARD}.json")
    assert page.status_code == 200
