"""Files of the every-area table (:func:`insight.analysis.area_figures.every_area_table`) with its metadata.

- ``csv``: the columns only (one row per area); the metadata is its own file (``metadata.csv``:
  ``/api/table/<boundary>.metadata.csv``) and is inside the xlsx, json and gpkg files.
- ``xlsx``: sheets "Areas", "metadata" (one row per column) and "About".
- ``json``: ``{"about": {...}, "columns": [metadata rows], "areas": [rows]}``.
- ``gpkg``: layer "areas" (outlines with every column), attribute tables "about" (item, value) and
  "columns" (the metadata).

Text is made formula-safe as in :mod:`insight.analysis.export`.
"""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd

from insight.analysis.export import json_value, safe_frame, write_areas_gpkg, write_xlsx
from insight.errors import BadRequest

EVERY_AREA_FORMATS = ("csv", "xlsx", "json", "gpkg", "metadata.csv")


def about_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The table's description (its ``attrs``) as item and value rows."""
    return pd.DataFrame([{"item": k, "value": str(v)} for k, v in table.attrs.items()], columns=["item", "value"])


def write_every_area_table(
    table: pd.DataFrame, metadata: pd.DataFrame, fmt: str, path: Path, areas: gpd.GeoDataFrame | None = None
) -> Path:
    """Write the every-area table as ``fmt`` (one of :data:`EVERY_AREA_FORMATS`) to ``path``.

    A GeoPackage needs ``areas`` (``code`` and geometry) for the outlines.
    """
    path = Path(path)
    about = about_frame(table)
    if fmt == "csv":
        safe_frame(table, columns=False).to_csv(path, index=False)
    elif fmt == "metadata.csv":
        safe_frame(metadata, columns=False).to_csv(path, index=False)
    elif fmt == "xlsx":
        write_xlsx(path, {"Areas": table, "metadata": metadata, "About": about})
    elif fmt == "json":
        payload = {
            "about": {k: str(v) for k, v in table.attrs.items()},
            "columns": metadata.to_dict("records"),
            "areas": [{k: json_value(v) for k, v in r.items()} for r in table.to_dict("records")],
        }
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    elif fmt == "gpkg":
        write_areas_gpkg(path, areas, table, {"about": about, "columns": metadata})
    else:
        raise BadRequest(f"format '{fmt[:20]}' is not one of {', '.join(EVERY_AREA_FORMATS)}")
    return path
