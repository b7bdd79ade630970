"""The web app: Dash pages on a Flask server with JSON/GeoJSON endpoints. Only this package imports Dash.

Pages are registered explicitly; each page module has ``layout(**url_parameters)`` and
thin callbacks that call the package's functions. The shared :class:`AppContext` (settings,
store, cached snapshot) is reached through :func:`context`.
"""
from __future__ import annotations

import dash
from dash import Dash, html
from flask import current_app

from insight.config import Settings, load_settings
from insight.web.api import AppContext

CONTEXT_KEY = "INSIGHT_CONTEXT"
_PAGE_CALLBACKS: tuple[dict, list, list] | None = None


def _page_callbacks() -> tuple[dict, list, list]:
    """The page modules' callbacks, taken once from Dash's process-wide lists.

    ``dash.callback`` collects callbacks in module-level lists that the first app to
    serve a request empties into itself; keeping a copy lets every app built in this
    process (one per test, say) answer its own callbacks.
    """
    global _PAGE_CALLBACKS
    if _PAGE_CALLBACKS is None:
        from dash import _callback

        from insight.web import pages  # noqa: F401 - importing the pages registers their callbacks

        _PAGE_CALLBACKS = (dict(_callback.GLOBAL_CALLBACK_MAP), list(_callback.GLOBAL_CALLBACK_LIST),
                           list(_callback.GLOBAL_INLINE_SCRIPTS))
        _callback.GLOBAL_CALLBACK_MAP.clear()
        _callback.GLOBAL_CALLBACK_LIST.clear()
        _callback.GLOBAL_INLINE_SCRIPTS.clear()
    return _PAGE_CALLBACKS

INDEX_HTML = """<!DOCTYPE html>
<html lang="en-GB">
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>
<a class="skip-link" href="#main">Skip to main content</a>
{%app_entry%}
<div>{%config%}{%scripts%}{%renderer%}</div>
</body>
</html>"""


def context() -> AppContext:
    """The app's shared context, for layouts and callbacks (they run inside a request)."""
    return current_app.config[CONTEXT_KEY]


def current_places():
    """The app's snapshot of the store, for layouts and callbacks."""
    return context().places()


def places_or_message(title: str):
    """The snapshot for a page, or the page to show instead when the store is unusable or empty."""
    from insight.errors import InsightError

    try:
        places = current_places()
    except InsightError as exc:
        return None, html.Div([html.H1(title), html.P(f"The database is not available: {exc}", role="alert",
                                                      className="status")])
    if not places.boundaries:
        return None, html.Div([html.H1(title), html.P(
            "No boundary layers are loaded yet. Run 'insight load-sample' or 'insight import' to load some.",
            role="alert", className="status")])
    return places, None


def _shell() -> html.Div:
    nav = html.Nav(
        html.Ul([
            html.Li(html.A("Map", href="/")),
            html.Li(html.A("Compare areas", href="/compare")),
            html.Li(html.A("Data catalogue", href="/catalogue")),
            html.Li(html.A("Partner sign-in", href="/partner/sign-in")),
        ]),
        **{"aria-label": "Main"},
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
    """Build the app for ``settings`` (default: from the environment); the store is opened lazily."""
    from insight.web import api, pages

    settings = settings or load_settings()
    app = Dash(
        __name__, title="Local Insight", use_pages=True, pages_folder="",
        suppress_callback_exceptions=True, update_title=None,
    )
    app.index_string = INDEX_HTML
    ctx = AppContext(settings)
    app.server.config[CONTEXT_KEY] = ctx
    api.register(app.server, ctx)
    from insight.web import partner

    partner.register(app.server, ctx)
    pages.register()
    callback_map, callback_list, scripts = _page_callbacks()
    app.callback_map.update(callback_map)
    app._callback_list.extend(callback_list)
    app._inline_scripts.extend(scripts)
    app.layout = _shell
    return app
