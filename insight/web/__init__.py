"""The web app: Dash pages on a Flask server with JSON/GeoJSON endpoints. Only this package imports Dash.

:func:`create_app` builds the app: one :class:`~insight.web.context.AppContext` (settings, store,
cached snapshot), the JSON API, the partner pages, and the Dash pages, each page module with
``layout(**url_parameters)`` and thin callbacks added to this app by its ``register_callbacks``.
"""
from __future__ import annotations

import signal
from types import FrameType

import dash
from dash import Dash, html

from insight.config import Settings, load_settings
from insight.web import api, api_figures, api_openapi, api_trends, directory, ogc, oruk, pages, partner, plotly_bundle
from insight.web.components import aria
from insight.web.context import AppContext, context_of, install
from insight.web.custom_areas import register as register_custom_areas
from insight.web.failures import install_guards

INDEX_HTML = """<!DOCTYPE html>
<html lang="en-GB">
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
{%app_entry%}
<div>{%config%}{%scripts%}{%renderer%}</div>
</body>
</html>"""


def _shell() -> html.Div:
    nav = html.Nav(
        html.Ul([
            html.Li(html.A("Map", href="/")),
            html.Li(html.A("Compare areas", href="/compare")),
            html.Li(html.A("Two figures", href="/figures")),
            html.Li(html.A("Need beside assets", href="/need")),
            html.Li(html.A("Your own area", href="/areas/custom")),
            html.Li(html.A("Data catalogue", href="/catalogue")),
            html.Li(html.A("Community directory", href="/directory")),
            html.Li(html.A("Partner sign-in", href="/partner/sign-in")),
        ]),
        **aria(label="Main"),
    )
    return html.Div([
        html.Header([html.A("Local Insight", href="/", className="brand"), nav], className="banner"),
        html.Main(dash.page_container, id="main", tabIndex="-1"),
        html.Footer(
            html.P(
                "Contains public sector information licensed under the Open Government Licence v3.0. "
                "Contains OS data © Crown copyright and database right. © OpenStreetMap contributors. "
                "Crime data: data.police.uk. Layers marked illustrative are generated, not real records. "
                "See the data catalogue for each layer's source and licence."
            ),
            className="site-footer",
        ),
    ])


def create_app(settings: Settings | None = None) -> Dash:
    """Build the app for ``settings`` (default: read once from the environment); the store is opened lazily."""
    settings = settings or load_settings()
    app = Dash(
        __name__, title="Local Insight", use_pages=True, pages_folder="",
        suppress_callback_exceptions=True, update_title="",
    )
    app.index_string = INDEX_HTML
    app_context = AppContext(settings)
    install(app.server, app_context)
    plotly_bundle.install(app.server)
    api.register(app.server, app_context)
    ogc.register(app.server, app_context)
    api_openapi.register(app.server, app_context)
    api_trends.register(app.server, app_context)
    api_figures.register(app.server, app_context)
    partner.register(app.server, app_context)
    oruk.register(app.server, app_context)
    directory.register(app.server, app_context)
    register_custom_areas(app.server, app_context)
    pages.register(app)
    app.layout = _shell
    install_guards(app.server, app_context, script_hashes=app.csp_hashes,
                   page_paths=[p.get("path_template") or p["path"] for p in dash.page_registry.values()])
    return app


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(app: Dash, *, host: str, port: int) -> None:
    """Serve ``app`` until Ctrl+C or SIGTERM, then close the listening socket and the store's connections."""
    from werkzeug.serving import make_server

    server = make_server(host, port, app.server, threaded=True)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        context_of(app.server).close()
