"""Declarative layer definitions (``layers/*.toml``): read, validate, report every problem at once."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insight.errors import ConfigError

KINDS = ("boundary", "points", "indicator", "lookup")
SENSITIVITIES = ("public", "restricted")
ASSET_KINDS = ("money", "services_people", "insight", "spaces")

_REQUIRED = ("name", "kind", "title", "loader", "source", "publisher", "licence", "attribution")
_OPTIONAL = {
    "file": str,
    "description": str,
    "vintage": str,
    "area_type": str,
    "geography": str,
    "theme": str,
    "asset_kind": str,
    "sensitivity": str,
    "owner": str,
    "illustrative": bool,
    "authority": bool,
    "order": int,
    "options": dict,
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer: where its data comes from, what it is, and who may see it.

    ``file`` is relative to the data folder. ``authority`` marks the boundary of the
    council's own area: points outside it are kept but flagged.
    """

    name: str
    kind: str
    title: str
    loader: str
    source: str
    publisher: str
    licence: str
    attribution: str
    file: str | None = None
    description: str = ""
    vintage: str | None = None
    area_type: str | None = None
    geography: str | None = None
    theme: str | None = None
    asset_kind: str | None = None
    sensitivity: str = "public"
    owner: str | None = None
    illustrative: bool = False
    authority: bool = False
    order: int = 100
    options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def where(self) -> str:
        """The definition's file name, for messages (the layer name when it has no file)."""
        return self.path.name if self.path is not None else f"layer '{self.name}'"

    def metadata(self) -> dict[str, Any]:
        """Columns of the ``layers`` table that come from the definition."""
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "source": self.source,
            "publisher": self.publisher,
            "licence": self.licence,
            "attribution": self.attribution,
            "vintage": self.vintage,
            "area_type": self.area_type,
            "geography": self.geography,
            "theme": self.theme,
            "asset_kind": self.asset_kind,
            "sensitivity": self.sensitivity,
            "illustrative": self.illustrative,
        }


def _check(raw: dict[str, Any], where: str) -> list[str]:
    problems = [f"{where}: missing required key '{k}'" for k in _REQUIRED if k not in raw]
    for key, value in raw.items():
        if key in _REQUIRED:
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}: '{key}' must be a non-empty string")
        elif key in _OPTIONAL:
            if not isinstance(value, _OPTIONAL[key]):
                problems.append(f"{where}: '{key}' must be of type {_OPTIONAL[key].__name__}")
        else:
            known = ", ".join(sorted((*_REQUIRED, *_OPTIONAL)))
            problems.append(f"{where}: unknown key '{key}' (known keys: {known})")
    kind = raw.get("kind")
    if isinstance(kind, str) and kind not in KINDS:
        problems.append(f"{where}: kind '{kind}' is not one of {', '.join(KINDS)}")
    if raw.get("sensitivity", "public") not in SENSITIVITIES:
        problems.append(f"{where}: sensitivity must be one of {', '.join(SENSITIVITIES)}")
    asset_kind = raw.get("asset_kind")
    if asset_kind is not None and asset_kind not in ASSET_KINDS:
        problems.append(f"{where}: asset_kind must be one of {', '.join(ASSET_KINDS)}")
    if kind == "boundary" and "area_type" not in raw:
        problems.append(f"{where}: a boundary layer needs 'area_type' (e.g. ward, lsoa, constituency)")
    if raw.get("authority") and kind != "boundary":
        problems.append(f"{where}: only a boundary layer can be the authority outline")
    return problems


def parse_spec(raw: dict[str, Any], *, where: str = "<layer>", path: Path | None = None) -> LayerSpec:
    """Validate one definition; raise ConfigError listing every problem."""
    problems = _check(raw, where)
    if problems:
        raise ConfigError("\n".join(problems))
    return LayerSpec(**raw, path=path)


def load_specs(layers_dir: Path | str) -> list[LayerSpec]:
    """Every ``*.toml`` in ``layers_dir``, validated together, in load order.

    Load order is boundaries, lookups, indicators, points (points are flagged
    against the authority boundary), then ``order`` and name.
    """
    layers_dir = Path(layers_dir)
    if not layers_dir.is_dir():
        raise ConfigError(f"layer folder {layers_dir} does not exist")
    problems: list[str] = []
    specs: list[LayerSpec] = []
    for path in sorted(layers_dir.glob("*.toml")):
        where = path.name
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: not valid TOML ({exc})")
            continue
        found = _check(raw, where)
        if found:
            problems += found
            continue
        specs.append(LayerSpec(**raw, path=path))
    names: dict[str, str] = {}
    for spec in specs:
        if spec.name in names:
            problems.append(f"{spec.where}: layer name '{spec.name}' is also used by {names[spec.name]}")
        names[spec.name] = spec.where
    authorities = [s.where for s in specs if s.authority]
    if len(authorities) > 1:
        problems.append(f"more than one layer is marked authority = true: {', '.join(authorities)}")
    if problems:
        raise ConfigError("layer definitions have problems:\n" + "\n".join(f"  - {p}" for p in problems))
    rank = {k: i for i, k in enumerate(("boundary", "lookup", "indicator", "points"))}
    return sorted(specs, key=lambda s: (rank[s.kind], s.order, s.name))
