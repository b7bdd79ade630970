"""Survey statistics, the survey loader and the illustrative survey, tested where the truth is known.

The simulation tests draw many surveys from ``scripts/generate_survey.py`` (the generator of
the shipped illustrative survey) with different seeds and compare the estimates with the
true ward shares the generator used. Their measured figures are printed (``pytest -s``).
Expected PAS values are read from the CSV text with the csv module, not with the loader.
"""
from __future__ import annotations

import csv
import importlib.util
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insight.analysis.survey.change import wave_change
from insight.analysis.survey.disclosure import DisclosureRules, disclosure_control
from insight.analysis.survey.estimates import (
    area_estimates,
    published_results,
    question_shares,
    rake,
    respondents_frame,
    weighted_shares,
)
from insight.analysis.survey.gap import GapLabels, perception_vs_crime, recorded_rates
from insight.analysis.survey.small_area import small_area_estimates
from insight.errors import ConfigError, LoadError
from insight.layers import load_specs
from insight.sources import get_loader
from insight.sources.survey_spec import Question, load_survey, load_surveys, parse_survey, survey_problems

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SURVEY_FILE = REPO / "surveys" / "resident_perception_illustrative.toml"
RESPONDENTS = DATA / "surveys" / "resident_perception_illustrative.csv"
TRUTH = DATA / "surveys" / "resident_perception_illustrative_truth.csv"
PAS = DATA / "indicators" / "mopac_pas_2016_neighbourhood.csv"
SEEDS = 150
COVARIATES = ["log_rate", "imd2019_deprivation_pct"]


def _generator():
    spec = importlib.util.spec_from_file_location("generate_survey", REPO / "scripts" / "generate_survey.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_survey"] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()


@pytest.fixture(scope="module")
def inputs():
    return gen.read_inputs(DATA)


@pytest.fixture(scope="module")
def survey():
    return load_survey(SURVEY_FILE)


# --- simulation: coverage, small-area error, change test ------------------------------------


@pytest.fixture(scope="module")
def simulated(inputs, survey) -> pd.DataFrame:
    """Direct and model estimates against the truth for every ward, wave, question and seed."""
    records = []
    rate_column = {q.id: f"{q.rate}_rate_per_1000" for q in gen.QUESTIONS}
    for seed in range(SEEDS):
        respondents, truth = gen.simulate(inputs, seed=seed)
        for qid in ("safe_after_dark", "worried_crime"):
            question = survey.question(qid)
            direct = question_shares(respondents, question, by=["wave", "ward_code"])
            true = truth[(truth["question"] == qid) & (truth["area_type"] == "ward")]
            true = true.rename(columns={"area_code": "ward_code"})
            merged = direct.merge(true, on=["wave", "ward_code", "question"], validate="one_to_one")
            merged["log_rate"] = np.log(merged[rate_column[qid]])
            for _, part in merged.groupby("wave"):
                fitted = small_area_estimates(part, covariates=COVARIATES)
                records.append(fitted.assign(seed=seed))
    return pd.concat(records, ignore_index=True)


def test_direct_intervals_cover_the_true_ward_shares_about_95_percent(simulated) -> None:
    covered = (simulated["ci_low"] <= simulated["true_share"]) & (simulated["true_share"] <= simulated["ci_high"])
    small = simulated["n"] < 30
    print(f"\ndirect 95% Wilson/Kish intervals: coverage {covered.mean():.4f} over {len(simulated)} ward-waves "
          f"({SEEDS} seeds x 2 questions x 2 waves x 24 wards); wards under 30 respondents: "
          f"{covered[small].mean():.4f} of {int(small.sum())}")
    assert 0.93 <= covered.mean() <= 0.975
    assert covered[small].mean() >= 0.90
    for qid, part in simulated.groupby("question"):
        rate = ((part["ci_low"] <= part["true_share"]) & (part["true_share"] <= part["ci_high"])).mean()
        assert 0.92 <= rate <= 0.98, (qid, rate)


