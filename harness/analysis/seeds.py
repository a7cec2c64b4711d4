"""Statistics over seeds: the leaderboard (mean, sample std and n of each metric over
the seeds of a group and model configuration) and the per-seed values that paired
comparisons read, from the values the store keeps
(:meth:`~harness.store.ResultStore.seed_values`).

A seed of a cross-validation (``block_cv``) is one repetition of its folds: its value
is the mean over them, and a row's mean and std are over those values.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metric_table import LEADERBOARD_METRICS
from ..store import ResultStore

#: The arguments of :func:`harness.metrics.one_class_note`, in its order: a seed's test
#: OA and its collapse diagnostics (``harness.metric_table.COLLAPSE_METRICS``).
_NOTE_ARGS = ("oa", "majority_rate", "top_prediction_share")


def per_repetition(values: dict[int, list[float]]) -> dict[int, float]:
    """{seed: mean of its values}: one value per seed, the mean over a cross-validation's
    folds (a seed of any other protocol has one trial, so one value)."""
    return {seed: statistics.fmean(v) for seed, v in values.items()}


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The mean and the sample std (ddof=1; None below 2 values) of ``values``."""
    if not values:
        return None, None
    mean = statistics.fmean(values)
    # numpy's sample std (ddof=1): the same number as statistics.stdev to rounding, without
    # its exact-fraction arithmetic (a tenth of the leaderboard's time on 5,000 trials)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return mean, std


def leaderboard(
    store: ResultStore,
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
    include_not_results: bool = False,
) -> list[dict[str, Any]]:
    """Mean, sample std and n over seeds, per group and model configuration.

    The rows and arguments of :meth:`~harness.store.ResultStore.seed_values` (a group
    is a :data:`~harness.spec.GROUP_KEY` value; a row one model configuration in it;
    completed trials only, the latest attempt of each spec), each with, in place of its
    ``values``: ``metrics`` {name: {"mean", "std", "n"}} where std is the sample
    standard deviation (ddof=1) over seeds, None for n < 2, and n counts the seeds with
    a value (a tree model has no centroid distance: n=0, mean None), and ``per_seed``
    {name: {seed: value}} (what :func:`per_seed` gives for the row, for each metric).

    A seed that is not a result (:func:`harness.metrics.one_class_note` on its own test
    OA and collapse diagnostics: it predicts one class, or does no better than the
    majority class) is left out of the row's means, std, n, ``per_seed``, ``seeds``,
    ``trial_ids``, ``trial_seeds`` and ``n_trials`` unless ``include_not_results``;
    ``left_out`` {seed: why} names those seeds and ``left_out_trial_ids`` their trials. A row whose
    every seed is not a result keeps them all (there is nothing else to show), and
    ``not_a_result`` says why (None for a result): such a row is shown only marked,
    never ranked.
    """
    from ..metrics import one_class_note  # sklearn: only when a table is made

    wanted = tuple(dict.fromkeys((*metrics, *_NOTE_ARGS)))
    rows = store.seed_values(
        scene, protocol, recipe, source, wanted,
        pca_fit=pca_fit, split=split, study=study, run_id=run_id,
    )  # fmt: skip
    for row in rows:
        values = row.pop("values")
        raw = {name: per_repetition(values.get(name, {})) for name in wanted}
        notes = {
            seed: note
            for seed in raw["oa"]
            if (note := one_class_note(*(raw[m].get(seed) for m in _NOTE_ARGS)))
        }
        every = set(notes) >= set(raw["oa"])
        drop = {} if include_not_results or every else notes
        stats, by_seed = {}, {}
        for name in metrics:
            by_seed[name] = {s: v for s, v in sorted(raw[name].items()) if s not in drop}
            mean, std = mean_std(list(by_seed[name].values()))
            stats[name] = {"mean": mean, "std": std, "n": len(by_seed[name])}
        row["metrics"] = stats
        row["per_seed"] = by_seed
        row["left_out"] = dict(sorted(drop.items()))
        if drop:  # the per-class table and the intervals read these: the same seeds
            pairs = list(zip(row["trial_ids"], row["trial_seeds"], strict=True))
            row["left_out_trial_ids"] = [t for t, s in pairs if s in drop]
            kept = [(t, s) for t, s in pairs if s not in drop]
            row["trial_ids"] = [t for t, _ in kept]
            row["trial_seeds"] = [s for _, s in kept]
            row["seeds"] = [s for s in row["seeds"] if s not in drop]
            row["n_trials"] = len(kept)
        row["not_a_result"] = _why_not(raw, one_class_note) if notes and every else None
    return rows


def _why_not(raw: dict[str, dict[int, float]], note: Any) -> str | None:
    """Why a row whose every seed is not a result is not one: the note on its means."""
    means = [mean_std(list(raw[m].values()))[0] for m in _NOTE_ARGS]
    return note(*means) or "no seed is a result"


def per_seed(
    store: ResultStore,
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
) -> dict[str, dict[int, float]]:
    """{label: {seed: value}} of one group, for paired comparisons across models (the
    arguments of :meth:`~harness.store.ResultStore.labelled_seed_values`; labels as in
    :func:`leaderboard`; a cross-validation's seed has the mean over its folds).

    Raises:
        harness.store.StoreError: ``pca_fit`` is None and the trials hold both PCA fits.
    """
    raw = store.labelled_seed_values(
        scene, protocol, recipe, source, metric,
        pca_fit=pca_fit, split=split, study=study, run_id=run_id,
    )  # fmt: skip
    return {label: dict(sorted(per_repetition(v).items())) for label, v in raw.items()}
