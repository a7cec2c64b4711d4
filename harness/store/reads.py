"""Row reads: one trial in detail, its artifacts, and the class metrics, metrics, test
sets and test predictions of many trials at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from .artifact_codec import artifact_value, decode_npz
from .engine import Database
from .errors import StoreError
from .files import SavedModels
from .schema import ArtifactRow, ClassMetricRow, MetricRow, TrialRow
from .values import aware


def trial_dict(row: TrialRow, spec: bool = False) -> dict[str, Any]:
    out = {
        "id": row.id,
        "spec_hash": row.spec_hash,
        "attempt": row.attempt,
        "config_hash": row.config_hash,
        "run_id": row.run_id,
        "model": row.model,
        "family": row.family,
        "recipe": row.recipe,
        "scene": row.scene,
        "source": row.source,
        "protocol": row.protocol,
        "pca_fit": row.pca_fit,
        "seed": row.seed,
        "study": row.study,
        "status": row.status,
        "error": row.error,
        "started_at": aware(row.started_at),
        "finished_at": aware(row.finished_at),
        "fit_seconds": row.fit_seconds,
        "inference_seconds": row.inference_seconds,
        "n_parameters": row.n_parameters,
        "device": row.device,
    }
    if spec:
        out["spec"] = row.spec
        out["traceback"] = row.traceback
        out["info"] = row.info
    return out


class Reads:
    """Reads rows of a :class:`~harness.store.engine.Database`; a trial's saved-model
    files are listed by ``files``."""

    def __init__(self, db: Database, files: SavedModels) -> None:
        self.db = db
        self.files = files

    def specs(self, trial_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """{trial id: spec (a dict, as :meth:`trial` gives it)} of these trials, in one
        query (unknown ids are left out)."""
        ids = sorted({int(i) for i in trial_ids})
        if not ids:
            return {}
        with self.db.session() as session:
            query = select(TrialRow.id, TrialRow.spec).where(TrialRow.id.in_(ids))
            return {row.id: row.spec for row in session.execute(query)}

    def trial(self, trial_id: int) -> dict[str, Any]:
        """One trial in detail: its columns, spec (dict), info, traceback, metrics
        {split: {name: value}}, per_class rows and the names of its artifacts.

        ``TrialSpec.from_json(json.dumps(d["spec"]))`` rebuilds the spec.
        """
        with self.db.session() as session:
            row = session.get(TrialRow, trial_id)
            if row is None:
                raise StoreError(f"No trial with id {trial_id} in {self.db.location}.")
            out = trial_dict(row, spec=True)
            metrics: dict[str, dict[str, float | None]] = {}
            for m in session.scalars(
                select(MetricRow).where(MetricRow.trial_id == trial_id).order_by(MetricRow.id)
            ):
                metrics.setdefault(m.split, {})[m.name] = m.value
            out["metrics"] = metrics
            out["per_class"] = [
                {
                    "label": c.label,
                    "name": c.name,
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "ap": c.ap,
                    "support": c.support,
                }
                for c in session.scalars(
                    select(ClassMetricRow)
                    .where(ClassMetricRow.trial_id == trial_id)
                    .order_by(ClassMetricRow.label)
                )
            ]
            out["artifacts"] = list(
                session.scalars(
                    select(ArtifactRow.name)
                    .where(ArtifactRow.trial_id == trial_id)
                    .order_by(ArtifactRow.name)
                )
            )
        out["model_files"] = self.files.model_files(trial_id)
        return out

    def artifact(self, trial_id: int, name: str) -> Any:
        """One artifact's arrays, shaped as :class:`TrialResult` holds them.

        "confusion", "class_map", "entropy_map", "split_counts": the array;
        "pr_curves": {label: (precision, recall)}; "embedding_2d":
        {"embedding_2d": (n, 2), "embedding_labels": (n,) or None}; "curves":
        {name: array}.

        Raises:
            StoreError: no such trial or no such artifact (the message lists those it has).
        """
        with self.db.session() as session:
            data = session.scalar(
                select(ArtifactRow.data).where(
                    ArtifactRow.trial_id == trial_id, ArtifactRow.name == name
                )
            )
            if data is None:
                names = list(
                    session.scalars(
                        select(ArtifactRow.name).where(ArtifactRow.trial_id == trial_id)
                    )
                )
                if session.get(TrialRow, trial_id) is None:
                    raise StoreError(f"No trial with id {trial_id} in {self.db.location}.")
                raise StoreError(
                    f"Trial {trial_id} has no artifact {name!r}; it has: "
                    f"{', '.join(sorted(names)) or 'none'}."
                )
        return artifact_value(name, decode_npz(data))

    def class_metrics(self, trial_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The test class metrics of trials: one dict per (trial, class) with trial_id,
        label (1-based), name, precision, recall, f1, ap and support (the per-class
        table's input, :func:`harness.analysis.significance.class_table`)."""
        ids = sorted({int(t) for t in trial_ids})
        out: list[dict[str, Any]] = []
        names = ("trial_id", "label", "name", "precision", "recall", "f1", "ap", "support")
        columns = [getattr(ClassMetricRow, n) for n in names]
        with self.db.session() as session:
            for start in range(0, len(ids), 500):
                query = select(*columns).where(
                    ClassMetricRow.trial_id.in_(ids[start : start + 500])
                )
                out += [dict(zip(names, row, strict=True)) for row in session.execute(query)]
        out.sort(key=lambda c: (c["trial_id"], c["label"]))
        return out

    def trial_metrics(
        self, trial_ids: Iterable[int], names: Sequence[str], split: str = "test"
    ) -> dict[int, dict[str, float | None]]:
        """{trial id: {name: value}} of some metrics of some trials (a metric a trial
        does not have is left out of its dict)."""
        ids = sorted({int(t) for t in trial_ids})
        out: dict[int, dict[str, float | None]] = {t: {} for t in ids}
        with self.db.session() as session:
            for start in range(0, len(ids), 500):
                query = select(MetricRow.trial_id, MetricRow.name, MetricRow.value).where(
                    MetricRow.trial_id.in_(ids[start : start + 500]),
                    MetricRow.split == split,
                    MetricRow.name.in_(list(names)),
                )
                for trial_id, name, value in session.execute(query):
                    out[trial_id][name] = value
        return out

    def test_sets(self, trial_ids: Iterable[int]) -> dict[int, tuple[int, str | None]]:
        """{trial id: (seed, test-set sha256)} of trials; the hash is None for trials
        stored before it was recorded. Two trials with the same hash were tested on
        the same pixels (McNemar's test pairs them: :mod:`harness.analysis.significance`)."""
        ids = sorted({int(t) for t in trial_ids})
        out = {}
        with self.db.session() as session:
            for start in range(0, len(ids), 500):
                query = select(TrialRow.id, TrialRow.seed, TrialRow.info).where(
                    TrialRow.id.in_(ids[start : start + 500])
                )
                for trial_id, seed, info in session.execute(query):
                    sha = (info or {}).get("test_set_sha256")
                    out[trial_id] = (int(seed), None if sha is None else str(sha))
        return out

    def test_predictions(self, trial_ids: Iterable[int]) -> dict[int, dict[str, Any] | None]:
        """Trials' test sets pixel by pixel: {trial id: {"index", "truth", "pred"}} (flat
        indices into the trial's scene and 1-based labels), None for a trial stored
        without them. One query per 500 trials."""
        ids = sorted({int(t) for t in trial_ids})
        out: dict[int, dict[str, Any] | None] = dict.fromkeys(ids)
        with self.db.session() as session:
            for start in range(0, len(ids), 500):
                query = select(ArtifactRow.trial_id, ArtifactRow.data).where(
                    ArtifactRow.trial_id.in_(ids[start : start + 500]),
                    ArtifactRow.name == "test_predictions",
                )
                for trial_id, data in session.execute(query):
                    out[trial_id] = decode_npz(data)
        return out