def test_small_area_estimates_are_closer_to_the_truth_than_direct_ones(simulated) -> None:
    direct = ((simulated["share"] - simulated["true_share"]) ** 2).mean()
    model = ((simulated["model_share"] - simulated["true_share"]) ** 2).mean()
    small = simulated["n"] < 30
    direct_small = ((simulated.loc[small, "share"] - simulated.loc[small, "true_share"]) ** 2).mean()
    model_small = ((simulated.loc[small, "model_share"] - simulated.loc[small, "true_share"]) ** 2).mean()
    covered = ((simulated["model_ci_low"] <= simulated["true_share"])
               & (simulated["true_share"] <= simulated["model_ci_high"])).mean()
    print(f"\nmean squared error over {len(simulated)} ward-waves ({SEEDS} seeds): direct {direct:.6f} "
          f"(RMSE {100 * direct ** 0.5:.2f} points), Fay-Herriot {model:.6f} (RMSE {100 * model ** 0.5:.2f} points), "
          f"{100 * (1 - model / direct):.1f}% lower; wards under 30: direct {direct_small:.6f}, "
          f"model {model_small:.6f}; model 95% interval coverage {covered:.4f}")
    assert model < 0.8 * direct
    assert model_small < 0.6 * direct_small
    assert 0.92 <= covered <= 0.99
    assert ((simulated["shrinkage"] > 0) & (simulated["shrinkage"] < 1)).all()


def test_wave_change_test_keeps_false_alarms_near_five_percent(simulated) -> None:
    waves = simulated.rename(columns={"ward_code": "area_code"})
    stats = []
    for _, part in waves.groupby(["seed", "question"]):
        change = wave_change(part, wave_from="2025", wave_to="2026", adjust=None)
        truth = part.pivot(index="area_code", columns="wave", values="true_share")
        planted = part[part["wave"] == "2026"].set_index("area_code")["planted_change"]
        change = change.set_index("area_code")
        change["true_change"] = truth["2026"] - truth["2025"]
        change["planted"] = planted
        stats.append(change)
    changes = pd.concat(stats)
    steady = changes[~changes["planted"]]
    moved = changes[changes["planted"]]
    false_alarms = (steady["p_value"] < 0.05).mean()
    power = (moved["p_value"] < 0.05).mean()
    low = pd.to_numeric(changes["change_ci_low"])
    high = pd.to_numeric(changes["change_ci_high"])
    covered = ((low <= changes["true_change"]) & (changes["true_change"] <= high)).mean()
    print(f"\nwave change, unadjusted 5% test: false alarms {false_alarms:.4f} of {len(steady)} unchanged "
          f"ward-questions, detected {power:.4f} of {len(moved)} planted changes (±0.8 logit); "
          f"Newcombe 95% interval covers the true change {covered:.4f}")
    assert false_alarms <= 0.065
    assert power > 3 * false_alarms
    assert 0.93 <= covered <= 0.985


# --- the generator and the shipped illustrative survey --------------------------------------


def _pas_values(column: str) -> list[float]:
    rows = list(csv.reader(PAS.read_text(encoding="utf-8").splitlines()))
    index = rows[0].index(column)
    return [float(r[index]) for r in rows[2:]]


def test_generator_is_calibrated_to_the_real_pas_2016_values(inputs) -> None:
    truth = pd.read_csv(TRUTH, dtype={"wave": str})
    authority = truth[(truth["area_type"] == "authority") & (truth["wave"] == "2025")].set_index("question")
    for model in gen.QUESTIONS:
        target = sum(_pas_values(model.pas_column)) / 4 / 100
        assert inputs.targets[model.id] == pytest.approx(target)
        assert authority.loc[model.id, "true_share"] == pytest.approx(target, abs=1e-6)
    assert authority.loc["safe_after_dark", "true_share"] == pytest.approx((85 + 74 + 73 + 85) / 400, abs=1e-6)


