"""Hyperparameter searches: one row per study, its settings, best trial and trials."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from ..search import study_params
from ..spec import TrialSpec
from .engine import Database
from .errors import StoreError
from .schema import STUDY_STATUSES, MetricRow, StudyRow, TrialRow
from .values import aware, finite, jsonable, now


def _study_dict(row: StudyRow, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "run_id": row.run_id,
        "model": row.model,
        "scene": row.scene,
        "source": row.source,
        "metric": row.metric,
        "mode": row.mode,
        "n_trials": row.n_trials,
        "seed": row.seed,
        "sampler": row.sampler,
        "scheduler": row.scheduler,
        "search_space": row.search_space,
        "base_spec": row.base_spec,
        "status": row.status,
        "best_trial_id": row.best_trial_id,
        "best_value": row.best_value,
        "best_params": row.best_params,
        "created_at": aware(row.created_at),
        "finished_at": aware(row.finished_at),
        "counts": counts,
    }


class Studies:
    """The studies of a :class:`~harness.store.engine.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        """Record a search (or take up the one of the same name again); returns its id.

        A study that exists keeps its trials; its settings must match (a different
        search space or sampler under the same name is refused), ``n_trials`` and
        ``run_id`` are updated and its status goes back to "running".

        Raises:
            StoreError: the name exists with other settings.
        """
        if mode not in ("max", "min"):
            raise StoreError(f"start_study(mode={mode!r}): mode must be 'max' or 'min'.")
        settings = {
            "model": base_spec.model,
            "scene": base_spec.scene,
            "source": base_spec.source,
            "metric": metric,
            "mode": mode,
            "seed": int(seed),
            "sampler": jsonable(sampler),
            "scheduler": jsonable(scheduler),
            "search_space": jsonable(search_space),
            "base_spec": json.loads(base_spec.to_json()),
        }
        with self.db.session(write=True) as session:
            row = session.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                row = StudyRow(name=name, created_at=now(), **settings)
                session.add(row)
            else:
                differ = [k for k, v in settings.items() if getattr(row, k) != v]
                if differ:
                    raise StoreError(
                        f"Study {name!r} already exists in {self.db.location} with other "
                        f"settings ({', '.join(differ)}). Fix: choose another study name "
                        "(--study NAME), or repeat the original command to continue it."
                    )
            row.n_trials = int(n_trials)
            row.run_id = run_id
            row.status = "running"
            row.finished_at = None
            session.flush()
            return row.id

    def finish_study(
        self,
        name: str,
        status: str,
        *,
        best_trial_id: int | None = None,
        best_value: float | None = None,
        best_params: dict[str, Any] | None = None,
    ) -> None:
        """Record the end of a search and its best trial."""
        if status not in STUDY_STATUSES or status == "running":
            allowed = [s for s in STUDY_STATUSES if s != "running"]
            raise StoreError(f"finish_study(status={status!r}): status must be one of {allowed}.")
        with self.db.session(write=True) as session:
            row = session.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                raise StoreError(f"No study {name!r} in {self.db.location}.")
            row.status = status
            row.finished_at = now()
            if best_trial_id is not None:
                row.best_trial_id = best_trial_id
                row.best_value = finite(best_value)
                row.best_params = jsonable(best_params)

    def studies(self) -> list[dict[str, Any]]:
        """Every study, oldest first: its settings, best trial and trial counts by status."""
        with self.db.session() as session:
            counts: dict[str, dict[str, int]] = defaultdict(dict)
            for study, status, n in session.execute(
                select(TrialRow.study, TrialRow.status, func.count())
                .where(TrialRow.study != "")
                .group_by(TrialRow.study, TrialRow.status)
            ):
                counts[study][status] = n
            rows = session.scalars(select(StudyRow).order_by(StudyRow.id))
            return [_study_dict(r, counts.get(r.name, {})) for r in rows]

    def study(self, name: str) -> dict[str, Any]:
        """One study (as in :meth:`studies`).

        Raises:
            StoreError: no such study (the message lists those there are).
        """
        for study in self.studies():
            if study["name"] == name:
                return study
        names = [s["name"] for s in self.studies()]
        raise StoreError(
            f"No study {name!r} in {self.db.location}; studies: {', '.join(names) or 'none'}."
        )

    def study_trials(self, name: str) -> list[dict[str, Any]]:
        """The trials of a study in the order they started.

        Each: id, number (0-based), spec_hash, status, params (the searched values,
        read back from the spec through the study's search space), value (the
        trial's validation OA; for a pruned trial the best one before it was
        stopped; None without one), epochs_run, fit_seconds, error.
        """
        with self.db.session() as session:
            study = session.scalar(select(StudyRow).where(StudyRow.name == name))
            space = study.search_space if study is not None else {}
            rows = list(
                session.scalars(
                    select(TrialRow)
                    .where(TrialRow.study == name)
                    .order_by(TrialRow.started_at, TrialRow.id)
                )
            )
            values = dict(
                session.execute(
                    select(MetricRow.trial_id, MetricRow.value).where(
                        MetricRow.trial_id.in_([r.id for r in rows]),
                        MetricRow.split == "val",
                        MetricRow.name == "oa",
                    )
                ).all()
            )
            return [
                {
                    "id": r.id,
                    "number": i,
                    "spec_hash": r.spec_hash,
                    "status": r.status,
                    "params": study_params(r.spec, space),
                    "value": values.get(r.id),
                    "epochs_run": (r.info or {}).get("epochs_run"),
                    "fit_seconds": r.fit_seconds,
                    "error": r.error,
                }
                for i, r in enumerate(rows)
            ]
