"""Cross-source duplicate clusters and field-level change history.

Revision ID: 0003_duplicates_changes
Revises: 0002_quality
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_duplicates_changes"
down_revision = "0002_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_clusters",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.String(64), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE",
                                name="fk_dataset_clusters_dataset_id_datasets"),
        sa.PrimaryKeyConstraint("dataset_id", name="pk_dataset_clusters"),
    )
    op.create_index("ix_dataset_clusters_cluster_id", "dataset_clusters", ["cluster_id"])
    op.create_table(
        "dataset_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("native_id", sa.String(1000), nullable=False),
        sa.Column("run_id", sa.String(400), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE",
                                name="fk_dataset_changes_dataset_id_datasets"),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_changes"),
    )
    op.create_index("ix_dataset_changes_dataset_id", "dataset_changes", ["dataset_id"])
    op.create_index("ix_dataset_changes_source_id_changed_at", "dataset_changes", ["source_id", "changed_at"])
    op.create_index("ix_dataset_changes_changed_at", "dataset_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_table("dataset_changes")
    op.drop_index("ix_dataset_clusters_cluster_id", table_name="dataset_clusters")
    op.drop_table("dataset_clusters")