def test_generator_is_reproducible_and_seed_dependent(inputs) -> None:
    first, truth = gen.simulate(inputs, seed=7)
    again, _ = gen.simulate(inputs, seed=7)
    other, _ = gen.simulate(inputs, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first["weight"].equals(other["weight"])
    assert len(first) == 2 * gen.RESPONDENTS_PER_WAVE
    assert (first["illustrative"] == "true").all() and (truth["illustrative"] == "true").all()


def test_shipped_survey_is_illustrative_uneven_and_weighted_to_census_ages(inputs) -> None:
    people = pd.read_csv(RESPONDENTS, dtype=str)
    assert len(people) == 4000 and (people["illustrative"] == "true").all()
    assert people["respondent_id"].str.match(r"^ILL-RPS-\d{6}$").all()
    sizes = people.groupby(["wave", "ward_code"]).size()
    assert sizes.groupby("wave").size().eq(24).all()
    assert (sizes < 30).sum() >= 2 and sizes.max() > 150
    adults = inputs.wards[list(gen.AGE_GROUPS)].sum()
    people["weight"] = people["weight"].astype(float)
    for _, wave in people.groupby("wave"):
        weighted = wave.groupby("age_group")["weight"].sum().reindex(gen.AGE_GROUPS)
        unweighted = wave.groupby("age_group").size().reindex(gen.AGE_GROUPS)
        np.testing.assert_allclose(weighted / weighted.sum(), adults / adults.sum(), atol=1e-5)
        assert (unweighted / unweighted.sum())["16-24"] < 0.8 * adults["16-24"] / adults.sum()
        assert wave["weight"].mean() == pytest.approx(1.0, abs=1e-5)


def test_shipped_survey_loads_through_its_layer_definition(survey) -> None:
    spec = next(s for s in load_specs(REPO / "layers") if s.name == "resident_survey_illustrative")
    assert spec.sensitivity == "restricted" and spec.illustrative and spec.kind == "points"
    loaded = get_loader(spec.loader)(DATA / spec.file, **spec.options)
    assert loaded.kind == "points" and loaded.rows_read == 4000
    frame = loaded.frame
    assert list(frame.columns) == ["source_id", "name", "category", "month", "properties", "geometry"]
    assert frame.crs.to_epsg() == 4326 and frame.geometry.isna().all() and frame["name"].isna().all()
    assert set(frame["category"]) == {"2025", "2026"}
    assert frame["month"].str.match(r"^202[56]-(09|10|11)$").all()
    first = frame["properties"].iloc[0]
    assert set(first) >= {"ward_code", "lsoa_code", "weight", "answers", "age_group", "illustrative"}
    assert set(first["answers"]) == {q.id for q in survey.questions}
    people = respondents_frame(frame)
    raw = pd.read_csv(RESPONDENTS, dtype=str)
    assert people["respondent_id"].tolist() == raw["respondent_id"].tolist()
    np.testing.assert_allclose(people["weight"], raw["weight"].astype(float))
    assert people["safe_after_dark"].tolist() == raw["safe_after_dark"].tolist()


def test_published_table_of_the_shipped_survey_obeys_the_rules(inputs, survey) -> None:
    people = respondents_frame(get_loader("survey-responses")(RESPONDENTS, questions=str(SURVEY_FILE)).frame)
    areas = inputs.wards.rename(columns={"ward_code": "area_code", "ward_name": "area_name"})
    areas["log_rate"] = np.log(areas["crime_rate_per_1000"])
    areas = areas[["area_code", "area_name", *COVARIATES]]
    for question in survey.questions:
        table = area_estimates(people, question, areas=areas, covariates=COVARIATES, total_code="E09000003")
        assert len(table) == 2 * 25 and table["is_total"].sum() == 2
        assert "n_reported" not in table and "n_not_reported" not in table
        shown = table[table["published"]]
        assert (shown["n"].astype(int) >= 30).all()
        hidden = table[~table["published"]]
        assert hidden["share"].isna().all() and hidden["suppression_reason"].notna().all()
        assert shown["suppression_reason"].isna().all()
        assert table["method"].str.contains("Wilson").all()
        assert table.loc[~table["is_total"] & table["model_published"], "model_method"].str.contains(
            "Fay-Herriot").all()


# --- estimates on hand-made data ------------------------------------------------------------


def test_weighted_share_effective_base_and_interval_by_hand() -> None:
    frame = pd.DataFrame({"area": ["a", "a", "a", "b"], "y": [1.0, 0.0, 1.0, np.nan], "w": [1.0, 1.0, 2.0, 5.0]})
    out = weighted_shares(frame, flag="y", by=["area"], weight="w")
    row = out.iloc[0]
    assert len(out) == 1 and row["area"] == "a"
    assert row["share"] == pytest.approx(0.75)
    assert row["n_eff"] == pytest.approx(16 / 6)
    assert row["deff"] == pytest.approx(3 / (16 / 6))
    assert (row["n"], row["n_reported"], row["n_not_reported"]) == (3, 2, 1)
    z, n, p = 1.959963984540054, 16 / 6, 0.75
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert row["ci_low"] == pytest.approx(centre - half) and row["ci_high"] == pytest.approx(centre + half)
    with pytest.raises(ValueError, match="negative"):
        weighted_shares(frame.assign(w=[1.0, -1.0, 1.0, 1.0]), flag="y", by=["area"], weight="w")


def test_question_flags_exclude_dont_know_and_blanks(survey) -> None:
    question = survey.question("safe_after_dark")
    flags = question.flags(pd.Series(["1", "2", "3", "4", "8", None, ""]))
    assert flags.iloc[:4].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert flags.iloc[4:].isna().all()


def test_rake_matches_margins_and_refuses_impossible_ones() -> None:
    frame = pd.DataFrame({"ward": list("aabbb"), "age": ["y", "o", "o", "o", "y"]})
    weights = rake(frame, {"ward": pd.Series({"a": 60.0, "b": 40.0}), "age": pd.Series({"y": 30.0, "o": 70.0})})
    assert weights.sum() == pytest.approx(100)
    assert np.bincount([0, 0, 1, 1, 1], weights=weights) == pytest.approx([60, 40])
    with pytest.raises(ValueError, match="same grand total"):
        rake(frame, {"ward": pd.Series({"a": 60.0, "b": 40.0}), "age": pd.Series({"y": 30.0, "o": 80.0})})
    with pytest.raises(ValueError, match="no respondents in ward = c"):
        rake(frame, {"ward": pd.Series({"a": 50.0, "b": 40.0, "c": 10.0}), "age": pd.Series({"y": 30.0, "o": 70.0})})


def test_small_area_model_weights_precise_areas_towards_their_direct_value() -> None:
    areas = pd.DataFrame({
        "area_code": [f"A{i}" for i in range(8)],
        "share": [0.6, 0.7, 0.65, 0.8, 0.75, 0.9, 0.5, np.nan],
        "n_eff": [5000.0, 20.0, 30.0, 25.0, 40.0, 15.0, 35.0, np.nan],
        "x": [1.0, 2.0, 1.5, 3.0, 2.5, 3.5, 0.5, 2.0],
    })
    out = small_area_estimates(areas, covariates=["x"])
    assert out.loc[0, "shrinkage"] > 0.95 and abs(out.loc[0, "model_share"] - 0.6) < 0.01
    assert out.loc[1:6, "shrinkage"].lt(out.loc[0, "shrinkage"]).all()
    assert np.isnan(out.loc[7, "shrinkage"]) and out.loc[7, "model_share"] == pytest.approx(out.loc[7, "synthetic"])
    assert (out["model_ci_low"] <= out["model_share"]).all() and (out["model_share"] <= out["model_ci_high"]).all()
    assert "Fay-Herriot" in out.loc[0, "model_method"] and out.attrs["fay_herriot"]["sigma2_v"] > 0
    with pytest.raises(ValueError, match="needs at least"):
        small_area_estimates(areas.head(3), covariates=["x"])
    with pytest.raises(ValueError, match="missing values"):
        small_area_estimates(areas.assign(x=[np.nan] + [1.0] * 7), covariates=["x"])


def test_wave_change_verdicts_by_hand() -> None:
    table = pd.DataFrame({
        "area_code": ["a", "b", "c", "a", "b", "c"],
        "wave": ["1", "1", "1", "2", "2", "2"],
        "share": [0.5, 0.8, 0.6, 0.5, 0.6, None],
        "n_eff": [400.0, 500.0, 50.0, 400.0, 500.0, None],
    })
    out = wave_change(table, wave_from="1", wave_to="2", adjust=None).set_index("area_code")
    assert out.loc["a", "p_value"] == pytest.approx(1.0) and out.loc["a", "verdict"].startswith("No clear change")
    assert out.loc["b", "significant"] and out.loc["b", "verdict"].startswith("Fell by 20 percentage points")
    assert out.loc["b", "change_ci_low"] < -0.2 < out.loc["b", "change_ci_high"] < 0
    assert out.loc["c", "verdict"] is None and out.loc["c", "reason"] == "not published in both waves"
    with pytest.raises(ValueError, match="wave '3' is not in the table"):
        wave_change(table, wave_from="1", wave_to="3")


# --- disclosure control ---------------------------------------------------------------------


def _cells(groups: list[tuple[list[tuple[int, int]], tuple[int, int] | None]], with_model: bool) -> pd.DataFrame:
    rows = []
    for g, (parts, extra) in enumerate(groups):
        for i, (n, rep) in enumerate(parts):
            rows.append({"group": g, "code": f"p{i}", "is_total": False, "n": n, "n_reported": rep,
                         "share": rep / n if n else np.nan})
        if extra is not None:
            n = sum(p[0] for p in parts) + extra[0]
            rep = sum(p[1] for p in parts) + extra[1]
            rows.append({"group": g, "code": "total", "is_total": True, "n": n, "n_reported": rep,
                         "share": rep / n if n else np.nan})
    frame = pd.DataFrame(rows)
    if with_model:
        frame["model_share"] = 0.5
        frame["shrinkage"] = 0.4
    return frame


part = st.integers(0, 80).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))
extra = st.integers(0, 8).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))
group = st.tuples(st.lists(part, min_size=1, max_size=8), st.one_of(st.none(), extra))
rules = st.integers(1, 10).flatmap(
    lambda c: st.builds(DisclosureRules, min_base=st.integers(2 * c, 60), min_count=st.just(c),
                        model_below_base=st.booleans()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=st.lists(group, min_size=1, max_size=3), rules=rules, with_model=st.booleans())
def test_no_published_figure_or_difference_reveals_a_small_count(groups, rules, with_model) -> None:
    cells = _cells(groups, with_model)
    out = disclosure_control(cells, rules=rules, groups=["group"])
    c, b = rules.min_count, rules.min_base
    n = cells["n"].to_numpy()
    rep = cells["n_reported"].to_numpy()
    assert "n_reported" not in out and "n_not_reported" not in out
    direct = out["published"].to_numpy()
    model = out["model_published"].to_numpy()
    assert (n[direct] >= b).all()
    assert (rep[direct] >= c).all() and (n[direct] - rep[direct] >= c).all()
    model_only = model & ~direct
    assert not model_only.any() or rules.model_below_base
    assert ((n[model_only] == 0) | ((rep[model_only] >= c) & (n[model_only] - rep[model_only] >= c))).all()
    assert out.loc[~direct, "share"].isna().all() and out.loc[~direct, "n"].isna().all()
    assert out.loc[~direct, "suppression_reason"].notna().all()
    assert out.loc[direct & model, "suppression_reason"].isna().all()
    if with_model:
        assert out.loc[~model, "model_share"].isna().all()
        assert out.loc[~direct, "shrinkage"].isna().all()
    for _, members in cells.groupby("group"):
        index = members.index.to_numpy()
        total = index[members["is_total"].to_numpy()]
        parts = index[~members["is_total"].to_numpy()]
        all_n = n[total[0]] if len(total) else n[parts].sum()
        all_rep = rep[total[0]] if len(total) else rep[parts].sum()
        total_shown = direct[total[0]] if len(total) else (all_n >= b and all_rep >= c and all_n - all_rep >= c)
        if not total_shown:
            continue
        shown = parts[direct[parts] | model[parts]]
        rest_n = all_n - n[shown].sum()
        rest_rep = all_rep - rep[shown].sum()
        assert rest_n == 0 or (rest_rep >= c and rest_n - rest_rep >= c), (rest_n, rest_rep)


def test_differencing_a_total_forces_a_second_suppression() -> None:
    cells = pd.DataFrame({
        "area": ["big", "medium", "small", "total"],
        "is_total": [False, False, False, True],
        "n": [100, 60, 12, 172],
        "n_reported": [80, 45, 10, 135],
        "share": [0.8, 0.75, 0.83, 0.785],
    })
    out = disclosure_control(cells).set_index("area")
    assert not out.loc["small", "published"]
    assert not out.loc["medium", "published"] and "secondary" in out.loc["medium", "suppression_reason"]
    assert out.loc["big", "published"] and out.loc["total", "published"]
    assert out.loc["small", "suppression_reason"] == "too few respondents to publish"


def test_unlocated_respondents_in_a_total_are_protected_too() -> None:
    cells = pd.DataFrame({
        "area": ["a", "b", "total"], "is_total": [False, False, True],
        "n": [50, 40, 93], "n_reported": [40, 30, 71], "share": [0.8, 0.75, 0.76],
    })
    out = disclosure_control(cells).set_index("area")
    assert out.loc["a", "published"] and out.loc["total", "published"]
    assert not out.loc["b", "published"] and "secondary" in out.loc["b", "suppression_reason"]


def test_disclosure_rules_refuse_unsafe_thresholds() -> None:
    with pytest.raises(ValueError, match="twice min_count"):
        DisclosureRules(min_base=8, min_count=5)
    with pytest.raises(ValueError, match="cells lack column 'n_reported'"):
        disclosure_control(pd.DataFrame({"n": [40]}))


# --- perception against recorded crime ------------------------------------------------------


def test_perception_against_crime_on_hand_made_areas() -> None:
    areas = pd.DataFrame({
        "area_code": ["calm_but_afraid", "busy_and_afraid", "busy_but_calm", "quiet_and_calm", "middling", "unknown"],
        "share": [0.60, 0.60, 0.92, 0.92, 0.78, None],
        "ci_low": [0.50, 0.50, 0.86, 0.86, 0.70, None],
        "ci_high": [0.70, 0.70, 0.96, 0.96, 0.85, None],
        "count": [300, 900, 900, 300, 600, 600],
        "population": [10_000] * 6,
    })
    rated = recorded_rates(areas, years=1.0)
    assert rated.loc[0, "rate"] == pytest.approx(30.0)
    assert rated.loc[0, "rate_ci_low"] < 30 < rated.loc[0, "rate_ci_high"]
    out = perception_vs_crime(rated, borough_share=0.80, borough_rate=60.0).set_index("area_code")
    labels = GapLabels()
    assert out.loc["calm_but_afraid", "classification"] == labels.less
    assert out.loc["busy_and_afraid", "classification"] == labels.same
    assert out.loc["busy_but_calm", "classification"] == labels.more
    assert out.loc["quiet_and_calm", "classification"] == labels.same
    assert out.loc["middling", "classification"] == labels.same
    assert out.loc["unknown", "classification"] == labels.unknown
    assert out.loc["calm_but_afraid", "crime_vs_borough"] == "lower"
    assert out.loc["busy_and_afraid", "perception"] == "below"
    assert out.loc["calm_but_afraid", "gap"] == pytest.approx(-0.20)
    assert out["rule"].str.contains("interval excludes the borough share").all()


def test_perception_relationship_rule_uses_the_other_areas_line() -> None:
    rates = np.array([20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 60.0])
    share = 1.2 - 0.1 * np.log1p(rates)
    share[-1] = 0.55
    half = np.where(np.arange(10) < 9, 0.02, 0.10)
    areas = pd.DataFrame({"area_code": list("abcdefghij"), "share": share, "ci_low": share - half,
                          "ci_high": share + half, "rate": rates})
    out = perception_vs_crime(areas, borough_share=0.80, borough_rate=60.0, rule="relationship",
                              rate_ci_low=None, rate_ci_high=None).set_index("area_code")
    assert out.loc["j", "classification"] == GapLabels().less
    assert out.loc["j", "expected_share"] == pytest.approx(1.2 - 0.1 * np.log1p(60.0), abs=1e-6)
    assert (out.loc[list("abcdefghi"), "classification"] == "in line").all()
    assert out.loc["j", "crime_vs_borough"] == "similar"
    with pytest.raises(ValueError, match="rule must be one of"):
        perception_vs_crime(areas, borough_share=0.8, borough_rate=60.0, rule="vibes")


# --- real PAS 2016 results ------------------------------------------------------------------


def test_pas_2016_neighbourhood_results_load_with_their_real_values(survey) -> None:
    rows = list(csv.reader(PAS.read_text(encoding="utf-8").splitlines()))
    header, data = rows[0], rows[2:]
    expected = {r[1]: r for r in data}
    assert sorted(expected) == ["SX-SA", "SX-SC", "SX-SG", "SX-SK"]
    loaded = get_loader("mopac-pas")(PAS).frame
    for question in survey.questions:
        layer, indicator = question.benchmark.split(":")
        assert layer == "mopac_pas_2016"
        results = published_results(loaded, indicator=indicator).set_index("area_code")
        column = header.index(question.text.replace("anti-social behaviour", "ASB"))
        for code, row in expected.items():
            assert results.loc[code, "share"] == pytest.approx(float(row[column]) / 100)
            assert results.loc[code, "area_name"] == row[0]
        assert results["ci_low"].isna().all() and "no base" in results["method"].iloc[0]
    safe = published_results(loaded, indicator="how_safe_do_you_feel_walking_alone_in_this_area_after_dark__safe")
    assert safe.set_index("area_code")["share"].to_dict() == pytest.approx(
        {"SX-SA": 0.85, "SX-SC": 0.74, "SX-SG": 0.73, "SX-SK": 0.85})


# --- question files -------------------------------------------------------------------------


def test_shipped_survey_files_are_valid(survey) -> None:
    specs = load_surveys(REPO / "surveys")
    assert [s.name for s in specs] == ["resident_perception_illustrative"]
    assert survey.illustrative and survey.waves == ("2025", "2026")
    safe = survey.question("safe_after_dark")
    assert safe.reported == {"1", "2"} and safe.excluded == {"8"} and safe.reported_label == "very or fairly safe"
    with pytest.raises(ConfigError, match="no question 'safety'.*safe_after_dark"):
        survey.question("safety")


def test_question_file_validator_reports_every_problem_at_once() -> None:
    raw = tomllib.loads(textwrap.dedent("""
        name = "Bad Survey"
        colour = "blue"
        waves = ["2025", "2025"]

        [[questions]]
        id = "safe"
        text = "How safe?"
        reported = [1, 9]
        reported_label = "safe"
        answers = [{ code = 1, label = "Safe" }, { code = 1, label = "Also safe" }, { code = 2 }]

        [[questions]]
        id = "safe"
        text = ""
        reported = [1, 2]
        excluded = [2]
        reported_label = "all"
        benchmark = "not a reference"
        answers = [{ code = 1, label = "Yes" }, { code = 2, label = "No" }]

        [[questions]]
        id = "Everything"
        text = "Always yes?"
        reported = [1, 2]
        reported_label = "all"
        answers = [{ code = 1, label = "Yes" }, { code = 2, label = "No" }]
    """))
    problems = survey_problems(raw, where="bad.toml")
    text = "\n".join(problems)
    for expected in ("missing required key 'title'", "unknown key 'colour'", "name 'Bad Survey'",
                     "wave(s) 2025 listed more than once", "code '1' is used twice", "answer 3: each answer must be",
                     "'reported' code '9' is not one of the answer codes", "'text' must not be empty",
                     "both reported and excluded", "benchmark 'not a reference'", "id 'Everything' must be",
                     "share would always be 100%", "question id 'safe' is used by 2 questions"):
        assert expected in text, expected
    with pytest.raises(ConfigError) as info:
        parse_survey(raw, where="bad.toml")
    assert str(info.value).count("\n  - ") == len(problems) >= 13


def test_survey_folder_problems_are_reported_together(tmp_path: Path) -> None:
    good = SURVEY_FILE.read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(good, encoding="utf-8")
    (tmp_path / "b.toml").write_text(good, encoding="utf-8")
    (tmp_path / "c.toml").write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_surveys(tmp_path)
    message = str(info.value)
    assert "c.toml: not valid TOML" in message and "b.toml: survey name 'resident_perception_illustrative'" in message
    with pytest.raises(ConfigError, match="not found"):
        load_survey(tmp_path / "missing.toml")


# --- the survey-responses loader -------------------------------------------------------------

HEADER = "respondent_id,wave,interview_date,ward_code,lsoa_code,weight,safe_after_dark,worried_asb,worried_crime"


def _write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "responses.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _load(path: Path, **options: object):
    return get_loader("survey-responses")(path, questions=str(SURVEY_FILE), **options)


def test_loader_reads_a_good_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "r1,2025,2025-10-03,E05013628,E01000115,1.5,1,3,8",
                  "r2,2026,2026-09,,E01000116,0.5,4,,2", "r3,2026,2026-09-30,,,0,2,4,1")
    loaded = _load(path)
    frame = loaded.frame
    assert frame["source_id"].tolist() == ["r1", "r2", "r3"]
    assert frame["category"].tolist() == ["2025", "2026", "2026"]
    assert frame["month"].tolist() == ["2025-10", "2026-09", "2026-09"]
    assert frame["properties"].iloc[1] == {"ward_code": None, "lsoa_code": "E01000116", "weight": 0.5,
                                           "answers": {"safe_after_dark": "4", "worried_asb": None,
                                                       "worried_crime": "2"}}
    assert any("1 respondent(s) have no ward, LSOA or coordinates" in n for n in loaded.notes)
    assert any("weight 0" in n for n in loaded.notes)


