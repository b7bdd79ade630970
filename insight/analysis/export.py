"""Exports of profiles and area tables: CSV, XLSX, JSON, GeoJSON, GeoPackage, and a standalone print-ready
HTML report (also drawn as a PDF of at most a few A4 pages).

Text that a spreadsheet would run as a formula (starting with =, +, -, @, tab or
carriage return) is written with a leading apostrophe so it stays text.
"""
from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from insight.analysis.pdf import html_to_pdf
from insight.analysis.places import Places
from insight.analysis.profiles import ASSET_KIND_LABELS, Profile, area_query
from insight.analysis.svg_charts import COMPARATOR_COLOUR, NO_DATA, Series, bar_chart, column_chart, finite, svg_map
from insight.errors import BadRequest
from insight.geo.crs import STORAGE_CRS
from insight.layers import ASSET_KINDS

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PROFILE_FORMATS = ("csv", "xlsx", "json", "geojson", "gpkg", "html", "pdf")
TABLE_FORMATS = ("csv", "xlsx", "json", "gpkg")


def safe_text(value: object) -> object:
    """Neutralise spreadsheet formulas in text; other values pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame, *, columns: bool = True) -> pd.DataFrame:
    """``frame`` with every text cell (and, with ``columns``, every column name) made safe for a spreadsheet."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_text)
    if columns:
        out.columns = [safe_text(str(c)) for c in out.columns]
    return out


