"""The results store's face: :class:`ResultStore`, one object over the modules that each
do one job (engine, schema gate, writer, runs, studies, queries, reads, saved models)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL
from sqlalchemy.orm import Session

from ..result import TrialResult
from ..spec import TrialSpec
from .artifact_store import ArtifactStore, default_root
from .engine import Database
from .files import SavedModels
from .migrate import open_schema
from .queries import LEADERBOARD_METRICS, Queries
from .reads import Reads
from .runs import Runs
from .studies import Studies
from .writer import Stored, Writer


class ResultStore:
    """The results database.

    Args:
        url_or_path: a SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``) or a
            file path (made absolute, opened as SQLite).
        readonly: open for reading only (the report, the dashboard): a missing
            database is an error instead of being created, SQLite opens the file
            read-only, nothing is ever written.
        busy_timeout_s: how long a SQLite connection waits for another writer's lock.
        artifacts: the artifact folder of saved models; default ``NAME.artifacts``
            beside a SQLite file ``NAME.db``, none for a server database (no model
            files are kept there without it). Readers also find the folder each run
            recorded.

    Raises:
        StoreError: before anything else happens, when the database cannot be used:
            a path in a missing folder, a read-only file or folder, a file that is
            not a SQLite database, a database of another application, a schema
            newer than this code, a server that cannot be reached.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | URL,
        *,
        readonly: bool = False,
        busy_timeout_s: float = 30.0,
        artifacts: str | os.PathLike[str] | None = None,
    ) -> None:
        db = Database(url_or_path, readonly=readonly, busy_timeout_s=busy_timeout_s)
        self.db = db
        self.readonly, self.busy_timeout_s = readonly, busy_timeout_s
        self.url, self.path, self.location, self.engine = db.url, db.path, db.location, db.engine
        root = Path(artifacts) if artifacts is not None else default_root(self.path)
        #: Where saved-model files are kept (None: nowhere).
        self.artifacts: ArtifactStore | None = ArtifactStore(root) if root is not None else None
        try:
            open_schema(db)
        except BaseException:
            db.engine.dispose()
            raise
        self._files = SavedModels(db, self.artifacts, explicit=artifacts is not None)
        self._writer = Writer(db, self.artifacts)
        self._runs = Runs(db, self.artifacts)
        self._studies = Studies(db)
        self._queries = Queries(db)
        self._reads = Reads(db, self._files)

    @property
    def is_sqlite(self) -> bool:
        return self.db.is_sqlite

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits on success, rolls back on any error:
        :meth:`~harness.store.engine.Database.session`."""
        with self.db.session(write=write) as session:
            yield session

    def close(self) -> None:
        """Release the connections."""
        self.db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({self.location!r}{', readonly=True' if self.readonly else ''})"

    # ------------------------------------------------------------------ runs

    def start_run(self, command: str, suite: str, provenance: dict[str, Any] | None = None) -> int:
        """Record the start of a run: :meth:`~harness.store.runs.Runs.start_run`."""
        return self._runs.start_run(command, suite, provenance)

    def finish_run(self, run_id: int, status: str = "completed") -> int:
        """Record the end of a run: :meth:`~harness.store.runs.Runs.finish_run`."""
        return self._runs.finish_run(run_id, status)

    def close_dead_runs(self, host: str | None = None) -> list[int]:
        """Mark "interrupted" the runs still "running" on ``host`` (default: this host)
        whose driver process is gone (a killed driver never closes its run):
        :meth:`~harness.store.runs.Runs.close_dead_runs`."""
        return self._runs.close_dead_runs(host)

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its provenance:
        :meth:`~harness.store.runs.Runs.runs`."""
        return self._runs.runs()

    # ------------------------------------------------------------------ trial status and writing

    def mark_pending(
        self, spec: TrialSpec, run_id: int | None = None, *, fresh: bool = False
    ) -> int:
        """Record a planned trial (status "pending"):
        :meth:`~harness.store.writer.Writer.mark_pending`."""
        return self._writer.mark_pending(spec, run_id, fresh=fresh)

    def mark_running(
        self, spec: TrialSpec, run_id: int | None = None, *, fresh: bool = False
    ) -> int:
        """Record that a trial started:
        :meth:`~harness.store.writer.Writer.mark_running`."""
        return self._writer.mark_running(spec, run_id, fresh=fresh)

    def mark_interrupted(self, run_id: int | None = None) -> int:
        """Mark pending/running trials (of ``run_id``, or all) "interrupted":
        :meth:`~harness.store.writer.Writer.mark_interrupted`."""
        return self._writer.mark_interrupted(run_id)

    def write(self, result: TrialResult, run_id: int | None = None) -> Stored:
        """Store one trial result in one transaction:
        :meth:`~harness.store.writer.Writer.write`."""
        return self._writer.write(result, run_id)

    # ------------------------------------------------------------------ aggregate queries

    def completed_hashes(self) -> set[str]:
        """Spec hashes with at least one completed attempt (the runner skips them):
        :meth:`~harness.store.queries.Queries.completed_hashes`."""
        return self._queries.completed_hashes()

    def completed_metric(
        self, spec_hash: str, name: str = "oa", split: str = "val"
    ) -> tuple[int, float | None] | None:
        """(trial id, metric value) of the latest completed attempt of a spec, or None
        when the spec has not completed (a search reuses a configuration it has seen):
        :meth:`~harness.store.queries.Queries.completed_metric`."""
        return self._queries.completed_metric(spec_hash, name, split)

    def seed_values(
        self,
        scene: str | None = None,
        protocol: str | None = None,
        recipe: str | None = None,
        source: str | None = None,
        metrics: Sequence[str] = LEADERBOARD_METRICS,
        *,
        pca_fit: str | None = None,
        split: str = "test",
        study: str | None = "",
        run_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """The values of every seed, per group and model configuration:
        :meth:`~harness.store.queries.Queries.seed_values`."""
        return self._queries.seed_values(
            scene,
            protocol,
            recipe,
            source,
            metrics,
            pca_fit=pca_fit,
            split=split,
            study=study,
            run_id=run_id,
        )

    def labelled_seed_values(
        self,
        scene: str,
        protocol: str,
        recipe: str,
        source: str,
        metric: str = "oa",
        *,
        pca_fit: str | None = None,
        split: str = "test",
        study: str | None = "",
        run_id: int | None = None,
    ) -> dict[str, dict[int, list[float]]]:
        """{label: {seed: [values]}} of one group:
        :meth:`~harness.store.queries.Queries.labelled_seed_values`."""
        return self._queries.labelled_seed_values(
            scene,
            protocol,
            recipe,
            source,
            metric,
            pca_fit=pca_fit,
            split=split,
            study=study,
            run_id=run_id,
        )

    def best_trial(
        self,
        model: str,
        scene: str,
        *,
        protocol: str | None = None,
        recipe: str | None = None,
        source: str | None = None,
        with_model: bool = True,
    ) -> dict[str, Any] | None:
        """The completed trial of ``model`` on ``scene`` with the best validation OA
        (ties: the newest), among those with a saved model when ``with_model``:
        :meth:`~harness.store.queries.Queries.best_trial`."""
        return self._queries.best_trial(
            model, scene, protocol=protocol, recipe=recipe, source=source, with_model=with_model
        )

    def trials(self, status: str | None = None, study: str | None = None) -> list[dict[str, Any]]:
        """Every trial attempt (optionally of one status / study), oldest first, without
        spec: :meth:`~harness.store.queries.Queries.trials`."""
        return self._queries.trials(status, study)

    def completed_timings(self) -> list[tuple[Any, float, float | None, Any, Any]]:
        """Timings of the completed trials (:meth:`Queries.completed_timings`)."""
        return self._queries.completed_timings()

    # ------------------------------------------------------------------ row reads

    def specs(self, trial_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """{trial id: spec (a dict, as :meth:`trial` gives it)} of these trials, in one
        query (unknown ids are left out): :meth:`~harness.store.reads.Reads.specs`."""
        return self._reads.specs(trial_ids)

    def trial(self, trial_id: int) -> dict[str, Any]:
        """One trial in detail: its columns, spec (dict), info, traceback, metrics
        {split: {name: value}}, per_class rows and the names of its artifacts:
        :meth:`~harness.store.reads.Reads.trial`."""
        return self._reads.trial(trial_id)

    def artifact(self, trial_id: int, name: str) -> Any:
        """One artifact's arrays, shaped as :class:`TrialResult` holds them:
        :meth:`~harness.store.reads.Reads.artifact`."""
        return self._reads.artifact(trial_id, name)

    def class_metrics(self, trial_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The test class metrics of trials: one dict per (trial, class) with trial_id,
        label (1-based), name, precision, recall, f1, ap and support (the per-class
        table's input, :func:`harness.analysis.significance.class_table`):
        :meth:`~harness.store.reads.Reads.class_metrics`."""
        return self._reads.class_metrics(trial_ids)

    def trial_metrics(
        self, trial_ids: Iterable[int], names: Sequence[str], split: str = "test"
    ) -> dict[int, dict[str, float | None]]:
        """{trial id: {name: value}} of some metrics of some trials (a metric a trial
        does not have is left out of its dict):
        :meth:`~harness.store.reads.Reads.trial_metrics`."""
        return self._reads.trial_metrics(trial_ids, names, split)

    def test_sets(self, trial_ids: Iterable[int]) -> dict[int, tuple[int, str | None]]:
        """{trial id: (seed, test-set sha256)} of trials:
        :meth:`~harness.store.reads.Reads.test_sets`."""
        return self._reads.test_sets(trial_ids)

    def test_predictions(self, trial_ids: Iterable[int]) -> dict[int, dict[str, Any] | None]:
        """Trials' test sets pixel by pixel: {trial id: {"index", "truth", "pred"}}
        (flat indices into the trial's scene and 1-based labels), None for a trial
        stored without them: :meth:`~harness.store.reads.Reads.test_predictions`."""
        return self._reads.test_predictions(trial_ids)

    # ------------------------------------------------------------------ saved models

    def artifact_store(self, run_id: int | None = None) -> ArtifactStore | None:
        """The artifact folder holding a run's saved models: the one this store was
        opened with (``artifacts=``), else ``NAME.artifacts`` beside a SQLite file when
        it exists, else the folder the run recorded when it exists, else the default:
        :meth:`~harness.store.files.SavedModels.artifact_store`."""
        return self._files.artifact_store(run_id)

    def model_files(self, trial_id: int) -> list[dict[str, Any]]:
        """The files of a trial's saved model, in ``model``, ``preprocessing``,
        ``manifest`` order: kind, format, path (in the artifact folder), size, sha256,
        and ``file``, the absolute path in the folder this store finds
        (:meth:`artifact_store`: :meth:`~harness.store.files.SavedModels.model_files`."""
        return self._files.model_files(trial_id)

    def read_model_files(self, trial_id: int) -> dict[str, bytes]:
        """The bytes of a trial's saved model files, by kind, each checked against the
        sha256 its row records:
        :meth:`~harness.store.files.SavedModels.read_model_files`."""
        return self._files.read_model_files(trial_id, self.trial)

    def check_artifacts(self) -> dict[str, list[str]]:
        """Every saved-model file the database names, checked in its artifact folder:
        :meth:`~harness.store.files.SavedModels.check_artifacts`."""
        return self._files.check_artifacts()

    def recover_artifacts(self) -> tuple[list[str], list[str]]:
        """Settle the artifact folder after writers that were killed: their staged files
        that a row names are published, the others deleted
        (:meth:`harness.store.artifact_store.ArtifactStore.recover`):
        :meth:`~harness.store.files.SavedModels.recover_artifacts`."""
        return self._files.recover_artifacts()

    # ------------------------------------------------------------------ studies

    def start_study(
        self,
        name: str,
        *,
        run_id: int | None,
        base_spec: TrialSpec,
        metric: str,
        mode: str,
        n_trials: int,
        seed: int,
        sampler: dict[str, Any],
        scheduler: dict[str, Any],
        search_space: dict[str, Any],
    ) -> int:
        """Record a search (or take up the one of the same name again):
        :meth:`~harness.store.studies.Studies.start_study`."""
        return self._studies.start_study(
            name,
            run_id=run_id,
            base_spec=base_spec,
            metric=metric,
            mode=mode,
            n_trials=n_trials,
            seed=seed,
            sampler=sampler,
            scheduler=scheduler,
            search_space=search_space,
        )

    def finish_study(
        self,
        name: str,
        status: str,
        *,
        best_trial_id: int | None = None,
        best_value: float | None = None,
        best_params: dict[str, Any] | None = None,
    ) -> None:
        """Record the end of a search and its best trial:
        :meth:`~harness.store.studies.Studies.finish_study`."""
        return self._studies.finish_study(
            name,
            status,
            best_trial_id=best_trial_id,
            best_value=best_value,
            best_params=best_params,
        )

    def studies(self) -> list[dict[str, Any]]:
        """Every study, oldest first: its settings, best trial and trial counts by
        status: :meth:`~harness.store.studies.Studies.studies`."""
        return self._studies.studies()

    def study(self, name: str) -> dict[str, Any]:
        """One study (as in :meth:`studies`):
        :meth:`~harness.store.studies.Studies.study`."""
        return self._studies.study(name)

    def study_trials(self, name: str) -> list[dict[str, Any]]:
        """The trials of a study in the order they started:
        :meth:`~harness.store.studies.Studies.study_trials`."""
        return self._studies.study_trials(name)
