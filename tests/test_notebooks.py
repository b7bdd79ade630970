"""The notebooks run: every code cell executes against the loaded sample."""
from __future__ import annotations

import json

import pytest

from insight.config import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_code_cells_run(sample_store, monkeypatch, path) -> None:
    monkeypatch.setenv("INSIGHT_DATABASE_URL", sample_store.settings.resolved_database_url)
    namespace: dict = {}
    try:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                exec("".join(cell["source"]), namespace)
    finally:
        if hasattr(namespace.get("engine"), "dispose"):
            namespace["engine"].dispose()
    assert "wards" in namespace and len(namespace["wards"]) == 24
