"""Two figures at once: every area shaded by the thirds of figure X and of figure Y, with a filterable table.

``/figures`` (see :mod:`insight.web.two_figures_view` for the URL) answers questions such as "which
wards have high anti-social behaviour and few community spaces?" in two clicks: choose X and Y
(they apply as they change; the URL keeps the choice), then press "High X and low Y".
``/api/bivariate/<boundary>.json`` (:mod:`insight.web.api_figures`) is its JSON twin.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from insight.analysis.bivariate import FILTERS
from insight.analysis.places import Places, month_label
from insight.analysis.profiles import Metric
from insight.errors import InsightError
from insight.web.components import aria, field
from insight.web.context import current_places, places_or_message
from insight.web.two_figures_render import area_map, filters, legend, sort_state, summary, table, table_body
from insight.web.two_figures_view import SORTABLE, FiguresView, figures, parse_view, result_for

TITLE = "Two figures at once"
FORM_FIELDS = ("boundary", "x", "y", "layer", "from", "to")


def _select(name: str, groups: dict[str, list[tuple[str, str]]], value: str | None, key: str) -> html.Select:
    """A native <select> (grouped when there is more than one group) whose value the page's script reads."""
    def option(v: str, text: str) -> html.Option:
        return html.Option(text, value=v, selected=v == value)

    children: list[Any] = []
    for group, pairs in groups.items():
        options = [option(v, text) for v, text in pairs]
        children += [html.Optgroup(options, label=group)] if len(groups) > 1 else options
    extra: dict[str, Any] = {"data-field": name}
    return html.Select(children, id=f"figures-{name}", name=name, key=f"figures-{name}:{key}", **extra)


def _figure_groups(meta: dict[str, Metric]) -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, m in meta.items():
        groups.setdefault(m.section, []).append((key, m.label))
    return groups


def _months(places: Places, layer: str | None) -> list[tuple[str, str]]:
    points = places.points.get(layer) if layer else None
    span = points.months() if points is not None else None
    if span is None:
        return []
    return [(month_label(m), month_label(m)) for m in range(span[1], span[0] - 1, -1)]


def form(places: Places, view: FiguresView) -> html.Fieldset:
    """The choices: boundary layer, figures X and Y, crime layer and months (each applies as it changes)."""
    _, meta, _ = figures(places, view.boundary, view.layer, view.period)
    key = view.search
    boundaries = {"Boundary layers": [(n, b.meta.title) for n, b in places.boundaries.items()]}
    crime = {"Crime layers": [(n, p.meta.title) for n, p in places.points.items() if p.meta.theme == "crime"]}
    months = {"Months": _months(places, view.layer)}
    start, end = (month_label(view.period[0]), month_label(view.period[1])) if view.period else (None, None)
    fields = [
        field("Areas", _select("boundary", boundaries, view.boundary, key)),
        field("Figure X (across)", _select("x", _figure_groups(meta), view.x, key)),
        field("Figure Y (up)", _select("y", _figure_groups(meta), view.y, key)),
    ]
    if crime["Crime layers"]:
        fields.append(field("Crime layer", _select("layer", crime, view.layer, key)))
    if months["Months"]:
        fields.append(html.Div([field("From", _select("from", months, start, key)),
                                field("To", _select("to", months, end, key))], className="period-fields"))
    return html.Fieldset([html.Legend("Choose two figures (the page updates as you choose)"), *fields],
                         id="figures-form")


def result_children(places: Places, view: FiguresView) -> tuple[list, list]:
    """The map with its key, and the filters with the table; or why they cannot be made."""
    try:
        result, meta = result_for(places, view)
    except InsightError as exc:
        message = html.P(f"These figures cannot be shown: {exc}.", role="alert", className="status")
        return [message], []
    shown = [
        html.H2("Map: both figures in nine colours", id="figures-map-title"),
        html.Div([area_map(result, view), legend(result, meta)], className="figures-map-key"),
    ]
    listed = [html.H2("Every area", id="figures-table-title"), filters(result, view, meta), table(result, view, meta)]
    return shown, listed


