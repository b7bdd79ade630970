"""The data catalogue: every layer with its provenance, before anyone quotes a figure."""
from __future__ import annotations

from dash import html

from insight.errors import InsightError
from insight.partner.versions import stale_counts
from insight.web.components import unavailable
from insight.web.context import context


def _period(layer: dict) -> str:
    if layer["period_start"] and layer["period_end"] and layer["period_start"] != layer["period_end"]:
        return f"{layer['period_start']} to {layer['period_end']}"
    return layer["period_start"] or "—"


def _stale(layer: dict, stale: dict[str, tuple[int, int]], days: int) -> str:
    if layer["name"] not in stale:
        return "—"
    count, total = stale[layer["name"]]
    return f"{count:,} of {total:,} not checked in {days} days" if count else "all checked recently"


def catalogue_table(layers: list[dict], stale: dict[str, tuple[int, int]] | None = None,
                    stale_days: int = 365) -> html.Table:
    """An accessible table of layers: source, publisher, licence, attribution, vintage, period, count,
    update and, for asset layers, how many records are stale (not assured recently)."""
    stale = stale or {}
    head = ["Layer", "Kind", "Features", "Boundary vintage", "Period", "Source and publisher",
            "Licence and attribution", "Last updated", "Stale records"]
    body = []
    for layer in layers:
        title = layer["title"]
        if layer["illustrative"] and "illustrative" not in title.lower():
            title += " (illustrative data)"
        body.append(html.Tr([
            html.Th(title, scope="row"),
            html.Td(layer["kind"]),
            html.Td(f"{layer['feature_count']:,}", className="num"),
            html.Td(layer["vintage"] or "—"),
            html.Td(_period(layer)),
            html.Td([layer["source"], html.Br(), html.Span(layer["publisher"], className="muted")]),
            html.Td([layer["licence"], html.Br(), html.Span(layer["attribution"], className="muted")]),
            html.Td(layer["loaded_at"][:10]),
            html.Td(_stale(layer, stale, stale_days)),
        ]))
    return html.Table(
        [html.Caption("Every layer with its source and licence"),
         html.Thead(html.Tr([html.Th(h, scope="col") for h in head])), html.Tbody(body)],
        id="catalogue", className="data-table",
    )


def layout(**_: str) -> html.Div:
    """Every public layer with its provenance, or why the store cannot be read."""
    app_context = context()
    try:
        layers = app_context.public_layers()
        days = app_context.settings.stale_days
        stale = stale_counts(app_context.engine, days=days)
    except InsightError as exc:
        return unavailable("Data catalogue", exc, class_name=None)
    intro = (
        "No layers are loaded yet. Run 'insight load-sample' to load the sample data."
        if not layers
        else f"{len(layers)} public layers. Check a layer's source, licence and period before quoting a figure."
    )
    return html.Div([html.H1("Data catalogue"), html.P(intro), catalogue_table(layers, stale, days)])
