"""What every source loader shares: the result type, the registry and careful file reading.

Loaders never write anything. They either return a :class:`Loaded` or raise
:class:`~insight.errors.LoadError` carrying every problem found, so a user can
fix a file in one pass.
"""
from __future__ import annotations

import codecs
import csv
import functools
import gzip
import inspect
import io
import json
import re
import types
import typing
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from insight.errors import ConfigError, LoadError, Problem

KINDS = ("boundary", "points", "indicator", "lookup")
MISSING_MARKERS = frozenset({"", "n/a", "na", ".", "-", "..", ":"})
MONTH_PATTERN = r"\d{4}-(?:0[1-9]|1[0-2])"
COLUMNS_SHOWN = 40


@dataclass
class Loaded:
    """A checked, normalised frame read from one source file.

    ``frame`` is a GeoDataFrame in EPSG:4326 for the ``boundary`` and ``points``
    kinds and a plain DataFrame for ``indicator`` and ``lookup``. ``rows_read``
    counts the data rows or features in the file; ``repaired`` counts invalid
    polygons mended with ``shapely.make_valid``; ``notes`` are remarks for the
    load report (assumptions made, values skipped, rows without a location).
    """

    frame: pd.DataFrame
    kind: str
    rows_read: int
    repaired: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")


Loader = Callable[..., Loaded]
LOADERS: dict[str, Loader] = {}
TEXT_READERS: dict[str, Callable[[Path], Loaded]] = {}


class OptionSpec(NamedTuple):
    """One keyword option a loader accepts, as shown in help and error messages."""

    name: str
    kind: str
    default: object
    required: bool


def register(name: str) -> Callable[[Callable[..., Loaded]], Loader]:
    """Register a loader under ``name``, checking its keyword options on every call.

    The decorated function takes the path and keyword-only options. The wrapper
    rejects unknown or missing options with a ConfigError naming the allowed
    ones, and coerces TOML/CLI values (``2019`` -> ``"2019"``, ``"true"`` -> ``True``).
    """

    def decorate(func: Callable[..., Loaded]) -> Loader:
        if name in LOADERS:
            raise ConfigError(f"a source loader named '{name}' is already registered")
        specs = _option_specs(func)

        @functools.wraps(func)
        def loader(path: Path | str, **options: object) -> Loaded:
            return func(Path(path), **_check_options(name, specs, options))

        LOADERS[name] = loader
        return loader

    return decorate


def get_loader(name: str) -> Loader:
    """Return the loader registered as ``name``; ConfigError listing the known names otherwise."""
    try:
        return LOADERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown source loader '{name}'; known loaders: {', '.join(loader_names())}"
        ) from None


def register_text_reader(name: str) -> Callable[[Callable[[Path], Loaded]], Callable[[Path], Loaded]]:
    """Register the ingest reader of loader ``name`` (no options): the same checks and rows,
    but a points frame whose ``properties`` column holds each row's JSON text (a string
    column) instead of a dict per row, which the store writes as it is."""

    def decorate(func: Callable[[Path], Loaded]) -> Callable[[Path], Loaded]:
        TEXT_READERS[name] = func
        return func

    return decorate


def text_reader(name: str) -> Callable[[Path], Loaded] | None:
    """The ingest reader registered for loader ``name`` by :func:`register_text_reader`, if any."""
    return TEXT_READERS.get(name)


def loader_names() -> list[str]:
    """Names of the registered loaders, sorted."""
    return sorted(LOADERS)


def _option_specs(func: Callable[..., Loaded]) -> dict[str, OptionSpec]:
    hints = typing.get_type_hints(func)
    specs = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        required = param.default is inspect.Parameter.empty
        specs[param.name] = OptionSpec(
            param.name, _option_kind(hints[param.name]), None if required else param.default, required
        )
    return specs


def _option_kind(hint: object) -> str:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    args = tuple(a for a in args if a is not type(None))
    if any(typing.get_origin(a) is list for a in args):
        return "list"
    if args == (bool,):
        return "bool"
    if args == (str,):
        return "str"
    raise ConfigError(f"unsupported option annotation {hint!r}: loader options are text, true/false or lists")


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _check_options(loader: str, specs: dict[str, OptionSpec], options: dict[str, object]) -> dict[str, object]:
    allowed = ", ".join(sorted(specs)) or "none"
    unknown = sorted(set(options) - set(specs))
    if unknown:
        raise ConfigError(
            f"loader '{loader}': unknown option(s) {', '.join(unknown)}; allowed options: {allowed}"
        )
    missing = sorted(n for n, s in specs.items() if s.required and options.get(n) is None)
    if missing:
        raise ConfigError(f"loader '{loader}': missing required option(s) {', '.join(missing)}")
    checked: dict[str, object] = {}
    for key, value in options.items():
        spec = specs[key]
        if value is None:
            checked[key] = None
        elif spec.kind == "bool":
            checked[key] = _as_bool(loader, key, value)
        elif spec.kind == "list":
            items = [value] if isinstance(value, (str, int, float)) else value
            if not isinstance(items, (list, tuple)):
                raise ConfigError(f"loader '{loader}': option '{key}' must be a list of strings")
            checked[key] = [_as_str(loader, key, v) for v in items]
        else:
            checked[key] = _as_str(loader, key, value)
    return checked


