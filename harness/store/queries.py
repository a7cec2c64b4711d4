"""Aggregate queries: the leaderboard and per-seed values of each group, completed
specs, the best trial of a model, the trial list and the timings progress estimates from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.sql import Subquery

from .. import metric_table
from ..spec import GROUP_KEY, group_fields, group_of
from .engine import Database
from .errors import StoreError
from .reads import trial_dict
from .schema import MetricRow, ModelFileRow, TrialRow

#: The columns of the paper's Tables III/IV, in order: the leaderboard rows of the
#: metric table (:mod:`harness.metric_table`).
LEADERBOARD_METRICS = metric_table.LEADERBOARD_METRICS


#: The :data:`~harness.spec.GROUP_KEY` values of a result row (attribute access: the
#: leaderboard calls it once per metric value).
_row_group = attrgetter(*GROUP_KEY)


def _group_label(model: str, config: str, ambiguous: bool) -> str:
    return f"{model} [{config[:8]}]" if ambiguous else model


def _latest_completed() -> Subquery:
    """(spec_hash, attempt) of the latest completed attempt of each spec."""
    return (
        select(TrialRow.spec_hash, func.max(TrialRow.attempt).label("attempt"))
        .where(TrialRow.status == "completed")
        .group_by(TrialRow.spec_hash)
        .subquery()
    )


def _labels(rows: Iterable[Any]) -> dict[tuple[str, ...], str]:
    """Row label per (*group, model, config), the group being the row's
    :data:`~harness.spec.GROUP_KEY` values: the model's name, with the config hash's
    head when a model has several configs in one group."""
    return _labels_of({(*_row_group(r), r.model, r.config_hash) for r in rows})


def _labels_of(keys: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """:meth:`_labels` of the distinct (*group, model, config) keys."""
    configs: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for key in keys:
        configs[key[:-1]].add(key[-1])
    labels = {}
    for key, hashes in configs.items():
        for h in hashes:
            labels[(*key, h)] = _group_label(key[-1], h, len(hashes) > 1)
    return labels


class Queries:
    """The aggregate queries of a :class:`~harness.store.engine.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def completed_hashes(self) -> set[str]:
        """Spec hashes with at least one completed attempt (the runner skips them)."""
        with self.db.session() as session:
            query = select(TrialRow.spec_hash).where(TrialRow.status == "completed").distinct()
            return set(session.scalars(query))

    def completed_metric(
        self, spec_hash: str, name: str = "oa", split: str = "val"
    ) -> tuple[int, float | None] | None:
        """(trial id, metric value) of the latest completed attempt of a spec, or None
        when the spec has not completed (a search reuses a configuration it has seen)."""
        with self.db.session() as session:
            row = session.execute(
                select(TrialRow.id)
                .where(TrialRow.spec_hash == spec_hash, TrialRow.status == "completed")
                .order_by(TrialRow.attempt.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            value = session.scalar(
                select(MetricRow.value).where(
                    MetricRow.trial_id == row.id, MetricRow.split == split, MetricRow.name == name
                )
            )
            return row.id, value

    def _metric_rows(
        self,
        metrics: Iterable[str],
        split: str,
        filters: dict[str, str | int | None],
        study: str | None,
    ) -> list[Any]:
        """(trial id, :data:`~harness.spec.GROUP_KEY` fields, model, family, config,
        seed, metric name, value) of the counted trials."""
        latest = _latest_completed()
        query = (
            select(
                TrialRow.id,
                *(getattr(TrialRow, name) for name in GROUP_KEY),
                TrialRow.model,
                TrialRow.family,
                TrialRow.config_hash,
                TrialRow.seed,
                MetricRow.name,
                MetricRow.value,
            )
            .join(
                latest,
                and_(
                    TrialRow.spec_hash == latest.c.spec_hash, TrialRow.attempt == latest.c.attempt
                ),
            )
            .outerjoin(
                MetricRow,
                and_(
                    MetricRow.trial_id == TrialRow.id,
                    MetricRow.split == split,
                    MetricRow.name.in_(list(metrics)),
                ),
            )
            .where(TrialRow.status == "completed")
        )
        for column, value in filters.items():
            if value is not None:
                query = query.where(getattr(TrialRow, column) == value)
        if study is not None:
            query = query.where(TrialRow.study == study)
        with self.db.session() as session:
            return list(session.execute(query))

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
        """The values of every seed, per group and model configuration (the leaderboard's
        rows before their statistics: :func:`harness.analysis.seeds.leaderboard`).

        A group is a :data:`~harness.spec.GROUP_KEY` value (scene, protocol, recipe,
        source, pca_fit); a row is one (model, config_hash) in it. Completed trials
        only, the latest completed attempt of each spec. A model run with two
        configurations (say 1 and 40 epochs) in one group gives two rows, labelled
        ``"model [config hash head]"``; seeds are never averaged across configurations.
        Two PCA fits of a model are two groups, each row labelled by the model's name.
        The folds of a cross-validation (``block_cv``) share their configuration: a
        seed holds the values of its folds (one repetition).

        Args:
            scene, protocol, recipe, source: filters (None: all).
            metrics: metric names (``split`` metrics of the trials).
            pca_fit: filter: "scene" or "train" (None: all).
            split: "test" or "val".
            study: "" (default) counts trials outside hyperparameter searches only; a
                study name counts that study's trials; None counts all.
            run_id: count only the trials of this run (None: every run).

        Returns:
            One dict per row, sorted by the group's fields, then label:
            scene, protocol, recipe, source, pca_fit, model, config_hash, label, n_trials
            (every fold of every seed), seeds (sorted, each once), trial_ids (sorted),
            trial_seeds (the seed of each of trial_ids, in that order), and values
            {name: {seed: [value of each of its trials]}} (seeds sorted; a metric no trial
            has is left out).
        """
        filters = {
            "scene": scene,
            "protocol": protocol,
            "recipe": recipe,
            "source": source,
            "pca_fit": pca_fit,
            "run_id": run_id,
        }
        rows = self._metric_rows(metrics, split, filters, study)
        groups: dict[tuple[str, ...], dict[str, Any]] = {}
        # positional access: (id, *group, model, family, config, seed, name, value), the
        # fastest way through the tens of thousands of rows of a large database
        for row in rows:
            tid, *head, family, config, seed, name, value = tuple(row)
            key = (*head, config)  # (*group, model, config)
            group = groups.get(key)
            if group is None:
                group = groups[key] = {"family": family, "trials": {}, "values": {}}
            group["trials"][tid] = seed
            if name is not None and value is not None:
                group["values"].setdefault(name, {}).setdefault(seed, []).append(value)
        labels = _labels_of(groups)
        board = []
        for key, group in groups.items():
            *group_values, model, config = key
            board.append(
                {
                    **group_fields(group_values),
                    "model": model,
                    "family": group["family"],
                    "config_hash": config,
                    "label": labels[key],
                    "n_trials": len(group["trials"]),
                    "seeds": sorted(set(group["trials"].values())),
                    "trial_ids": sorted(group["trials"]),
                    "trial_seeds": [group["trials"][t] for t in sorted(group["trials"])],
                    "values": {
                        name: dict(sorted(group["values"][name].items()))
                        for name in metrics
                        if name in group["values"]
                    },
                }
            )
        board.sort(key=lambda b: (*group_of(b), b["label"]))
        return board

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
        """{label: {seed: [value of each of its trials]}} of one group (before the mean over
        a cross-validation's folds: :func:`harness.analysis.seeds.per_seed`).

        The group is a :data:`~harness.spec.GROUP_KEY` value; with a group tuple
        ``key`` in hand, ``per_seed(**group_fields(key), metric=...)``. Labels are those
        of :meth:`seed_values` (the model name unless a model has several
        configurations in the group). Trials without a value are left out; ``run_id``
        keeps one run's trials only.

        Args:
            scene, protocol, recipe, source: the group's fields.
            metric: the metric's name.
            pca_fit: the group's PCA fit, "scene" or "train"; None takes the one the
                trials have (an error when they have both: two groups).
            split: "test" or "val".
            study: as in :meth:`seed_values`.
            run_id: count only the trials of this run (None: every run).

        Raises:
            StoreError: ``pca_fit`` is None and the trials hold both PCA fits.
        """
        filters = {
            "scene": scene,
            "protocol": protocol,
            "recipe": recipe,
            "source": source,
            "pca_fit": pca_fit,
            "run_id": run_id,
        }
        rows = self._metric_rows([metric], split, filters, study)
        fits = sorted({r.pca_fit for r in rows})
        if len(fits) > 1:
            raise StoreError(
                f"per_seed({scene!r}, {protocol!r}, {recipe!r}, {source!r}): its trials "
                f"fit PCA on {' and on '.join(fits)}, one group each; name the group's "
                f"PCA fit (pca_fit={fits[0]!r}, ...)."
            )
        labels = _labels(rows)
        out: dict[str, dict[int, list[float]]] = {}
        for r in rows:
            label = labels[(*_row_group(r), r.model, r.config_hash)]
            values = out.setdefault(label, {})
            if r.value is not None:
                values.setdefault(int(r.seed), []).append(float(r.value))
        return {label: dict(sorted(v.items())) for label, v in sorted(out.items())}

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
        (ties: the newest), among those with a saved model when ``with_model``;
        None when there is none. Returns its :meth:`trials` row plus ``val_oa``."""
        with self.db.session() as session:
            query = (
                select(TrialRow, MetricRow.value)
                .join(
                    MetricRow,
                    and_(
                        MetricRow.trial_id == TrialRow.id,
                        MetricRow.split == "val",
                        MetricRow.name == "oa",
                    ),
                    isouter=True,
                )
                .where(
                    TrialRow.status == "completed",
                    TrialRow.model == model,
                    TrialRow.scene == scene,
                )
            )
            for column, value in (
                (TrialRow.protocol, protocol),
                (TrialRow.recipe, recipe),
                (TrialRow.source, source),
            ):
                if value is not None:
                    query = query.where(column == value)
            if with_model:
                saved = select(ModelFileRow.trial_id).where(ModelFileRow.kind == "model")
                query = query.where(TrialRow.id.in_(saved))
            rows = list(session.execute(query))
            if not rows:
                return None
            best, val_oa = max(
                rows, key=lambda r: (r[1] is not None, r[1] if r[1] is not None else 0.0, r[0].id)
            )
            out = trial_dict(best)
            out["val_oa"] = val_oa
            return out

    def trials(self, status: str | None = None, study: str | None = None) -> list[dict[str, Any]]:
        """Every trial attempt (optionally of one status / study), oldest first, without spec."""
        query = select(TrialRow).order_by(TrialRow.id)
        if status is not None:
            query = query.where(TrialRow.status == status)
        if study is not None:
            query = query.where(TrialRow.study == study)
        with self.db.session() as session:
            return [trial_dict(r) for r in session.scalars(query)]

    def completed_timings(self) -> list[tuple[Any, float, float | None, Any, Any]]:
        """(spec as stored, fit seconds, inference seconds, started at, finished at) of
        every completed trial with a fit time, in one query (what
        :func:`harness.execute.progress.history_from_store` estimates costs from)."""
        query = select(
            TrialRow.spec,
            TrialRow.fit_seconds,
            TrialRow.inference_seconds,
            TrialRow.started_at,
            TrialRow.finished_at,
        ).where(TrialRow.status == "completed", TrialRow.fit_seconds.is_not(None))
        with self.db.session() as session:
            return [tuple(row) for row in session.execute(query).all()]
