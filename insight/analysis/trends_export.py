"""Trends, forecasts, backtests and early warnings as files: the rows the CLI writes and the API serves.

One :class:`TrendsRequest` (checked parameters) gives one :class:`TrendsResult`: the table from
:mod:`insight.analysis.trends` with the method, the months of data used, the layer, category,
boundary, boundary vintage, source and the time it was made on every row, and the same facts
as a ``metadata`` mapping (the "About" sheet of a workbook, the ``metadata`` object of JSON).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from insight.analysis.export import json_value, safe_frame, write_xlsx
from insight.analysis.places import Places, PointData, month_label
from insight.analysis.trends import area_backtest, area_forecast, area_trends, area_warnings
from insight.analysis.trends.forecast import METHOD
from insight.analysis.trends.trend import TREND_METHOD
from insight.errors import BadRequest

KINDS = ("trends", "forecast", "backtest", "warnings")
FORMATS = ("csv", "xlsx", "json")
MAX_HORIZON = 36
MAX_STEP = 24
MAX_WINDOW = 12
FORECAST_COLUMNS = ["code", "name", "month", "forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
"""The first columns of a forecast file, in this order (horizon, method and provenance follow)."""
PROVENANCE = ["period", "layer", "category", "boundary", "boundary_vintage", "source", "generated"]
"""Columns added to every row (after the table's own columns) so a file read alone says what it is."""
DOCS = "docs/trends.md"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SHEETS = {"trends": "Trends", "forecast": "Forecast", "backtest": "Backtest", "warnings": "Warnings"}
_DEFAULT_HORIZON = {"forecast": 12, "backtest": 24}
BACKTEST_METHOD = (f"rolling-origin backtest of {METHOD} against last value, seasonal naive and mean of the "
                   "last 12 months; MAE, MASE and 80%/95% interval coverage per horizon")


@dataclass(frozen=True)
class TrendsRequest:
    """Checked parameters of one trends, forecast, backtest or warnings table (also a cache key)."""

    kind: str
    layer: str
    boundary: str
    category: str | None = None
    period: str | None = None
    until: str | None = None
    horizon: int = 12
    step: int = 1
    window: int = 3


@dataclass
class TrendsResult:
    """A table with provenance columns, and its metadata."""

    request: TrendsRequest
    rows: pd.DataFrame
    metadata: dict[str, object] = field(default_factory=dict)


def checked_month(value: str | None, what: str) -> str | None:
    """A 'YYYY-MM' month (None when empty), or BadRequest naming ``what``."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not _MONTH.match(text):
        raise BadRequest(f"{what} must be a month written YYYY-MM, e.g. 2022-03 (got '{text[:20]}')")
    return text


def checked_span(value: str | None) -> str | None:
    """A 'YYYY-MM:YYYY-MM' period (None when empty), or BadRequest with an example."""
    if value is None or str(value).strip() == "":
        return None
    parts = str(value).strip().split(":")
    if len(parts) != 2 or not all(_MONTH.match(p.strip()) for p in parts):
        raise BadRequest(f"a period is two months YYYY-MM joined by ':', e.g. 2019-01:2022-12 "
                         f"(got '{str(value)[:30]}')")
    first, last = (p.strip() for p in parts)
    if last < first:
        raise BadRequest(f"the period '{value}' ends before it starts")
    return f"{first}:{last}"


def checked_number(value: str | int | None, what: str, *, default: int, high: int) -> int:
    """A whole number from 1 to ``high`` given as text or int (``default`` when none), or BadRequest."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= high:
        raise BadRequest(f"{what} must be a whole number from 1 to {high} (got '{text[:20]}')")
    return int(text)


def trends_request(
    kind: str, layer: str | None, boundary: str | None, *, category: str | None = None,
    period: str | None = None, until: str | None = None, horizon: str | int | None = None,
    step: str | int | None = None, window: str | int | None = None,
) -> TrendsRequest:
    """Check every parameter of a request (text from a command line or URL); BadRequest for a bad one."""
    if kind not in KINDS:
        raise BadRequest(f"'{kind}' is not one of {', '.join(KINDS)}")
    if not layer:
        raise BadRequest("name a point layer with dated records, e.g. burglary_2010_2023")
    if not boundary:
        raise BadRequest("name a boundary layer, e.g. wards_2022")
    return TrendsRequest(
        kind=kind, layer=layer, boundary=boundary, category=category or None,
        period=checked_span(period) if kind == "trends" else None,
        until=checked_month(until, "until") if kind == "forecast" else None,
        horizon=checked_number(horizon, "the horizon (months ahead)", default=_DEFAULT_HORIZON.get(kind, 12),
                               high=MAX_HORIZON),
        step=checked_number(step, "the step between backtest origins (months)", default=1, high=MAX_STEP),
        window=checked_number(window, "the warning window (months)", default=3, high=MAX_WINDOW),
    )


def _layer_months(points: PointData) -> tuple[str, str]:
    span = points.months()
    if span is None:
        raise BadRequest(f"the layer '{points.meta.name}' has no dated records, so it has no series over time: "
                         "choose a layer with months, e.g. a crime layer")
    return month_label(span[0]), month_label(span[1])


def _check_inside(request: TrendsRequest, first: str, last: str) -> None:
    """Refuse a period or cut-off outside the layer's months (those months have no counts, not zero counts)."""
    if request.period is not None:
        start, end = request.period.split(":")
        if start < first or end > last:
            raise BadRequest(f"the period {request.period} is outside the layer's months: "
                             f"'{request.layer}' has records from {first} to {last}")
    if request.until is not None and not first <= request.until <= last:
        raise BadRequest(f"until {request.until} is outside the layer's months: "
                         f"'{request.layer}' has records from {first} to {last}")


def _table(places: Places, request: TrendsRequest) -> tuple[pd.DataFrame, str, str]:
    """The analysis table, its method and the months of data it used."""
    points = places.point_layer(request.layer)
    first, last = _layer_months(points)
    places.boundary(request.boundary)
    _check_inside(request, first, last)
    if request.category is not None and request.category not in points.categories:
        raise BadRequest(f"no category '{request.category}' in the layer '{request.layer}' "
                         f"(categories: {', '.join(points.categories)})")
    try:
        return _analyse(places, request, first, last)
    except BadRequest as exc:
        start, end = request.period.split(":") if request.period else (first, request.until or last)
        months = len(pd.period_range(start, end, freq="M"))
        plural = "month" if months == 1 else "months"
        raise BadRequest(f"no {request.kind} for '{request.layer}' in {request.boundary} from {months} {plural} "
                         f"of records: {exc}") from exc


def _analyse(places: Places, r: TrendsRequest, first: str, last: str) -> tuple[pd.DataFrame, str, str]:
    if r.kind == "trends":
        table = area_trends(places, r.layer, r.boundary, r.category, r.period)
        return table, TREND_METHOD, r.period or f"{first}:{last}"
    if r.kind == "forecast":
        table = area_forecast(places, r.layer, r.boundary, r.category, until=r.until, horizon=r.horizon)
        rest = [c for c in table.columns if c not in FORECAST_COLUMNS]
        return table[FORECAST_COLUMNS + rest], METHOD, f"{first}:{r.until or last}"
    if r.kind == "backtest":
        table = area_backtest(places, r.layer, r.boundary, r.category, horizon=r.horizon, step=r.step)
        return table, BACKTEST_METHOD, f"{first}:{last}"
    what = f"{r.category} records" if r.category else "records"
    table = area_warnings(places, r.layer, r.boundary, r.category, window=r.window, what=what)
    return table, str(table["method"].iloc[0]), f"{first}:{last}"


def trends_result(places: Places, request: TrendsRequest) -> TrendsResult:
    """Compute the table a request asks for, with provenance on every row and as metadata."""
    table, method, period = _table(places, request)
    points = places.point_layer(request.layer)
    bounds = places.boundary(request.boundary).meta
    generated = datetime.now(UTC).replace(microsecond=0).isoformat()
    provenance = {
        "period": period, "layer": request.layer, "category": request.category or "all",
        "boundary": request.boundary, "boundary_vintage": bounds.vintage or "",
        "source": f"{points.meta.source} ({points.meta.licence})", "generated": generated,
    }
    rows = table.copy()
    if "method" not in rows.columns:
        rows["method"] = method
    for name, value in provenance.items():
        if name not in rows.columns:
            rows[name] = value
    metadata: dict[str, object] = {
        "title": f"{_SHEETS[request.kind]}: {points.meta.title} in {bounds.title}",
        "kind": request.kind, "method": method, "method_description": DOCS, **provenance,
        "layer_title": points.meta.title, "boundary_title": bounds.title, "publisher": points.meta.publisher,
        "licence": points.meta.licence, "attribution": points.meta.attribution,
        "layer_months": f"{points.meta.period_start}:{points.meta.period_end}",
        "data_loaded": points.meta.loaded_at.isoformat(), "rows": len(rows),
        "pandemic_months": "2020-03 to 2021-06: see the method description for how each part treats them",
    }
    metadata.update(_parameters(request))
    return TrendsResult(request=request, rows=rows, metadata=metadata)


def _parameters(request: TrendsRequest) -> dict[str, object]:
    if request.kind == "forecast":
        return {"until": request.until or "the layer's last month", "horizon": request.horizon,
                "intervals": "80% and 95% prediction intervals (negative binomial)"}
    if request.kind == "backtest":
        return {"horizon": request.horizon, "step": request.step}
    if request.kind == "warnings":
        return {"window": request.window}
    return {}


def trends_json(result: TrendsResult) -> str:
    """The result as JSON text: ``{"metadata": {...}, "rows": [...]}`` (no NaN: missing values are null)."""
    rows = [{k: json_value(v) for k, v in r.items()} for r in result.rows.to_dict("records")]
    metadata = {k: json_value(v) for k, v in result.metadata.items()}
    return json.dumps({"metadata": metadata, "rows": rows}, indent=1, ensure_ascii=False)


def write_trends(result: TrendsResult, fmt: str, path: Path) -> Path:
    """Write the result as csv (provenance columns), xlsx (with an "About" sheet) or json (``metadata``)."""
    path = Path(path)
    if fmt == "csv":
        safe_frame(result.rows, columns=False).to_csv(path, index=False)
    elif fmt == "xlsx":
        about = pd.DataFrame([{"item": k, "value": str(v)} for k, v in result.metadata.items()])
        write_xlsx(path, {_SHEETS[result.request.kind]: result.rows, "About": about})
    elif fmt == "json":
        path.write_text(trends_json(result), encoding="utf-8")
    else:
        raise BadRequest(f"format '{fmt[:10]}' is not one of {', '.join(FORMATS)}")
    return path
