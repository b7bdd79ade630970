"""Exports of profiles and area tables: CSV, XLSX, JSON, GeoJSON, GeoPackage and a standalone HTML report.

Text that a spreadsheet would run as a formula (starting with =, +, -, @, tab or
carriage return) is written with a leading apostrophe so it stays text.
"""
from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import SupportsFloat

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from shapely.geometry.base import BaseGeometry

from insight.analysis.places import Places
from insight.analysis.profiles import Profile, area_query
from insight.errors import BadRequest
from insight.geo.crs import STORAGE_CRS, to_metric

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PROFILE_FORMATS = ("csv", "xlsx", "json", "geojson", "gpkg", "html")
TABLE_FORMATS = ("csv", "xlsx", "json", "gpkg")
_REPORT_CSS = """
body{font-family:system-ui,Arial,sans-serif;color:#0b0c0c;margin:0 auto;max-width:60rem;padding:1rem;line-height:1.45}
h1{margin-bottom:.2rem} .meta{color:#505a5f;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem;font-size:.95rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border-bottom:1px solid #b1b4b6;padding:.3rem .4rem;text-align:left;vertical-align:top}
td{font-variant-numeric:tabular-nums} .map{border:1px solid #b1b4b6;margin:1rem 0}
.key span{display:inline-block;margin-right:1.2rem}
.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.3rem}
@media print{body{max-width:none} section,table{break-inside:auto} tr{break-inside:avoid} h2{break-after:avoid}}
"""


def safe_text(value: object) -> object:
    """Neutralise spreadsheet formulas in text; other values pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_text)
    out.columns = [safe_text(str(c)) for c in out.columns]
    return out


def _json_value(value: object) -> object:
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def profile_frame(profile: Profile) -> pd.DataFrame:
    """The profile's figures as one tidy table, with the area on every row."""
    figures = profile.figures.copy()
    figures.insert(0, "area_code", profile.code)
    figures.insert(1, "area_name", profile.name)
    figures.insert(2, "boundary", profile.boundary.meta.title)
    return figures


def sources_frame(profile: Profile, places: Places | None = None) -> pd.DataFrame:
    """Sources, licences, attribution and methods behind a profile: the provenance sheet."""
    rows = (
        profile.figures[["section", "source", "period", "boundary_vintage", "method"]]
        .drop_duplicates()
        .reset_index(drop=True)
    )
    if places is not None:
        layers = pd.DataFrame(
            [
                {"section": "Layer", "source": f"{m.title}: {m.source}", "period": m.period_start or "",
                 "boundary_vintage": m.vintage or "", "method": f"Licence: {m.licence}. {m.attribution}"
                 + (" ILLUSTRATIVE data." if m.illustrative else "")}
                for m in places.layers.values()
            ]
        )
        rows = pd.concat([rows, layers], ignore_index=True)
    notes = pd.DataFrame([{"section": "Note", "source": n, "period": "", "boundary_vintage": "", "method": ""}
                          for n in profile.notes])
    return pd.concat([rows, notes], ignore_index=True)


def _sheet(wb: Workbook, title: str, frame: pd.DataFrame) -> None:
    ws = wb.create_sheet(title=title[:31])
    safe = _safe_frame(frame)
    ws.append(list(safe.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in safe.itertuples(index=False):
        ws.append([_json_value(v) for v in row])
    for i, col in enumerate(safe.columns, start=1):
        width = max([len(str(col))] + [len(str(v)) for v in safe.iloc[:200, i - 1]])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, width + 2))
    ws.freeze_panes = "A2"


def write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """A workbook with one sheet per frame, text made formula-safe."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in sheets.items():
        _sheet(wb, title, frame)
    wb.save(path)


def area_features(profile: Profile, places: Places, *, crime_layer: str | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The area's polygon, its assets and (for the profile's period) its crime points, EPSG:4326."""
    area = gpd.GeoDataFrame(
        {"code": [profile.code], "name": [profile.name], "boundary": [profile.boundary.meta.title]},
        geometry=[profile.geometry], crs=STORAGE_CRS,
    )
    assets = profile.assets
    asset_gdf = gpd.GeoDataFrame(
        assets.drop(columns=["longitude", "latitude"]),
        geometry=gpd.points_from_xy(assets["longitude"], assets["latitude"]), crs=STORAGE_CRS,
    )
    layers = {"area": area, "assets": asset_gdf}
    crime_section = profile.figures[profile.figures["metric"] == "points_total"]
    if crime_layer is None and len(crime_section):
        crime_layer = next(
            (n for n, p in places.points.items() if p.meta.title in crime_section["label"].iloc[0]), None
        )
    if crime_layer:
        period = crime_section["period"].iloc[0] if len(crime_section) else ""
        months = tuple(period.split(" to ")) if " to " in period else None
        boundary = profile.boundary
        query = area_query(boundary, boundary.index_of(profile.code), months=months)
        found = places.points_source().points(crime_layer, query).frame
        layers["crime"] = gpd.GeoDataFrame(
            {"layer": crime_layer, "category": found["category"], "street": found["name"], "month": found["month"]},
            geometry=gpd.points_from_xy(found["x"].astype(float), found["y"].astype(float)), crs=STORAGE_CRS,
        )
    return layers