def layout(**query: str) -> html.Div:
    """The choices, the map with its key and the table for the view in the URL."""
    places = places_or_message(TITLE)
    if isinstance(places, html.Div):
        return places
    view = parse_view(places, query)
    shown, listed = result_children(places, view)
    return html.Div([
        dcc.Location(id="figures-url", refresh=False),
        dcc.Store(id="figures-choice"), dcc.Store(id="figures-view", data=view.query()),
        html.H1(TITLE),
        html.P("Which areas have a lot of one thing and little of another? Choose two figures: the map shades "
               "every area by the third of the areas it falls in for each, and the table lists them, so "
               "\"high X and low Y\" is one press away. The address of the page keeps your choice, to share."),
        html.Div(form(places, view), id="figures-form-box", className="compare-form figures-form"),
        html.Div(" ".join(view.problems) or None, id="figures-problems", role="alert",
                 className="status" if view.problems else None),
        html.Section(shown, id="figures-shown", className="figures-shown", **aria(labelledby="figures-map-title")),
        html.Section(listed, id="figures-listed", **aria(labelledby="figures-table-title")),
    ], className="compare-page figures-page")


def _query(current: dict, **changes: Any) -> dict:
    return {k: str(v) for k, v in (current | changes).items() if v not in (None, "")}


def apply_choice(choice: dict | None, current: dict | None) -> tuple:
    """Redraw the page for the form's values and put them in the URL (filter and sort are kept).

    When the crime layer changes, its months are left to default (the old months may not exist in it).
    """
    try:
        places = current_places()
    except InsightError as exc:
        return (no_update,) * 5 + (f"The database is not available: {exc}",)
    choice, current = choice or {}, current or {}
    chosen = {k: choice.get(k) for k in FORM_FIELDS}
    if chosen.get("layer") != current.get("layer"):
        chosen |= {"from": None, "to": None}
    view = parse_view(places, _query({k: v for k, v in current.items() if k not in FORM_FIELDS}, **chosen))
    shown, listed = result_children(places, view)
    new_form = form(places, view) if (view.boundary, view.layer) != (current.get("boundary"), current.get("layer")) \
        else no_update
    return view.search, view.query(), shown, listed, new_form, " ".join(view.problems) or None


def filter_or_sort(filter_clicks: list, sort_clicks: list, current: dict | None) -> tuple:
    """Apply the quick filter or the sort pressed (a heading pressed again sorts the other way)."""
    pressed = ctx.triggered_id
    if not isinstance(pressed, dict) or not any(filter_clicks or []) and not any(sort_clicks or []):
        raise PreventUpdate
    current = dict(current or {})
    if pressed.get("type") == "figures-filter":
        current["filter"] = pressed["name"]
    elif pressed.get("column") in SORTABLE:
        column = pressed["column"]
        same = current.get("sort", "x") == column
        order = current.get("order", "desc")
        current["order"] = ("asc" if order == "desc" else "desc") if same else ("asc" if column == "name" else "desc")
        current["sort"] = column
    places = current_places()
    view = parse_view(places, current)
    result, meta = result_for(places, view)
    states = [sort_state(k, view) for k in SORTABLE]
    pressed_states = [("true" if view.filter == name else "false") for name in FILTERS]
    return (table_body(result, view, meta), states, pressed_states, summary(result, view, meta), view.query(),
            view.search)


def register(app: Dash) -> None:
    """Register the /figures page and its callbacks on ``app``."""
    dash.register_page("figures", path="/figures", name="Two figures", title="Local Insight — two figures",
                       layout=layout)
    app.callback(Output("figures-url", "search"), Output("figures-view", "data"),
                 Output("figures-shown", "children"), Output("figures-listed", "children"),
                 Output("figures-form-box", "children"), Output("figures-problems", "children"),
                 Input("figures-choice", "data"), State("figures-view", "data"),
                 prevent_initial_call=True)(apply_choice)
    app.callback(Output("figures-tbody", "children"), Output({"type": "figures-th", "column": ALL}, "aria-sort"),
                 Output({"type": "figures-filter", "name": ALL}, "aria-pressed"),
                 Output("figures-summary", "children"),
                 Output("figures-view", "data", allow_duplicate=True),
                 Output("figures-url", "search", allow_duplicate=True),
                 Input({"type": "figures-filter", "name": ALL}, "n_clicks"),
                 Input({"type": "figures-sort", "column": ALL}, "n_clicks"), State("figures-view", "data"),
                 prevent_initial_call=True)(filter_or_sort)
