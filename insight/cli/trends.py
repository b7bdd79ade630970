"""``insight trends``, ``forecast``, ``backtest`` and ``warnings``: change over time per area, written to files.

Wired into ``insight`` by :func:`register`. Every file carries the method, the months of data
used, the layer, boundary and source (columns in csv, an "About" sheet in xlsx, a ``metadata``
object in json). The method is described in docs/trends.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from insight.cli.engines import open_engine
from insight.config import Settings

HELP = {
    "trends": "percentage change per year with its 95%% interval for each area (quasi-Poisson, seasonal)",
    "forecast": "forecast per area and month with 80%% and 95%% prediction intervals",
    "backtest": "forecast accuracy per horizon against the naive baselines (MAE, MASE, coverage)",
    "warnings": "areas whose latest months ran above what the forecast expected",
}


def cmd_trends(args: argparse.Namespace, settings: Settings) -> int:
    """Compute one trends/forecast/backtest/warnings table for every area and write it to ``--output``."""
    from insight.analysis.places import load_places
    from insight.analysis.trends_export import trends_request, trends_result, write_trends

    request = trends_request(
        args.command, args.layer, args.boundary, category=args.category, period=getattr(args, "period", None),
        until=getattr(args, "until", None), horizon=getattr(args, "horizon", None),
        step=getattr(args, "step", None), window=getattr(args, "window", None),
    )
    result = trends_result(load_places(open_engine(settings)), request)
    out = write_trends(result, args.format, Path(args.output))
    meta = result.metadata
    print(f"{meta['title']}: {len(result.rows)} rows ({meta['method']}; data {meta['period']}) written to {out}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--boundary", required=True, help="boundary layer, e.g. wards_2022")
    parser.add_argument("--layer", required=True, help="point layer with months, e.g. burglary_2010_2023")
    parser.add_argument("--category", help="one category of the layer, e.g. burglary (default: all)")
    parser.add_argument("--format", required=True, choices=["csv", "xlsx", "json"])
    parser.add_argument("-o", "--output", required=True, help="output file")
    parser.set_defaults(func=cmd_trends)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``trends``, ``forecast``, ``backtest`` and ``warnings`` to the ``insight`` command."""
    trends = sub.add_parser("trends", help=HELP["trends"])
    _common(trends)
    trends.add_argument("--period", help="YYYY-MM:YYYY-MM inside the layer's months (default: all its months)")

    forecast = sub.add_parser("forecast", help=HELP["forecast"])
    _common(forecast)
    forecast.add_argument("--until", metavar="YYYY-MM",
                          help="use only data up to this month (default: the layer's last month)")
    forecast.add_argument("--horizon", metavar="N", help="months ahead, 1 to 36 (default 12)")

    backtest = sub.add_parser("backtest", help=HELP["backtest"])
    _common(backtest)
    backtest.add_argument("--horizon", metavar="N", help="months ahead scored, 1 to 36 (default 24)")
    backtest.add_argument("--step", metavar="N", help="months between forecast origins, 1 to 24 (default 1)")

    warnings = sub.add_parser("warnings", help=HELP["warnings"])
    _common(warnings)
    warnings.add_argument("--window", metavar="N", help="latest months checked, 1 to 12 (default 3)")
