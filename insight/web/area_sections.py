"""The area page's sections: key figures, population, deprivation, crime, assets, downloads, sources, notes."""
from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from urllib.parse import urlencode

from dash import Dash, Input, Output, html

from insight.analysis.export import PROFILE_FORMATS, TABLE_FORMATS, categories_chart, months_chart
from insight.analysis.places import Places
from insight.analysis.profiles import ASSET_KIND_LABELS, Profile
from insight.layers import ASSET_KINDS
from insight.web.area_view import AreaView
from insight.web.charts import category_chart, trend_chart
from insight.web.components import aria, data, data_table, section
from insight.web.figures import figure_rows, figure_value, fmt, fmt_change, fmt_rank
from insight.web.figures import ties_of as _ties

FORMAT_LABELS = {
    "csv": "CSV: every figure with its source (one row per figure)",
    "xlsx": "Excel workbook: figures by section, monthly trend, asset list, sources",
    "json": "JSON: figures, monthly trend, assets and notes",
    "geojson": "GeoJSON: the area, its assets and its crime records",
    "gpkg": "GeoPackage: the same layers for GIS",
    "html": "HTML report: opens in the browser, prints in a few pages, works offline",
    "pdf": "PDF (for printing, up to 6 pages): key figures, charts, map and sources",
}
MAX_LISTED_ASSETS = 150
PRINT_BUTTON = "area-print"
# Opens the browser's print dialogue; the print stylesheet (assets/print.css) leaves out the controls.
PRINT_PAGE = """function(clicks) {
    if (clicks) { window.print(); }
    return window.dash_clientside.no_update;
}"""


def figure_table(result: Profile, caption: str, metrics: Iterable[str]) -> html.Div | None:
    """Figures against the comparator; the difference and rank columns only where some row has one."""
    rows = figure_rows(result.figures, metrics)
    if not rows:
        return None
    head = ["Figure", result.name, result.comparator, "Difference", "Rank (1 = highest)", "Period"]
    keep = [i for i in range(len(head)) if i not in (3, 4) or any(r[i] != "—" for r in rows)]
    return data_table(caption, [head[i] for i in keep], ([r[i] for i in keep] for r in rows))


def _card(title: str, value: str, detail: str) -> html.Div:
    return html.Div([html.Dt(title), html.Dd(value, className="card-value"), html.Dd(detail, className="muted")],
                    className="card")


def key_figures(result: Profile) -> html.Section:
    """Residents, deprivation, crime rate and change, and assets, each against the comparator."""
    f = result.figures
    present = set(f["metric"])

    def value(metric: str, column: str = "value") -> float:
        return figure_value(f, metric, column)

    versus = f"{result.comparator}: "
    cards = []
    if "residents" in present:
        cards.append(_card("Usual residents (2021)", fmt(value("residents"), "people"),
                           versus + fmt(value("residents", "comparator_value"), "people")))
    if "imd_rank" in present:
        cards.append(_card("Average deprivation rank (1 = most deprived)", fmt(value("imd_rank"), "rank"),
                           versus + fmt(value("imd_rank", "comparator_value"), "rank")))
    if "points_rate" in present:
        rank = fmt_rank(value("points_rate", "rank"), value("points_rate", "of"),
                        _ties(value("points_rate", "ties")))
        cards.append(_card("Crime and ASB per 1,000 residents", fmt(value("points_rate"), "per 1,000"),
                           versus + fmt(value("points_rate", "comparator_value"), "per 1,000")
                           + (f"; rank {rank}" if rank != "—" else "")))
    if "points_change" in present:
        cards.append(_card("Change on the previous equal period", fmt_change(value("points_change")),
                           versus + fmt_change(value("points_change", "comparator_value"))))
    kinds = [value(f"kind:{k}") for k in ASSET_KINDS]
    if any(math.isfinite(v) for v in kinds):
        total = sum(v for v in kinds if math.isfinite(v))
        cards.append(_card("Community assets", fmt(total, "places"),
                           "; ".join(f"{ASSET_KIND_LABELS[k].split(' (')[0]} {fmt(v, 'places')}"
                                     for k, v in zip(ASSET_KINDS, kinds))))
    return html.Section([html.H2("Key figures", id="key-figures"), html.Dl(cards, className="cards")],
                        **aria(labelledby="key-figures"))


