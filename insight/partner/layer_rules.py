"""Asset layers and their upload rules: which layers take uploads, how uploads are checked, who owns them."""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from insight.errors import ConfigError, NotFoundError
from insight.layers import ASSET_KINDS
from insight.partner import audit
from insight.partner.auth import LayerRef, Principal, RowsRefused, can, organisation_id, require
from insight.partner.choices import ASSET_KIND_LABELS, choose
from insight.partner.record_checks import Rules
from insight.store import Connection, Engine
from insight.store import asset_layers as store
from insight.store.asset_layers import RulesRow


@dataclass(frozen=True)
class LayerInfo:
    """A layer as the partner pages need it: identity, permissions reference and upload rules."""

    id: int
    name: str
    title: str
    kind: str
    ref: LayerRef
    rules: Rules
    owner_slug: str | None
    configured: bool = False
    theme: str | None = None


def _rules(row: RulesRow | None) -> Rules:
    if row is None:
        return Rules()
    return Rules(
        categories=None if row.categories is None else tuple(row.categories),
        required_fields=tuple(row.required_fields or ()), key_field=row.key_field,
        location_required=row.location_required, duplicate_metres=row.duplicate_metres,
        unique_identifiers=row.unique_identifiers,
    )


def counts_only(row: store.LayerRow, rules: RulesRow | None) -> bool:
    """True for a layer whose rows are shown as counts only: a restricted point layer loaded from a file
    (not maintained through uploads, not of the assets theme), such as survey respondents."""
    return row.kind == "points" and row.sensitivity != "public" and rules is None and row.theme != "assets"


def layer_info(conn: Connection, name: str) -> LayerInfo:
    """The layer ``name`` with its rules; NotFoundError listing the point layers otherwise."""
    row = store.find_layer(conn, name)
    if row is None:
        known = ", ".join(store.point_layer_names(conn))
        raise NotFoundError(f"no layer named '{name}' (point layers: {known or 'none'})")
    rules_row = store.read_rules(conn, row.id)
    partner_upload = rules_row is not None and rules_row.partner_upload
    ref = LayerRef(row.name, row.sensitivity, row.owner_org_id, partner_upload, counts_only(row, rules_row))
    return LayerInfo(row.id, row.name, row.title, row.kind, ref, _rules(rules_row), row.owner_slug,
                     rules_row is not None, row.theme)


@contextmanager
def audited(engine: Engine, actor: Principal, *, target: str, ip: str | None = None) -> Iterator[None]:
    """Write a refusal over counts-only rows (:class:`RowsRefused`) to the audit log, then let it go on.

    Use it outside the block's own transaction, so the audit record is kept when that one rolls back.
    """
    try:
        yield
    except RowsRefused as refused:
        if refused.audited:
            raise
        with engine.begin() as conn:
            audit.record(conn, "permission_denied", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=target, detail={"reason": "counts only", "message": str(refused)[:300],
                                                "via_token": actor.via_token})
        refused.audited = True
        raise


def layer_ref(engine: Engine, name: str) -> LayerRef:
    """The permission reference of layer ``name``."""
    with engine.connect() as conn:
        return layer_info(conn, name).ref


def partner_layers(engine: Engine, actor: Principal) -> list[LayerInfo]:
    """Asset layers ``actor`` may upload to (configured for uploads, or of the assets theme), by title."""
    with engine.connect() as conn:
        infos = [layer_info(conn, n) for n in store.point_layer_names(conn, by_title=True)]
    return [i for i in infos if (i.configured or i.theme == "assets") and can(actor, "upload", i.ref)]


def check_layer_name(name: str) -> None:
    """ConfigError unless ``name`` can name a layer: lower-case letters, digits and '_', starting with a letter."""
    if not name.replace("_", "").isalnum() or not name[:1].isalpha() or len(name) > 100 or name.lower() != name:
        raise ConfigError(f"layer name '{name}' must start with a letter and use lower-case letters, digits and '_'")


def create_asset_layer(
    conn: Connection,
    name: str,
    *,
    title: str | None = None,
    owner_org_id: int | None = None,
    sensitivity: str = "public",
    licence: str = "Not stated",
    asset_kind: str | None = None,
) -> int:
    """Add an empty point layer maintained through uploads (no file behind it); returns its id.

    Partners may upload to it when it has an owning organisation. ``asset_kind`` (one of
    :data:`insight.layers.ASSET_KINDS`) is the kind of its records that name none; BadRequest with a suggestion
    for another value.
    """
    check_layer_name(name)
    if asset_kind is not None:
        asset_kind = choose(asset_kind, ASSET_KINDS, what="an asset kind", labels=ASSET_KIND_LABELS)
    layer_id = store.insert_asset_layer(conn, name, title=title or name.replace("_", " ").capitalize(),
                                        owner_org_id=owner_org_id, sensitivity=sensitivity, licence=licence,
                                        asset_kind=asset_kind)
    store.save_rules(conn, layer_id, RulesRow(partner_upload=owner_org_id is not None, required_fields=[]))
    return layer_id


