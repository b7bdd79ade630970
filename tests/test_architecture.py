"""The house rules the folder tree promises (docs/architecture.md), checked on the source itself.

Imports point down the layers and close no circle; SQLAlchemy and Dash each have one owner;
no module or function outgrows the size a reader can hold; private names stay private.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from insight.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "insight"
MIGRATIONS = PACKAGE / "store" / "migrations"

# Lowest first: a module may import its own layer or any layer before it, never one after it.
LAYERS = [
    ("foundation", {"insight", "insight.config", "insight.errors", "insight.layers"}),
    ("geo", {"insight.geo"}),
    ("store", {"insight.store"}),
    ("sources", {"insight.sources"}),
    ("analysis", {"insight.analysis"}),
    ("partner", {"insight.partner"}),
    ("web", {"insight.web"}),
    ("cli", {"insight.cli", "insight.__main__"}),
]
OWNERS = {"sqlalchemy": "insight.store", "geoalchemy2": "insight.store", "alembic": "insight.store",
          "dash": "insight.web", "dash_leaflet": "insight.web", "flask": "insight.web"}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, at which line, and the names taken from it."""

    module: str
    target: str
    line: int
    names: tuple[str, ...]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if MIGRATIONS not in p.parents)


MODULES = {_module_name(p): p for p in _sources()}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rsplit(".", 1)[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def _imports(module: str) -> Iterator[Import]:
    """Every import in ``module``, at any depth (imports inside functions count too)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, ())
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = tuple(a.name for a in node.names)
            submodules = [n for n in names if f"{target}.{n}" in MODULES]
            for name in submodules:
                yield Import(module, f"{target}.{name}", node.lineno, ())
            rest = tuple(n for n in names if n not in submodules)
            if rest or not submodules:
                yield Import(module, target, node.lineno, rest)


def _internal_target(name: str) -> str | None:
    """The project module an import names (``insight.x.y`` or the nearest package holding it)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _layer(module: str) -> int:
    best = (-1, -1)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), rank))
    assert best[1] >= 0, f"{module} is in no layer: add its package to LAYERS and docs/architecture.md"
    return best[1]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for imp in _imports(module):
            target = _internal_target(imp.target) if imp.target.startswith("insight") else None
            if target and target != module:
                graph[module].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_module_belongs_to_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module in MODULES:
        for imp in _imports(module):
            target = _internal_target(imp.target) if imp.target.startswith("insight") else None
            if target and _layer(target) > _layer(module):
                upward.append(f"{MODULES[module].relative_to(PROJECT_ROOT)}:{imp.line} imports {target}")
    assert upward == []


def test_no_import_closes_a_circle() -> None:
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_external_system_has_one_owner(library: str) -> None:
    owner = OWNERS[library]
    outside = [
        f"{MODULES[m].relative_to(PROJECT_ROOT)}:{imp.line}"
        for m in MODULES if not (m == owner or m.startswith(owner + "."))
        for imp in _imports(m) if imp.target == library or imp.target.startswith(library + ".")
    ]
    assert outside == [], f"{library} is imported outside {owner}"


def test_private_names_stay_in_their_module() -> None:
    crossing = [
        f"{MODULES[imp.module].relative_to(PROJECT_ROOT)}:{imp.line} takes {name} from {imp.target}"
        for m in MODULES for imp in _imports(m)
        for name in imp.names
        if name.startswith("_") and not name.startswith("__") and imp.target.startswith("insight")
    ]
    assert crossing == []


def test_no_module_is_over_the_size_limit() -> None:
    long = {str(p.relative_to(PROJECT_ROOT)): n for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_function_is_over_the_size_limit() -> None:
    long = []
    for path in _sources():
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            lines = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(PROJECT_ROOT)}:{fn.lineno} {fn.name} has {lines} lines")
    assert long == []


def test_no_private_dash_internals() -> None:
    used = [f"{MODULES[m].relative_to(PROJECT_ROOT)}:{imp.line}" for m in MODULES for imp in _imports(m)
            if imp.target.startswith("dash._") or any(n.startswith("_") for n in imp.names if imp.target == "dash")]
    assert used == []
