"""Checks and clean-ups of single cell values: formulas, markup, control characters, categories, identifiers, dates.

Pure functions of one value each, used by the row checks in :mod:`insight.partner.record_checks`
and by exports (:func:`neutralise_formula`).
"""
from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeGuard

ERROR, WARNING, REPAIRED, NOTE = "error", "warning", "repaired", "note"
MAX_CELL = 10_000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHARITY = re.compile(r"(?:\d{6,8}(?:-\d{1,3})?|SC0\d{5}|NIC?\d{5,6})")
_COMPANY = re.compile(r"(?:\d{8}|[A-Z]{2}\d{6})")


@dataclass(frozen=True)
class Issue:
    """One finding: the 1-based row (None for the whole file), the column, the reason and its severity."""

    row: int | None
    column: str | None
    reason: str
    severity: str = ERROR

    def as_dict(self) -> dict[str, Any]:
        """The issue as JSON-ready data."""
        return {"row": self.row, "column": self.column, "reason": self.reason, "severity": self.severity}



def formula_like(value: object) -> TypeGuard[str]:
    """True for text a spreadsheet would run as a formula (starts with = + - @ tab or CR), numbers excepted."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return False
    return not DECIMAL.fullmatch(value.strip())


def neutralise_formula(value: object) -> object:
    """The value to write into an exported CSV cell: formula-like text gets a leading apostrophe."""
    return "'" + value if formula_like(value) else value


def has_markup(value: object) -> bool:
    """True if text contains something that looks like an HTML tag."""
    return isinstance(value, str) and bool(_MARKUP.search(value))


def strip_control(value: str) -> str:
    """``value`` without NUL and other control characters (tab and line breaks kept)."""
    return _CONTROL.sub("", value)


def deep_clean(value: Any) -> tuple[Any, bool]:
    """Nested JSON-like data with control characters removed from every string, and whether any were."""
    if isinstance(value, str):
        cleaned = strip_control(value)
        return cleaned, cleaned != value
    if isinstance(value, dict):
        pairs = [(deep_clean(str(k)), deep_clean(v)) for k, v in value.items()]
        return {k[0]: v[0] for k, v in pairs}, any(k[1] or v[1] for k, v in pairs)
    if isinstance(value, list):
        items = [deep_clean(v) for v in value]
        return [i[0] for i in items], any(i[1] for i in items)
    if isinstance(value, float) and not math.isfinite(value):
        return None, True
    return value, False


def match_category(value: str, categories: Sequence[str]) -> tuple[str | None, str | None]:
    """``(canonical, None)`` if ``value`` is a category (ignoring case and spacing), else ``(None, suggestion)``."""
    folded = {" ".join(c.split()).casefold(): c for c in categories}
    key = " ".join(value.split()).casefold()
    if key in folded:
        return folded[key], None
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return None, folded[close[0]] if close else None


def normalise_identifier(value: object) -> str | None:
    """A charity or company number without spaces, upper-cased; None if blank."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"\s+", "", str(value)).upper()
    return text or None


def identifier_format_ok(kind: str, value: str) -> bool:
    """True if ``value`` is shaped like a charity number (England and Wales, Scotland, NI) or a company number."""
    if kind == "company_number":
        padded = value.zfill(8) if value.isdigit() else value
        return bool(_COMPANY.fullmatch(padded))
    return bool(_CHARITY.fullmatch(value))


def parse_assured(value: object, *, today: date) -> tuple[datetime | None, str | None]:
    """A last-assured date from ``YYYY-MM-DD``, ``DD/MM/YYYY`` or an ISO timestamp; ``(None, reason)`` if not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    text = str(value).strip()
    found: date | None = None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            found = datetime.strptime(text, pattern).date()
            break
        except ValueError:
            continue
    if found is None:
        try:
            found = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            return None, f"'{text[:40]}' is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31"
    if found > today:
        return None, f"{found.isoformat()} is in the future; give the date the record was last checked"
    return datetime(found.year, found.month, found.day, tzinfo=UTC), None



def canonical_json(value: Any) -> str:
    """A stable text form of JSON-like data, for comparing properties."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
