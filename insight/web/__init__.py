"""The web app: Dash pages on a Flask server with JSON/GeoJSON endpoints. Only this package imports Dash."""
from __future__ import annotations

from dash import Dash

from insight.config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Dash:
    """Build the app for ``settings`` (default: from the environment); the store is opened lazily."""
    from insight.web import api, pages

    settings = settings or load_settings()
    app = Dash(
        __name__,
        title="Local Insight",
        suppress_callback_exceptions=True,
        update_title=None,
    )
    app.index_string = pages.INDEX_HTML
    context = api.AppContext(settings)
    api.register(app.server, context)
    app.layout = lambda: pages.layout(context)
    return app
