"""Generate the ILLUSTRATIVE Resident Perception Survey: seeded, documented, not real responses.

No open respondent-level survey of the borough exists, so this makes a stand-in with the
features that matter for the statistics: uneven ward samples (some under 30), non-response
that depends on age, design weights that correct it, and a known true share per ward and
wave that depends on the ward's recorded crime and deprivation. Because the truth is
known, tests can check that the intervals cover it and that the small-area estimates are
closer to it than the direct ones.

Everything is read from the sample data in ``data/`` (any council's files of the same shape
would do; nothing here names a borough):

- wards and their names: ``boundaries/wards_2022.geojson``;
- adults (16+) by age group per LSOA and ward: ``indicators/census2021_residents_age6_lsoa21.csv``
  with ``indicators/lookup_lsoa21_ward2022.csv``;
- recorded crime and ASB per ward: ``points/police_api_barnet_2016-01_2018-06.csv.gz`` (30
  months), points assigned to the wards, per 1,000 residents (Census 2021, all ages) per year;
- deprivation per ward: ``indicators/imd2019_lsoa11.csv`` bridged to 2021 LSOAs with
  ``indicators/lookup_lsoa11_lsoa21.csv``, as the population-weighted mean of
  100 × (1 − rank / 32,844) (higher is more deprived; the sample has ranks, not scores);
- calibration targets: ``indicators/mopac_pas_2016_neighbourhood.csv``, the mean over its
  neighbourhood rows of "% Safe" walking alone after dark, and "% Not very or not at all
  worried" about ASB and about crime.

The model (logit scale), for question q, ward w, age group a and wave t::

    logit p[q,w,a,t] = alpha[q] + b_rate[q]·z(log rate_w) + b_dep[q]·z(deprivation_w)
                       + age[q,a] + u[q,w] + change[q,w]·(t is the second wave)

with u ~ N(0, 0.25²) per ward and question, and ``CHANGED_WARDS`` wards per question given
a real change of ±0.8 on the logit scale in the second wave. alpha[q] is found by bisection
so that the adult-population-weighted share of the first wave equals the PAS target; the
true ward share is the adult-population-weighted mean of p over age groups. Sampling:
``RESPONDENTS_PER_WAVE`` respondents per wave, drawn by ward and age group with probability
proportional to adults × a ward fieldwork factor (lognormal, σ = 0.5, fixed across waves with
a small wave jitter) × an age response propensity (``AGE_RESPONSE``: the young answer least).
Each respondent's LSOA is drawn within the ward in proportion to its adults of that age.
Weights are raked to the adults per ward and per age group (Census 2021) and scaled to a
mean of 1 per wave. About 2% answer "Don't know" (code 8) to each question.

Run ``python scripts/build_sample_data.py`` to regenerate the files (it calls
:func:`survey_files` at the end of the build so they are checksummed); running this script
directly writes them to ``--out`` and prints a summary.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import shape

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from insight.analysis.survey.estimates import rake  # noqa: E402
from insight.geo.joins import assign_points  # noqa: E402

SEED = 9000005
"""Seed of the shipped survey (the build's illustrative seeds are 9000003 and 9000004)."""

RESPONDENTS_PER_WAVE = 2000
RESPONDENTS_FILE = "surveys/resident_perception_illustrative.csv"
TRUTH_FILE = "surveys/resident_perception_illustrative_truth.csv"

WARDS_FILE = "boundaries/wards_2022.geojson"
CENSUS_FILE = "indicators/census2021_residents_age6_lsoa21.csv"
WARD_LOOKUP_FILE = "indicators/lookup_lsoa21_ward2022.csv"
IMD_FILE = "indicators/imd2019_lsoa11.csv"
LSOA_BRIDGE_FILE = "indicators/lookup_lsoa11_lsoa21.csv"
CRIME_FILE = "points/police_api_barnet_2016-01_2018-06.csv.gz"
PAS_FILE = "indicators/mopac_pas_2016_neighbourhood.csv"
CRIME_YEARS = 2.5
"""January 2016 to June 2018: 30 months."""
IMD_LSOAS = 32_844
"""LSOAs in England in IMD 2019: rank 1 is the most deprived."""

AGE_GROUPS = ("16-24", "25-34", "35-49", "50-64", "65+")
CENSUS_AGE = {
    "Aged 16 to 24 years": "16-24",
    "Aged 25 to 34 years": "25-34",
    "Aged 35 to 49 years": "35-49",
    "Aged 50 to 64 years": "50-64",
    "Aged 65 years and over": "65+",
}
AGE_RESPONSE = np.array([0.45, 0.60, 0.90, 1.15, 1.50])
"""Relative response propensity by age group: older residents answer surveys more."""

FIELDWORK_SD = 0.5
WAVE_JITTER_SD = 0.15
WARD_EFFECT_SD = 0.25
CHANGED_WARDS = 4
CHANGE_SIZE = 0.8
DONT_KNOW = 0.02


@dataclass(frozen=True)
class QuestionModel:
    """How one question's true share depends on the ward and the respondent's age."""

    id: str
    pas_column: str
    pas_measure: str
    rate: str
    b_rate: float
    b_dep: float
    age: tuple[float, ...]
    reported: tuple[str, str]
    not_reported: tuple[str, str]
    first_share: float
    """Within reported (not reported) answers, the share given the first code."""


QUESTIONS = (
    QuestionModel("safe_after_dark", "How safe do you feel walking alone in this area after dark?", "% Safe",
                  "crime", -0.30, -0.25, (0.35, 0.25, 0.05, -0.10, -0.45), ("1", "2"), ("3", "4"), 0.45),
    QuestionModel("worried_asb", "Are you worried about ASB in this area?", "% Not very or not at all worried",
                  "asb", -0.30, -0.25, (0.20, 0.00, -0.15, -0.10, 0.10), ("3", "4"), ("2", "1"), 0.65),
    QuestionModel("worried_crime", "Are you worried about crime in this area?", "% Not very or not at all worried",
                  "crime", -0.25, -0.15, (0.25, 0.05, -0.15, -0.15, 0.00), ("3", "4"), ("2", "1"), 0.65),
)


@dataclass(frozen=True)
class Wave:
    label: str
    start: dt.date
    end: dt.date


WAVES = (
    Wave("2025", dt.date(2025, 9, 1), dt.date(2025, 11, 30)),
    Wave("2026", dt.date(2026, 9, 1), dt.date(2026, 11, 30)),
)


@dataclass(frozen=True)
class Inputs:
    """Per-ward and per-LSOA facts the generator uses, read once from ``data/``."""

    wards: pd.DataFrame
    """ward_code, ward_name, residents, adults by age group (one column each), crime and ASB counts and rates,
    imd2019_deprivation_pct; sorted by code."""
    lsoa_adults: pd.DataFrame
    """lsoa21_code, ward_code and adults by age group."""
    targets: dict[str, float]
    """PAS calibration target per question id (share 0..1)."""
    authority_code: str
    authority_name: str


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def pas_targets(path: Path) -> dict[str, float]:
    """Mean over the file's neighbourhood rows of each question's PAS percentage, as a share."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    header, measures, data = rows[0], rows[1], rows[2:]
    targets = {}
    for question in QUESTIONS:
        col = header.index(question.pas_column)
        if measures[col] != question.pas_measure:
            raise ValueError(f"{path.name}: column '{question.pas_column}' measures {measures[col]!r}, "
                             f"expected {question.pas_measure!r}")
        values = [float(r[col]) for r in data]
        targets[question.id] = sum(values) / len(values) / 100
    return targets


def read_inputs(data_dir: Path) -> Inputs:
    """Read the ward, population, crime, deprivation and PAS facts from a sample data folder."""
    wards_json = json.loads((data_dir / WARDS_FILE).read_text(encoding="utf-8"))
    features = sorted(wards_json["features"], key=lambda f: f["properties"]["ONSWardCode"])
    codes = [f["properties"]["ONSWardCode"] for f in features]
    names = [f["properties"]["WardName"] for f in features]
    geoms = np.array([shape(f["geometry"]) for f in features], dtype=object)

    lookup = _csv(data_dir / WARD_LOOKUP_FILE)
    ward_of = dict(zip(lookup["lsoa21_code"], lookup["ward24_code"]))
    census = _csv(data_dir / CENSUS_FILE)
    census["residents"] = census["usual_residents"].astype(int)
    census["ward_code"] = census["lsoa21_code"].map(ward_of)
    residents_lsoa = census.groupby("lsoa21_code")["residents"].sum()
    adults = census[census["age_group"].isin(list(CENSUS_AGE))].copy()
    adults["age"] = adults["age_group"].map(CENSUS_AGE)
    lsoa_adults = (adults.pivot_table(index=["lsoa21_code", "ward_code"], columns="age", values="residents",
                                      aggfunc="sum").reindex(columns=list(AGE_GROUPS)).fillna(0).astype(int)
                   .reset_index().sort_values("lsoa21_code", kind="stable").reset_index(drop=True))
    lsoa_adults.columns.name = None

    wards = pd.DataFrame({"ward_code": codes, "ward_name": names})
    by_ward = lsoa_adults.groupby("ward_code")[list(AGE_GROUPS)].sum()
    wards = wards.join(by_ward, on="ward_code")
    wards["residents"] = wards["ward_code"].map(census.groupby("ward_code")["residents"].sum())

    with gzip.open(data_dir / CRIME_FILE, "rt", encoding="utf-8") as fh:
        crime = pd.read_csv(fh, dtype=str, keep_default_na=False, usecols=["category", "latitude", "longitude"])
    x = pd.to_numeric(crime["longitude"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(crime["latitude"], errors="coerce").to_numpy(dtype=float)
    index = assign_points(x, y, geoms)
    asb = (crime["category"] == "anti-social-behaviour").to_numpy()
    wards["crime_count"] = np.bincount(index[(index >= 0) & ~asb], minlength=len(codes))
    wards["asb_count"] = np.bincount(index[(index >= 0) & asb], minlength=len(codes))
    per = 1000 / (wards["residents"] * CRIME_YEARS)
    wards["crime_rate_per_1000"] = wards["crime_count"] * per
    wards["asb_rate_per_1000"] = wards["asb_count"] * per

    imd = _csv(data_dir / IMD_FILE).set_index("lsoa11_code")["index_of_multiple_deprivation_imd_rank"].astype(int)
    bridge = _csv(data_dir / LSOA_BRIDGE_FILE)
    bridge["deprivation"] = 100 * (1 - bridge["lsoa11_code"].map(imd) / IMD_LSOAS)
    deprivation = bridge.groupby("lsoa21_code")["deprivation"].mean()
    frame = pd.DataFrame({"deprivation": deprivation, "residents": residents_lsoa}).dropna()
    frame["ward_code"] = frame.index.map(ward_of)
    frame["weighted"] = frame["deprivation"] * frame["residents"]
    sums = frame.groupby("ward_code")[["weighted", "residents"]].sum()
    wards["imd2019_deprivation_pct"] = wards["ward_code"].map(sums["weighted"] / sums["residents"])
    if wards.isna().any().any():
        raise ValueError("some wards lack population, crime or deprivation inputs; check the lookups")
    authority = lookup[["ltla24_code", "ltla24_name"]].drop_duplicates()
    if len(authority) != 1:
        raise ValueError(f"the ward lookup covers {len(authority)} authorities; expected one")
    return Inputs(wards=wards, lsoa_adults=lsoa_adults, targets=pas_targets(data_dir / PAS_FILE),
                  authority_code=authority.iloc[0, 0], authority_name=authority.iloc[0, 1])


def _z(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def _expit(values: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-values))


def _calibrate(eta: np.ndarray, adults: np.ndarray, target: float) -> float:
    """The shift of ``eta`` that makes the adult-weighted mean probability equal ``target`` (bisection)."""
    low, high = -10.0, 10.0
    for _ in range(80):
        mid = (low + high) / 2
        share = float((adults * _expit(eta + mid)).sum() / adults.sum())
        low, high = (mid, high) if share < target else (low, mid)
    return (low + high) / 2


def simulate(
    inputs: Inputs, *, seed: int, respondents_per_wave: int = RESPONDENTS_PER_WAVE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One illustrative survey: (respondents, truth). Same seed and inputs, same result.

    ``respondents``: respondent_id, wave, interview_date, ward_code, lsoa_code, age_group,
    weight, one answer-code column per question, illustrative. ``truth``: the true share per
    ward, wave and question (plus the inputs it came from) and the authority-wide share.
    """
    rng = np.random.default_rng(seed)
    wards = inputs.wards
    n_wards, n_ages = len(wards), len(AGE_GROUPS)
    adults = wards[list(AGE_GROUPS)].to_numpy(dtype=float)
    z_rate = {"crime": _z(np.log(wards["crime_rate_per_1000"].to_numpy(dtype=float))),
              "asb": _z(np.log(wards["asb_rate_per_1000"].to_numpy(dtype=float)))}
    z_dep = _z(wards["imd2019_deprivation_pct"].to_numpy(dtype=float))

    probability = {}
    changed = {}
    for q in QUESTIONS:
        u = rng.normal(0, WARD_EFFECT_SD, n_wards)
        eta = (q.b_rate * z_rate[q.rate] + q.b_dep * z_dep + u)[:, None] + np.array(q.age)[None, :]
        eta = eta + _calibrate(eta, adults, inputs.targets[q.id])
        shift = np.zeros(n_wards)
        picks = rng.choice(n_wards, CHANGED_WARDS, replace=False)
        shift[picks] = CHANGE_SIZE * rng.choice([-1.0, 1.0], CHANGED_WARDS)
        changed[q.id] = shift != 0
        probability[q.id] = [_expit(eta), _expit(eta + shift[:, None])]

    fieldwork = np.exp(rng.normal(0, FIELDWORK_SD, n_wards))
    lsoa = inputs.lsoa_adults
    lsoa_ward = lsoa["ward_code"].to_numpy()
    ward_codes = wards["ward_code"].to_numpy()
    frames = []
    for t, wave in enumerate(WAVES):
        jitter = np.exp(rng.normal(0, WAVE_JITTER_SD, n_wards))
        chance = adults * (fieldwork * jitter)[:, None] * AGE_RESPONSE[None, :]
        cells = rng.multinomial(respondents_per_wave, (chance / chance.sum()).ravel()).reshape(n_wards, n_ages)
        ward_idx = np.repeat(np.repeat(np.arange(n_wards), n_ages), cells.ravel())
        age_idx = np.repeat(np.tile(np.arange(n_ages), n_wards), cells.ravel())
        order = rng.permutation(len(ward_idx))
        ward_idx, age_idx = ward_idx[order], age_idx[order]
        n = len(ward_idx)
        lsoa_codes = np.empty(n, dtype=object)
        for w in range(n_wards):
            in_ward = np.flatnonzero(lsoa_ward == ward_codes[w])
            for a in range(n_ages):
                who = np.flatnonzero((ward_idx == w) & (age_idx == a))
                if len(who):
                    pop = lsoa[AGE_GROUPS[a]].to_numpy(dtype=float)[in_ward]
                    lsoa_codes[who] = lsoa["lsoa21_code"].to_numpy()[in_ward][rng.choice(len(in_ward), len(who),
                                                                                         p=pop / pop.sum())]
        days = (wave.end - wave.start).days
        dates = [(wave.start + dt.timedelta(days=int(d))).isoformat() for d in rng.integers(0, days + 1, n)]
        frame = pd.DataFrame({
            "wave": wave.label,
            "interview_date": dates,
            "ward_code": ward_codes[ward_idx],
            "lsoa_code": lsoa_codes,
            "age_group": np.array(AGE_GROUPS, dtype=object)[age_idx],
        })
        for q in QUESTIONS:
            yes = rng.random(n) < probability[q.id][t][ward_idx, age_idx]
            first = rng.random(n) < q.first_share
            codes = np.where(yes, np.where(first, q.reported[0], q.reported[1]),
                             np.where(first, q.not_reported[0], q.not_reported[1])).astype(object)
            codes[rng.random(n) < DONT_KNOW] = "8"
            frame[q.id] = codes
        present = np.flatnonzero(cells.sum(axis=1) > 0)
        margins = {
            "ward_code": pd.Series(adults[present].sum(axis=1), index=ward_codes[present]),
            "age_group": pd.Series(adults[present].sum(axis=0), index=list(AGE_GROUPS)),
        }
        weights = rake(frame, margins)
        frame.insert(5, "weight", weights / weights.mean())
        frames.append(frame)
    respondents = pd.concat(frames, ignore_index=True)
    respondents.insert(0, "respondent_id", [f"ILL-RPS-{i:06d}" for i in range(1, len(respondents) + 1)])
    respondents["illustrative"] = "true"
    return respondents, _truth(inputs, probability, changed)


def _truth(inputs: Inputs, probability: dict[str, list[np.ndarray]], changed: dict[str, np.ndarray]) -> pd.DataFrame:
    wards = inputs.wards
    adults = wards[list(AGE_GROUPS)].to_numpy(dtype=float)
    rows = []
    for t, wave in enumerate(WAVES):
        for q in QUESTIONS:
            p = probability[q.id][t]
            ward_share = (adults * p).sum(axis=1) / adults.sum(axis=1)
            rows.append(pd.DataFrame({
                "area_type": "ward", "area_code": wards["ward_code"], "area_name": wards["ward_name"],
                "wave": wave.label, "question": q.id, "true_share": ward_share,
                "planted_change": changed[q.id] & (t > 0),
                "adults_16_plus": adults.sum(axis=1).astype(int), "residents": wards["residents"],
                "crime_count": wards["crime_count"], "asb_count": wards["asb_count"],
                "crime_rate_per_1000": wards["crime_rate_per_1000"], "asb_rate_per_1000": wards["asb_rate_per_1000"],
                "imd2019_deprivation_pct": wards["imd2019_deprivation_pct"],
            }))
            per = 1000 / (wards["residents"].sum() * CRIME_YEARS)
            rows.append(pd.DataFrame({
                "area_type": ["authority"], "area_code": [inputs.authority_code], "area_name": [inputs.authority_name],
                "wave": [wave.label], "question": [q.id], "true_share": [float((adults * p).sum() / adults.sum())],
                "planted_change": [False], "adults_16_plus": [int(adults.sum())],
                "residents": [int(wards["residents"].sum())], "crime_count": [int(wards["crime_count"].sum())],
                "asb_count": [int(wards["asb_count"].sum())],
                "crime_rate_per_1000": [wards["crime_count"].sum() * per],
                "asb_rate_per_1000": [wards["asb_count"].sum() * per],
                "imd2019_deprivation_pct": [float((wards["imd2019_deprivation_pct"] * wards["residents"]).sum()
                                                  / wards["residents"].sum())],
            }))
    truth = pd.concat(rows, ignore_index=True)
    truth["illustrative"] = "true"
    return truth


def _csv_bytes(frame: pd.DataFrame, decimals: dict[str, int]) -> bytes:
    """UTF-8 CSV with LF endings and fixed decimals, so the bytes do not depend on pandas' float repr."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(frame.columns)
    formats = [decimals.get(c) for c in frame.columns]
    for row in frame.itertuples(index=False):
        writer.writerow([
            ("true" if v else "false") if isinstance(v, (bool, np.bool_))
            else f"{v:.{d}f}" if d is not None else v
            for v, d in zip(row, formats)
        ])
    return buf.getvalue().encode("utf-8")


def survey_files(data_dir: Path, *, seed: int = SEED) -> dict[str, tuple[bytes, int]]:
    """The two illustrative files as {relative path: (bytes, data rows)}, from the inputs in ``data_dir``."""
    respondents, truth = simulate(read_inputs(data_dir), seed=seed)
    shares = {"true_share": 6, "crime_rate_per_1000": 3, "asb_rate_per_1000": 3, "imd2019_deprivation_pct": 3}
    return {
        RESPONDENTS_FILE: (_csv_bytes(respondents, {"weight": 6}), len(respondents)),
        TRUTH_FILE: (_csv_bytes(truth, shares), len(truth)),
    }


def summary(data_dir: Path, *, seed: int = SEED) -> list[str]:
    """Lines describing the generated survey: sample sizes, weights and calibration."""
    inputs = read_inputs(data_dir)
    respondents, truth = simulate(inputs, seed=seed)
    lines = [f"Illustrative Resident Perception Survey (seed {seed}): {len(respondents)} respondents"]
    for label, part in respondents.groupby("wave"):
        sizes = part.groupby("ward_code").size().reindex(inputs.wards["ward_code"], fill_value=0)
        w = part["weight"].to_numpy()
        lines.append(f"  wave {label}: {len(part)} respondents; per ward {sizes.min()}–{sizes.max()}, "
                     f"{int((sizes < 30).sum())} ward(s) under 30; weights {w.min():.2f}–{w.max():.2f}, "
                     f"Kish deff {len(w) * (w**2).sum() / w.sum() ** 2:.2f}")
    authority = truth[(truth["area_type"] == "authority")]
    for q in QUESTIONS:
        first = authority[(authority["question"] == q.id) & (authority["wave"] == WAVES[0].label)]
        lines.append(f"  {q.id}: PAS 2016 target {inputs.targets[q.id]:.4f}, true first-wave share "
                     f"{first['true_share'].iloc[0]:.4f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Write the two files to ``--out`` (default: the data folder) and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data", help="sample data folder to read")
    parser.add_argument("--out", type=Path, default=None, help="folder to write to (default: --data)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    out = args.out or args.data
    for rel, (data, rows) in survey_files(args.data, seed=args.seed).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        print(f"{rel}: {rows:,} rows")
    print("\n".join(summary(args.data, seed=args.seed)))
    if out.resolve() == (REPO_ROOT / "data").resolve():
        print("note: data/SHA256SUMS is not updated; run scripts/build_sample_data.py to rebuild and checksum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
