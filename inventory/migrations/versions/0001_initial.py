"""The initial inventory: datasets with their versions, runs with their errors, quarantine.

Written by hand rather than imported from ``inventory.models`` so that the schema a
database was built with stays fixed when the models move on; a test compares the two.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("native_id", sa.String(1000), nullable=False),
        sa.Column("uri", sa.String(2000), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("nt", sa.LargeBinary(), nullable=True),
        sa.Column("row", sa.JSON(), nullable=True),
        _ts("source_modified"),
        _ts("first_seen", False),
        _ts("last_changed", False),
        _ts("withdrawn_at"),
        sa.Column("withdrawn_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.String(400), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("source_id", "native_id", name="uq_datasets_source_id_native_id"),
    )
    op.create_index("ix_datasets_uri", "datasets", ["uri"])
    op.create_index("ix_datasets_source_id_status", "datasets", ["source_id", "status"])
    op.create_index("ix_datasets_last_changed", "datasets", ["last_changed"])

    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(2000), nullable=True),
        sa.Column("nt", sa.LargeBinary(), nullable=True),
        sa.Column("row", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(400), nullable=False),
        _ts("valid_from", False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE",
                                name="fk_dataset_versions_dataset_id_datasets"),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_id_version"),
    )

    op.create_table(
        "harvest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(400), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        _ts("window_start"),
        _ts("window_end"),
        _ts("started_at", False),
        _ts("finished_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_harvest_runs"),
        sa.UniqueConstraint("run_id", name="uq_harvest_runs_run_id"),
    )
    op.create_index("ix_harvest_runs_source_id_status", "harvest_runs", ["source_id", "status"])

    op.create_table(
        "run_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(400), nullable=False),
        sa.Column("native_id", sa.String(1000), nullable=True),
        sa.Column("field", sa.String(400), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_run_errors"),
    )
    op.create_index("ix_run_errors_run_id", "run_errors", ["run_id"])

    op.create_table(
        "quarantined_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(400), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("native_id", sa.String(1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantined_withdrawals"),
        sa.UniqueConstraint("run_id", "native_id", name="uq_quarantined_withdrawals_run_id_native_id"),
    )
    op.create_index("ix_quarantined_withdrawals_source_id", "quarantined_withdrawals", ["source_id"])


def downgrade() -> None:
    op.drop_table("quarantined_withdrawals")
    op.drop_table("run_errors")
    op.drop_table("harvest_runs")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
