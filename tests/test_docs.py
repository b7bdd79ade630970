"""Docs stay true: every layer and every setting is in the README."""
from __future__ import annotations

from insight.config import PROJECT_ROOT, settings_help
from insight.layers import load_specs
from tests.conftest import LAYERS_DIR

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_layer_definition_is_valid_and_in_the_readme_catalogue() -> None:
    for spec in load_specs(LAYERS_DIR):
        assert f"| `{spec.name}` | {spec.kind} | {spec.title} |" in README, spec.name


def test_every_setting_is_documented() -> None:
    for key, _, _ in settings_help():
        assert f"`{key}`" in README, key


def test_readme_names_the_two_commands_and_ci_calls_the_test_one() -> None:
    assert "bash scripts/run.sh" in README and "bash scripts/test.sh" in README
    assert "scripts/test.sh" in (PROJECT_ROOT / ".ci" / "run").read_text()



def test_architecture_page_names_every_package_and_the_readme_points_to_it() -> None:
    page = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in README
    for package in sorted(p for p in (PROJECT_ROOT / "insight").iterdir() if (p / "__init__.py").exists()):
        assert f"`insight/{package.name}/`" in page, package.name
