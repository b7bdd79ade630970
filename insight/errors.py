"""The one error hierarchy: every error a user can see, each with a message a non-specialist can act on.

``InsightError`` is the root; the CLI prints its message and the web app maps each kind to an
HTTP status (:data:`HTTP_STATUS`). Each subclass is also the closest builtin error, so callers
that only know Python's errors still catch it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class InsightError(Exception):
    """Base for every error the CLI and web app show to a user as a plain message."""


class ConfigError(InsightError, ValueError):
    """A setting or a layer definition is wrong."""


class StoreError(InsightError, RuntimeError):
    """The database cannot be reached or is not in the expected state."""


class BadRequest(InsightError, ValueError):
    """A request parameter (URL, form field, CLI option) is not one the app can use; the message says which are."""


class PermissionDenied(InsightError, PermissionError):
    """The user's role does not allow the action on that resource."""


class SignInRefused(InsightError):
    """Wrong email or password, a disabled account, or too many failed attempts."""


class VersionConflict(InsightError):
    """The layer changed after the user looked at it; they must look again before committing."""


class SurveyError(InsightError, ValueError):
    """Survey data or a survey definition cannot be used as asked (too few responses, unknown question...)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and why it is wrong.

    ``row`` is the 1-based data row (header excluded) or feature number; ``None``
    when the problem concerns the whole file.
    """

    reason: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass
class LoadError(InsightError, ValueError):
    """An input file cannot be loaded. Nothing was written.

    Carries every problem found (not just the first) so a user can fix the file
    in one pass; ``str()`` lists up to ``shown`` of them.
    """

    source: str
    problems: list[Problem] = field(default_factory=list)
    shown: int = 20

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.problems:
            return f"{self.source}: cannot be loaded"
        lines = [f"{self.source}: {len(self.problems)} problem(s), nothing was loaded"]
        lines += [f"  - {p}" for p in self.problems[: self.shown]]
        if len(self.problems) > self.shown:
            lines.append(f"  … and {len(self.problems) - self.shown} more")
        return "\n".join(lines)


class NotFoundError(InsightError, KeyError):
    """A named thing (layer, area) does not exist; the message lists what does."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


HTTP_STATUS: dict[type[InsightError], int] = {
    BadRequest: 400,
    ConfigError: 400,
    LoadError: 400,
    SurveyError: 400,
    SignInRefused: 401,
    PermissionDenied: 403,
    NotFoundError: 404,
    VersionConflict: 409,
    StoreError: 503,
}


def http_status(error: InsightError) -> int:
    """The HTTP status that answers ``error``: the most specific kind in :data:`HTTP_STATUS`, else 400."""
    for kind in type(error).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return 400
