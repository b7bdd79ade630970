"""The command line: clear one-line errors, and a failed import leaves the store as it was."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from insight.cli import main
from insight.store import layer_summaries
from tests.conftest import DATA_DIR


def _run(store, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--database-url", store.settings.resolved_database_url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _layers_env(monkeypatch, store) -> None:
    monkeypatch.setenv("INSIGHT_DATA_DIR", store.settings.data_dir)
    monkeypatch.setenv("INSIGHT_LAYERS_DIR", store.settings.layers_dir)


def test_layers_on_an_empty_database_says_what_to_do(store, capsys) -> None:
    code, out, _ = _run(store, capsys, "layers")
    assert code == 0 and "insight load-sample" in out


def test_load_sample_only_and_if_empty(store, capsys) -> None:
    code, out, _ = _run(store, capsys, "load-sample", "--only", "borough", "wards_2022")
    assert code == 0 and "wards_2022: 24 areas stored" in out
    code, out, _ = _run(store, capsys, "load-sample", "--if-empty")
    assert code == 0 and "not reloading" in out
    code, out, _ = _run(store, capsys, "layers")
    assert "wards_2022" in out and "boundary" in out and "Open Government Licence" in out


def test_import_of_another_boroughs_boundaries_needs_no_layer_file(store, capsys, tmp_path: Path) -> None:
    src = tmp_path / "other_wards.geojson"
    shutil.copy(DATA_DIR / "boundaries" / "wards_2011.geojson", src)
    code, out, err = _run(
        store, capsys, "import", str(src), "--layer", "other_wards", "--kind", "boundary",
        "--format", "boundary", "--area-type", "ward", "--vintage", "2011",
    )
    assert code == 0, err
    assert "other_wards: 21 areas stored" in out
    summary = {s.name: s for s in layer_summaries(store.engine)}["other_wards"]
    assert (summary.area_type, summary.vintage, summary.feature_count) == ("ward", "2011", 21)


def test_failed_import_is_one_clear_message_and_changes_nothing(store, capsys, tmp_path: Path) -> None:
    _run(store, capsys, "load-sample", "--only", "borough", "wards_2022")
    before = [(s.name, s.feature_count, s.loaded_at) for s in layer_summaries(store.engine)]
    broken = tmp_path / "wards_2022.geojson"
    text = (DATA_DIR / "boundaries" / "wards_2022.geojson").read_text(encoding="utf-8")
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    code, out, err = _run(store, capsys, "import", str(broken), "--layer", "wards_2022")
    assert code == 2
    assert err.startswith("error: ") and "wards_2022.geojson" in err
    assert "Traceback" not in err
    assert [(s.name, s.feature_count, s.loaded_at) for s in layer_summaries(store.engine)] == before


def test_unknown_layer_name_without_kind_explains_the_flags(store, capsys, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n")
    code, _, err = _run(store, capsys, "import", str(src), "--layer", "mystery")
    assert code == 2 and "--kind" in err and "--format" in err


def test_unreachable_database_is_a_clear_error(capsys) -> None:
    code = main(["--database-url", "postgresql+psycopg://nobody@127.0.0.1:9/none", "layers"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot connect to the database")


def test_unsupported_database_url(capsys) -> None:
    code = main(["--database-url", "mysql://x@localhost/db", "layers"])
    assert code == 2 and "unsupported database URL" in capsys.readouterr().err


def test_survey_import_then_perception_table_and_profile_rows(store, capsys, tmp_path: Path) -> None:
    import csv

    import pandas as pd

    code, _, err = _run(store, capsys, "load-sample", "--only", "borough", "wards_2022", "lsoa_2021",
                        "lookup_lsoa21_ward2022", "census2021_population", "crime_2024_04")
    assert code == 0, err
    code, out, _ = _run(store, capsys, "perception", "--boundary", "wards_2022", "--format", "csv",
                        "-o", str(tmp_path / "none.csv"))
    assert code == 2 and not (tmp_path / "none.csv").exists()
    raw_file = DATA_DIR / "surveys" / "resident_perception_illustrative.csv"
    code, out, err = _run(store, capsys, "import", str(raw_file), "--layer", "resident_survey_illustrative")
    assert code == 0, err
    assert "4000 rows stored" in out.replace(",", "")
    out_file = tmp_path / "asb.csv"
    code, out, err = _run(store, capsys, "perception", "--boundary", "wards_2022", "--question", "worried_asb",
                          "--format", "csv", "-o", str(out_file))
    assert code == 0, err
    assert "ILLUSTRATIVE" in out and "areas published" in out
    with out_file.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 25 and rows[-1]["area_code"] == "E09000003"
    raw = pd.read_csv(raw_file, dtype=str)
    raw = raw[(raw["wave"] == "2026") & raw["worried_asb"].isin(["1", "2", "3", "4"])]
    for row in rows[:-1]:
        mine = raw[raw["ward_code"] == row["area_code"]]
        if row["published"] == "True":
            w = mine["weight"].astype(float)
            expected = (w * mine["worried_asb"].isin(["3", "4"])).sum() / w.sum()
            assert float(row["share"]) == pytest.approx(expected) and len(mine) >= 30
        else:
            assert row["share"] == "" and row["n"] == ""
    assert not any("ILL-RPS-" in line for line in out_file.read_text(encoding="utf-8").splitlines())
    code, out, err = _run(store, capsys, "perception", "--boundary", "borough", "--format", "csv",
                          "-o", str(tmp_path / "b.csv"))
    assert code == 2 and "not areas of" in err
    profile_file = tmp_path / "burnt_oak.csv"
    code, out, err = _run(store, capsys, "profile", "--boundary", "wards_2022", "--area", "Burnt Oak",
                          "--format", "csv", "-o", str(profile_file))
    assert code == 0, err
    with profile_file.open(encoding="utf-8") as f:
        metrics = {r["metric"] for r in csv.DictReader(f)}
    assert {"perception:worried_asb:share", "perception:safe_after_dark:rate"} <= metrics


def _commands(parser) -> list[list[str]]:
    """Every command path of ``parser`` (e.g. ['trends', 'forecast']), found by walking its subparsers."""
    import argparse

    found: list[list[str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append([name])
                found.extend([name, *rest] for rest in _commands(sub))
    return found


def test_help_prints_for_the_tool_and_every_command(capsys) -> None:
    from insight.cli.main import build_parser

    commands = _commands(build_parser())
    assert ["trends"] in commands and ["user", "invite"] in commands and ["profiles"] in commands
    for command in [[], *commands]:
        with pytest.raises(SystemExit) as stopped:
            main([*command, "--help"])
        assert stopped.value.code == 0, command
        out = capsys.readouterr().out
        assert out.startswith("usage: insight"), command
