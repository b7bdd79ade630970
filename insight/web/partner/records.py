"""Partner pages for a layer's records: the list, CSV and Open Referral exports, editing one record,
and the layer's versions with restore."""
from __future__ import annotations

from typing import Any

from flask import Response, flash, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from insight.errors import ConfigError, VersionConflict
from insight.partner import oruk, uploads, versions
from insight.web.partner.blueprint import bp, client_ip, engine, page, settings, signed_in

EDITABLE_PROPERTIES = 30
RECORDS_SHOWN = 2000


@bp.get("/layers/<name>")
@signed_in
def layer(name: str) -> ResponseReturnValue:
    """A layer's records with their state and when each was last assured."""
    records = versions.layer_records(engine(), name, actor=g.user, stale_days=settings().stale_days)
    ref = versions.layer_ref(engine(), name)
    return page("partner/layer.html", name=name, ref=ref, records=records[:RECORDS_SHOWN], total=len(records),
                 stale_days=settings().stale_days)


@bp.get("/layers/<name>/export.csv")
@signed_in
def export_csv(name: str) -> ResponseReturnValue:
    """A layer's records as a CSV download (recorded in the audit log)."""
    text = versions.export_csv(engine(), name, actor=g.user, ip=client_ip(), stale_days=settings().stale_days)
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@bp.get("/layers/<name>/oruk.json")
@bp.get("/api/layers/<name>/oruk.json")
@signed_in
def export_oruk(name: str) -> ResponseReturnValue:
    """A directory layer as an Open Referral UK feed."""
    return jsonify(oruk.export_directory(engine(), name, actor=g.user, ip=client_ip()))


def _editable_keys(properties: dict[str, Any]) -> list[str]:
    keys = [k for k, v in properties.items()
            if v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    return keys[:EDITABLE_PROPERTIES]


_FIELD_LABELS = {"name": "Name", "category": "Category", "longitude": "Longitude", "latitude": "Latitude"}


@bp.route("/records/<int:feature_id>/edit", methods=["GET", "POST"])
@signed_in
def edit(feature_id: int) -> ResponseReturnValue:
    """Edit one record: checked like an upload row, saved as a new version of its layer."""
    view = versions.record_view(engine(), feature_id, actor=g.user, stale_days=settings().stale_days)
    with engine().connect() as conn:
        info = versions.layer_info(conn, view.layer)
        state = versions.layer_state(conn, info.id)
    keys = _editable_keys(view.state.properties)
    values = {"name": view.state.name or "", "category": view.state.category or "",
              "longitude": "" if view.state.lon is None else repr(view.state.lon),
              "latitude": "" if view.state.lat is None else repr(view.state.lat)}
    values |= {f"prop-{i}": "" if view.state.properties.get(k) is None else str(view.state.properties[k])
               for i, k in enumerate(keys)}
    errors: dict[str, str] = {}
    notices: list[Any] = []
    if request.method == "POST":
        values = {k: request.form.get(k, "")[:10_000] for k in values}
        submitted = {"name": values["name"], "category": values["category"], "longitude": values["longitude"],
                     "latitude": values["latitude"]} | {k: values[f"prop-{i}"] for i, k in enumerate(keys)}
        after, issues = uploads.check_record_edit(engine(), feature_id, submitted, actor=g.user)
        field_of = {"name": "name", "category": "category", "longitude": "longitude", "latitude": "latitude",
                    "longitude/latitude": "longitude", "geometry": "longitude"}
        field_of |= {k: f"prop-{i}" for i, k in enumerate(keys)}
        for issue in issues:
            if issue.severity == "error":
                errors.setdefault(field_of.get(issue.column or "", "name"), issue.reason[:1].upper() + issue.reason[1:])
            else:
                notices.append(issue)
        if not errors and after is not None:
            try:
                version = versions.edit_record(engine(), feature_id, after, actor=g.user,
                                               assured=request.form.get("assured") == "yes",
                                               expected_state=request.form.get("state"), ip=client_ip())
            except (ConfigError, VersionConflict) as exc:
                errors["name"] = str(exc)[:1].upper() + str(exc)[1:]
            else:
                flash(f"Saved '{after.name}' as version {version.number} of the layer.")
                return redirect(url_for("partner.layer", name=view.layer), code=303)
    return page("partner/edit.html", 422 if errors else 200, view=view, keys=keys, values=values, errors=errors,
                 notices=notices, labels=_FIELD_LABELS, categories=info.rules.categories, state=state)


@bp.get("/layers/<name>/versions")
@signed_in
def history(name: str) -> ResponseReturnValue:
    """A layer's versions, newest first."""
    items = versions.versions(engine(), name, actor=g.user)
    ref = versions.layer_ref(engine(), name)
    return page("partner/history.html", name=name, items=items, ref=ref)


@bp.get("/layers/<name>/versions/<int:number>")
@signed_in
def version(name: str, number: int) -> ResponseReturnValue:
    """The records of a layer as they were at one version."""
    records = versions.records_at(engine(), name, number, actor=g.user)
    ref = versions.layer_ref(engine(), name)
    return page("partner/version.html", name=name, number=number, records=records, ref=ref)


@bp.post("/layers/<name>/versions/<int:number>/restore")
@signed_in
def restore(name: str, number: int) -> ResponseReturnValue:
    """Restore a layer's records to an earlier version (saved as a new version)."""
    result = versions.restore_version(engine(), name, number, actor=g.user, ip=client_ip())
    flash(f"Version {number} was restored as version {result.number}: {result.added} added, {result.changed} "
          f"changed, {result.removed} removed.")
    return redirect(url_for("partner.history", name=name), code=303)
