"""Baseline: the schema as it stood when the harness adopted Alembic (schema version 1).

A database made before Alembic carries ``schema_info.schema_version = 1`` and no
``alembic_version`` table; upgrading it runs this revision, which creates only the
tables it lacks (``studies`` came after the first databases), so its data is kept.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_RUN_STATUSES = "status IN ('running', 'completed', 'failed', 'interrupted')"
_TRIAL_STATUSES = "status IN ('pending', 'running', 'completed', 'failed', 'pruned', 'interrupted')"


def _schema_info() -> None:
    op.create_table(
        "schema_info",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_schema_info_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("suite", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("packages", sa.JSON(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("cpu", sa.String(length=255), nullable=True),
        sa.Column("gpu", sa.String(length=255), nullable=True),
        sa.Column("cuda_version", sa.String(length=64), nullable=True),
        sa.Column("python_version", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.CheckConstraint(_RUN_STATUSES, name="ck_runs_status"),
        sa.PrimaryKeyConstraint("id"),
    )


def _trials() -> None:
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("recipe", sa.String(length=64), nullable=False),
        sa.Column("scene", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("study", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fit_seconds", sa.Float(), nullable=True),
        sa.Column("inference_seconds", sa.Float(), nullable=True),
        sa.Column("n_parameters", sa.BigInteger(), nullable=True),
        sa.Column("device", sa.String(length=255), nullable=True),
        sa.Column("info", sa.JSON(), nullable=True),
        sa.CheckConstraint(_TRIAL_STATUSES, name="ck_trials_status"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("spec_hash", "attempt", name="uq_trials_spec_hash_attempt"),
    )
    op.create_index("ix_trials_config_hash", "trials", ["config_hash"], unique=False)
    op.create_index(
        "ix_trials_leaderboard",
        "trials",
        ["scene", "protocol", "recipe", "source", "model", "status"],
        unique=False,
    )
    op.create_index("ix_trials_spec_hash", "trials", ["spec_hash"], unique=False)
    op.create_index("ix_trials_study", "trials", ["study"], unique=False)


def _artifacts() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trial_id", "name", name="uq_artifacts_trial_name"),
    )


def _class_metrics() -> None:
    op.create_table(
        "class_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.Column("recall", sa.Float(), nullable=True),
        sa.Column("f1", sa.Float(), nullable=True),
        sa.Column("ap", sa.Float(), nullable=True),
        sa.Column("support", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trial_id", "label", name="uq_class_metrics_trial_label"),
    )


def _metrics() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trial_id", "split", "name", name="uq_metrics_trial_split_name"),
    )


def _studies() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("scene", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("sampler", sa.JSON(), nullable=False),
        sa.Column("scheduler", sa.JSON(), nullable=False),
        sa.Column("search_space", sa.JSON(), nullable=False),
        sa.Column("base_spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("best_trial_id", sa.Integer(), nullable=True),
        sa.Column("best_value", sa.Float(), nullable=True),
        sa.Column("best_params", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_RUN_STATUSES, name="ck_studies_status"),
        sa.ForeignKeyConstraint(["best_trial_id"], ["trials.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


#: In creation order (a table after the tables it references).
_TABLES: dict[str, Callable[[], None]] = {
    "schema_info": _schema_info,
    "runs": _runs,
    "trials": _trials,
    "artifacts": _artifacts,
    "class_metrics": _class_metrics,
    "metrics": _metrics,
    "studies": _studies,
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in _TABLES.items():
        if name not in existing:
            create()
    info = sa.table(
        "schema_info",
        sa.column("id", sa.Integer),
        sa.column("schema_version", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(info)).scalar() == 0:
        op.execute(info.insert().values(id=1, schema_version=1, created_at=datetime.now(UTC)))


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_table(name)
