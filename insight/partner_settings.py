"""Settings for partner data (sign-in, uploads, staleness), read from ``INSIGHT_*`` variables.

Kept apart from :mod:`insight.config` so that the partner features can be configured
without touching the core settings; each has a default and a help text.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

from insight.errors import ConfigError

ENV_PREFIX = "INSIGHT_"


def _setting(default: object, help: str) -> object:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PartnerSettings:
    """Limits and security settings for the partner pages, uploads and sign-in."""

    secret_key: str = _setting(
        "", "Key that signs session cookies and form tokens. Empty: a random key kept in "
        "<home>/secret_key (shared by every worker on the machine). Set it when workers run on several machines."
    )
    cookie_secure: bool = _setting(True, "Send the session cookie over HTTPS only (turn off only for local HTTP testing).")
    session_hours: int = _setting(8, "How long a sign-in lasts.")
    upload_max_bytes: int = _setting(10_000_000, "Largest file accepted for upload, in bytes.")
    upload_max_rows: int = _setting(20_000, "Most rows or features accepted in one upload.")
    upload_max_unzipped_bytes: int = _setting(50_000_000, "Largest total size of the files inside a zip archive.")
    upload_max_zip_ratio: int = _setting(100, "Highest compression ratio accepted for a file inside a zip (bomb guard).")
    upload_max_zip_members: int = _setting(20, "Most files accepted inside a zip archive.")
    stale_days: int = _setting(365, "A record not assured (checked as still true) for this many days is stale.")
    login_max_failures: int = _setting(5, "Failed sign-ins allowed per account and address before a pause.")
    login_max_failures_per_ip: int = _setting(30, "Failed sign-ins allowed from one address, any account, per window.")
    login_window_minutes: int = _setting(15, "Window over which failed sign-ins are counted.")
    postcode_layer: str = _setting(
        "postcodes", "Point layer whose source_id is a postcode, used to place CSV rows that only have a postcode."
    )


def _coerce(name: str, kind: type, raw: str) -> object:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, got {raw!r}")
    if kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a whole number, got {raw!r}") from None
        if value <= 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be greater than 0, got {value}")
        return value
    return raw


def load_partner_settings(env: dict[str, str] | None = None, **overrides: object) -> PartnerSettings:
    """Partner settings from ``env`` (default ``os.environ``), then keyword overrides."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for f in fields(PartnerSettings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = _coerce(f.name, type(f.default), env[key])
    values.update(overrides)
    return PartnerSettings(**values)


def partner_settings_help() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every partner setting."""
    return [(ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["help"]) for f in fields(PartnerSettings)]


def secret_key(settings: PartnerSettings, home: str | Path) -> str:
    """The configured key, or one generated once and kept (mode 0600) in ``<home>/secret_key``."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(home) / "secret_key"
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
        raise ConfigError(f"{path} holds a key shorter than 32 characters; delete it to make a new one")
    return key
