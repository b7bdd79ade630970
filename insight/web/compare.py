"""Compare areas: two or more areas of one boundary layer side by side, each linked to its area page.

``/compare?boundary=wards_2022&areas=CODE1,CODE2[,…]&layer=POINT_LAYER&period=YYYY-MM:YYYY-MM``.
Every URL parameter is checked; what cannot be used is named in a readable message and left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from dash import Dash, Input, Output, State, dcc, html, no_update

from insight.analysis import views
from insight.analysis.places import Places
from insight.analysis.profiles import ASSET_KIND_LABELS, Profile, period_text, profile
from insight.errors import InsightError, NotFoundError
from insight.layers import ASSET_KINDS
from insight.web.area_view import check_layer, check_period, default_comparator
from insight.web.components import area_options, aria, field, layer_period_query, select, shortened, single
from insight.web.context import current_places, places_or_message
from insight.web.figures import category_rows, figure_value, fmt, fmt_change, fmt_rank, ties_of

MAX_AREAS = 8
MIN_SLOTS = 4
TOP_CATEGORIES = 3
# Reads the native selects' values when Compare is pressed (Dash does not sync a <select>).
READ_CHOICE = """function(clicks) {
    const boundary = document.getElementById('compare-boundary');
    const areas = Array.from(document.querySelectorAll('#compare-area-fields select'))
        .map(e => e.value).filter(v => v);
    return {boundary: boundary ? boundary.value : null, areas: areas, clicks: clicks};
}"""


@dataclass(frozen=True)
class CompareView:
    """Which areas of which layer to compare, for which crime layer and period."""

    boundary: str
    areas: tuple[str, ...]
    layer: str | None
    period: tuple[int, int] | None

    def query(self) -> dict[str, str]:
        """The URL query that reproduces this comparison."""
        out = {"boundary": self.boundary}
        if self.areas:
            out["areas"] = ",".join(self.areas)
        return out | layer_period_query(self.layer, self.period)

    @property
    def search(self) -> str:
        """The comparison as a URL query string, '?' included."""
        return "?" + urlencode(self.query())

    @property
    def area_query(self) -> str:
        """The query an area page needs to show the same layer and period."""
        return urlencode({k: v for k, v in self.query().items() if k in ("layer", "period")})


def parse_view(places: Places, query: dict) -> tuple[CompareView, list[str]]:
    """The comparison a URL asks for; unknown layers, areas and periods are reported and left out."""
    problems: list[str] = []
    boundary = single(query.get("boundary")) or views.default_boundary(places) or ""
    if boundary not in places.boundaries:
        fallback = views.default_boundary(places) or ""
        problems.append(f"There is no boundary layer '{shortened(boundary)}' (boundary layers: "
                        f"{', '.join(sorted(places.boundaries))}); {fallback} is shown instead.")
        boundary = fallback
    raw = query.get("areas") or ""
    items = [a.strip() for a in (",".join(raw) if isinstance(raw, list) else raw).split(",") if a.strip()][:50]
    codes: list[str] = []
    unknown: list[str] = []
    data = places.boundary(boundary)
    for item in items:
        try:
            code = data.areas["code"].iloc[data.index_of(item)]
        except NotFoundError:
            unknown.append(shortened(item, 40))
            continue
        if code not in codes:
            codes.append(code)
    if unknown:
        sample = ", ".join(f"{c} ({n})" for c, n in list(zip(data.areas["code"], data.areas["name"]))[:3])
        problems.append(f"No area {', '.join(repr(u) for u in unknown[:10])} in {data.meta.title} ({boundary}); "
                        f"give codes or names of its {len(data.areas)} areas, e.g. {sample}.")
    if len(codes) > MAX_AREAS:
        problems.append(f"At most {MAX_AREAS} areas can be compared at once; the first {MAX_AREAS} are shown.")
        codes = codes[:MAX_AREAS]
    layer, layer_problem = check_layer(places, single(query.get("layer")))
    period, period_problem = check_period(places, layer, single(query.get("period")))
    problems += [p for p in (layer_problem, period_problem) if p]
    return CompareView(boundary, tuple(codes), layer, period), problems


def comparison(places: Places, view: CompareView) -> list[Profile]:
    """Each area's profile against the default comparator, for the view's layer and period."""
    comparator = default_comparator(places)
    return [profile(places, view.boundary, code, comparator=comparator, crime_layer=view.layer, period=view.period)
            for code in view.areas]


def _figure(result: Profile, metric: str, column: str = "value") -> float:
    return figure_value(result.figures, metric, column)


def _has(results: list[Profile], metric: str) -> bool:
    return any(metric in set(r.figures["metric"]) for r in results)


def _top(result: Profile, *, comparator: bool = False) -> html.Ol | str:
    rows = category_rows(result)
    if comparator:
        rows = sorted(rows, key=lambda r: -r["comparator"] if math.isfinite(r["comparator"]) else math.inf)
    key = "comparator" if comparator else "rate"
    shown = [r for r in rows if math.isfinite(r[key])][:TOP_CATEGORIES]
    if not shown:
        return "—"
    return html.Ol([html.Li(f"{r['label']}: {fmt(r[key], 'per 1,000')}") for r in shown], className="top-list")


def key_rows(results: list[Profile]) -> list[tuple[str, list, Any]]:
    """Label, one cell per area and the comparator's cell, for each key figure present."""
    rows: list[tuple[str, list, Any]] = []

    def add(label: str, metric: str, shown, rank: bool = False) -> None:
        if not _has(results, metric):
            return
        cells = []
        for r in results:
            text = shown(_figure(r, metric))
            if rank:
                ranked = fmt_rank(_figure(r, metric, "rank"), _figure(r, metric, "of"),
                                  ties_of(_figure(r, metric, "ties")))
                text += f" (rank {ranked})" if ranked != "—" else ""
            cells.append(text)
        rows.append((label, cells, shown(_figure(results[0], metric, "comparator_value"))))

    add("Usual residents (2021)", "residents", lambda v: fmt(v, "people"))
    add("Average deprivation rank of residents (1 = most deprived)", "imd_rank", lambda v: fmt(v, "rank"))
    if _has(results, "imd_decile_1"):
        def most_deprived(r: Profile, column: str = "value") -> str:
            values = [_figure(r, f"imd_decile_{d}", column) for d in (1, 2)]
            return fmt(sum(v for v in values if math.isfinite(v)), "share")

        rows.append(("Residents in the 20% most deprived small areas of England",
                     [most_deprived(r) for r in results], most_deprived(results[0], "comparator_value")))
    if _has(results, "points_total"):
        f = results[0].figures
        hit = f[f["metric"] == "points_total"].iloc[0]
        add(f"{hit['label']} ({hit['period']})", "points_total", lambda v: fmt(v, "records"))
    add("Records per 1,000 residents (rank 1 = highest)", "points_rate", lambda v: fmt(v, "per 1,000"), rank=True)
    add("Change on the previous equal period", "points_change", fmt_change)
    if any(category_rows(r) for r in results):
        rows.append((f"Top {TOP_CATEGORIES} categories per 1,000 residents", [_top(r) for r in results],
                     _top(results[0], comparator=True)))
    for kind in ASSET_KINDS:
        metric = f"kind:{kind}"
        if not _has(results, metric):
            continue

        def kind_cell(r: Profile, column: str = "value", kind: str = kind) -> str:
            count, rate = _figure(r, f"kind:{kind}", column), _figure(r, f"kind_rate:{kind}", column)
            return f"{fmt(count, 'places')} ({fmt(rate, 'per 1,000')} per 1,000)"

        rows.append((f"Assets: {ASSET_KIND_LABELS[kind]}", [kind_cell(r) for r in results],
                     kind_cell(results[0], "comparator_value")))
    return rows


