"""Duplicate clustering reads cached per-dataset features and skips an unchanged inventory.

Revision ID: 0004_cluster_features
Revises: 0003_duplicates_changes
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_cluster_features"
down_revision = "0003_duplicates_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_features",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE",
                                name="fk_cluster_features_dataset_id_datasets"),
        sa.PrimaryKeyConstraint("dataset_id", name="pk_cluster_features"),
    )
    op.create_table(
        "cluster_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_cluster_state"),
    )


def downgrade() -> None:
    op.drop_table("cluster_state")
    op.drop_table("cluster_features")
