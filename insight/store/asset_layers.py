"""Point layers maintained through uploads, in the store: their rows, upload rules and locks.

Plain reads and writes in the caller's transaction; what the rules mean and who may
change them is decided by :mod:`insight.partner.layer_rules`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from insight.errors import ConfigError
from insight.store.accounts import integrity_problem, is_unique_violation
from insight.store.models import Feature, Layer, LayerRules, Organisation


@dataclass(frozen=True)
class LayerRow:
    """A layer's identity, sensitivity, owner and theme."""

    id: int
    name: str
    title: str
    kind: str
    sensitivity: str
    owner_org_id: int | None
    theme: str | None
    owner_slug: str | None


@dataclass(frozen=True)
class RulesRow:
    """A layer's upload rules as stored (see :class:`insight.store.models.LayerRules`)."""

    partner_upload: bool = False
    categories: list[str] | None = None
    required_fields: list[str] | None = None
    key_field: str | None = None
    location_required: bool = True
    duplicate_metres: float = 25.0
    unique_identifiers: bool = True


def find_layer(conn: Connection, name: str) -> LayerRow | None:
    """The layer ``name`` with its owner's slug, or None."""
    row = conn.execute(
        select(Layer.id, Layer.name, Layer.title, Layer.kind, Layer.sensitivity, Layer.owner_org_id, Layer.theme,
               Organisation.slug)
        .outerjoin(Organisation, Organisation.id == Layer.owner_org_id).where(Layer.name == name)
    ).one_or_none()
    return None if row is None else LayerRow(*row)


def point_layer_names(conn: Connection, *, by_title: bool = False) -> list[str]:
    """Names of every point layer, ordered by name (or by title)."""
    order = Layer.title if by_title else Layer.name
    return list(conn.execute(select(Layer.name).where(Layer.kind == "points").order_by(order)).scalars())


def asset_layer_names(conn: Connection) -> list[str]:
    """Point layers of the assets theme or with upload rules."""
    return list(conn.execute(
        select(Layer.name).outerjoin(LayerRules, LayerRules.layer_id == Layer.id)
        .where(Layer.kind == "points", (Layer.theme == "assets") | LayerRules.layer_id.is_not(None))
    ).scalars())


def feature_totals(conn: Connection, names: list[str]) -> dict[str, int]:
    """Number of features of each named layer that has any."""
    rows = conn.execute(
        select(Layer.name, func.count(Feature.id)).join(Feature, Feature.layer_id == Layer.id)
        .where(Layer.name.in_(names)).group_by(Layer.name)
    ).all()
    return {name: int(total) for name, total in rows}


def layer_of_feature(conn: Connection, feature_id: int) -> str | None:
    """The name of the layer holding feature ``feature_id``, or None if there is no such feature."""
    name: str | None = conn.execute(
        select(Layer.name).join(Feature, Feature.layer_id == Layer.id).where(Feature.id == feature_id)
    ).scalar_one_or_none()
    return name


def layer_loaded_at(conn: Connection, layer_id: int) -> datetime | None:
    """When the layer was last written (loaded or committed)."""
    when: datetime | None = conn.execute(select(Layer.loaded_at).where(Layer.id == layer_id)).scalar_one()
    return when


def layer_owner(conn: Connection, layer_id: int) -> int | None:
    """The id of the organisation that owns the layer, if any."""
    owner: int | None = conn.execute(select(Layer.owner_org_id).where(Layer.id == layer_id)).scalar_one()
    return owner


def read_rules(conn: Connection, layer_id: int) -> RulesRow | None:
    """The layer's upload rules, or None when it has none."""
    row = conn.execute(select(LayerRules.__table__).where(LayerRules.layer_id == layer_id)).one_or_none()
    if row is None:
        return None
    return RulesRow(
        partner_upload=bool(row.partner_upload), categories=None if row.categories is None else list(row.categories),
        required_fields=list(row.required_fields or ()), key_field=row.key_field,
        location_required=row.location_required, duplicate_metres=row.duplicate_metres,
        unique_identifiers=row.unique_identifiers,
    )


