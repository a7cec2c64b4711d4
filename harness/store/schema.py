"""The results database schema (SQLAlchemy 2 declarative), and nothing else.

Tables (plural names), one row per:

- ``runs``: one invocation of the harness (command line, suite, provenance).
- ``trials``: one attempt at one trial spec. ``spec_hash`` is the trial's identity;
  ``attempt`` counts re-runs of the same spec (unique together). The spec's main
  fields are copied into columns so that the leaderboard can group in SQL.
- ``metrics``: one scalar metric of a trial on a split ("test" or "val").
- ``class_metrics``: one class's test precision/recall/F1/AP/support.
- ``artifacts``: one named array bundle of a trial (confusion, PR curves, maps...)
  stored as ``np.savez_compressed`` bytes.
- ``model_files``: one file of a trial's saved model (the model, its preprocessing,
  its manifest: :mod:`harness.saved_model`), kept in the artifact folder beside the
  database under its sha256 (:mod:`harness.store.artifact_store`); the row holds the path
  in that folder, the size and the sha256 (revision 0003).
- ``studies``: one hyperparameter search (its search space, sampler, scheduler,
  seed and best configuration); its trials carry its name in ``trials.study``.
- ``schema_info``: a single row holding :data:`SCHEMA_VERSION` (frozen at 1; it marks
  a database as the harness's).
- ``alembic_version``: Alembic's, the revision the database is at (not mapped here).

Children of a trial are deleted with it (``ON DELETE CASCADE``; SQLite enforces it
because the store turns ``foreign_keys`` on for every connection).

Schema changes: only through an Alembic revision in ``harness/store/migrations/versions/``
(one small, named file) plus the code that writes and reads the new field; the
revision's upgrade test runs it on a database written by the previous one.
``python -m harness.db upgrade`` applies the revisions to an existing database; a
new database is created from this module and stamped at the newest revision. The
integer :data:`SCHEMA_VERSION` was frozen when Alembic took over (as optuna froze
its own): Alembic's revision alone decides from then on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: The schema version of ``schema_info``, frozen at 1 when Alembic took over: every
#: harness database carries it; the Alembic revision tells the schema apart.
SCHEMA_VERSION = 1

#: Allowed values of ``trials.status``.
TRIAL_STATUSES = ("pending", "running", "completed", "failed", "pruned", "interrupted")
#: Statuses of a trial that has not produced a result (yet).
OPEN_STATUSES = ("pending", "running", "interrupted")
#: Allowed values of ``runs.status``.
RUN_STATUSES = ("running", "completed", "failed", "interrupted")
#: Allowed values of ``studies.status``.
STUDY_STATUSES = ("running", "completed", "failed", "interrupted")

_SHORT = 64
_NAME = 255


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base of the results schema."""