def _as_bool(loader: str, key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"loader '{loader}': option '{key}' must be true or false, got {value!r}")


def _as_str(loader: str, key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"loader '{loader}': option '{key}' must be a string, got {value!r}")


# --- failing -----------------------------------------------------------------------------


def fail(path: Path, problems: Iterable[Problem]) -> NoReturn:
    """Raise LoadError for ``path`` with ``problems``."""
    raise LoadError(source=path.name or str(path), problems=list(problems))


def raise_if(path: Path, problems: Sequence[Problem]) -> None:
    """Raise LoadError if any problem was collected."""
    if problems:
        fail(path, problems)


def columns_found(columns: Iterable[object]) -> str:
    """The columns of a file, quoted and shortened for a message."""
    names = [f"'{c}'" for c in columns]
    shown = ", ".join(names[:COLUMNS_SHOWN])
    return shown + (f" … ({len(names)} in all)" if len(names) > COLUMNS_SHOWN else "")


def missing_columns(columns: Sequence[str], required: Iterable[str | None]) -> list[Problem]:
    """One Problem per required column that the file lacks, listing the columns found."""
    present = set(columns)
    return [
        Problem(f"missing required column '{name}' (columns found: {columns_found(columns)})", column=name)
        for name in dict.fromkeys(r for r in required if r is not None)
        if name not in present
    ]


def row_problems(mask: np.ndarray, reasons: Sequence[str] | str, column: str | None) -> list[Problem]:
    """Problems for the rows where ``mask`` is true, numbered from 1.

    ``reasons`` is one reason for all, or a sequence aligned with the rows.
    """
    rows = np.flatnonzero(mask)
    if isinstance(reasons, str):
        return [Problem(reasons, int(r) + 1, column) for r in rows]
    return [Problem(reasons[int(r)], int(r) + 1, column) for r in rows]


# --- reading bytes and text ----------------------------------------------------------------

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel .xlsx workbook)"),
    (b"SQLite format 3\x00", "an SQLite database or GeoPackage"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls or other Office document"),
    (b"\x00\x00\x27\x0a", "an ESRI shapefile"),
)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if gzip-compressed.

    Missing files, directories, empty files and corrupt or truncated gzip data
    raise LoadError.
    """
    if not path.exists():
        fail(path, [Problem(f"file not found: {path}")])
    if path.is_dir():
        fail(path, [Problem(f"{path} is a directory, not a file")])
    try:
        data = path.read_bytes()
    except OSError as err:
        fail(path, [Problem(f"cannot be read: {err.strerror or err}")])
    if not data:
        fail(path, [Problem("empty file (0 bytes): no data rows")])
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            fail(path, [Problem(f"corrupt or truncated gzip data: {err}")])
        if not data:
            fail(path, [Problem("empty file (no data after decompressing): no data rows")])
    return data


def binary_content(data: bytes) -> str | None:
    """Describe ``data`` if it is binary (an image, archive, database…), else None."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    if b"\x00" in data[:8192]:
        return "binary data"
    return None


def decode_text(path: Path, data: bytes, encoding: str, *, what: str) -> str:
    """Decode ``data`` as ``encoding`` (a UTF-8 byte-order mark is dropped).

    Binary content and bytes that do not decode raise LoadError with a hint.
    """
    binary = binary_content(data)
    if binary:
        fail(path, [Problem(f"not a {what} text file: the content looks like {binary}")])
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"unknown encoding '{encoding}'") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not codec.name.startswith("utf-16"):
        fail(path, [Problem(f"the file is UTF-16 text; pass encoding='utf-16' (not '{encoding}')")])
    try:
        return data.decode("utf-8-sig" if codec.name == "utf-8" else codec.name)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        fail(path, [Problem(
            f"cannot be decoded as {encoding}: byte 0x{data[err.start]:02x} on line {line}; "
            "if the file is Latin-1 or Windows-1252, pass encoding='latin-1'"
        )])


