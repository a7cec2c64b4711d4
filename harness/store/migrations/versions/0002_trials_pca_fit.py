"""trials.pca_fit: the PCA fit scope ("scene" or "train") joins the group key.

The leakage table compares the same model under pca_fit=scene and pca_fit=train;
with a column of its own it groups in SQL like scene, protocol, recipe and source,
instead of being read out of each trial's spec JSON. Existing rows take the value
from their stored spec.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("pca_fit", sa.String(length=16), nullable=True))
    trials = sa.table(
        "trials",
        sa.column("id", sa.Integer),
        sa.column("spec", sa.JSON),
        sa.column("pca_fit", sa.String),
    )
    bind = op.get_bind()
    scopes: dict[str, list[int]] = {}
    for trial_id, spec in bind.execute(sa.select(trials.c.id, trials.c.spec)):
        scope = (spec or {}).get("pca_fit") or "scene"
        scopes.setdefault(str(scope), []).append(trial_id)
    for scope, ids in scopes.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            bind.execute(trials.update().where(trials.c.id.in_(chunk)).values(pca_fit=scope))
    with op.batch_alter_table("trials") as batch:
        batch.alter_column("pca_fit", existing_type=sa.String(length=16), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("pca_fit")