def _svg_map(profile: Profile, layers: dict[str, gpd.GeoDataFrame], *, width: int = 640) -> str:
    """An inline SVG map of the area and its points (British National Grid, north up): no scripts, no network."""
    area = to_metric(layers["area"])
    minx, miny, maxx, maxy = area.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.05 + 50
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    scale = width / (maxx - minx)
    height = int((maxy - miny) * scale)

    def xy(x: float, y: float) -> str:
        return f"{(x - minx) * scale:.1f},{(maxy - y) * scale:.1f}"

    def rings(geom: BaseGeometry) -> str:
        parts = []
        for poly in getattr(geom, "geoms", [geom]):
            for ring in [poly.exterior, *poly.interiors]:
                parts.append("M" + " L".join(xy(x, y) for x, y in ring.coords) + " Z")
        return " ".join(parts)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
           f'role="img" aria-labelledby="map-title"><title id="map-title">Map of {html.escape(profile.name)} '
           "with its assets and recorded crime</title>",
           f'<path d="{rings(area.geometry.iloc[0])}" fill="#e8eef4" stroke="#1d3557" stroke-width="2" '
           'fill-rule="evenodd"/>']
    styles = {"crime": ("#b2182b", 1.6), "assets": ("#2166ac", 3.2)}
    for name in ("crime", "assets"):
        if name in layers and len(layers[name]):
            pts = to_metric(layers[name])
            colour, r = styles[name]
            for x, y in zip(pts.geometry.x, pts.geometry.y):
                if np.isfinite(x) and np.isfinite(y):
                    cx, cy = xy(x, y).split(",")
                    out.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}" fill-opacity="0.7"/>')
    out.append("</svg>")
    return "".join(out)


def _fmt(value: object, unit: object) -> str:
    """A figure for the report: a percentage for a share, one decimal for a rate, "—" for none."""
    if not isinstance(value, SupportsFloat) or math.isnan(float(value)):
        return "—"
    number = float(value)
    if unit == "share":
        return f"{number:.1%}"
    if unit in ("per 1,000",):
        return f"{number:,.1f}"
    if unit == "rank":
        return f"{number:,.0f}"
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


def _rank_text(rank: object, of: object) -> str:
    """'3 of 24' for a ranked figure, empty when it is not ranked."""
    if not isinstance(rank, SupportsFloat) or not isinstance(of, SupportsFloat) or math.isnan(float(rank)):
        return ""
    return f"{float(rank):.0f} of {float(of):.0f}"


def profile_html(profile: Profile, places: Places) -> str:
    """A standalone, printable HTML report: inline CSS and SVG map, nothing fetched from a network."""
    esc = html.escape
    layers = area_features(profile, places)
    sections = []
    for section, rows in profile.figures.groupby("section", sort=False):
        body = "".join(
            f"<tr><th scope='row'>{esc(str(r.label))}</th><td>{_fmt(r.value, r.unit)}</td>"
            f"<td>{_fmt(r.comparator_value, r.unit)}</td>"
            f"<td>{_rank_text(r.rank, r.of)}</td>"
            f"<td>{esc(str(r.period))}</td></tr>"
            for r in rows.itertuples()
        )
        sections.append(
            f"<section><h2>{esc(str(section))}</h2><table><caption>{esc(str(section))} in {esc(profile.name)} "
            f"compared with {esc(profile.comparator)}</caption><thead><tr><th scope='col'>Figure</th>"
            f"<th scope='col'>{esc(profile.name)}</th><th scope='col'>{esc(profile.comparator)}</th>"
            f"<th scope='col'>Rank</th><th scope='col'>Period</th></tr></thead><tbody>{body}</tbody>"
            "</table></section>"
        )
    assets = profile.assets
    asset_rows = "".join(
        f"<tr><td>{esc(str(a.name))}</td><td>{esc(str(a.category))}</td><td>{esc(str(a.layer_title))}</td>"
        f"<td>{esc(str(a.asset_kind))}</td></tr>"
        for a in assets.itertuples()
    )
    sources = sources_frame(profile, places)
    source_rows = "".join(
        f"<tr><td>{esc(str(s.section))}</td><td>{esc(str(s.source))}</td><td>{esc(str(s.period))}</td>"
        f"<td>{esc(str(s.boundary_vintage))}</td><td>{esc(str(s.method))}</td></tr>"
        for s in sources.itertuples()
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in profile.notes)
    created = datetime.now(UTC).strftime("%d %B %Y")
    return f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(profile.title)} — area profile</title>