def comparison_table(results: list[Profile], view: CompareView) -> html.Table:
    """Figures as rows, areas as columns (each heading links to the area page), comparator last."""
    comparator = results[0].comparator
    query = view.area_query
    head = [html.Th("Figure", scope="col")]
    head += [html.Th(html.A(r.name, href=f"/area/{view.boundary}/{r.code}" + (f"?{query}" if query else "")),
                     scope="col") for r in results]
    head.append(html.Th(comparator, scope="col", className="comparator"))
    body = [html.Tr([html.Th(label, scope="row"), *[html.Td(c, className="num") for c in cells],
                     html.Td(other, className="num comparator")])
            for label, cells, other in key_rows(results)]
    names = ", ".join(r.name for r in results)
    return html.Table([
        html.Caption(f"Key figures for {names} ({results[0].boundary.meta.title}) and {comparator}"),
        html.Thead(html.Tr(head)), html.Tbody(body),
    ], id="comparison", className="data-table comparison")


def result_children(places: Places, view: CompareView) -> list:
    """The comparison, or a hint when fewer than two areas are chosen."""
    if len(view.areas) < 2:
        return [html.P("Choose two or more areas to see them side by side.", className="hint")]
    results = comparison(places, view)
    notes = sorted({n for r in results for n in r.notes})
    period = period_text(view.period) if view.period else None
    intro = (f"Crime figures use {places.points[view.layer].meta.title}"
             + (f", {period}" if period else "") + "." if view.layer else "No crime layer is loaded.")
    return [
        html.Div([html.H2("Read this first", id="compare-notes"), html.Ul([html.Li(n) for n in notes])],
                 className="notes", role="note", **aria(labelledby="compare-notes")) if notes else None,
        html.P([intro, " Rates are per 1,000 usual residents (Census 2021). Each area's own page has every "
                "figure with its source, charts and downloads."]),
        html.Div(comparison_table(results, view), className="table-scroll", tabIndex="0", role="region",
                 **aria(label="Comparison table")),
        html.P(["Sources and licences of every layer: ", html.A("data catalogue", href="/catalogue"), "."]),
    ]