def population_section(result: Profile) -> html.Section:
    """Census residents and age structure, with the range when small areas do not fit the boundary."""
    f = result.figures
    if "residents" not in set(f["metric"]):
        return section("population", "Population and age", [html.P("No population layer is loaded.")])
    lower, upper = figure_value(f, "residents_lower"), figure_value(f, "residents_upper")
    bounds = None
    if math.isfinite(lower) and math.isfinite(upper) and lower != upper:
        bounds = html.P(f"The small areas that make up {result.name} do not fit its boundary exactly: between "
                        f"{fmt(lower, 'people')} and {fmt(upper, 'people')} residents.")
    method = f.loc[f["metric"] == "residents", "method"].iloc[0]
    ages = [m for m in f["metric"] if m.startswith("share_")]
    return section("population", "Population and age", [
        html.P(f"Census 2021 usual residents, built up from small areas ({method})."),
        bounds,
        figure_table(result, f"Residents and age structure of {result.name} against {result.comparator}",
                     ["residents", *ages]),
    ])


def deprivation_section(result: Profile) -> html.Section:
    """Average deprivation rank and the share of residents in each national decile."""
    f = result.figures
    metrics = ["imd_rank", *[m for m in f["metric"] if m.startswith("imd_decile_")]]
    table = figure_table(result, f"Deprivation in {result.name} against {result.comparator}: average rank and "
                                 "share of residents in each national decile", metrics)
    if table is None:
        return section("deprivation", "Deprivation", [html.P("No deprivation layer is loaded.")])
    deciles = [figure_value(f, f"imd_decile_{d}") for d in range(1, 11)]
    most = sum(v for v in deciles[:2] if math.isfinite(v))
    return section("deprivation", "Deprivation", [
        html.P(f"English Indices of Deprivation 2019: {fmt(most, 'share')} of residents live in the 20% most "
               "deprived small areas of England (deciles 1 and 2). Decile 1 is the most deprived tenth."),
        table,
    ])


def crime_section(result: Profile) -> html.Section:
    """Records, rate and change against the comparator, with the monthly trend and the categories."""
    f = result.figures
    if "points_total" not in set(f["metric"]):
        return section("crime", "Crime and anti-social behaviour", [html.P("No crime layer is loaded.")])
    title = f.loc[f["metric"] == "points_total", "section"].iloc[0]
    period = f.loc[f["metric"] == "points_total", "period"].iloc[0]
    source = f.loc[f["metric"] == "points_total", "source"].iloc[0]
    heading = "Crime and anti-social behaviour" if title == "Crime and ASB" else title
    change = ("; the change compares with the equal period before" if "points_change" in set(f["metric"])
              else "")
    return section("crime", heading, [
        html.P(f"{source}, {period}. Rates are per 1,000 usual residents (Census 2021); rank 1 is the highest rate "
               f"among the areas of this layer{change}."),
        figure_table(result, f"All records in {result.name} against {result.comparator}",
                     ["points_total", "points_rate", "points_change"]),
        trend_chart(result),
        print_chart(months_chart(result), f"Records by month in {result.name}"),
        category_chart(result),
        print_chart(categories_chart(result), f"Rate per 1,000 residents by category in {result.name} and "
                                              f"{result.comparator}"),
    ])


def print_chart(svg: str | None, alt: str) -> html.Img | None:
    """A static copy of a chart, sized for A4, shown only when the page is printed (assets/print.css)."""
    if not svg:
        return None
    source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return html.Img(src=source, alt=alt, className="print-chart")


def _asset_name(asset: object) -> str:
    name = getattr(asset, "name", None)
    return str(name) if isinstance(name, str) and name else "(unnamed)"


