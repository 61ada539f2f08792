"""Quality results: per-dataset MQA/5-star/SHACL per run, the SHACL cache, link checks, run aggregates.

Revision ID: 0002_quality
Revises: 0001_initial
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_quality"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("harvest_runs") as batch:
        batch.add_column(sa.Column("quality", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("data_docs", sa.String(2000), nullable=True))
    op.create_table(
        "dataset_quality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(400), nullable=False),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("native_id", sa.String(1000), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        _ts("measured_at", nullable=False),
        sa.Column("mqa_total", sa.Integer(), nullable=True),
        sa.Column("mqa_band", sa.String(16), nullable=True),
        *[sa.Column(f"mqa_{d}", sa.Integer(), nullable=True)
          for d in ("findability", "accessibility", "interoperability", "reusability", "contextuality")],
        sa.Column("mqa_indicators", sa.JSON(), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("shacl_conforms", sa.Boolean(), nullable=True),
        sa.Column("shacl_violations", sa.Integer(), nullable=True),
        sa.Column("shacl_warnings", sa.Integer(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_quality"),
        sa.UniqueConstraint("run_id", "source_id", "native_id", name="uq_dataset_quality_run_id_source_id_native_id"),
    )
    op.create_index("ix_dataset_quality_source_id_native_id", "dataset_quality", ["source_id", "native_id"])
    op.create_table(
        "shacl_results",
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("shapes_version", sa.String(64), nullable=False),
        sa.Column("conforms", sa.Boolean(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("by_shape", sa.JSON(), nullable=True),
        sa.Column("messages", sa.JSON(), nullable=True),
        _ts("validated_at", nullable=False),
        sa.PrimaryKeyConstraint("content_hash", "shapes_version", name="pk_shacl_results"),
    )
    op.create_table(
        "link_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("method", sa.String(8), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        _ts("checked_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_link_checks"),
        sa.UniqueConstraint("url", name="uq_link_checks_url"),
    )


def downgrade() -> None:
    op.drop_table("link_checks")
    op.drop_table("shacl_results")
    op.drop_index("ix_dataset_quality_source_id_native_id", table_name="dataset_quality")
    op.drop_table("dataset_quality")
    with op.batch_alter_table("harvest_runs") as batch:
        batch.drop_column("data_docs")
        batch.drop_column("quality")
