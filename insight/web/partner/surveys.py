"""Partner pages for survey respondent files: upload, report, commit or discard, history and restore."""
from __future__ import annotations

from typing import Any

from flask import Response, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from insight.errors import ConfigError, LoadError, NotFoundError
from insight.layers import LayerSpec
from insight.partner import auth, survey_uploads, uploads
from insight.web.partner.blueprint import bp, client_ip, engine, page, settings, signed_in, stage_file


def _layers_dir() -> str:
    return settings().layers_dir


def _survey_spec(name: str) -> LayerSpec:
    try:
        return survey_uploads.survey_spec(_layers_dir(), name)
    except ConfigError as exc:
        raise NotFoundError(str(exc)) from None


@bp.route("/surveys", methods=["GET", "POST"])
@signed_in
def surveys() -> ResponseReturnValue:
    """The survey layers with their stored versions; upload a respondent file to replace one."""
    auth.require(g.user, "upload_survey")
    specs = survey_uploads.survey_specs(_layers_dir())
    errors: dict[str, str] = {}
    refusal: list[Any] = []
    chosen = request.values.get("layer", "") or (specs[0].name if len(specs) == 1 else "")
    if request.method == "POST":
        file = request.files.get("file")
        spec = next((s for s in specs if s.name == chosen), None)
        if not chosen:
            errors["layer"] = "Choose the survey layer to replace"
        elif spec is None:
            errors["layer"] = (f"'{chosen}' is not a survey layer; survey files can only replace the survey layers "
                               "listed here")
        if file is None or not file.filename:
            errors["file"] = "Choose a survey file (CSV) to upload"
        if not errors and file is not None and spec is not None:
            sent, message, refusal = stage_file(
                file, "partner.survey_report", ": nothing was saved",
                lambda content, name: survey_uploads.stage_survey(engine(), content, filename=name, spec=spec,
                                                                  actor=g.user, settings=settings(), ip=client_ip())[0])
            if sent is not None:
                return sent
            errors["file"] = message or ""
    with engine().connect() as conn:
        stored = {s.name: survey_uploads.stored_survey(conn, s.name) for s in specs}
    last = {s.name: survey_uploads.last_upload(engine(), s.name, actor=g.user) for s in specs}
    return page("partner/surveys.html", 422 if errors else 200, specs=specs, stored=stored, last=last,
                 errors=errors, refusal=refusal, chosen=chosen, limits=settings(),
                 shown_count=survey_uploads.shown_count)


def _survey_page(upload_id: int, status: int = 200, **values: Any) -> Response:
    staged = survey_uploads.survey_upload(engine(), upload_id, actor=g.user)
    return page("partner/survey_report.html", status, staged=staged, report=staged.report, **values)


@bp.get("/surveys/uploads/<int:upload_id>")
@signed_in
def survey_report(upload_id: int) -> ResponseReturnValue:
    """A staged survey file's validation report."""
    return _survey_page(upload_id)


@bp.post("/surveys/uploads/<int:upload_id>/commit")
@signed_in
def survey_commit(upload_id: int) -> ResponseReturnValue:
    """Save a staged survey file as the next version of its layer."""
    staged = survey_uploads.survey_upload(engine(), upload_id, actor=g.user)
    spec = _survey_spec(staged.layer)
    try:
        done = survey_uploads.commit_survey(engine(), upload_id, spec=spec, actor=g.user, settings=settings(),
                                            ip=client_ip())
    except LoadError as exc:
        return _survey_page(upload_id, 409, problem=f"The file {exc.source} no longer passes the checks",
                            refusal=uploads.refusal_issues(exc))
    except ConfigError as exc:
        return _survey_page(upload_id, 409, problem=str(exc))
    flash(f"{spec.title}: saved {staged.filename} as version {done.version_number}; the layer now holds "
          f"{done.report.get('rows_read', 0):,} respondents.")
    return redirect(url_for("partner.survey_history", layer=spec.name), code=303)


@bp.post("/surveys/uploads/<int:upload_id>/discard")
@signed_in
def survey_discard(upload_id: int) -> ResponseReturnValue:
    """Discard a staged survey file (its sender, an officer or an administrator); the layer is unchanged."""
    staged = survey_uploads.discard_survey(engine(), upload_id, actor=g.user, ip=client_ip())
    flash(f"{staged.filename} was discarded; nothing in the survey layer changed.")
    return redirect(url_for("partner.surveys"), code=303)


@bp.get("/surveys/<layer>/history")
@signed_in
def survey_history(layer: str) -> ResponseReturnValue:
    """A survey layer's versions, with restore."""
    auth.require(g.user, "upload_survey")
    spec = _survey_spec(layer)
    items = survey_uploads.survey_history(engine(), layer, actor=g.user)
    with engine().connect() as conn:
        stored = survey_uploads.stored_survey(conn, layer)
    return page("partner/survey_history.html", spec=spec, items=items, stored=stored,
                 shown_count=survey_uploads.shown_count)


@bp.post("/surveys/<layer>/versions/<int:number>/restore")
@signed_in
def survey_restore(layer: str, number: int) -> ResponseReturnValue:
    """Restore an earlier version of a survey layer (saved as a new version)."""
    auth.require(g.user, "upload_survey")
    auth.require(g.user, "restore")
    spec = _survey_spec(layer)
    try:
        done = survey_uploads.restore_survey(engine(), layer, number, spec=spec, actor=g.user,
                                             settings=settings(), ip=client_ip())
    except (LoadError, ConfigError) as exc:
        return page("partner/message.html", 409, title=f"{spec.title}: version {number} was not restored",
                     message=str(exc))
    flash(f"{spec.title}: version {number} was restored as version {done.version_number}.")
    return redirect(url_for("partner.survey_history", layer=layer), code=303)