def read_csv_text(
    path: Path, *, encoding: str = "utf-8", required: Iterable[str | None] = (), data: bytes | None = None
) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) into a frame of strings, blanks as ``""``.

    Column names are stripped of surrounding spaces. Every row whose field count
    differs from the header's is a problem (a short last row is the usual sign of
    a truncated file), as are duplicate and missing required columns; all are
    raised together. Blank lines are skipped, so row ``n`` is the ``n``-th
    non-blank line after the header. ``data`` saves reading a file twice.
    """
    raw = read_bytes(path) if data is None else data
    text = decode_text(path, raw, encoding, what="CSV")
    utf8 = codecs.lookup(encoding).name == "utf-8"
    counts = _plain_field_counts(raw) if utf8 else None
    if counts is None:
        counts = _field_counts(path, text)
    if counts.size == 0:
        fail(path, [Problem("empty file: no header and no data rows")])
    if counts.size == 1:
        fail(path, [Problem("the file has a header but no data rows")])
    width = int(counts[0])
    bad = counts[1:] != width
    problems = row_problems(
        bad,
        [f"has {n} field(s) but the header has {width} (truncated line or unbalanced quote?)" for n in counts[1:]],
        None,
    ) if bad.any() else []
    raise_if(path, problems)
    first = text.find("\n")
    plain_first_line = first >= 0 and '"' not in text[:first]
    header = next(csv.reader(io.StringIO(text[: first + 1] if plain_first_line else text, newline="")))
    source = io.BytesIO(raw) if utf8 else io.StringIO(text)
    del text
    try:
        frame = pd.read_csv(
            source, dtype=str, na_filter=False, header=0, index_col=False,
            skip_blank_lines=True, engine="c", encoding="utf-8-sig" if utf8 else None,
        )
    except (pd.errors.ParserError, ValueError) as err:
        fail(path, [Problem(f"cannot be parsed as CSV: {err}")])
    if len(frame) != counts.size - 1:
        records = [r for r in csv.reader(io.StringIO(decode_text(path, raw, encoding, what="CSV"), newline="")) if r]
        frame = pd.DataFrame(records[1:], columns=range(width), dtype=str)
    names = [h.strip() for h in header]
    frame.columns = names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    problems = [Problem(f"column name appears {names.count(n)} times", column=n) for n in duplicates]
    problems += missing_columns(names, required)
    raise_if(path, problems)
    return frame


def _field_counts(path: Path, text: str) -> np.ndarray:
    """Fields in each non-blank CSV record, read with the csv module."""
    try:
        return np.fromiter((len(r) for r in csv.reader(io.StringIO(text, newline="")) if r), dtype=np.int64)
    except csv.Error as err:
        fail(path, [Problem(f"cannot be parsed as CSV: {err} (a quote is probably not closed)")])


_BLOCK = 1 << 22


def _plain_field_counts(data: bytes) -> np.ndarray | None:
    """What :func:`_field_counts` gives, counted on the bytes, for UTF-8 text with no quote,
    no NUL and no carriage return outside CRLF (every record is then one line); None otherwise."""
    if b'"' in data or b"\x00" in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    ends: list[np.ndarray] = []
    commas: list[np.ndarray] = []
    seen = 0
    for start in range(0, len(buf), _BLOCK):
        block = buf[start : start + _BLOCK]
        newlines = np.flatnonzero(block == 10)
        separators = np.flatnonzero(block == 44)
        ends.append(newlines + start)
        commas.append(np.searchsorted(separators, newlines) + seen)
        seen += len(separators)
    end = np.concatenate(ends) if ends else np.array([], dtype=np.int64)
    at_end = np.concatenate(commas) if commas else np.array([], dtype=np.int64)
    if not len(buf) or buf[-1] != 10:
        end, at_end = np.append(end, len(buf)), np.append(at_end, seen)
    begin = np.concatenate(([0], end[:-1] + 1))
    length = end - begin
    crlf = np.zeros(len(end), dtype=bool)
    crlf[length > 0] = buf[end[length > 0] - 1] == 13
    blank = (length - crlf) == 0
    fields: np.ndarray = (np.diff(np.concatenate(([0], at_end))) + 1)[~blank]
    return fields.astype(np.int64)


# --- values -------------------------------------------------------------------------------


def none_where(mask: ArrayLike, values: ArrayLike) -> np.ndarray:
    """``values`` as an object array, with None where ``mask`` is true."""
    out = np.array(values, dtype=object)
    out[np.asarray(mask, dtype=bool)] = None
    return out


def blank_to_none(values: pd.Series) -> np.ndarray:
    """Stripped strings as an object array, with blanks as None."""
    stripped = values.astype(str).str.strip()
    return none_where((stripped == "").to_numpy(), stripped.to_numpy(dtype=object))


def text_values(values: Sequence[object]) -> np.ndarray:
    """Attribute values as stripped strings (None for null or blank; ``3.0`` -> ``"3"``)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            out[i] = None
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        out[i] = text or None
    return out


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse stripped strings as floats.

    Returns ``(numbers, blank, bad)``: ``numbers`` is NaN where blank or bad;
    ``bad`` marks text that is not a finite number (including ``nan`` and ``inf``).
    """
    stripped = values.astype(str).str.strip()
    blank = (stripped == "").to_numpy()
    numbers = pd.to_numeric(stripped.where(~blank, None), errors="coerce").to_numpy(dtype=float, copy=True)
    bad = ~blank & ~np.isfinite(numbers)
    numbers[bad] = np.nan
    return numbers, blank, bad


def is_missing_marker(values: pd.Series) -> np.ndarray:
    """True where a cell holds a missing-value marker (blank, ``n/a``, ``.``, ``-``, ``..``, ``:``)."""
    return values.astype(str).str.strip().str.lower().isin(MISSING_MARKERS).to_numpy()


def check_months(values: pd.Series, column: str, *, required: bool) -> tuple[np.ndarray, list[Problem]]:
    """Validate ``YYYY-MM`` months (month 01–12); blanks are None or, if required, problems."""
    stripped = values.astype(str).str.strip()
    blank = (stripped == "").to_numpy()
    good = stripped.str.fullmatch(MONTH_PATTERN).to_numpy(dtype=bool)
    bad = ~good & (~blank | required)
    reasons = [
        "month is blank" if b else f"month {s!r} is not YYYY-MM with a month from 01 to 12"
        for s, b in zip(stripped, blank)
    ] if bad.any() else []
    months = none_where(~good, stripped.to_numpy(dtype=object))
    return months, row_problems(bad, reasons, column) if bad.any() else []


def slug(text: str) -> str:
    """A lower-case identifier from free text: ``"% BAME"`` -> ``"pct_bame"``, ``"65+"`` -> ``"65_plus"``."""
    text = text.replace("%", " pct ").replace("+", " plus ").replace("&", " and ")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def snake(name: str) -> str:
    """A column name as a property key: ``"LSOA code"`` -> ``"lsoa_code"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or name


