"""model_files: the files of each trial's saved model, kept in the artifact folder.

A completed trial keeps its fitted model, its preprocessing and a manifest as files
named by their sha256 in a folder beside the database (harness.store.artifact_store);
this table lists them: the trial, the kind, the format, the path in that folder,
the size and the sha256. Existing trials have no saved model: no row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trial_id", "kind", name="uq_model_files_trial_kind"),
    )
    op.create_index("ix_model_files_sha256", "model_files", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_model_files_sha256", table_name="model_files")
    op.drop_table("model_files")