<style>{_REPORT_CSS}</style></head><body>
<header><h1>{esc(profile.name)}</h1><p class="meta">{esc(profile.boundary.meta.title)} ·
boundary vintage {esc(profile.boundary.meta.vintage or "")} · compared with {esc(profile.comparator)} ·
produced {created}</p></header>
<main>
<figure class="map">{_svg_map(profile, layers)}
<figcaption class="key"><span><span class="dot" style="background:#2166ac"></span>Assets</span>
<span><span class="dot" style="background:#b2182b"></span>Recorded crime and ASB in the period</span>
</figcaption></figure>
{"<section><h2>Notes</h2><ul>" + notes + "</ul></section>" if notes else ""}
{"".join(sections)}
<section><h2>Assets in the area</h2><table><caption>{len(assets)} assets</caption><thead><tr>
<th scope="col">Name</th><th scope="col">Type</th><th scope="col">Layer</th><th scope="col">Kind</th></tr></thead>
<tbody>{asset_rows}</tbody></table></section>
<section><h2>Sources, licences and methods</h2><table><thead><tr><th scope="col">Section</th>
<th scope="col">Source</th><th scope="col">Period</th><th scope="col">Boundary vintage</th>
<th scope="col">Method or licence</th></tr></thead>
<tbody>{source_rows}</tbody></table></section>
</main></body></html>"""


def export_profile(profile: Profile, places: Places, fmt: str, path: Path) -> Path:
    """Write one area's profile as ``fmt`` (one of PROFILE_FORMATS) to ``path``."""
    path = Path(path)
    if fmt == "csv":
        _safe_frame(profile_frame(profile)).to_csv(path, index=False)
    elif fmt == "json":
        payload = {
            "area": {"code": profile.code, "name": profile.name, "boundary": profile.boundary.meta.name,
                     "boundary_title": profile.boundary.meta.title, "vintage": profile.boundary.meta.vintage},
            "comparator": profile.comparator,
            "figures": [{k: _json_value(v) for k, v in r.items()} for r in profile.figures.to_dict("records")],
            "monthly": profile.monthly.to_dict("records"),
            "monthly_by_category": profile.monthly_by_category.to_dict("records"),
            "assets": [{k: _json_value(v) for k, v in r.items()} for r in profile.assets.to_dict("records")],
            "notes": profile.notes,
        }
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    elif fmt == "xlsx":
        sheets = {
            str(section): rows.drop(columns=["section"]).reset_index(drop=True)
            for section, rows in profile.figures.groupby("section", sort=False)
        }
        sheets["Trend by month"] = profile.monthly
        sheets["By month and category"] = profile.monthly_by_category
        sheets["Asset list"] = profile.assets
        sheets["Sources and methods"] = sources_frame(profile, places)
        write_xlsx(path, sheets)
    elif fmt in ("geojson", "gpkg"):
        layers = area_features(profile, places)
        if fmt == "geojson":
            frames = [g.assign(feature_type=name) for name, g in layers.items()]
            merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=STORAGE_CRS)
            path.write_text(merged.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
        else:
            if path.exists():
                path.unlink()
            for name, g in layers.items():
                g.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    elif fmt == "html":
        path.write_text(profile_html(profile, places), encoding="utf-8")
    else:
        raise BadRequest(f"format '{fmt}' is not one of {', '.join(PROFILE_FORMATS)}")
    return path


def export_table(table: pd.DataFrame, fmt: str, path: Path, areas: gpd.GeoDataFrame | None = None) -> Path:
    """Write an all-areas table (one row per area) as csv, xlsx, json, or a GeoPackage of ``areas``
    (``code`` and geometry) carrying the table's columns, with an attribute table 'about'."""
    path = Path(path)
    about = pd.DataFrame([{"item": k, "value": str(v)} for k, v in table.attrs.items()])
    if fmt == "gpkg":
        if areas is None:
            raise BadRequest("a GeoPackage needs the areas' outlines: ask for csv, xlsx or json here")
        shapes = areas[["code", "geometry"]].merge(table, on="code", how="inner")
        if path.exists():
            path.unlink()
        gpd.GeoDataFrame(shapes, geometry="geometry", crs=STORAGE_CRS).to_file(
            path, layer="areas", driver="GPKG", engine="pyogrio")
        import pyogrio

        pyogrio.write_dataframe(about, path, layer="about", driver="GPKG", append=True)
        return path
    if fmt == "csv":
        _safe_frame(table).to_csv(path, index=False)
    elif fmt == "xlsx":
        write_xlsx(path, {"Areas": table, "About": about})
    elif fmt == "json":
        payload = {"about": dict(table.attrs),
                   "areas": [{k: _json_value(v) for k, v in r.items()} for r in table.to_dict("records")]}
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    else:
        raise BadRequest(f"format '{fmt}' is not one of {', '.join(TABLE_FORMATS)}")
    return path
