"""One staging pipeline for files sent through the partner pages: stage, look up, commit, discard, history.

A file is read and checked once, when it is staged. Its kind's check step returns
the report people review and the checked result, and both are kept with the file
as a pending upload. Committing writes that kept result without reading or
checking the file again: the kind's write step puts it in the layer and calls
``finish`` in the same transaction, which marks the upload committed and audits
it, so the layer, its version, the upload and the audit log change together or
not at all. Asset uploads (:mod:`insight.partner.uploads`) and survey files
(:mod:`insight.partner.survey_uploads`) differ only in those two steps and in
the :class:`Kind` they pass.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from insight.config import Settings
from insight.errors import ConfigError, LoadError, NotFoundError, Problem
from insight.partner import audit
from insight.partner.auth import LayerRef, Principal, UploadRef, require
from insight.partner.safe_files import saved_upload, too_large
from insight.store import Connection, Engine
from insight.store import uploads as table
from insight.store.uploads import UploadRow

C = TypeVar("C")
T = TypeVar("T")

StagedFile = UploadRow
"""An upload kept for review: its id, kind, layer, sender, file name, status, dates, version and report."""

Finish = Callable[[Connection, int, dict[str, Any]], None]
"""Called by a write step inside its transaction with the version number made and what to audit."""


def clean_filename(filename: str) -> str:
    """The sender's file name without folders or unprintable characters, at most 255 characters."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    return "".join(ch for ch in name if ch.isprintable())[:255] or "upload"


def _everyone(actor: Principal, staged: StagedFile) -> bool:
    return True


@dataclass(frozen=True)
class Kind:
    """What sets one kind of upload apart outside its check and write steps.

    ``name`` is stored with each upload; ``noun`` names it in messages ("no survey
    upload 7"); ``right`` is required for every step (PermissionDenied without it);
    ``may_see`` hides other people's uploads (NotFoundError, as if they did not exist).
    """

    name: str
    noun: str
    right: str | None = None
    may_see: Callable[[Principal, StagedFile], bool] = _everyone


@dataclass(frozen=True)
class Checked:
    """What a check step hands the pipeline to keep: where the file goes, its report and its checked result.

    ``result`` must be JSON-safe: a commit rebuilds what it writes from it alone.
    ``audit`` is added to the detail of the ``upload_staged`` event.
    """

    layer: str
    sha256: str
    report: dict[str, Any]
    result: Any
    audit: dict[str, Any] = field(default_factory=dict)
    org_id: int | None = None
    base_version: int | None = None


def stage(
    engine: Engine,
    kind: Kind,
    content: bytes,
    *,
    filename: str,
    check: Callable[[Path, str], tuple[C, Checked]],
    actor: Principal,
    settings: Settings,
    ip: str | None = None,
) -> tuple[int, C]:
    """Check ``content`` once with ``check`` and keep it with its report and result as a pending upload.

    ``check(path, filename)`` gets the file saved under a private temporary name and
    the sender's cleaned file name. Nothing is written if the file is refused.
    Returns the upload's id and what ``check`` found.
    """
    if kind.right:
        require(actor, kind.right)
    name = clean_filename(filename)
    if len(content) > settings.upload_max_bytes:
        raise LoadError(name, [Problem(too_large(len(content), settings.upload_max_bytes))])
    with saved_upload(content, name) as path:
        found, checked = check(path, name)
    with engine.begin() as conn:
        upload_id = table.insert_upload(
            conn, kind=kind.name, layer=checked.layer, user_id=actor.id, org_id=checked.org_id, filename=name,
            content=content, sha256=checked.sha256, report=checked.report, checked=checked.result,
            base_version=checked.base_version,
        )
        audit.record(conn, "upload_staged", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{checked.layer}",
                     detail={"kind": kind.name, "file": name, "sha256": checked.sha256, "upload": upload_id}
                     | checked.audit)
    return upload_id, found


def kind_of(engine: Engine, upload_id: int) -> str | None:
    """The kind of upload ``upload_id`` (``asset``, ``survey``), or None if there is none."""
    with engine.connect() as conn:
        return table.upload_kind(conn, upload_id)


def lookup(engine: Engine, kind: Kind, upload_id: int, *, actor: Principal) -> StagedFile:
    """Upload ``upload_id`` of ``kind`` if ``actor`` may see it; NotFoundError otherwise."""
    if kind.right:
        require(actor, kind.right)
    with engine.connect() as conn:
        staged = table.get_upload(conn, upload_id)
    if staged is None or staged.kind != kind.name or not kind.may_see(actor, staged):
        raise NotFoundError(f"no {kind.noun} {upload_id}")
    return staged


