"""Errors that reach users: each names the input, the place in it and the reason."""
from __future__ import annotations

from dataclasses import dataclass, field


class InsightError(Exception):
    """Base for every error the CLI and web app show to a user as a plain message."""


class ConfigError(InsightError, ValueError):
    """A setting or a layer definition is wrong."""


class StoreError(InsightError, RuntimeError):
    """The database cannot be reached or is not in the expected state."""


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