def json_value(value: object) -> object:
    """A cell as a plain JSON value: numpy numbers as Python ones, NaN and infinities as null."""
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
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
    safe = safe_frame(frame)
    ws.append(list(safe.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in safe.itertuples(index=False):
        ws.append([json_value(v) for v in row])
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


_REPORT_CSS = """
@page{size:A4 portrait;margin:13mm 13mm 15mm;
 @bottom-left{content:string(area);font:8pt Arial,sans-serif;color:#505a5f}
 @bottom-right{content:"Page " counter(page) " of " counter(pages);font:8pt Arial,sans-serif;color:#505a5f}}
body{font-family:Arial,Helvetica,sans-serif;color:#0b0c0c;margin:0 auto;max-width:46rem;padding:1rem;
 line-height:1.4;font-size:15px}
h1{margin:0 0 .2rem;string-set:area content()} h2{margin:1.2rem 0 .4rem;break-after:avoid}
.meta,.muted{color:#505a5f} .meta{margin-top:0}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:.9em}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border-bottom:1px solid #b1b4b6;padding:.2rem .35rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} tr{break-inside:avoid}
figure{margin:.6rem 0 1rem;break-inside:avoid} figcaption{font-weight:600;margin-bottom:.3rem}
.map svg{display:block;max-width:min(100%,480px);height:auto;border:1px solid #b1b4b6}
.map figcaption{font-weight:400} svg.chart-svg{display:block;max-width:100%;height:auto}
.key span{display:inline-block;margin-right:1rem} .dot{display:inline-block;width:.7rem;height:.7rem;
 border-radius:50%;margin-right:.3rem} .notes{border-left:5px solid #1d70b8;padding:.1rem .8rem;margin:.8rem 0}
.new-page{break-before:page} .sources table{font-size:.8em}
@media print{body{max-width:none;padding:0;font-size:9pt}
 a{color:#0b0c0c;text-decoration:none} h2{font-size:13pt} h1{font-size:18pt}}
"""
MAX_REPORT_ASSETS = 30


def _fmt(value: object, unit: object) -> str:
    """A figure for the report: a percentage for a share, one decimal for a rate, "no data" for none."""
    number = finite(value)
    if number is None:
        return NO_DATA
    if unit == "share":
        return f"{number:.1%}"
    if unit == "per 1,000":
        return f"{number:,.1f}"
    return f"{number:,.0f}" if number.is_integer() or unit in ("rank", "people", "places") else f"{number:,.2f}"


def _rank_text(rank: object, of: object, ties: object = None) -> str:
    """'3 of 24', 'joint 7 of 24 (with 2 others)', or empty when the figure is not ranked."""
    place, count, others = finite(rank), finite(of), finite(ties)
    if place is None or count is None:
        return ""
    if others:
        return f"joint {place:.0f} of {count:.0f} (with {others:.0f} other{'s' if others != 1 else ''})"
    return f"{place:.0f} of {count:.0f}"


def _table(caption: str, head: list[str], rows: list[list[str]], *, numeric_from: int = 1) -> str:
    """An HTML table; columns from ``numeric_from`` on are right-aligned numbers."""
    esc = html.escape

    def num(i: int) -> str:
        return ' class="n"' if i >= numeric_from else ""

    def cells(row: list[str]) -> str:
        return "".join(f'<th scope="row">{esc(c)}</th>' if i == 0 else f"<td{num(i)}>{esc(c)}</td>"
                       for i, c in enumerate(row))

    head_html = "".join(f'<th scope="col"{num(i)}>{esc(h)}</th>' for i, h in enumerate(head))
    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    return (f"<table><caption>{esc(caption)}</caption><thead><tr>{head_html}"
            f"</tr></thead><tbody>{body}</tbody></table>")


def _figure_rows(profile: Profile, metrics: list[str]) -> list[list[str]]:
    """Label, value, comparator and rank for each metric present, in the order given."""
    indexed = profile.figures.drop_duplicates("metric").set_index("metric")
    rows = []
    for metric in metrics:
        if metric in indexed.index:
            r = indexed.loc[metric]
            rows.append([str(r["label"]), _fmt(r["value"], r["unit"]), _fmt(r["comparator_value"], r["unit"]),
                         _rank_text(r["rank"], r["of"], r.get("ties"))])
    return rows


def _figures_table(profile: Profile, caption: str, metrics: list[str]) -> str:
    rows = _figure_rows(profile, metrics)
    if not rows:
        return ""
    head = ["Figure", profile.name, profile.comparator, "Rank (1 = highest)"]
    if not any(r[3] for r in rows):
        head, rows = head[:3], [r[:3] for r in rows]
    return _table(caption, head, rows)


def _chart(caption: str, svg: str) -> str:
    return f"<figure class='chart'><figcaption>Chart: {html.escape(caption)}</figcaption>{svg}</figure>"


def _pairs(profile: Profile, metrics: list[str]) -> tuple[list[str], list[Series]]:
    """Labels and the area and comparator series for the metrics present (for a bar chart)."""
    f = profile.figures.drop_duplicates("metric").set_index("metric")
    present = [m for m in metrics if m in f.index]
    labels = [str(f.loc[m, "label"]) for m in present]

    def column(name: str) -> list[float]:
        numbers = (finite(f.loc[m, name]) for m in present)
        return [math.nan if n is None else n for n in numbers]

    return labels, [Series(profile.name, column("value")),
                    Series(profile.comparator, column("comparator_value"), COMPARATOR_COLOUR)]


def _percent(value: float) -> str:
    return f"{value:.0%}" if value in (0.0, 0.5, 1.0) else f"{value:.1%}"


def _categories(profile: Profile) -> list[str]:
    """The profile's crime categories, highest rate first."""
    f = profile.figures.drop_duplicates("metric").set_index("metric")
    return sorted((m[len("rate:"):] for m in f.index if m.startswith("rate:")),
                  key=lambda c: -(finite(f.loc[f"rate:{c}", "value"]) or 0.0))


def months_chart(profile: Profile) -> str | None:
    """Records per month in the area as a static SVG column chart (None without a monthly trend)."""
    monthly = profile.monthly
    if not len(monthly):
        return None
    months, records = [str(m) for m in monthly["month"]], [float(r) for r in monthly["records"]]
    desc = f"Records per month in {profile.name}: " + "; ".join(f"{m} {r:,.0f}" for m, r in zip(months, records))
    return column_chart("chart-months", months, records, title=f"Records by month in {profile.name}",
                        desc=desc + ".")


def categories_chart(profile: Profile) -> str | None:
    """Each crime category's rate per 1,000 residents, the area beside its comparator, as a static SVG."""
    categories = _categories(profile)
    if not categories:
        return None
    _, series = _pairs(profile, [f"rate:{c}" for c in categories])
    labels = [c.replace("-", " ").capitalize() for c in categories]
    return bar_chart("chart-categories", labels, series,
                     title=f"Rate per 1,000 residents by category, {profile.name} and {profile.comparator}")


def _crime_report(profile: Profile) -> str:
    """Records, rate and change; the monthly trend and each category's rate against the comparator."""
    f = profile.figures.drop_duplicates("metric").set_index("metric")
    if "points_total" not in f.index:
        return ("<section><h2>Crime and anti-social behaviour</h2>"
                "<p>No crime layer is loaded.</p></section>")
    total = f.loc["points_total"]
    parts = [f"<section><h2>{html.escape(str(total['section']))}</h2>",
             f"<p>{html.escape(str(total['source']))}, {html.escape(str(total['period']))}. Rates are per 1,000 "
             "usual residents (Census 2021); rank 1 is the highest rate among the areas of this layer.</p>",
             _figures_table(profile, f"All records in {profile.name} against {profile.comparator}",
                            ["points_total", "points_rate", "points_change"])]
    months = months_chart(profile)
    if months:
        parts.append(_chart(f"records by month in {profile.name}", months))
    categories = _categories(profile)
    if categories:
        labels = [c.replace("-", " ").capitalize() for c in categories]
        parts.append(_chart("records per 1,000 residents by category", categories_chart(profile) or ""))
        parts.append(_table(
            f"Each category in {profile.name} against {profile.comparator}",
            ["Category", "Records", "Per 1,000 residents", f"{profile.comparator} per 1,000", "Rank (1 = highest)"],
            [[label, _fmt(f.loc[f"count:{c}", "value"] if f"count:{c}" in f.index else None, "records"),
              _fmt(f.loc[f"rate:{c}", "value"], "per 1,000"), _fmt(f.loc[f"rate:{c}", "comparator_value"], "per 1,000"),
              _rank_text(f.loc[f"rate:{c}", "rank"], f.loc[f"rate:{c}", "of"], f.loc[f"rate:{c}"].get("ties"))]
             for label, c in zip(labels, categories)]))
    return "".join(parts) + "</section>"


def _people_report(profile: Profile) -> str:
    """Residents and age structure, and deprivation, each with a chart against the comparator."""
    metrics = list(dict.fromkeys(profile.figures["metric"]))
    ages = [m for m in metrics if m.startswith("share_")]
    deciles = [m for m in metrics if m.startswith("imd_decile_")]
    values = profile.figures.drop_duplicates("metric").set_index("metric")["value"]
    bounds = ["residents_lower", "residents_upper"] if "residents_lower" in values.index and \
        values.get("residents_lower") != values.get("residents_upper") else []
    parts = ["<section><h2>Population and age</h2>"]
    if "residents" in metrics:
        parts.append(_figures_table(profile, f"Usual residents of {profile.name} against {profile.comparator} "
                                    "(Census 2021)", ["residents", *bounds]))
    else:
        parts.append("<p>No population layer is loaded.</p>")
    if ages:
        labels, series = _pairs(profile, ages)
        labels = [label.split(" (")[0] for label in labels]
        parts.append(_chart("share of residents by age", bar_chart(
            "chart-ages", labels, series, title="Share of residents by age", fmt=_percent)))
    parts.append("</section><section><h2>Deprivation</h2>")
    if deciles or "imd_rank" in metrics:
        parts.append(_figures_table(profile, f"Deprivation in {profile.name} against {profile.comparator} "
                                    "(English Indices of Deprivation 2019)", ["imd_rank"]))
    else:
        parts.append("<p>No deprivation layer is loaded.</p>")
    if deciles:
        labels, series = _pairs(profile, deciles)
        labels = [f"Decile {m.rsplit('_', 1)[1]}" + (" (most deprived)" if m.endswith("_1") else "")
                  for m in deciles]
        parts.append(_chart("share of residents in each deprivation decile", bar_chart(
            "chart-deciles", labels, series, title="Share of residents in each national deprivation decile",
            fmt=_percent)))
    return "".join(parts) + "</section>"


def _assets_report(profile: Profile) -> str:
    """Assets by kind per 1,000 residents against the comparator, by layer, and the first few listed."""
    metrics = list(dict.fromkeys(profile.figures["metric"]))
    kinds = [f"kind_rate:{k}" for k in ASSET_KINDS if f"kind_rate:{k}" in metrics]
    f = profile.figures.drop_duplicates("metric").set_index("metric")

    def cell(metric: str, column: str, unit: str) -> str:
        return _fmt(f.loc[metric, column], unit) if metric in f.index else NO_DATA

    parts = ["<section><h2>Assets</h2>", _table(
        f"Assets of each kind in {profile.name} against {profile.comparator}",
        ["Kind of asset", "Places", "Per 1,000 residents", f"{profile.comparator} per 1,000", "Rank (1 = highest)"],
        [[ASSET_KIND_LABELS[k], cell(f"kind:{k}", "value", "places"), cell(f"kind_rate:{k}", "value", "per 1,000"),
          cell(f"kind_rate:{k}", "comparator_value", "per 1,000"),
          _rank_text(*(f.loc[f"kind_rate:{k}", c] if f"kind_rate:{k}" in f.index else None
                       for c in ("rank", "of", "ties")))] for k in ASSET_KINDS]),
        _figures_table(profile, f"Places in each asset layer in {profile.name} against {profile.comparator}",
                       [m for m in metrics if m.startswith("assets:")])]
    if kinds:
        labels, series = _pairs(profile, kinds)
        labels = [ASSET_KIND_LABELS[k.split(":", 1)[1]].split(" (")[0] for k in kinds]
        parts.append(_chart("assets of each kind per 1,000 residents", bar_chart(
            "chart-assets", labels, series, title="Assets of each kind per 1,000 residents",
            fmt=lambda v: f"{v:,.2f}")))
    assets = profile.assets.sort_values(["asset_kind", "name"], na_position="last")
    shown = assets.head(MAX_REPORT_ASSETS)
    caption = f"{len(assets)} assets" + (f" (the first {len(shown)}; every one is in the Excel, JSON and GeoJSON "
                                         "downloads)" if len(shown) < len(assets) else "")
    parts.append(_table(caption, ["Name", "Type", "Kind", "Layer"], [
        [str(a.name) if isinstance(a.name, str) and a.name else "(unnamed)", str(a.category or ""),
         ASSET_KIND_LABELS.get(str(a.asset_kind), str(a.asset_kind)).split(" (")[0], str(a.layer_title)]
        for a in shown.itertuples()], numeric_from=99))
    return "".join(parts) + "</section>"


def _other_report(profile: Profile) -> str:
    """Sections other than population, deprivation, crime and assets (e.g. resident perception), as tables."""
    known = ("residents", "share_", "imd_", "points_", "count:", "rate:", "assets:", "kind:", "kind_rate:")
    rest = profile.figures[~profile.figures["metric"].str.startswith(known)]
    return "".join(
        f"<section><h2>{html.escape(str(section))}</h2>"
        + _figures_table(profile, f"{section} in {profile.name} against {profile.comparator}",
                         list(dict.fromkeys(rows["metric"]))) + "</section>"
        for section, rows in rest.groupby("section", sort=False))


def _key_figures(profile: Profile) -> str:
    """The headline figures against the comparator, on the first page."""
    metrics = ["residents", "imd_rank", "points_total", "points_rate", "points_change",
               *[f"kind_rate:{k}" for k in ASSET_KINDS]]
    return _figures_table(profile, f"Key figures for {profile.name} against {profile.comparator}", metrics)


def _sources_report(profile: Profile, places: Places) -> str:
    """The sources, periods, vintages and methods of each section's figures, and the licences of the layers."""
    figures = profile.figures
    if figures["metric"].str.startswith("assets:").any():
        figures = figures[~figures["metric"].str.startswith(("kind:", "kind_rate:"))]  # their layers' rows say it
    summary = (figures.groupby("section", sort=False)
               .agg(source=("source", lambda v: "; ".join(dict.fromkeys(map(str, v)))),
                    period=("period", lambda v: "; ".join(dict.fromkeys(map(str, v)))),
                    vintage=("boundary_vintage", lambda v: "; ".join(dict.fromkeys(map(str, v)))),
                    method=("method", lambda v: "; ".join(dict.fromkeys(map(str, v)))))
               .reset_index())
    text = " ".join(map(str, summary["source"]))
    authority = places.authority
    compared = authority.meta.name if authority is not None and profile.comparator in set(authority.areas["name"]) \
        else profile.boundary.meta.name
    used = [m for m in places.layers.values()
            if m.name in (profile.boundary.meta.name, compared)
            or m.kind == "lookup" or (m.kind == "indicator" and m.theme in ("population", "deprivation"))
            or m.title in text]
    return ("<section class='sources'><h2>Sources, licences and methods</h2>"
            + _table("Where the figures come from", ["Section", "Source", "Period", "Boundary vintage", "Method"],
                     [[str(v) for v in r] for r in summary.itertuples(index=False)], numeric_from=99)
            + _table("Layers used, with their licences", ["Layer", "Licence", "Attribution"],
                     [[m.title + (" (illustrative data)" if m.illustrative else ""), m.licence or "not stated",
                       m.attribution or ""] for m in used], numeric_from=99)
            + "<p>Every layer's source, licence and period is in the data catalogue of the Local Insight site."
            "</p></section>")


def profile_html(profile: Profile, places: Places) -> str:
    """A standalone, print-ready HTML report (at most a few A4 pages): a small map, key figures, charts as
    inline SVG, tables and sources; nothing fetched from a network, no scripts."""
    esc = html.escape
    layers = area_features(profile, places)
    notes = "".join(f"<li>{esc(n)}</li>" for n in profile.notes)
    created = datetime.now(UTC).strftime("%d %B %Y")
    return f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(profile.title)} — area profile</title>
<style>{_REPORT_CSS}</style></head><body>
<header><h1>{esc(profile.name)}</h1><p class="meta">{esc(profile.boundary.meta.title)} · area code
{esc(profile.code)} · boundary vintage {esc(profile.boundary.meta.vintage or "not stated")} · compared with
{esc(profile.comparator)} · produced {created}</p></header>
<main>
{"<section class='notes'><h2>Read this first</h2><ul>" + notes + "</ul></section>" if notes else ""}
<figure class="map">{svg_map(profile.name, layers)}
<figcaption class="key"><span><span class="dot" style="background:#2166ac"></span>Assets</span>
<span><span class="dot" style="background:#b2182b"></span>Recorded crime and ASB in the period</span>
</figcaption></figure>
{_key_figures(profile)}
{_crime_report(profile)}
{_people_report(profile)}
{_assets_report(profile)}
{_other_report(profile)}
{_sources_report(profile, places)}
</main></body></html>"""


def export_profile(profile: Profile, places: Places, fmt: str, path: Path) -> Path:
    """Write one area's profile as ``fmt`` (one of PROFILE_FORMATS) to ``path``."""
    path = Path(path)
    if fmt == "csv":
        safe_frame(profile_frame(profile)).to_csv(path, index=False)
    elif fmt == "json":
        payload = {
            "area": {"code": profile.code, "name": profile.name, "boundary": profile.boundary.meta.name,
                     "boundary_title": profile.boundary.meta.title, "vintage": profile.boundary.meta.vintage},
            "comparator": profile.comparator,
            "figures": [{k: json_value(v) for k, v in r.items()} for r in profile.figures.to_dict("records")],
            "monthly": profile.monthly.to_dict("records"),
            "monthly_by_category": profile.monthly_by_category.to_dict("records"),
            "assets": [{k: json_value(v) for k, v in r.items()} for r in profile.assets.to_dict("records")],
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
    elif fmt == "pdf":
        html_to_pdf(profile_html(profile, places), path)
    else:
        raise BadRequest(f"format '{fmt}' is not one of {', '.join(PROFILE_FORMATS)}")
    return path


def write_areas_gpkg(path: Path, areas: gpd.GeoDataFrame | None, table: pd.DataFrame,
                     tables: dict[str, pd.DataFrame]) -> Path:
    """A GeoPackage of ``areas`` (``code`` and outline) carrying ``table``'s columns as layer 'areas', plus each
    of ``tables`` as an attribute table of that name."""
    if areas is None:
        raise BadRequest("a GeoPackage needs the areas' outlines: ask for csv, xlsx or json here")
    import pyogrio

    shapes = areas[["code", "geometry"]].merge(table, on="code", how="inner")
    if path.exists():
        path.unlink()
    gpd.GeoDataFrame(shapes, geometry="geometry", crs=STORAGE_CRS).to_file(
        path, layer="areas", driver="GPKG", engine="pyogrio")
    for name, frame in tables.items():
        pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", append=True)
    return path


def export_table(table: pd.DataFrame, fmt: str, path: Path, areas: gpd.GeoDataFrame | None = None) -> Path:
    """Write an all-areas table (one row per area) as csv, xlsx, json, or a GeoPackage of ``areas``
    (``code`` and geometry) carrying the table's columns, with an attribute table 'about'."""
    path = Path(path)
    about = pd.DataFrame([{"item": k, "value": str(v)} for k, v in table.attrs.items()])
    if fmt == "gpkg":
        return write_areas_gpkg(path, areas, table, {"about": about})
    if fmt == "csv":
        safe_frame(table).to_csv(path, index=False)
    elif fmt == "xlsx":
        write_xlsx(path, {"Areas": table, "About": about})
    elif fmt == "json":
        payload = {"about": dict(table.attrs),
                   "areas": [{k: json_value(v) for k, v in r.items()} for r in table.to_dict("records")]}
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    else:
        raise BadRequest(f"format '{fmt}' is not one of {', '.join(TABLE_FORMATS)}")
    return path
