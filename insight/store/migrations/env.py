"""Alembic environment: run migrations on the connection handed over by insight.store.migrate."""
from __future__ import annotations

from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers

from insight.errors import StoreError
from insight.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise StoreError("run migrations with 'insight db upgrade', which supplies the connection")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave alone tables we do not model (SpatiaLite's own metadata tables among them)."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))  # type: ignore[no-untyped-call]


# Keep the version table beside the tables it versions (matters when schemas share a search path).
version_schema = (
    connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    if connection.dialect.name == "postgresql"
    else None
)

context.configure(
    connection=connection,
    version_table_schema=version_schema,
    target_metadata=Base.metadata,
    include_object=include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
