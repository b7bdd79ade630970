"""Partner pages for a layer's records: the list, CSV and Open Referral exports, editing one record,
and the layer's versions with restore."""
from __future__ import annotations

from typing import Any

from flask import Response, flash, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from insight.errors import ConfigError, VersionConflict
from insight.layers import ASSET_KINDS
from insight.partner import auth, oruk, uploads, versions
from insight.partner import new_record as added
from insight.partner.choices import ASSET_KIND_COLUMN, ASSET_KIND_LABELS, field_label
from insight.web.partner.blueprint import bp, client_ip, day, engine, page, settings, signed_in
from insight.web.partner.map_links import (
    NOT_ON_MAP,
    allow_tiles,
    layer_asset_kind,
    map_centre,
    map_url,
    on_public_map,
    record_map_urls,
)

EDITABLE_PROPERTIES = 30
FIELDS = ("name", "category", "longitude", "latitude")
RECORDS_SHOWN = 2000


@bp.get("/layers/<name>")
@signed_in
def layer(name: str) -> ResponseReturnValue:
    """A layer's records with their state and when each was last assured."""
    records = versions.layer_records(engine(), name, actor=g.user, stale_days=settings().stale_days)
    ref = versions.layer_ref(engine(), name)
    public = on_public_map(ref)
    return page("partner/layer.html", name=name, ref=ref, records=records[:RECORDS_SHOWN], total=len(records),
                stale_days=settings().stale_days, map_url=map_url(name) if public else None, not_on_map=NOT_ON_MAP,
                record_maps=record_map_urls(engine(), name) if public else {})


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


def _field(field_id: str, column: str, value: str, categories: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A form field: a list to choose from for the category (when the layer has a list) and the asset kind."""
    options = None
    if column == "category" and categories:
        options = [(c, c) for c in categories]
    elif column.strip().lower() == ASSET_KIND_COLUMN:
        options = [(k, ASSET_KIND_LABELS[k]) for k in ASSET_KINDS]
    return {"id": field_id, "label": field_label(column), "value": value, "options": options, "hint": None}


def _form_errors(issues: list[Any], field_of: dict[str, str]) -> tuple[dict[str, str], list[Any]]:
    """Errors by field id (the first for each field) and the other issues as notices."""
    field_of = field_of | {"longitude/latitude": "longitude", "geometry": "longitude"}
    errors: dict[str, str] = {}
    notices: list[Any] = []
    for issue in issues:
        if issue.severity == "error":
            errors.setdefault(field_of.get(issue.column or "", "name"), issue.reason[:1].upper() + issue.reason[1:])
        else:
            notices.append(issue)
    return errors, notices


def _form_page(status: int, **values: Any) -> Response:
    """The record form, with the small map's centre and tiles (the tile server is allowed to send images)."""
    centre = map_centre(engine())
    response = page("partner/edit.html", status, centre=centre, tiles=settings().tile_url,
                    attribution=settings().tile_attribution, **values)
    return allow_tiles(response, settings().tile_url)


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
        errors, notices = _form_errors(issues, {k: k for k in FIELDS} | {k: f"prop-{i}" for i, k in enumerate(keys)})
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
    fields = [_field("name", "name", values["name"]), _field("category", "category", values["category"],
                                                             info.rules.categories)]
    extra = [_field(f"prop-{i}", k, values[f"prop-{i}"]) for i, k in enumerate(keys)]
    intro = (f"Layer {info.title}, id {view.state.key}. Last updated {day(view.state.last_updated)}, "
             f"last checked as still true {day(view.state.last_assured)}.")
    return _form_page(422 if errors else 200, heading=f"Edit {view.state.name}", intro=intro, fields=fields,
                      extra=extra, values=values, errors=errors, notices=notices, state=state, layer=view.layer,
                      adding=False, action=url_for("partner.edit", feature_id=feature_id))


NEW_FIELDS = (("name", "name"), ("category", "category"), (ASSET_KIND_COLUMN, ASSET_KIND_COLUMN),
              ("description", "description"), ("email", "email"), ("phone", "phone"), ("url", "url"))


@bp.route("/layers/<name>/new", methods=["GET", "POST"])
@signed_in
def new_record(name: str) -> ResponseReturnValue:
    """Add one record to a layer: checked like an upload row, saved as a new version of the layer."""
    info = versions.layer_ref(engine(), name)
    auth.require(g.user, "upload", info)
    with engine().connect() as conn:
        layer = versions.layer_info(conn, name)
        state = versions.layer_state(conn, layer.id)
    values = {k: "" for k, _ in NEW_FIELDS} | {"longitude": "", "latitude": ""}
    values[ASSET_KIND_COLUMN] = layer_asset_kind(engine(), name) or ""
    errors: dict[str, str] = {}
    notices: list[Any] = []
    if request.method == "POST":
        values = {k: request.form.get(k, "")[:10_000] for k in values}
        record, issues = added.check_new_record(engine(), name, values, actor=g.user)
        errors, notices = _form_errors(issues, {k: k for k in values})
        if not errors and record is not None:
            try:
                added.add_record(engine(), name, record, actor=g.user, expected_state=request.form.get("state"),
                                 ip=client_ip())
            except (ConfigError, VersionConflict) as exc:
                errors["name"] = str(exc)[:1].upper() + str(exc)[1:]
            else:
                flash(f"Added '{record.name}' to {layer.title}.")
                return redirect(url_for("partner.layer", name=name), code=303)
    fields = [_field(k, c, values[k], layer.rules.categories) for k, c in NEW_FIELDS[:3]]
    extra = [_field(k, c, values[k]) for k, c in NEW_FIELDS[3:]]
    return _form_page(422 if errors else 200, heading=f"Add a record to {layer.title}",
                      intro="Fill in what you know; the name and the location are needed.", fields=fields,
                      extra=extra, values=values, errors=errors, notices=notices, state=state, layer=name,
                      adding=True, action=url_for("partner.new_record", name=name))


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