def _pending(staged: StagedFile) -> None:
    if staged.status != "pending":
        raise ConfigError(f"upload {staged.id} ({staged.filename}) was already {staged.status}")


def _decided_meanwhile(staged: StagedFile) -> ConfigError:
    return ConfigError(f"upload {staged.id} ({staged.filename}) was decided by someone else meanwhile; "
                       "reload the page to see what happened to it")


def audit_commit(conn: Connection, *, actor: Principal, ip: str | None, layer: str, detail: dict[str, Any]) -> None:
    """Record an ``upload_committed`` event in the transaction of ``conn`` (staged or not)."""
    audit.record(conn, "upload_committed", actor_id=actor.id, actor_email=actor.email, ip=ip,
                 target=f"layer:{layer}", detail=detail)


def commit(
    engine: Engine,
    kind: Kind,
    upload_id: int,
    *,
    write: Callable[[StagedFile, Any, Finish], T],
    actor: Principal,
    ip: str | None = None,
    layer: str | None = None,
) -> T:
    """Commit a pending upload: ``write(staged, result, finish)`` writes its kept result, returning what it made.

    ``write`` must call ``finish(conn, number, detail)`` inside its transaction;
    ``finish`` marks the upload committed as version ``number`` and audits it (and
    the restore, if the upload restores an earlier version). Refuses (ConfigError)
    an upload that is not pending, is for another ``layer``, or has no kept result.
    """
    staged = lookup(engine, kind, upload_id, actor=actor)
    _pending(staged)
    if layer is not None and staged.layer != layer:
        raise ConfigError(f"upload {upload_id} is for layer '{staged.layer}', not '{layer}'")
    with engine.connect() as conn:
        result = table.checked_result(conn, upload_id)
    if result is None:
        raise ConfigError(f"upload {upload_id} ({staged.filename}) was checked before Local Insight kept check "
                          "results; upload the file again to check it, then commit")

    def finish(conn: Connection, number: int, detail: dict[str, Any]) -> None:
        if not table.decide_upload(conn, upload_id, status="committed", version_number=number):
            raise _decided_meanwhile(staged)
        done = {"kind": kind.name, "file": staged.filename, "sha256": staged.sha256, "upload": upload_id,
                "version": number} | detail
        audit_commit(conn, actor=actor, ip=ip, layer=staged.layer, detail=done)
        restored_from = staged.report.get("restored_from")
        if restored_from is not None:
            audit.record(conn, "version_restored", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=f"layer:{staged.layer}", detail=done | {"restored_from": restored_from})

    return write(staged, result, finish)


def discard(engine: Engine, kind: Kind, upload_id: int, *, actor: Principal, ip: str | None = None) -> StagedFile:
    """Mark a pending upload discarded (its file is kept, as everything sent is); the layer is not touched."""
    staged = lookup(engine, kind, upload_id, actor=actor)
    require(actor, "discard_upload", UploadRef(LayerRef(staged.layer), staged.user_id))
    _pending(staged)
    with engine.begin() as conn:
        if not table.decide_upload(conn, upload_id, status="discarded"):
            raise _decided_meanwhile(staged)
        audit.record(conn, "upload_discarded", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{staged.layer}",
                     detail={"kind": kind.name, "upload": upload_id, "file": staged.filename})
    return staged


def history(engine: Engine, kind: Kind, layer: str, *, actor: Principal) -> list[StagedFile]:
    """Committed uploads of ``kind`` to ``layer`` that ``actor`` may see, newest version first."""
    if kind.right:
        require(actor, kind.right)
    with engine.connect() as conn:
        rows = table.committed_uploads(conn, layer, kind=kind.name)
    return [r for r in rows if kind.may_see(actor, r)]


def committed_file(
    engine: Engine, kind: Kind, layer: str, number: int, *, actor: Principal
) -> tuple[StagedFile, bytes] | None:
    """The upload committed as version ``number`` of ``layer`` and its file, to stage again; None if none."""
    earlier = next((u for u in history(engine, kind, layer, actor=actor) if u.version_number == number), None)
    if earlier is None:
        return None
    with engine.connect() as conn:
        return earlier, table.upload_content(conn, earlier.id)


def committed_count(conn: Connection, kind: Kind, layer: str) -> int:
    """How many uploads of ``kind`` to ``layer`` were committed (in the transaction of ``conn``)."""
    return table.committed_count(conn, layer, kind=kind.name)