def test_loader_reports_every_broken_row_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "r1,2025,2025-10-03,E05013628,E01000115,,1,3,8",
        "r2,2025,2025-10-03,E05013628,E01000115,-0.4,1,3,8",
        "r3,2025,2025-10-03,E05013628,E01000115,heavy,1,3,8",
        "r4,2025,2025-10-03,E05013628,E01000115,1,5,3,8",
        "r5,2025,2025-10-03,Barnet Vale,E01000115,1,1,3,8",
        "r6,2025,2025-10-03,E05013628,E02000115,1,1,3,8",
        "r6,2025,2025-10-03,E05013628,E01000115,1,1,3,8",
        ",2025,2025-13-03,E05013628,E01000115,1,1,3,8",
        "r9,2024,2025-10-03,E05013628,E01000115,1,1,3,8",
        "r10,,2025-10-03,E05013628,E01000115,1,1,3,x",
    )
    with pytest.raises(LoadError) as info:
        _load(path)
    found = {(p.row, p.column): p.reason for p in info.value.problems}
    assert "missing weight" in found[1, "weight"]
    assert "-0.4 is negative" in found[2, "weight"]
    assert "'heavy' is not a number" in found[3, "weight"]
    assert ("answer '5' is not a code of question 'safe_after_dark' (codes: 1, 2, 3, 4, 8)"
            in found[4, "safe_after_dark"])
    assert "'Barnet Vale' is not a GSS ward code" in found[5, "ward_code"]
    assert "'E02000115' is not an LSOA code" in found[6, "lsoa_code"]
    assert "respondent id 'r6' repeats row 6" in found[7, "respondent_id"]
    assert "blank respondent id" in found[8, "respondent_id"]
    assert "is not a month" in found[8, "interview_date"]
    assert "wave '2024' is not one of the survey's waves (2025, 2026)" in found[9, "wave"]
    assert "blank wave" in found[10, "wave"]
    assert "answer 'x'" in found[10, "worried_crime"]
    assert len(info.value.problems) == 12


