"""Settings read once from ``INSIGHT_*`` environment variables, each with a default and help."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _setting(default: str, help: str) -> str:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Run-time configuration. Build with :func:`load_settings`; pass it down explicitly."""

    database_url: str = _setting(
        "", "SQLAlchemy URL of the store. Empty: a SpatiaLite file at <home>/insight.sqlite. "
        "Production: postgresql+psycopg://user:password@host/dbname (PostGIS)."
    )
    home: str = _setting(str(PROJECT_ROOT / "var"), "Folder for the embedded database and other local state.")
    data_dir: str = _setting(str(PROJECT_ROOT / "data"), "Folder holding the files that layer definitions name.")
    layers_dir: str = _setting(str(PROJECT_ROOT / "layers"), "Folder of declarative layer definitions (*.toml).")
    spatialite_library: str = _setting("mod_spatialite", "Name or path of the SpatiaLite extension to load.")
    tile_url: str = _setting(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "Base map tile URL template; empty for no base map (boundaries still draw).",
    )
    tile_attribution: str = _setting(
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        "Attribution shown with the base map tiles.",
    )

    @property
    def resolved_database_url(self) -> str:
        """The URL actually used: the configured one, or the default SpatiaLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.home) / 'insight.sqlite'}"


ENV_PREFIX = "INSIGHT_"


def load_settings(env: dict[str, str] | None = None, **overrides: str) -> Settings:
    """Settings from ``env`` (default ``os.environ``), then keyword overrides."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    for f in fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update(overrides)
    return Settings(**values)


def settings_help() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, for docs and ``--help``."""
    return [
        (ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["help"]) for f in fields(Settings)
    ]
