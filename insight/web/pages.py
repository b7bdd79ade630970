"""Page layouts. The map page here is the foundation's placeholder: boundaries and the layer catalogue."""
from __future__ import annotations

import dash_leaflet as dl
from dash import Input, Output, callback, dcc, html

from insight.errors import InsightError
from insight.web.api import AppContext

INDEX_HTML = """<!DOCTYPE html>
<html lang="en-GB">
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
{%app_entry%}
<footer>{%config%}{%scripts%}{%renderer%}</footer>
</body>
</html>"""

BOUNDARY_STYLE = {"color": "#1d3557", "weight": 2, "fillColor": "#457b9d", "fillOpacity": 0.15}


def _catalogue_table(layers: list[dict]) -> html.Table:
    head = ["Layer", "Kind", "Features", "Vintage or period", "Publisher", "Licence"]
    body = []
    for layer in layers:
        when = layer["vintage"] or (
            f"{layer['period_start']} to {layer['period_end']}" if layer["period_start"] else "—"
        )
        title = layer["title"]
        if layer["illustrative"] and "illustrative" not in title.lower():
            title += " (illustrative data)"
        body.append(
            html.Tr(
                [
                    html.Th(title, scope="row"),
                    html.Td(layer["kind"]),
                    html.Td(f"{layer['feature_count']:,}", className="num"),
                    html.Td(when),
                    html.Td(layer["publisher"]),
                    html.Td(layer["licence"]),
                ]
            )
        )
    return html.Table(
        [
            html.Caption("Loaded layers with their source and licence"),
            html.Thead(html.Tr([html.Th(h, scope="col") for h in head])),
            html.Tbody(body),
        ],
        id="catalogue",
        className="catalogue",
    )


def boundary_url(name: str | None) -> str | None:
    """GeoJSON endpoint of a boundary layer, for the map's GeoJSON component."""
    return f"/api/layers/{name}.geojson" if name else None


@callback(Output("boundaries", "url"), Input("boundary-choice", "value"))
def show_boundary(name: str | None) -> str | None:
    return boundary_url(name)


def layout(context: AppContext) -> html.Div:
    """The home page: a map of the chosen boundary layer and the catalogue of loaded layers."""
    try:
        layers = context.public_layers()
    except InsightError as exc:
        return html.Main(
            [html.H1("Local Insight"), html.P(f"The database is not available: {exc}", role="alert")],
            id="main",
        )
    boundaries = [l for l in layers if l["kind"] == "boundary"]
    wards = [l for l in boundaries if l["area_type"] == "ward"]
    default = (
        max(wards, key=lambda l: l["vintage"] or "")["name"]
        if wards
        else (boundaries[0]["name"] if boundaries else None)
    )
    tiles = (
        [dl.TileLayer(url=context.settings.tile_url, attribution=context.settings.tile_attribution)]
        if context.settings.tile_url
        else []
    )
    map_children = [
        *tiles,
        dl.GeoJSON(id="boundaries", url=boundary_url(default), style=BOUNDARY_STYLE, zoomToBounds=True),
    ]
    intro = (
        "No layers are loaded yet. Run 'insight load-sample' to load the sample data."
        if not layers
        else f"{len(layers)} layers are loaded. The full map with filters is under construction; "
        "this page shows the boundaries and what data is available."
    )
    return html.Div(
        [
            html.Header(html.P("Local Insight", className="brand"), className="banner"),
            html.Main(
                [
                    html.H1("Explore your area"),
                    html.P(intro, id="intro"),
                    html.Fieldset(
                        [
                            html.Legend("Boundary layer"),
                            dcc.RadioItems(
                                id="boundary-choice",
                                options=[{"label": l["title"], "value": l["name"]} for l in boundaries],
                                value=default,
                                inline=True,
                                labelClassName="choice",
                            ),
                        ],
                        className="choices",
                    ),
                    html.Div(
                        dl.Map(map_children, center=[51.6, -0.2], zoom=11, id="map", style={"height": "60vh"}),
                        role="region",
                        **{"aria-label": "Map of the chosen boundaries"},
                    ),
                    html.H2("Data catalogue"),
                    _catalogue_table(layers),
                ],
                id="main",
            ),
        ]
    )