def _asset_layer(asset: object) -> str:
    title = str(getattr(asset, "layer_title", ""))
    illustrative = getattr(asset, "illustrative", False) and "ILLUSTRATIVE" not in title.upper()
    return title + (" — illustrative, not a real record" if illustrative else "")


def asset_lists(result: Profile) -> list:
    """A heading and a table of the area's assets of each kind (the first MAX_LISTED_ASSETS of each)."""
    lists: list = []
    assets = result.assets.sort_values(["layer_title", "name"], na_position="last")
    for kind in ASSET_KINDS:
        these = assets[assets["asset_kind"] == kind]
        heading = f"{ASSET_KIND_LABELS[kind]}: {len(these)}"
        if these.empty:
            lists += [html.H3(heading), html.P("None recorded in the loaded layers.", className="muted")]
            continue
        shown = these.head(MAX_LISTED_ASSETS)
        lists += [html.H3(heading), data_table(
            f"{ASSET_KIND_LABELS[kind]} in {result.name}"
            + (f" (the first {len(shown)} of {len(these)})" if len(shown) < len(these) else ""),
            ["Name", "Type", "Layer"],
            ([_asset_name(a), str(a.category or "—"), _asset_layer(a)] for a in shown.itertuples()),
            numeric_from=99,
        )]
        if len(shown) < len(these):
            lists.append(html.P(["Every asset is in the ", html.A("Excel and GeoJSON downloads", href="#downloads"),
                                 "."], className="muted"))
    return lists


def assets_section(result: Profile) -> html.Section:
    """Assets by kind against the comparator, by layer, and listed by name."""
    f = result.figures

    def value(metric: str, column: str = "value") -> float:
        return figure_value(f, metric, column)

    kinds_table = data_table(
        f"Assets of each kind in {result.name} against {result.comparator}",
        ["Kind of asset", "Places", "Per 1,000 residents", f"{result.comparator} per 1,000", "Rank (1 = highest)"],
        ([ASSET_KIND_LABELS[k], fmt(value(f"kind:{k}"), "places"), fmt(value(f"kind_rate:{k}"), "per 1,000"),
          fmt(value(f"kind_rate:{k}", "comparator_value"), "per 1,000"),
          fmt_rank(value(f"kind_rate:{k}", "rank"), value(f"kind_rate:{k}", "of"),
                   _ties(value(f"kind_rate:{k}", "ties")))]
         for k in ASSET_KINDS),
        table_id="asset-kinds",
    )
    layers = [m for m in f["metric"] if m.startswith("assets:")]
    layer_table = figure_table(result, f"Places in each asset layer in {result.name}", layers) if layers else None
    return section("assets", "Assets", [
        html.P("Assets are grouped in four kinds: money, services and people, insight, and spaces. Rates are per "
               "1,000 usual residents."),
        kinds_table, layer_table, *asset_lists(result),
    ])


def layers_used(places: Places, result: Profile, view: AreaView) -> list:
    """The loaded layers this profile draws on, for their licences."""
    names = {view.boundary, view.layer}
    if view.comparator == "borough" and places.authority is not None:
        names.add(places.authority.meta.name)
    if places.lsoa is not None:
        names.add(places.lsoa.meta.name)
    for name, meta in places.layers.items():
        if meta.kind == "lookup" or (meta.kind == "indicator" and meta.theme in ("population", "deprivation")):
            names.add(name)
        if meta.kind == "points" and meta.theme == "assets":
            names.add(name)
    return [places.layers[n] for n in sorted(n for n in names if n in places.layers)]


