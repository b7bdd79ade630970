"""Partner data: users, API tokens, sign-in attempts, audit log, layer rules, versions and uploads.

Adds record key, owning organisation and last updated / last assured dates to features.
On SpatiaLite the new feature columns are added and dropped with plain ALTER TABLE
(SQLite 3.35+): recreating the spatial ``features`` table in batch mode would drop
its geometry registration and spatial index, so the columns carry no foreign key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("last_sign_in_at", STAMP, nullable=True),
        sa.CheckConstraint(
            "role IN ('public', 'councillor', 'officer', 'analyst', 'partner', 'admin')", name="ck_users_role"
        ),
        sa.CheckConstraint("role <> 'partner' OR organisation_id IS NOT NULL", name="ck_users_partner_org"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("last_used_at", STAMP, nullable=True),
        sa.Column("revoked_at", STAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_email_at", "login_attempts", ["email", "at"])
    op.create_index("ix_login_attempts_ip_at", "login_attempts", ["ip", "at"])
    op.create_table(
        "audit_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_action_at", "audit_events", ["action", "at"])
    op.create_table(
        "layer_rules",
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("partner_upload", sa.Boolean(), nullable=False),
        sa.Column("categories", JSON, nullable=True),
        sa.Column("required_fields", JSON, nullable=False),
        sa.Column("key_field", sa.String(length=100), nullable=True),
        sa.Column("location_required", sa.Boolean(), nullable=False),
        sa.Column("duplicate_metres", sa.Float(), nullable=False),
        sa.Column("unique_identifiers", sa.Boolean(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(["layer_id"], ["layers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("layer_id"),
    )
    op.create_table(
        "layer_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_email", sa.String(length=254), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("source_file", sa.String(length=255), nullable=True),
        sa.Column("source_checksum", sa.String(length=64), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.CheckConstraint(
            "action IN ('baseline', 'reload', 'upload', 'edit', 'restore', 'import')", name="ck_layer_versions_action"
        ),
        sa.ForeignKeyConstraint(["layer_id"], ["layers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("layer_id", "number", name="uq_layer_versions_layer_number"),
    )
    op.create_table(
        "feature_revisions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(length=100), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=True),
        sa.Column("version_from", sa.Integer(), nullable=False),
        sa.Column("version_to", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("inside_authority", sa.Boolean(), nullable=True),
        sa.Column("last_updated", STAMP, nullable=True),
        sa.Column("last_assured", STAMP, nullable=True),
        sa.ForeignKeyConstraint(["layer_id"], ["layers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feature_revisions_layer_key", "feature_revisions", ["layer_id", "record_key"])
    op.create_index(
        "ix_feature_revisions_layer_span", "feature_revisions", ["layer_id", "version_from", "version_to"]
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layer_name", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("decided_at", STAMP, nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("version_number", sa.Integer(), nullable=True),
        sa.Column("report", JSON, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'committed', 'discarded')", name="ck_uploads_status"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("features", sa.Column("record_key", sa.String(length=100), nullable=True))
    op.add_column("features", sa.Column("owner_org_id", sa.Integer(), nullable=True))
    op.add_column("features", sa.Column("last_updated", STAMP, nullable=True))
    op.add_column("features", sa.Column("last_assured", STAMP, nullable=True))
    op.create_index("ix_features_layer_record", "features", ["layer_id", "record_key"])


def downgrade() -> None:
    op.drop_index("ix_features_layer_record", table_name="features")
    for column in ("last_assured", "last_updated", "owner_org_id", "record_key"):
        op.drop_column("features", column)
    op.drop_table("uploads")
    op.drop_index("ix_feature_revisions_layer_span", table_name="feature_revisions")
    op.drop_index("ix_feature_revisions_layer_key", table_name="feature_revisions")
    op.drop_table("feature_revisions")
    op.drop_table("layer_versions")
    op.drop_table("layer_rules")
    op.drop_index("ix_audit_events_action_at", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_login_attempts_ip_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_email_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
