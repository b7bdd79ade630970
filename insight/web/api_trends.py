"""Trends, forecasts, backtests and early warnings per area as JSON, CSV and XLSX: the CLI's twins.

``GET /api/<kind>/<boundary>.<csv|xlsx|json>`` with ``layer`` (default: the crime layer with the
most records), ``category`` and, by kind, ``period`` (trends), ``until`` and ``horizon``
(forecast), ``horizon`` and ``step`` (backtest), ``window`` (warnings). The rows are those
``insight <kind>`` writes, with method, months of data, layer, boundary and source on each.
Each answer is kept per view (forecasts and backtests take seconds) until the data change.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from flask import Flask, Response, request

from insight.analysis.profiles import default_crime_layer
from insight.analysis.trends_export import (
    FORMATS,
    KINDS,
    TrendsRequest,
    TrendsResult,
    trends_json,
    trends_request,
    trends_result,
    write_trends,
)
from insight.errors import BadRequest, NotFoundError
from insight.web.api import checked_code, checked_name, guarded
from insight.web.context import AppContext

MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def request_from(kind: str, boundary: str, args: dict[str, str], context: AppContext) -> TrendsRequest:
    """The checked request a URL asks for (BadRequest for a malformed parameter, NotFoundError for no layer)."""
    layer = checked_name(args.get("layer"), "layer") or default_crime_layer(context.places())
    if layer is None:
        raise NotFoundError("no point layer is loaded: load a crime layer, or name one with ?layer=")
    return trends_request(
        kind, layer, checked_name(boundary, "boundary"), category=checked_code(args.get("category"), "category"),
        period=args.get("period"), until=args.get("until"), horizon=args.get("horizon"),
        step=args.get("step"), window=args.get("window"),
    )


def result_for(context: AppContext, checked: TrendsRequest) -> TrendsResult:
    """The table for a checked request, computed once per view and kept until the data change."""
    places = context.places()
    return context.view(("api-trends", checked), lambda: trends_result(places, checked))


def _content(context: AppContext, checked: TrendsRequest, fmt: str) -> bytes:
    result = result_for(context, checked)
    if fmt == "json":
        return trends_json(result).encode("utf-8")

    def make() -> bytes:
        with tempfile.TemporaryDirectory(prefix="insight-trends-") as folder:
            return write_trends(result, fmt, Path(folder) / f"{checked.kind}.{fmt}").read_bytes()

    return context.view(("api-trends-file", checked, fmt), make)


def _answer(context: AppContext, kind: str, boundary: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        raise BadRequest(f"format '{fmt[:10]}' is not one of {', '.join(FORMATS)}")
    checked = request_from(kind, boundary, request.args.to_dict(), context)
    content = _content(context, checked, fmt)
    if fmt == "json":
        return Response(content, mimetype=MIMETYPES[fmt])
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{kind}_{checked.boundary}_{checked.layer}")
    return Response(content, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def register(server: Flask, context: AppContext) -> None:
    """Add ``/api/trends``, ``/api/forecast``, ``/api/backtest`` and ``/api/warnings`` to ``server``."""
    for kind in KINDS:
        def endpoint(boundary: str, fmt: str, kind: str = kind) -> Response:
            return _answer(context, kind, boundary, fmt)

        server.add_url_rule(f"/api/{kind}/<boundary>.<fmt>", endpoint=f"api_{kind}", view_func=guarded(endpoint),
                            methods=["GET"])
