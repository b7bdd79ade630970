"""Layer definitions: every problem in every file reported at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from insight.errors import ConfigError
from insight.layers import load_specs

GOOD = """
name = "wards"
kind = "boundary"
title = "Wards"
loader = "boundary"
area_type = "ward"
source = "s"
publisher = "p"
licence = "l"
attribution = "a"
"""


def test_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD.replace('kind = "boundary"', 'kind = "blob"') + 'colour = "red"\n')
    (tmp_path / "c.toml").write_text("name = ")
    (tmp_path / "d.toml").write_text(GOOD)  # same name as a.toml
    with pytest.raises(ConfigError) as info:
        load_specs(tmp_path)
    message = str(info.value)
    assert "b.toml: unknown key 'colour'" in message
    assert "b.toml: kind 'blob' is not one of" in message
    assert "c.toml: not valid TOML" in message
    assert "d.toml: layer name 'wards' is also used by a.toml" in message


def test_boundary_needs_area_type_and_only_boundaries_can_be_the_authority(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD.replace('area_type = "ward"\n', ""))
    (tmp_path / "b.toml").write_text(
        GOOD.replace('"wards"', '"pts"').replace('"boundary"', '"points"', 1) + "authority = true\n"
    )
    with pytest.raises(ConfigError) as info:
        load_specs(tmp_path)
    assert "a.toml: a boundary layer needs 'area_type'" in str(info.value)
    assert "b.toml: only a boundary layer can be the authority outline" in str(info.value)


def test_load_order_puts_boundaries_first_and_points_last(tmp_path: Path) -> None:
    (tmp_path / "z.toml").write_text(GOOD.replace('"wards"', '"aaa_points"').replace('"boundary"', '"points"', 1))
    (tmp_path / "a.toml").write_text(GOOD.replace('"wards"', '"zzz_wards"'))
    assert [s.name for s in load_specs(tmp_path)] == ["zzz_wards", "aaa_points"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_specs(tmp_path / "nope")