def test_loader_names_missing_columns_and_needs_a_question_list(tmp_path: Path) -> None:
    path = _write(tmp_path, "r1,2025,E05013628,1,1", header="respondent_id,wave,ward_code,weight,safe_after_dark")
    with pytest.raises(LoadError) as info:
        _load(path)
    missing = {p.column for p in info.value.problems}
    assert missing == {"worried_asb", "worried_crime"}
    loaded = get_loader("survey-responses")(path, answers=["safe_after_dark"])
    assert loaded.frame["properties"].iloc[0]["answers"] == {"safe_after_dark": "1"}
    assert any("not checked" in n for n in loaded.notes)
    with pytest.raises(ConfigError, match="needs the questions option"):
        get_loader("survey-responses")(path)
    undated = _write(tmp_path, "r1,E05013628,1,1", header="respondent_id,ward_code,weight,safe_after_dark")
    with pytest.raises(LoadError, match="no wave or interview date column"):
        get_loader("survey-responses")(undated, answers=["safe_after_dark"])


def test_loader_places_respondents_with_coordinates(tmp_path: Path) -> None:
    path = _write(tmp_path, "r1,2025,2025-10-03,,,1,1,3,8,524000,192000", "r2,2025,2025-10-03,,,1,1,3,8,,",
                  header=HEADER + ",easting,northing")
    loaded = _load(path, x="easting", y="northing", crs="EPSG:27700")
    point = loaded.frame.geometry.iloc[0]
    assert loaded.frame.crs.to_epsg() == 4326 and -0.3 < point.x < -0.1 and 51.5 < point.y < 51.7
    assert loaded.frame.geometry.iloc[1] is None
    broken = _write(tmp_path, "r1,2025,2025-10-03,,,1,1,3,8,524000,", header=HEADER + ",easting,northing")
    with pytest.raises(LoadError, match="blank while easting has a value"):
        _load(broken, x="easting", y="northing", crs="EPSG:27700")