def sources_section(places: Places, result: Profile, view: AreaView) -> html.Section:
    """Where the figures come from: a summary by source, every figure's provenance, and the licences."""
    figures = result.figures
    summary = (figures.groupby(["section", "source"], sort=False)
               .agg(period=("period", lambda v: "; ".join(dict.fromkeys(v))),
                    vintage=("boundary_vintage", lambda v: "; ".join(dict.fromkeys(v))),
                    method=("method", lambda v: "; ".join(dict.fromkeys(v))))
               .reset_index())
    by_source = data_table(
        "Sources of the figures on this page",
        ["Section", "Source (publisher; licence)", "Period", "Boundary vintage", "Methods"],
        ([r.section, r.source, r.period, r.vintage, r.method] for r in summary.itertuples()),
        table_id="source-summary", numeric_from=99,
    )
    every = data_table(
        "Every figure with its source, period, boundary vintage and method",
        ["Figure", "Section", "Source", "Period", "Boundary vintage", "Method"],
        ([r.label, r.section, r.source, r.period, r.boundary_vintage, r.method] for r in figures.itertuples()),
        table_id="figure-sources", numeric_from=99,
    )
    licences = data_table(
        "Layers used, with their licences",
        ["Layer", "Publisher", "Licence", "Attribution"],
        ([m.title + (" (illustrative data)" if m.illustrative and "ILLUSTRATIVE" not in m.title.upper() else ""),
          m.publisher or "—", m.licence or "—", m.attribution or "—"] for m in layers_used(places, result, view)),
        table_id="licences", numeric_from=99,
    )
    return section("sources", "Sources and methods", [
        by_source,
        html.Details([html.Summary(f"Every figure's source, period, vintage and method ({len(figures)} figures)"),
                      every], className="figure-sources"),
        licences,
        html.P(["Every layer's source, licence and period is in the ", html.A("data catalogue", href="/catalogue"),
                "."]),
    ])


def downloads_section(result: Profile, view: AreaView) -> html.Section:
    """Links to the profile in every export format (the PDF beside the print button), and to the whole
    layer as a table."""
    query = urlencode(view.query())
    base = f"/api/export/{view.boundary}/{view.code}"
    items = [html.Li(html.A(FORMAT_LABELS.get(fmt_, fmt_.upper()), href=f"{base}.{fmt_}?{query}",
                            **data(format=fmt_)))
             for fmt_ in PROFILE_FORMATS if fmt_ != "pdf"]
    table_query = urlencode({k: v for k, v in view.query().items() if k in ("layer", "period")})
    boundary_title = result.boundary.meta.title
    table_links = [html.A(t.upper(), href=f"/api/table/{view.boundary}.{t}?{table_query}",
                          **aria(label=f"Every area of {boundary_title} as {t.upper()}"))
                   for t in TABLE_FORMATS]
    return section("downloads", "Download or print this profile", [
        html.P("Each file holds the figures as shown here, with the same comparator and period."),
        html.Ul(items, className="exports"),
        html.H3("Print"),
        html.Ul([html.Li(html.A(FORMAT_LABELS["pdf"], href=f"{base}.pdf?{query}", **data(format="pdf"))),
                 html.Li(html.Button("Print this page", id=PRINT_BUTTON, type="button", className="button"))],
                className="print-row"),
        html.P("The printout of this page leaves out the menus, the view options and the tables behind the charts "
               "(they are in the downloads). The PDF is shorter, with its charts sized for A4.", className="hint"),
        None if result.boundary.meta.area_type == "drawn" else html.P([
            f"Every area of {boundary_title} in one table: ",
            *[part for i, link in enumerate(table_links) for part in ((", " if i else ""), link)]]),
    ])


def notes_section(places: Places, result: Profile) -> html.Section | None:
    """What to read before quoting a figure: the profile's notes and any illustrative layers."""
    notes = list(result.notes)
    assets = result.assets
    illustrative = sorted({str(title) for title, flag in zip(assets["layer_title"], assets["illustrative"]) if flag})
    if illustrative:
        notes.append("Illustrative layers in this area (generated at real venue locations, not real records): "
                     + ", ".join(illustrative) + ".")
    if not notes:
        return None
    return html.Section([html.H2("Read this first", id="notes"), html.Ul([html.Li(n) for n in notes])],
                        className="notes", role="note", **aria(labelledby="notes"))


def register_print(app: Dash) -> None:
    """Add the callback behind the area page's "Print this page" button (it opens the print dialogue)."""
    app.clientside_callback(PRINT_PAGE, Output(PRINT_BUTTON, "title"), Input(PRINT_BUTTON, "n_clicks"),
                            prevent_initial_call=True)
