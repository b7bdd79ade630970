"""The ``insight`` command. Errors reach the user as one clear message, not a traceback."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from insight.cli.engines import close_engines, open_engine
from insight.cli.national import register as add_national_commands
from insight.cli.partner import add_commands
from insight.cli.trends import register as add_trends_commands
from insight.config import Settings, load_settings, settings_help
from insight.errors import BadRequest, ConfigError, InsightError, LoadError, Problem, StoreError

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from insight.analysis.perception import SurveyData
    from insight.analysis.places import Places


def _progress_printer(name: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r        writing {name}: {done:,}/{total:,} rows", end=end, file=sys.stderr, flush=True)

    return show


def _progress() -> Callable[[str], Callable[[int, int], None]] | None:
    """A progress line per layer on a terminal; nothing when the output goes to a file or a pipe."""
    return _progress_printer if sys.stderr.isatty() else None


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """``insight db upgrade|current``: bring the schema up to date, or show its revision."""
    from insight.store import migrate

    engine = open_engine(settings, upgrade=False)
    if args.action == "upgrade":
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
        print(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
    else:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        state = "up to date" if current == head else f"behind: run 'insight db upgrade' to reach {head}"
        print(f"database revision {current or 'none (empty)'}; {state}")
    return 0


def cmd_load_sample(args: argparse.Namespace, settings: Settings) -> int:
    """``insight load-sample``: load every layer defined under layers/ (or those named) from data/."""
    from insight.layers import load_specs
    from insight.sources.ingest import load_specs_into

    specs = load_specs(settings.layers_dir)
    if args.only:
        unknown = sorted(set(args.only) - {s.name for s in specs})
        if unknown:
            raise BadRequest(f"unknown layer(s) {', '.join(unknown)}: the layers defined under {settings.layers_dir} "
                             f"are {', '.join(sorted(s.name for s in specs))}")
        specs = [s for s in specs if s.name in args.only]
    engine = open_engine(settings)
    if args.if_empty:
        from insight.store import layer_summaries

        if layer_summaries(engine):
            print("the database already has layers: not reloading (run 'insight load-sample' to reload)")
            return 0
    where = engine.url.render_as_string(hide_password=True)
    print(f"loading {len(specs)} layers from {settings.data_dir} into {where}")
    reports = load_specs_into(engine, specs, Path(settings.data_dir), progress=_progress())
    print(f"done: {len(reports)} layers loaded")
    return 0


def _parse_options(pairs: Sequence[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"--option expects KEY=VALUE, got '{pair}'")
        options[key] = value
    return options


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """``insight import FILE --layer NAME``: load one file as a layer, defined or described on the command line."""
    from insight.layers import load_specs
    from insight.sources.ingest import adhoc_spec, load_layer
    from insight.sources.postcodes import FORMATS as POSTCODE_FORMATS

    path = Path(args.file)
    if args.layer == "postcodes" or (args.format or "").lower() in POSTCODE_FORMATS:
        return _import_postcodes(path, args, settings)
    known = {s.name: s for s in load_specs(settings.layers_dir)}
    options = _parse_options(args.option)
    if args.layer in known and not args.kind:
        spec = known[args.layer]
        if options:
            from dataclasses import replace

            spec = replace(spec, options={**spec.options, **options})
    else:
        if not args.kind or not args.format:
            raise ConfigError(
                f"'{args.layer}' is not defined under {settings.layers_dir}: give --kind and --format "
                "(e.g. --kind boundary --format boundary --area-type ward --vintage 2022)"
            )
        spec = adhoc_spec(
            args.layer, kind=args.kind, loader=args.format, title=args.title, area_type=args.area_type,
            vintage=args.vintage, geography=args.geography, source=args.source, publisher=args.publisher,
            licence=args.licence, attribution=args.attribution, authority=args.authority, options=options,
            theme=args.theme, asset_kind=args.asset_kind, description=args.description,
            illustrative=args.illustrative,
        )
    engine = open_engine(settings)
    progress = _progress()
    report = load_layer(engine, spec, path, loader=args.format, progress=progress(spec.name) if progress else None)
    print(report.summary())
    for note in report.notes:
        print(f"  note: {note}")
    return 0


def _import_postcodes(path: Path, args: argparse.Namespace, settings: Settings) -> int:
    """``insight import NSPL.csv --layer postcodes --format nspl``: replace the postcode lookup."""
    from insight.sources.postcodes import import_postcodes

    report = import_postcodes(open_engine(settings), path, args.format or "nspl")
    first, *notes = report.lines()
    print(first)
    for note in notes:
        print(f"  note: {note}")
    return 0


def cmd_layers(args: argparse.Namespace, settings: Settings) -> int:
    """``insight layers``: the loaded layers with counts, vintage or period, and licence."""
    from insight.store import layer_summaries

    summaries = layer_summaries(open_engine(settings))
    if not summaries:
        print("no layers loaded: run 'insight load-sample' or 'insight import'")
        return 0
    header = ("name", "kind", "count", "vintage / period", "licence")
    rows = []
    for s in summaries:
        when = s.vintage or (f"{s.period_start} to {s.period_end}" if s.period_start else "")
        name = s.name + (" (illustrative)" if s.illustrative else "")
        rows.append((name, s.kind, f"{s.feature_count:,}", when, s.licence))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0


def _positive(text: str) -> int:
    """A command-line count that must be a whole number above 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``insight serve``: the web app under gunicorn; ``--dev``/``--debug``: the development server."""
    from insight.store import layer_summaries
    from insight.web import create_app, serve
    from insight.web.context import context_of
    from insight.web.production import cpu_cores, memory_bytes, serve_production, thread_count, worker_count

    app = create_app(settings)
    if args.dev or args.debug:
        print("reading the layers into memory…", flush=True)
        context_of(app.server).warm()
        print(f"Local Insight on http://{args.host}:{args.port}/  (Ctrl+C to stop)", flush=True)
        if args.debug:
            app.run(host=args.host, port=args.port, debug=True)
        else:
            serve(app, host=args.host, port=args.port)
        return 0
    layer_summaries(open_engine(settings, upgrade=False))
    close_engines()
    workers = args.workers or settings.serve_workers or worker_count(cpu_cores(), memory_bytes())
    threads = args.threads or settings.serve_threads or thread_count()
    print(f"Local Insight on http://{args.host}:{args.port}/  ({workers} workers x {threads} threads; "
          "Ctrl+C to stop)", flush=True)
    serve_production(app, host=args.host, port=args.port, workers=workers, threads=threads)
    return 0


def _places(settings: Settings) -> Places:
    from insight.analysis.places import load_places

    return load_places(open_engine(settings))


def read_polygon(path: Path) -> BaseGeometry:
    """The union of the polygons in a GeoJSON/GeoPackage/Shapefile, in EPSG:4326."""
    import shapely

    from insight.sources.geo import read_vector, resolve_crs, to_wgs84

    data = read_vector(path)
    geoms = data.geometry[~shapely.is_missing(data.geometry)]
    polygons = geoms[np.isin(shapely.get_type_id(geoms), [3, 6])] if len(geoms) else geoms
    if len(polygons) == 0:
        raise LoadError(path.name, [Problem("no polygon found: draw or upload an area as a polygon")])
    bounds = tuple(shapely.total_bounds(polygons))
    crs = resolve_crs(path, declared=data.crs, declared_text=data.crs_text, option=None, bounds=bounds, notes=[])
    return shapely.make_valid(shapely.union_all(to_wgs84(polygons, crs)))


def _formats(text: str, allowed: tuple[str, ...]) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in allowed]
    if unknown or not formats:
        raise BadRequest(f"unknown format(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(allowed)}")
    return formats


def cmd_profile(args: argparse.Namespace, settings: Settings) -> int:
    """``insight profile``: one area's (or a drawn polygon's) profile, written in one or more formats."""
    from insight.analysis.export import PROFILE_FORMATS, export_profile
    from insight.analysis.perception import results_for, with_perception
    from insight.analysis.profiles import drawn_boundary, parse_period, profile

    places = _places(settings)
    period = parse_period(args.period) if args.period else None
    if args.polygon:
        drawn = drawn_boundary(read_polygon(Path(args.polygon)), name=args.name or "Drawn area")
        result = profile(places, drawn, "drawn", comparator=args.comparator, crime_layer=args.layer, period=period)
    else:
        if not args.boundary or not args.area:
            raise BadRequest("give --boundary LAYER and --area CODE_OR_NAME, or --polygon FILE")
        result = profile(places, args.boundary, args.area, comparator=args.comparator, crime_layer=args.layer,
                         period=period)
        surveys = _surveys(settings)
        if surveys:
            try:
                found = results_for(places, surveys, args.boundary, crime_layer=args.layer, period=period)
            except InsightError as exc:
                result.notes.append(f"Resident perception figures are not shown: {exc}")
            else:
                result = with_perception(result, found)
    formats = _formats(args.format, PROFILE_FORMATS)
    output = Path(args.output)
    for fmt in formats:
        path = output if len(formats) == 1 else output.with_name(f"{output.name}.{fmt}")
        out = export_profile(result, places, fmt, path)
        print(f"{result.title}: {len(result.figures)} figures against {result.comparator} written to {out}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def _surveys(settings: Settings) -> list[SurveyData]:
    """Loaded survey layers with their respondents (restricted: read here, only aggregates are written)."""
    from insight.analysis.perception import read_surveys
    from insight.layers import load_specs
    from insight.store import layer_summaries

    engine = open_engine(settings)
    return read_surveys(engine, load_specs(settings.layers_dir), layer_summaries(engine))


def cmd_perception(args: argparse.Namespace, settings: Settings) -> int:
    """``insight perception``: published survey shares beside recorded crime for every area."""
    from insight.analysis.export import export_table
    from insight.analysis.perception import perception, perception_table
    from insight.analysis.profiles import parse_period

    surveys = _surveys(settings)
    if not surveys:
        raise ConfigError("no resident survey is loaded: import one with 'insight import FILE --layer LAYER' "
                          "(e.g. the sample's resident_survey_illustrative)")
    survey = surveys[0]
    if args.survey:
        named = next((s for s in surveys if s.layer.name == args.survey), None)
        if named is None:
            raise BadRequest(f"no survey layer '{args.survey}' (loaded: {', '.join(s.layer.name for s in surveys)})")
        survey = named
    places = _places(settings)
    period = parse_period(args.period) if args.period else None
    result = perception(places, survey, args.question or survey.spec.questions[0].id, args.boundary,
                        crime_layer=args.layer, period=period, wave=args.wave)
    table = perception_table(result)
    out = export_table(table, args.format, Path(args.output))
    shown = int(result.areas["published"].sum())
    print(f"{result.title}: {shown} of {len(result.areas)} areas published, beside {result.crime_label} "
          f"({result.crime_period}); written to {out}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def cmd_profiles(args: argparse.Namespace, settings: Settings) -> int:
    """``insight profiles``: every figure for every area of a boundary layer in one table, with its metadata."""
    from insight.analysis.area_figures import every_area_table, read_indicators
    from insight.analysis.perception import results_for
    from insight.analysis.profiles import parse_period
    from insight.analysis.table_export import write_every_area_table

    places = _places(settings)
    period = parse_period(args.period) if args.period else None
    chosen = [c for c in (args.indicators or "").split(",") if c] or None
    indicators = {} if chosen == ["none"] else read_indicators(open_engine(settings), places)
    try:
        found = results_for(places, _surveys(settings), args.boundary, crime_layer=args.layer, period=period)
    except InsightError as exc:
        found = []
        print(f"  note: resident perception figures are not shown: {exc}")
    table, metadata = every_area_table(places, args.boundary, crime_layer=args.layer, period=period,
                                       indicators=indicators, chosen=None if chosen == ["none"] else chosen,
                                       perception=found)
    areas = places.boundary(args.boundary).areas
    out = write_every_area_table(table, metadata, args.format, Path(args.output), areas)
    print(f"{len(table)} areas of {table.attrs['boundary_title']}, {len(table.columns)} columns, "
          f"{table.attrs['layer']} ({table.attrs['period']}), written to {out}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """``insight settings``: each INSIGHT_* setting with its help and default."""
    for key, default, text in settings_help():
        print(f"{key}\n    {text}\n    default: {default or '(empty)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``insight`` argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog="insight", description="Local Insight: place-based data for councils and their partners."
    )
    parser.add_argument("--database-url", help="override INSIGHT_DATABASE_URL for this command")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_commands(sub)
    _add_analysis_commands(sub)
    add_commands(sub)
    add_national_commands(sub)
    add_trends_commands(sub)
    return parser


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    """``db``, ``load-sample``, ``import``, ``layers``, ``serve`` and ``settings``."""
    db = sub.add_parser("db", help="database schema: upgrade or show the current revision")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(func=cmd_db)

    sample = sub.add_parser("load-sample", help="load every layer defined under layers/ from data/")
    sample.add_argument("--only", nargs="+", metavar="LAYER", help="load just these layers")
    sample.add_argument("--if-empty", action="store_true", help="do nothing if any layer is loaded")
    sample.set_defaults(func=cmd_load_sample)

    imp = sub.add_parser("import", help="load one file as a layer (replaces a layer of the same name)")
    imp.add_argument("file")
    imp.add_argument("--layer", required=True,
                     help="layer name; a layers/ definition of that name supplies the metadata")
    imp.add_argument("--format", help="loader name, e.g. boundary, police-api, police-bulk, points-csv; "
                     "for postcode files (--layer postcodes) nspl, onspd or codepoint")
    imp.add_argument("--kind", choices=["boundary", "points", "indicator", "lookup"])
    imp.add_argument("--area-type", help="for boundaries: ward, lsoa, town_centre, constituency, borough…")
    imp.add_argument("--vintage", help="boundary vintage, e.g. 2022")
    imp.add_argument("--geography", help="for indicators: the geography of the area codes, e.g. lsoa21")
    imp.add_argument("--title")
    imp.add_argument("--source")
    imp.add_argument("--publisher")
    imp.add_argument("--licence")
    imp.add_argument("--attribution")
    imp.add_argument("--authority", action="store_true", help="this boundary is the council's own outline")
    imp.add_argument("--theme", help="for points: crime, assets, …; assets are searchable and in the directory")
    imp.add_argument("--asset-kind", help="for assets: money, services_people, insight or spaces")
    imp.add_argument("--description", help="what the layer holds, shown in the catalogue")
    imp.add_argument("--illustrative", action="store_true", help="generated, not real records: labelled so")
    imp.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="loader option")
    imp.set_defaults(func=cmd_import)

    layers = sub.add_parser("layers", help="list loaded layers with counts, vintage and licence")
    layers.set_defaults(func=cmd_layers)

    serve = sub.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)
    serve.add_argument("--workers", type=_positive, metavar="N",
                       help="worker processes (default: INSIGHT_SERVE_WORKERS, else 2 x CPU cores + 1)")
    serve.add_argument("--threads", type=_positive, metavar="N",
                       help="threads per worker (default: INSIGHT_SERVE_THREADS, else 4)")
    serve.add_argument("--dev", action="store_true", help="the single-process development server instead")
    serve.add_argument("--debug", action="store_true", help="the development server with Dash's debugger")
    serve.set_defaults(func=cmd_serve)

    conf = sub.add_parser("settings", help="list the INSIGHT_* settings with their defaults")
    conf.set_defaults(func=cmd_settings)


def _add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    """``profile``, ``profiles`` and ``perception``: figures for areas, written to files."""
    prof = sub.add_parser("profile", help="one area's profile: population, deprivation, crime, assets")
    prof.add_argument("--boundary", help="boundary layer, e.g. wards_2022")
    prof.add_argument("--area", help="area code or name, e.g. E05013633 or 'Burnt Oak'")
    prof.add_argument("--polygon", help="a drawn area instead: GeoJSON, GeoPackage or Shapefile with a polygon")
    prof.add_argument("--name", help="name for a drawn area")
    prof.add_argument("--layer", help="point layer for the crime section (default: the largest crime layer)")
    prof.add_argument("--period", help="YYYY-MM:YYYY-MM (default: the layer's latest 12 months)")
    prof.add_argument("--comparator", default="borough",
                      help="borough (default), average (of areas of the same type) or LAYER:CODE")
    prof.add_argument("--format", required=True, metavar="FORMAT[,FORMAT…]",
                      help="csv, xlsx, json, geojson, gpkg or html; several separated by commas")
    prof.add_argument("-o", "--output", required=True,
                      help="output file; with several formats, a name each format's suffix is added to")
    prof.set_defaults(func=cmd_profile)

    profs = sub.add_parser("profiles", help="every figure for every area of a boundary layer in one table")
    profs.add_argument("--boundary", required=True)
    profs.add_argument("--layer", help="point layer to count (default: the largest crime layer)")
    profs.add_argument("--period", help="YYYY-MM:YYYY-MM (default: the layer's latest 12 months)")
    profs.add_argument("--indicators", help="indicator names to include, comma-separated, or 'none' (default: all)")
    profs.add_argument("--format", required=True, choices=["csv", "xlsx", "json", "gpkg", "metadata.csv"])
    profs.add_argument("-o", "--output", required=True)
    profs.set_defaults(func=cmd_profiles)

    perc = sub.add_parser("perception", help="resident survey shares beside recorded crime for every area "
                                            "(published aggregates only)")
    perc.add_argument("--boundary", required=True, help="the ward layer the survey places respondents in")
    perc.add_argument("--question", help="question id from the survey file (default: its first question)")
    perc.add_argument("--survey", help="survey layer name (default: the first loaded)")
    perc.add_argument("--wave", help="survey wave (default: the latest)")
    perc.add_argument("--layer", help="crime layer (default: the one with the most records)")
    perc.add_argument("--period", help="crime period YYYY-MM:YYYY-MM (default: the layer's latest 12 months)")
    perc.add_argument("--format", required=True, choices=["csv", "xlsx", "json"])
    perc.add_argument("-o", "--output", required=True)
    perc.set_defaults(func=cmd_perception)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``insight`` console script."""
    args = build_parser().parse_args(argv)
    overrides = {"database_url": args.database_url} if args.database_url else {}
    try:
        return args.func(args, load_settings(**overrides))
    except InsightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing partial was written (each layer loads in one transaction)", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, and where to look
        if _database_error(exc):
            print(f"error: database: {StoreError(str(getattr(exc, 'orig', exc)))}", file=sys.stderr)
            return 2
        raise
    finally:
        close_engines()


def _database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error the store let through (SQLAlchemy's, which only the store imports)."""
    return any(kind.__module__ == "sqlalchemy.exc" for kind in type(exc).__mro__)


if __name__ == "__main__":
    sys.exit(main())