def test_respondents_frame_and_area_estimates_without_covariates(survey) -> None:
    people = pd.DataFrame({
        "respondent_id": [f"r{i}" for i in range(80)], "wave": ["2025"] * 80,
        "ward_code": ["E05000001"] * 40 + ["E05000002"] * 38 + [None] * 2,
        "weight": [1.0] * 80, "safe_after_dark": (["1"] * 30 + ["3"] * 10) + (["2"] * 35 + ["4"] * 3) + ["1", "8"],
    })
    table = area_estimates(people, survey.question("safe_after_dark")).set_index("area_code")
    assert table.loc["total", "n"] == 79 and table.loc["total", "published"]
    assert table.loc["total", "share"] == pytest.approx(66 / 79)
    assert not table.loc["E05000002", "published"]
    assert not table.loc["E05000001", "published"]
    assert "secondary" in table.loc["E05000001", "suppression_reason"]
    assert question_shares(people, survey.question("safe_after_dark"), by=["wave"])["n"].iloc[0] == 79
    with pytest.raises(ValueError, match="no column 'worried_asb'"):
        question_shares(people, survey.question("worried_asb"), by=["wave"])


def test_question_dataclass_is_usable_without_a_file() -> None:
    question = Question(id="q", text="Q?", answers={"y": "Yes", "n": "No"}, reported=frozenset({"y"}),
                        reported_label="yes")
    assert question.flags(pd.Series(["y", "n", "?"])).tolist()[:2] == [1.0, 0.0]