def save_rules(conn: Connection, layer_id: int, rules: RulesRow) -> None:
    """Store the layer's upload rules, replacing any it had."""
    values = {
        "partner_upload": rules.partner_upload, "categories": rules.categories,
        "required_fields": list(rules.required_fields or []), "key_field": rules.key_field,
        "location_required": rules.location_required, "duplicate_metres": rules.duplicate_metres,
        "unique_identifiers": rules.unique_identifiers, "updated_at": datetime.now(UTC),
    }
    exists = conn.execute(select(LayerRules.layer_id).where(LayerRules.layer_id == layer_id)).one_or_none()
    if exists is None:
        conn.execute(insert(LayerRules).values(layer_id=layer_id, **values))
    else:
        conn.execute(update(LayerRules).where(LayerRules.layer_id == layer_id).values(**values))


def insert_asset_layer(conn: Connection, name: str, *, title: str, owner_org_id: int | None, sensitivity: str,
                       licence: str, asset_kind: str | None = None) -> int:
    """Add an empty point layer of the assets theme, maintained through uploads; returns its id.

    ConfigError if a layer ``name`` exists (even one added a moment ago: the store's unique index decides).
    """
    try:
        with conn.begin_nested():
            return _insert_asset_layer(conn, name, title=title, owner_org_id=owner_org_id, sensitivity=sensitivity,
                                       licence=licence, asset_kind=asset_kind)
    except IntegrityError as error:
        if not is_unique_violation(error):
            fields = {"sensitivity": "sensitivity", "kind": "layer kind", "org": "owning organisation"}
            raise integrity_problem(error, fields, what=f"the layer '{name}'") from None
        raise ConfigError(f"a layer named '{name}' already exists (perhaps someone added it just now): "
                          "choose another name, or change that layer's rules") from None


def _insert_asset_layer(conn: Connection, name: str, *, title: str, owner_org_id: int | None, sensitivity: str,
                        licence: str, asset_kind: str | None) -> int:
    new_id: int = conn.execute(
        insert(Layer).values(asset_kind=asset_kind,
            name=name, kind="points", title=title, description="",
            source="Maintained through Local Insight uploads", publisher="Local Insight partners",
            licence=licence, attribution="Maintained by the council and its partners", sensitivity=sensitivity,
            illustrative=False, is_authority=False, loaded_at=datetime.now(UTC), feature_count=0, load_report={},
            owner_org_id=owner_org_id, theme="assets",
        ).returning(Layer.id)
    ).scalar_one()
    return new_id


def set_layer_owner(conn: Connection, layer_id: int, org_id: int | None) -> None:
    """Make ``org_id`` (or nobody) the layer's owner."""
    conn.execute(update(Layer).where(Layer.id == layer_id).values(owner_org_id=org_id))


def mark_layer_written(conn: Connection, layer_id: int, *, at: datetime, source_file: str | None = None,
                       checksum: str | None = None) -> None:
    """Refresh the layer's feature count and load time (and its source file when one is given)."""
    total = conn.execute(select(func.count()).select_from(Feature).where(Feature.layer_id == layer_id)).scalar_one()
    values: dict[str, object] = {"feature_count": total, "loaded_at": at}
    if source_file is not None:
        values.update(source_file=source_file, source_checksum=checksum)
    conn.execute(update(Layer).where(Layer.id == layer_id).values(**values))


def lock_layer(conn: Connection, layer_id: int) -> None:
    """Serialise commits to one layer (PostgreSQL row lock; SQLite allows one writer anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(Layer.id).where(Layer.id == layer_id).with_for_update())


def newest_area_layer(conn: Connection, area_type: str) -> str | None:
    """The name of the newest boundary layer of ``area_type`` (by vintage), or None."""
    name: str | None = conn.execute(
        select(Layer.name).where(Layer.kind == "boundary", Layer.area_type == area_type)
        .order_by(Layer.vintage.desc().nulls_last(), Layer.name).limit(1)
    ).scalar_one_or_none()
    return name


def layer_asset_kind(conn: Connection, name: str) -> str | None:
    """The asset kind of layer ``name`` (of its records that name none), or None."""
    kind: str | None = conn.execute(select(Layer.asset_kind).where(Layer.name == name)).scalar_one_or_none()
    return kind
