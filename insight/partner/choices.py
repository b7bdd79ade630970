"""Values chosen from a list (asset kinds, a layer's categories): matching, suggestions and readable labels.

A value typed or sent outside the list is refused with the nearest choice as a
suggestion ("'venue' is not an asset kind; did you mean 'spaces'?"), found by
:mod:`difflib` among the values and the words of their labels. The asset kinds' labels are
:data:`insight.analysis.profiles.ASSET_KIND_LABELS`, the one list the map, the profiles and these pages share.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from insight.analysis.profiles import ASSET_KIND_LABELS
from insight.errors import BadRequest
from insight.layers import ASSET_KINDS
from insight.partner.value_checks import ERROR, Issue

__all__ = ["ASSET_KIND_COLUMN", "ASSET_KIND_LABELS", "asset_kind_issues", "choose", "field_label", "match",
           "refusal", "suggest"]

ASSET_KIND_COLUMN = "asset_kind"

_LABELS = {
    "name": "Name", "category": "Category", "longitude": "Longitude", "latitude": "Latitude",
    "asset_kind": "Asset kind", "org_id": "Organisation reference", "venue_name": "Venue name",
    "url": "Website", "email": "Email address", "phone": "Phone number", "postcode": "Postcode",
    "last_assured": "Last checked as still true", "acv_id": "Asset of community value reference",
    "listed_date": "Date listed", "asset_type": "Type of asset", "placed_at": "Placed at",
    "illustrative": "Illustrative (not real)", "charity_number": "Charity number",
    "company_number": "Company number", "description": "Description", "address": "Address",
}


def field_label(column: str) -> str:
    """A readable label for a column name: a known label, else the words of the name ("opening_hours" -> "Opening
    hours")."""
    known = _LABELS.get(column.strip().lower())
    if known:
        return known
    words = re.sub(r"[_\-.]+", " ", column).strip()
    return (words[:1].upper() + words[1:]) if words else column


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def match(value: str, choices: Sequence[str]) -> str | None:
    """The choice ``value`` names, ignoring case and spacing; None if it names none."""
    folded = {_fold(c): c for c in choices}
    return folded.get(_fold(value))


def suggest(value: str, choices: Sequence[str], labels: Mapping[str, str] | None = None) -> str | None:
    """The choice nearest to ``value`` (a close spelling of a choice, or of a word in its label); None if none is
    close."""
    key = _fold(value)
    folded = {_fold(c): c for c in choices}
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    if close:
        return folded[close[0]]
    words: dict[str, str] = {}
    for choice in choices:
        for word in re.findall(r"[a-z]+", (labels or {}).get(choice, "").casefold()):
            words.setdefault(word, choice)
    close = difflib.get_close_matches(key, list(words), n=1, cutoff=0.75)
    return words[close[0]] if close else None


def refusal(value: str, choices: Sequence[str], *, what: str, labels: Mapping[str, str] | None = None) -> str:
    """The plain-language message refusing ``value``: "'venue' is not an asset kind; did you mean 'spaces'?"."""
    shown = value.strip()[:60]
    near = suggest(value, choices, labels)
    if near is not None:
        return f"'{shown}' is not {what}; did you mean '{near}'?"
    listed = ", ".join(f"'{c}'" for c in choices[:12]) + (" …" if len(choices) > 12 else "")
    return f"'{shown}' is not {what}; choose one of {listed}"


def choose(value: str, choices: Sequence[str], *, what: str, labels: Mapping[str, str] | None = None) -> str:
    """The choice ``value`` names; BadRequest with a suggestion when it names none."""
    found = match(value, choices)
    if found is None:
        raise BadRequest(refusal(value, choices, what=what, labels=labels))
    return found


def asset_kind_issues(properties: dict[str, Any], row: int) -> list[Issue]:
    """An error for an ``asset_kind`` cell that is not an asset kind (with a suggestion); a known kind written in
    another case or spacing is stored in its usual form."""
    issues = []
    for column in [c for c in properties if c.strip().lower() == ASSET_KIND_COLUMN]:
        value = properties[column]
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        found = match(str(value), ASSET_KINDS)
        if found is None:
            reason = refusal(str(value), ASSET_KINDS, what="an asset kind", labels=ASSET_KIND_LABELS)
            issues.append(Issue(row, column, reason, ERROR))
        else:
            properties[column] = found
    return issues