def status_text(places: Places, view: CompareView) -> str:
    """What the table shows, announced to screen readers when it changes."""
    data = places.boundary(view.boundary)
    if len(view.areas) < 2:
        return f"{'One area' if view.areas else 'No areas'} of {data.meta.title} chosen."
    names = [data.areas["name"].iloc[data.index_of(c)] for c in view.areas]
    return f"Comparing {len(names)} areas of {data.meta.title}: {', '.join(names)}."


def area_fields(places: Places, view: CompareView) -> list:
    """One native select per area slot: at least four, one more than chosen, at most MAX_AREAS."""
    options = [{"label": "(none)", "value": ""}, *area_options(places, view.boundary)]
    slots = min(MAX_AREAS, max(MIN_SLOTS, len(view.areas) + 1))
    chosen = list(view.areas) + [""] * slots
    fields = []
    for i in range(slots):
        control = select(f"compare-area-{i + 1}", options, chosen[i], key=view.search)
        fields.append(field(f"Area {i + 1}" + (" (optional)" if i >= 2 else ""), control))
    return fields


def compare_form(places: Places, view: CompareView) -> html.Div:
    """Boundary layer and areas, applied together by one button."""
    boundaries = [{"label": b.meta.title, "value": n} for n, b in places.boundaries.items()]
    return html.Div([
        html.Fieldset([
            html.Legend("Choose areas to compare"),
            field("Boundary layer",
                  select("compare-boundary", boundaries, view.boundary, key=view.search, described=True),
                  hint="After choosing another layer, press Compare to list its areas."),
            html.Div(area_fields(places, view), id="compare-area-fields", className="area-fields"),
            html.Button("Compare", id="compare-apply", type="button", className="button"),
            html.P("The table and the link in the address bar change when you press Compare.", className="hint"),
        ]),
    ], className="compare-form", role="form", **aria(label="Choose areas to compare"))


def layout(**query: str) -> html.Div:
    """The comparison form and the table for the areas in the URL."""
    places = places_or_message("Compare areas")
    if isinstance(places, html.Div):
        return places
    view, problems = parse_view(places, query)
    return html.Div([
        dcc.Location(id="compare-url", refresh=False),
        dcc.Store(id="compare-options", data={"layer": view.layer, "period": view.query().get("period")}),
        dcc.Store(id="compare-choice"),
        html.H1("Compare areas"),
        html.P("Put two or more areas side by side: residents, deprivation, crime and assets."),
        compare_form(places, view),
        html.Div(" ".join(problems) or None, id="compare-problems", role="alert",
                 className="status" if problems else None),
        html.P(status_text(places, view), id="compare-status", role="status", className="view-status"),
        html.Div(result_children(places, view), id="compare-result"),
    ], className="compare-page")


def update_comparison(choice: dict | None, options: dict | None) -> tuple:
    """Redraw the form's areas and the comparison for the chosen layer and areas, and put them in the URL.

    Areas of the previously chosen layer are dropped quietly when the layer changes.
    """
    try:
        places = current_places()
    except InsightError as exc:
        return no_update, no_update, no_update, f"The database is not available: {exc}", "status", no_update
    choice = choice or {}
    boundary, areas = choice.get("boundary"), choice.get("areas") or []
    if boundary in places.boundaries:
        codes = set(places.boundary(boundary).areas["code"])
        areas = [a for a in areas if a in codes]
    query = {"boundary": boundary, "areas": ",".join(areas), **(options or {})}
    view, problems = parse_view(places, {k: v for k, v in query.items() if v})
    message = " ".join(problems) or None
    return (view.search, area_fields(places, view), result_children(places, view), message,
            "status" if message else None, status_text(places, view))


def register_callbacks(app: Dash) -> None:
    """Add the compare page's callbacks to ``app``: Compare redraws the table and rewrites the URL."""
    app.clientside_callback(READ_CHOICE, Output("compare-choice", "data"), Input("compare-apply", "n_clicks"),
                            prevent_initial_call=True)
    app.callback(
        Output("compare-url", "search"), Output("compare-area-fields", "children"),
        Output("compare-result", "children"), Output("compare-problems", "children"),
        Output("compare-problems", "className"), Output("compare-status", "children"),
        Input("compare-choice", "data"), State("compare-options", "data"),
        prevent_initial_call=True,
    )(update_comparison)
