"""Partner pages for asset uploads: choose a layer and a file, read the validation report and preview,
then commit or discard; and the same through the token API for scripts."""
from __future__ import annotations

from typing import Any

from flask import flash, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from insight.errors import ConfigError, LoadError, NotFoundError, VersionConflict
from insight.partner import survey_uploads, uploads, versions
from insight.web.partner.blueprint import bp, client_ip, engine, json_error, page, settings, signed_in, stage_file


@bp.route("/upload", methods=["GET", "POST"])
@signed_in
def upload() -> ResponseReturnValue:
    """Choose a layer and a file; a file that passes the checks goes to its report."""
    layers = versions.partner_layers(engine(), g.user)
    errors: dict[str, str] = {}
    refusal: list[Any] = []
    chosen = request.values.get("layer", "")
    if request.method == "POST":
        file = request.files.get("file")
        if not chosen:
            errors["layer"] = "Choose the layer to update"
        if file is None or not file.filename:
            errors["file"] = "Choose a file to upload"
        if not errors and file is not None:
            sent, message, refusal = stage_file(
                file, "partner.upload_report", "",
                lambda content, name: uploads.stage_upload(engine(), content, filename=name, layer=chosen,
                                                           actor=g.user, settings=settings(), ip=client_ip())[0])
            if sent is not None:
                return sent
            errors["file"] = message or ""
    return page("partner/upload.html", 422 if errors else 200, layers=layers, errors=errors, chosen=chosen,
                 refusal=refusal, limits=settings())


def _not_a_survey(upload_id: int) -> None:
    if survey_uploads.is_survey_upload(engine(), upload_id):
        raise NotFoundError(f"upload {upload_id} is a survey file: open it from the survey files page")


@bp.get("/uploads/<int:upload_id>")
@signed_in
def upload_report(upload_id: int) -> ResponseReturnValue:
    """A staged upload's validation report and preview of the changes."""
    if survey_uploads.is_survey_upload(engine(), upload_id):
        return redirect(url_for("partner.survey_report", upload_id=upload_id))
    staged = uploads.staged_upload(engine(), upload_id, actor=g.user)
    return page("partner/report.html", staged=staged, report=staged.report)


@bp.post("/uploads/<int:upload_id>/commit")
@signed_in
def commit(upload_id: int) -> ResponseReturnValue:
    """Save a staged upload as a new version of its layer."""
    _not_a_survey(upload_id)
    try:
        version = uploads.commit_upload(engine(), upload_id, actor=g.user, settings=settings(), ip=client_ip())
    except (VersionConflict, ConfigError, LoadError) as exc:
        staged = uploads.staged_upload(engine(), upload_id, actor=g.user)
        return page("partner/report.html", 409, staged=staged, report=staged.report, problem=str(exc))
    staged = uploads.staged_upload(engine(), upload_id, actor=g.user)
    flash(f"Saved as version {version.number} of the layer: {version.added} added, {version.changed} changed, "
          f"{version.removed} removed.")
    return redirect(url_for("partner.layer", name=staged.layer), code=303)


@bp.post("/uploads/<int:upload_id>/discard")
@signed_in
def discard(upload_id: int) -> ResponseReturnValue:
    """Discard a staged upload (its sender, an officer or an administrator); the layer is unchanged."""
    _not_a_survey(upload_id)
    uploads.discard_upload(engine(), upload_id, actor=g.user, ip=client_ip())
    flash("The upload was discarded; nothing in the layer changed.")
    return redirect(url_for("partner.upload"), code=303)


@bp.post("/api/uploads")
@signed_in
def api_upload() -> ResponseReturnValue:
    """Stage (and with commit=true, save) a file sent by a script with an API token."""
    if not g.via_token:
        return json_error(401, "the API takes a token: Authorization: Bearer <token>")
    file = request.files.get("file")
    layer_name = request.form.get("layer", "")
    if file is None or not file.filename or not layer_name:
        return json_error(400, "send the file as 'file' and the layer name as 'layer' (multipart/form-data)")
    try:
        upload_id, check = uploads.stage_upload(engine(), file.read(settings().upload_max_bytes + 1),
                                                filename=file.filename, layer=layer_name, actor=g.user,
                                                settings=settings(), ip=client_ip())
    except LoadError as exc:
        return jsonify({"accepted": False, "problems": [i.as_dict() for i in uploads.refusal_issues(exc)]}), 422
    body: dict[str, Any] = {"accepted": True, "upload": upload_id, "report": check.report()}
    if request.form.get("commit") == "true":
        try:
            version = uploads.commit_upload(engine(), upload_id, actor=g.user, settings=settings(), ip=client_ip())
        except (VersionConflict, ConfigError) as exc:
            return jsonify(body | {"committed": False, "problem": str(exc)}), 409
        body |= {"committed": True, "version": version.number}
    return jsonify(body)
