"""One settings object, read and validated once from ``INSIGHT_*`` environment variables.

Every setting has a type, a default and a help text; :func:`load_settings` builds a frozen
:class:`Settings` at start-up and the app, the CLI and the partner features receive it from
there. Nothing reads the environment on a request path.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

from insight.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "INSIGHT_"


def _setting(default: Any, help: str) -> Any:
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
    secret_key: str = _setting(
        "", "Key that signs session cookies and form tokens. Empty: a random key kept in "
        "<home>/secret_key (shared by every worker on the machine). Set it when workers run on several machines."
    )
    cookie_secure: bool = _setting(
        True, "Send the session cookie over HTTPS only (turn off only for local HTTP testing)."
    )
    session_hours: int = _setting(8, "How long a sign-in lasts at most, however much it is used (it does not slide).")
    session_idle_minutes: int = _setting(60, "A sign-in not used for this many minutes ends.")
    upload_max_bytes: int = _setting(10_000_000, "Largest file accepted for upload, in bytes.")
    upload_max_rows: int = _setting(20_000, "Most rows or features accepted in one upload.")
    upload_max_unzipped_bytes: int = _setting(50_000_000, "Largest total size of the files inside a zip archive.")
    upload_max_zip_ratio: int = _setting(
        100, "Highest compression ratio accepted for a file inside a zip (bomb guard)."
    )
    upload_max_zip_members: int = _setting(20, "Most files accepted inside a zip archive.")
    stale_days: int = _setting(365, "A record not assured (checked as still true) for this many days is stale.")
    login_max_failures: int = _setting(5, "Failed sign-ins allowed per account and address before a pause.")
    login_max_failures_per_ip: int = _setting(30, "Failed sign-ins allowed from one address, any account, per window.")
    login_window_minutes: int = _setting(15, "Window over which failed sign-ins are counted.")
    public_url: str = _setting(
        "", "The site's address as people reach it (e.g. https://insight.example.gov.uk), used in links the "
        "command line prints, such as invitations. Empty: the command line prints paths only."
    )
    postcode_layer: str = _setting(
        "postcodes", "Point layer whose source_id is a postcode, used to place CSV rows that only have a postcode."
    )
    serve_workers: int | None = _setting(
        None, "Worker processes for 'insight serve'. Unset: 2 x CPU cores + 1, at most one per 512 MiB of "
        "half the machine's memory."
    )
    serve_threads: int | None = _setting(None, "Threads per worker process for 'insight serve'. Unset: 4.")

    @property
    def resolved_database_url(self) -> str:
        """The URL actually used: the configured one, or the default SpatiaLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.home) / 'insight.sqlite'}"


def _kind(name: str, default: object) -> type:
    """The type a setting's text is read as: its default's, or for an optional setting the type it holds."""
    if default is not None:
        return type(default)
    held: type = next(t for t in get_args(get_type_hints(Settings)[name]) if t is not type(None))
    return held


def _coerce(name: str, kind: type, raw: str) -> object:
    key = ENV_PREFIX + name.upper()
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    if kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
        if value <= 0:
            raise ConfigError(f"{key} must be greater than 0, got {value}")
        return value
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``env`` (default ``os.environ``), then keyword overrides; every value checked."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = _coerce(f.name, _kind(f.name, f.default), env[key])
    known = {f.name: f for f in fields(Settings)}
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}; see 'insight settings'")
        values[name] = _coerce(name, _kind(name, known[name].default), value) if isinstance(value, str) else value
    return Settings(**values)


def settings_help() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, for docs and ``--help``."""
    return [
        (ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["help"]) for f in fields(Settings)
    ]


def secret_key(settings: Settings) -> str:
    """The configured key, or one generated once and kept (mode 0600) in ``<home>/secret_key``."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.home) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigError(
            "the stored secret key is shorter than 32 characters; delete <home>/secret_key to make a new one"
        )
    return key