class SchemaInfoRow(Base):
    """The single row holding the schema version."""

    __tablename__ = "schema_info"
    __table_args__ = (CheckConstraint("id = 1", name="ck_schema_info_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    schema_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    """One invocation of the harness and where it ran."""

    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="ck_runs_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command: Mapped[str] = mapped_column(Text, nullable=False, default="")
    suite: Mapped[str] = mapped_column(String(_SHORT), nullable=False, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    git_commit: Mapped[str | None] = mapped_column(String(_SHORT))
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    #: {distribution name: version or None}.
    packages: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    host: Mapped[str | None] = mapped_column(String(_NAME))
    cpu: Mapped[str | None] = mapped_column(String(_NAME))
    gpu: Mapped[str | None] = mapped_column(String(_NAME))
    cuda_version: Mapped[str | None] = mapped_column(String(_SHORT))
    python_version: Mapped[str | None] = mapped_column(String(_SHORT))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    #: Provenance keys without a column of their own (platform, ...).
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    trials: Mapped[list[TrialRow]] = relationship(back_populates="run")


class TrialRow(Base):
    """One attempt at one trial spec, its status and its scalar facts."""

    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("spec_hash", "attempt", name="uq_trials_spec_hash_attempt"),
        Index("ix_trials_leaderboard", "scene", "protocol", "recipe", "source", "model", "status"),
        CheckConstraint(_in("status", TRIAL_STATUSES), name="ck_trials_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    spec_hash: Mapped[str] = mapped_column(String(_SHORT), nullable=False, index=True)
    #: 1 for the first attempt; a fresh re-run of the same spec gets the next number.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: Hash of the spec without its seed: trials that differ only by seed share it, so
    #: the leaderboard never averages two configurations of one model together.
    config_hash: Mapped[str] = mapped_column(String(_SHORT), nullable=False, index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    #: ``TrialSpec.to_json()`` parsed (all fields, ``study`` included).
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    model: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    #: The model's architecture family from the model registry (``claresnet`` for
    #: ``claresnet`` and ``claresnet_tiny``).
    family: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    recipe: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    scene: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    protocol: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    #: The PCA fit scope, "scene" or "train" (revision 0002; part of the group key).
    pca_fit: Mapped[str] = mapped_column(String(16), nullable=False)
    seed: Mapped[int] = mapped_column(Integer, nullable=False)
    study: Mapped[str] = mapped_column(String(_NAME), nullable=False, default="", index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    inference_seconds: Mapped[float | None] = mapped_column(Float)
    n_parameters: Mapped[int | None] = mapped_column(BigInteger)
    device: Mapped[str | None] = mapped_column(String(_NAME))
    #: ``TrialResult.info`` (JSON-able scalars; non-finite floats stored as null).
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    run: Mapped[RunRow | None] = relationship(back_populates="trials")
    metrics: Mapped[list[MetricRow]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )
    class_metrics: Mapped[list[ClassMetricRow]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )
    artifacts: Mapped[list[ArtifactRow]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )
    model_files: Mapped[list[ModelFileRow]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )


class MetricRow(Base):
    """One scalar metric of a trial on one split."""

    __tablename__ = "metrics"
    __table_args__ = (
        UniqueConstraint("trial_id", "split", "name", name="uq_metrics_trial_split_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=False
    )
    split: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    #: None when the metric does not apply (e.g. centroid distance of a tree model).
    value: Mapped[float | None] = mapped_column(Float)

    trial: Mapped[TrialRow] = relationship(back_populates="metrics")


class ClassMetricRow(Base):
    """One class's test metrics."""

    __tablename__ = "class_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "label", name="uq_class_metrics_trial_label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=False
    )
    #: 1-based class label.
    label: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(_NAME), nullable=False, default="")
    precision: Mapped[float | None] = mapped_column(Float)
    recall: Mapped[float | None] = mapped_column(Float)
    f1: Mapped[float | None] = mapped_column(Float)
    ap: Mapped[float | None] = mapped_column(Float)
    support: Mapped[int | None] = mapped_column(Integer)

    trial: Mapped[TrialRow] = relationship(back_populates="class_metrics")


class ArtifactRow(Base):
    """One named bundle of arrays of a trial, as compressed npz bytes."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("trial_id", "name", name="uq_artifacts_trial_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=False
    )
    #: "confusion", "pr_curves", "embedding_2d", "class_map", "entropy_map", "curves",
    #: "split_counts".
    name: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False, default="npz")
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)

    trial: Mapped[TrialRow] = relationship(back_populates="artifacts")


class ModelFileRow(Base):
    """One file of a trial's saved model, kept in the artifact folder (revision 0003).

    The file's name is its content's sha256, so trials that share a file (the same
    fitted preprocessing) share one copy on disk; several rows may name one path.
    """

    __tablename__ = "model_files"
    __table_args__ = (UniqueConstraint("trial_id", "kind", name="uq_model_files_trial_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=False
    )
    #: "model", "preprocessing" or "manifest".
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    #: "safetensors", "xgboost-ubj", "skops" or "json".
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Relative to the artifact folder: ``ab/abcdef....safetensors``.
    path: Mapped[str] = mapped_column(String(_NAME), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(_SHORT), nullable=False, index=True)

    trial: Mapped[TrialRow] = relationship(back_populates="model_files")


class StudyRow(Base):
    """One hyperparameter search: what was searched, how, and what won.

    Its trials are the ``trials`` rows whose ``study`` is this row's ``name``.
    """

    __tablename__ = "studies"
    __table_args__ = (CheckConstraint(_in("status", STUDY_STATUSES), name="ck_studies_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(_NAME), nullable=False, unique=True)
    #: The run that last worked on the study.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    model: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    scene: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    #: What the search maximises or minimises ("val_oa"), and "max" or "min".
    metric: Mapped[str] = mapped_column(String(_SHORT), nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False)
    #: Trials asked for (pruned and completed trials count).
    n_trials: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The sampler's seed.
    seed: Mapped[int] = mapped_column(Integer, nullable=False)
    #: {"name": "TPESampler", "seed": ..., ...}.
    sampler: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: The early-stopping scheduler ({"name": "ASHAScheduler", ...}) or {}.
    scheduler: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: {param: {"type": "int"|"float"|"categorical", "low", "high", "step", "log",
    #: "choices", "target": "hparams"|"training", "encoding"}}.
    search_space: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: The spec every search trial starts from (``TrialSpec.to_json()`` parsed).
    base_spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    best_trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id", ondelete="SET NULL"))
    best_value: Mapped[float | None] = mapped_column(Float)
    best_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