# --- JSON-safe properties ----------------------------------------------------------------


def json_value(value: object) -> object:
    """A JSON-safe copy of one value: NaN/inf -> None, numpy scalars -> Python, dates -> ISO text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if value is pd.NaT or value is pd.NA:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def json_column(values: pd.Series, *, blank_is_none: bool) -> list[Any]:
    """One column as a list of JSON-safe values."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.astype(bool).tolist()
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return values.astype("int64").tolist()
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        finite: list[Any] = none_where(~np.isfinite(numbers), numbers).tolist()
        return finite
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        missing = values.isna().to_numpy()
        if blank_is_none:
            missing = missing | (values.str.strip().fillna("").to_numpy() == "")
        text: list[Any] = none_where(missing, values.to_numpy(dtype=object)).tolist()
        return text
    out = [json_value(v) for v in values.tolist()]
    if blank_is_none:
        out = [None if isinstance(v, str) and not v.strip() else v for v in out]
    return out


def json_records(
    frame: pd.DataFrame, *, keys: Sequence[str] | None = None, blank_is_none: bool = True
) -> list[dict[str, Any]]:
    """Each row of ``frame`` as a JSON-safe dict keyed by ``keys`` (default: the column names)."""
    keys = [str(c) for c in frame.columns] if keys is None else list(keys)
    if not keys:
        return [{} for _ in range(len(frame))]
    columns = [json_column(frame.iloc[:, i], blank_is_none=blank_is_none) for i in range(frame.shape[1])]
    return [dict(zip(keys, row)) for row in zip(*columns)]


def _json_texts(values: pd.Series, blank_is_none: bool) -> np.ndarray:
    """Each text value of a column as JSON text (``null`` where missing or, if asked, blank)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array(
        ["null" if pd.isna(v) or (blank_is_none and not str(v).strip()) else json.dumps(v) for v in uniques]
        + ["null"], dtype=object,
    )
    return texts[codes]


def json_text_records(
    frame: pd.DataFrame, *, keys: Sequence[str], blank_is_none: bool = True, extra: tuple[str, np.ndarray] | None = None
) -> pd.Series:
    """Each row of a frame of text columns as the JSON text of :func:`json_records`'s dict, column-wise.

    The text is what ``json.dumps`` gives for that dict. ``extra`` is a key and per-row
    values added last where the value is not None. Returns a string column.
    """
    columns = [_json_texts(frame.iloc[:, i], blank_is_none) for i in range(len(keys))]
    template = "{" + ", ".join(json.dumps(key).replace("%", "%%") + ": %s" for key in keys) + "%s}"
    suffix = np.full(len(frame), "", dtype=object)
    if extra is not None:
        name, values = extra
        present = np.flatnonzero(pd.notna(values))
        prefix = (", " if keys else "") + json.dumps(name) + ": "
        suffix[present] = [prefix + json.dumps(v) for v in values[present]]
    texts = [template % row for row in zip(*columns, suffix)]
    return pd.Series(texts, dtype=pd.StringDtype("python"), index=frame.index)