def _categories(given: list[str] | None | bool, current: tuple[str, ...] | None) -> list[str] | None:
    """The categories to store: ``given`` cleaned of blanks and repeats; ``False`` keeps ``current``."""
    if isinstance(given, bool):
        return None if current is None else list(current)
    return None if given is None else list(dict.fromkeys(c.strip() for c in given if c.strip()))


def _changed_rules(
    info: LayerInfo,
    *,
    partner_upload: bool | None,
    categories: list[str] | None | bool,
    required_fields: list[str] | None,
    key_field: str | None | bool,
    location_required: bool | None,
    duplicate_metres: float | None,
    unique_identifiers: bool | None,
) -> RulesRow:
    """The layer's rules with the given changes (``None``, or ``False`` where it may clear, keeps a value)."""
    current = info.rules
    if duplicate_metres is not None and (math.isnan(duplicate_metres) or not 0 <= duplicate_metres <= 1000):
        raise ConfigError(f"duplicate distance {duplicate_metres} m must be between 0 and 1000 metres")
    return RulesRow(
        partner_upload=info.ref.partner_upload if partner_upload is None else partner_upload,
        categories=_categories(categories, current.categories),
        required_fields=list(current.required_fields) if required_fields is None
        else [f.strip() for f in required_fields if f.strip()],
        key_field=current.key_field if isinstance(key_field, bool) else key_field,
        location_required=current.location_required if location_required is None else location_required,
        duplicate_metres=current.duplicate_metres if duplicate_metres is None else duplicate_metres,
        unique_identifiers=current.unique_identifiers if unique_identifiers is None else unique_identifiers,
    )


def _audit_values(rules: RulesRow) -> dict[str, object]:
    return {
        "partner_upload": rules.partner_upload, "categories": rules.categories,
        "required_fields": list(rules.required_fields or []), "key_field": rules.key_field,
        "location_required": rules.location_required, "duplicate_metres": rules.duplicate_metres,
        "unique_identifiers": rules.unique_identifiers,
    }


def set_rules(
    engine: Engine,
    layer: str,
    *,
    actor: Principal,
    partner_upload: bool | None = None,
    categories: list[str] | None | bool = False,
    required_fields: list[str] | None = None,
    key_field: str | None | bool = False,
    location_required: bool | None = None,
    duplicate_metres: float | None = None,
    unique_identifiers: bool | None = None,
    owner_org: str | None | bool = False,
) -> LayerInfo:
    """Change how uploads to ``layer`` are checked and who may make them (officers and admins).

    ``False`` for ``categories``, ``key_field`` and ``owner_org`` means "leave as is"
    (``None`` clears them).
    """
    require(actor, "manage_layers")
    with audited(engine, actor, target=f"layer:{layer}"), engine.begin() as conn:
        return change_rules(
            conn, layer, actor=actor, partner_upload=partner_upload, categories=categories,
            required_fields=required_fields, key_field=key_field, location_required=location_required,
            duplicate_metres=duplicate_metres, unique_identifiers=unique_identifiers, owner_org=owner_org,
        )


def change_rules(
    conn: Connection,
    layer: str,
    *,
    actor: Principal,
    partner_upload: bool | None = None,
    categories: list[str] | None | bool = False,
    required_fields: list[str] | None = None,
    key_field: str | None | bool = False,
    location_required: bool | None = None,
    duplicate_metres: float | None = None,
    unique_identifiers: bool | None = None,
    owner_org: str | None | bool = False,
) -> LayerInfo:
    """:func:`set_rules` in the caller's transaction (``conn``), so a new layer and its rules land together."""
    info = layer_info(conn, layer)
    require(actor, "manage_layers", info.ref)
    if info.kind != "points":
        raise ConfigError(f"layer '{layer}' is a {info.kind} layer; only point layers take uploads")
    rules = _changed_rules(
        info, partner_upload=partner_upload, categories=categories, required_fields=required_fields,
        key_field=key_field, location_required=location_required, duplicate_metres=duplicate_metres,
        unique_identifiers=unique_identifiers,
    )
    store.save_rules(conn, info.id, rules)
    if owner_org is not False:
        org_id = organisation_id(conn, owner_org) if isinstance(owner_org, str) and owner_org else None
        store.set_layer_owner(conn, info.id, org_id)
    audit.record(conn, "layer_rules_changed", actor_id=actor.id, actor_email=actor.email, target=f"layer:{layer}",
                 detail=_audit_values(rules) | ({"owner_org": owner_org} if owner_org is not False else {}))
    return layer_info(conn, layer)
