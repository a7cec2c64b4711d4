"""Writing trials: attempts (pending, running, interrupted) and the one-transaction
write of a result with its metrics, class rows, artifacts and saved-model files."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..result import TrialResult
from ..spec import TrialSpec, config_hash
from .artifact_codec import artifact_arrays, encode_npz
from .artifact_store import ArtifactError, ArtifactStore, StagedFile
from .engine import Database
from .errors import ArtifactWarning, StoreError
from .schema import OPEN_STATUSES, ArtifactRow, ClassMetricRow, MetricRow, ModelFileRow, TrialRow
from .values import finite, jsonable, now

#: Statuses a :class:`TrialResult` can carry.
RESULT_STATUSES = ("completed", "failed", "pruned", "interrupted")


@dataclass(frozen=True)
class Stored:
    """What :meth:`ResultStore.write` stored for one result: its trial row.

    Attributes:
        trial_id: the trial row's id.
        spec_hash: the trial's identity.
        attempt: the row's attempt number (1 for the first run of the spec).
        status: the row's status: the result's, or "completed" when the spec was
            already completed and nothing was written.
        error: the error stored with a failed (or interrupted) result, else None.
    """

    trial_id: int
    spec_hash: str
    attempt: int
    status: str
    error: str | None = None


def interrupt(session: Session, run_id: int | None) -> int:
    query = select(TrialRow).where(TrialRow.status.in_(("pending", "running")))
    if run_id is not None:
        query = query.where(TrialRow.run_id == run_id)
    rows = session.scalars(query).all()
    for row in rows:
        row.status = "interrupted"
        row.finished_at = now()
    return len(rows)


class Writer:
    """Writes trials into a :class:`~harness.store.engine.Database`; saved-model files go
    to ``artifacts`` (staged before the transaction, published after its commit)."""

    def __init__(self, db: Database, artifacts: ArtifactStore | None) -> None:
        self.db = db
        self.artifacts = artifacts

    def mark_pending(
        self, spec: TrialSpec, run_id: int | None = None, *, fresh: bool = False
    ) -> int:
        """Record a planned trial (status "pending"); returns the trial id."""
        return self._open_attempt(spec, run_id, "pending", fresh)

    def mark_running(
        self, spec: TrialSpec, run_id: int | None = None, *, fresh: bool = False
    ) -> int:
        """Record that a trial started; returns the trial id that :meth:`write` will fill.

        A pending, running or interrupted attempt of the same spec is reused (a
        resume); after a failed or pruned attempt a new attempt is opened.

        Args:
            spec: the trial.
            run_id: the run it belongs to.
            fresh: open a new attempt even when the spec already completed (an
                open attempt left behind becomes "interrupted").

        Raises:
            StoreError: the spec already has a completed attempt and ``fresh`` is
                False (the runner skips :meth:`completed_hashes`).
        """
        return self._open_attempt(spec, run_id, "running", fresh)

    def mark_interrupted(self, run_id: int | None = None) -> int:
        """Mark pending/running trials (of ``run_id``, or all) "interrupted"; returns the count."""
        with self.db.session(write=True) as session:
            return interrupt(session, run_id=run_id)

    def _attempts(self, session: Session, spec_hash: str) -> list[TrialRow]:
        """Every attempt of ``spec_hash``, latest first."""
        query = (
            select(TrialRow)
            .where(TrialRow.spec_hash == spec_hash)
            .order_by(TrialRow.attempt.desc())
        )
        return list(session.scalars(query))

    def _new_attempt(self, spec: TrialSpec, spec_hash: str, attempts: list[TrialRow]) -> TrialRow:
        return TrialRow(
            spec_hash=spec_hash,
            attempt=attempts[0].attempt + 1 if attempts else 1,
            config_hash=config_hash(spec),
            spec=json.loads(spec.to_json()),
            model=spec.model,
            family=spec.family or spec.model,  # make_spec fills it from the registry
            recipe=spec.recipe,
            pca_fit=spec.pca_fit,
            scene=spec.scene,
            source=spec.source,
            protocol=spec.protocol,
            seed=spec.seed,
            study=spec.study,
        )

    def _open_attempt(self, spec: TrialSpec, run_id: int | None, status: str, fresh: bool) -> int:
        spec_hash = spec.spec_hash
        with self.db.session(write=True) as session:
            attempts = self._attempts(session, spec_hash)
            latest = attempts[0] if attempts else None
            done = next((a for a in attempts if a.status == "completed"), None)
            if done is not None and not fresh:
                raise StoreError(
                    f"Trial {spec_hash[:12]} ({spec.model}, {spec.scene}, seed {spec.seed}) "
                    f"already completed (trial id {done.id}). Skip completed_hashes(), "
                    "or pass fresh=True to run it again as a new attempt."
                )
            if latest is not None and latest.status in OPEN_STATUSES and not fresh:
                row = latest  # resume the open attempt
            else:
                if latest is not None and latest.status in OPEN_STATUSES:
                    latest.status = "interrupted"  # superseded by the fresh attempt
                row = self._new_attempt(spec, spec_hash, attempts)
                session.add(row)
            row.status = status
            row.study = spec.study
            if run_id is not None:
                row.run_id = run_id
            if status == "running":
                row.started_at = now()
                row.finished_at = None
            session.flush()
            return row.id

    def write(self, result: TrialResult, run_id: int | None = None) -> Stored:
        """Store one trial result in one transaction; returns what it stored.

        * An open (pending/running/interrupted) latest attempt of the spec is filled.
        * A completed result for a spec that already has a completed attempt (and
          no open one) stores nothing: the existing completed trial comes back.
        * A failed result stores the error and traceback only.
        * Otherwise a new attempt is added.

        Args:
            result: the trial's result.
            run_id: the run the trial belongs to (None: the row keeps its own).

        Returns:
            The trial row as stored (its id, attempt, status and error), so that a
            caller needs no read to learn it.

        Raises:
            StoreError: a database error (nothing of the trial is stored).
        """
        if result.status not in RESULT_STATUSES:
            raise StoreError(
                f"TrialResult.status={result.status!r} cannot be stored; it must be one of "
                f"{list(RESULT_STATUSES)}."
            )
        staged = self._stage(result)
        used = False
        try:
            stored, used = self._write(result, run_id, staged)
        finally:
            if self.artifacts is not None and staged:
                if used:
                    self.artifacts.publish(staged)  # committed: the files go in place
                else:
                    self.artifacts.discard(staged)
        return stored

    def _stage(self, result: TrialResult) -> list[StagedFile]:
        """Stage a completed result's model files. A folder that cannot be written
        does not cost the trial: it is stored without them, the reason in its
        ``info["model_not_saved"]``, and a warning says so."""
        if result.status != "completed" or not result.model_files or self.artifacts is None:
            return []
        try:
            return self.artifacts.stage(result.model_files)
        except ArtifactError as exc:
            warnings.warn(str(exc), ArtifactWarning, stacklevel=3)
            result.info = {**(result.info or {}), "model_not_saved": str(exc)}
            return []

    def _write(
        self, result: TrialResult, run_id: int | None, staged: list[StagedFile]
    ) -> tuple[Stored, bool]:
        """The transaction of :meth:`write`; returns what was stored and whether the
        staged model files were committed with it."""
        spec_hash = result.spec_hash
        with self.db.session(write=True) as session:
            attempts = self._attempts(session, spec_hash)
            latest = attempts[0] if attempts else None
            row = latest if latest is not None and latest.status in OPEN_STATUSES else None
            if row is None and result.status == "completed":
                done = next((a for a in attempts if a.status == "completed"), None)
                if done is not None:
                    return Stored(done.id, spec_hash, done.attempt, done.status, done.error), False
            if row is None:
                row = self._new_attempt(result.spec, spec_hash, attempts)
                session.add(row)
            row.status = result.status
            row.study = result.spec.study
            row.finished_at = now()
            row.error = result.error
            row.traceback = result.traceback
            if run_id is not None:
                row.run_id = run_id
            session.flush()  # the trial row exists from here on: all or nothing below
            if result.status != "failed":
                self._add_details(session, row, result)
            for f in staged:
                session.add(
                    ModelFileRow(
                        trial_id=row.id,
                        kind=f.kind,
                        format=f.format,
                        path=f.path,
                        size=f.size,
                        sha256=f.sha256,
                    )
                )
            return Stored(row.id, spec_hash, row.attempt, row.status, row.error), bool(staged)

    def _add_details(self, session: Session, row: TrialRow, result: TrialResult) -> None:
        info = jsonable(result.info or {})
        row.info = info or None
        row.fit_seconds = finite(info.get("fit_seconds"))
        row.inference_seconds = finite(info.get("inference_seconds"))
        n_params = info.get("n_parameters")
        row.n_parameters = int(n_params) if n_params is not None else None
        row.device = None if info.get("device") is None else str(info["device"])
        for split, values in (result.metrics or {}).items():
            for name, value in values.items():
                session.add(
                    MetricRow(
                        trial_id=row.id, split=str(split), name=str(name), value=finite(value)
                    )
                )
        for cls in result.per_class or []:
            support = cls.get("support")
            session.add(
                ClassMetricRow(
                    trial_id=row.id,
                    label=int(cls["label"]),
                    name=str(cls.get("name", "")),
                    precision=finite(cls.get("precision")),
                    recall=finite(cls.get("recall")),
                    f1=finite(cls.get("f1")),
                    ap=finite(cls.get("ap")),
                    support=None if support is None else int(support),
                )
            )
        for name, arrays in artifact_arrays(result).items():
            session.add(
                ArtifactRow(trial_id=row.id, name=name, format="npz", data=encode_npz(arrays))
            )
