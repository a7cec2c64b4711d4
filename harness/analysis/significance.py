"""Significance beyond seeds: McNemar's test on shared test pixels, and the per-class table.

Two questions a reviewer asks of a results table, answered from the database:

- **Is model A better than model B on these pixels?** :func:`mcnemar` pairs the
  trials of two models that were tested on the same pixels (same seed, same test
  set, by the ``test_set_sha256`` every trial records) and runs McNemar's exact
  test on the pixels one model classified correctly and the other did not
  (``statsmodels.stats.contingency_tables.mcnemar``). It reports the p-value of
  each seed, the number of seeds at p < 0.05, and Fisher's combination of the
  per-seed p-values (``scipy.stats.combine_pvalues``). Fisher's method assumes
  independent tests: with a random protocol every seed draws its own test set and
  trains its own models; with a fixed split the seeds share their test pixels, so
  the combined p is optimistic there, and the per-seed counts are the figure to
  read.
- **Which classes does a model get right?** :func:`class_table` lays out the
  classes x models table of HSI papers: the mean ± sample std over seeds of each
  class's recall (the "accuracy" of a class in those papers) or F1, the best
  model per class marked, and OA, AA and kappa underneath.

The interval of one trial's OA, AA and kappa over its test pixels is
:func:`harness.metrics.bootstrap_intervals`, stored with every trial;
:func:`trial_intervals` recomputes it from a stored confusion matrix for trials
written before it was stored (same matrix and seed, same numbers).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import bootstrap_intervals

#: The significance level the counts of significant seeds use.
ALPHA = 0.05

#: The per-class figures a table can show: the class-metric columns of the database.
CLASS_METRICS = ("recall", "f1")
#: The summary rows under the per-class table (names of the metric table).
CLASS_TABLE_SUMMARY = ("oa", "aa", "kappa")


# --------------------------------------------------------------------------- McNemar


@dataclass(frozen=True)
class McNemarSeed:
    """McNemar's test of two trials tested on the same pixels.

    Attributes:
        seed: the seed both trials ran with.
        n: test pixels.
        reference_only: pixels the reference classified correctly and the baseline not.
        baseline_only: pixels the baseline classified correctly and the reference not.
        p: McNemar's exact two-sided p (the binomial test on the discordant pixels).
    """

    seed: int
    n: int
    reference_only: int
    baseline_only: int
    p: float


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of a baseline against the reference, seed by seed.

    Attributes:
        reference, baseline: row labels.
        seeds: one test per seed both models ran on the same test pixels.
        combined_p: Fisher's combination of the per-seed p-values (None without seeds;
            the single p with one seed).
        unpaired: seeds both ran, on different test pixels (not tested).
        missing: seeds both ran where a trial has no stored test predictions (trials
            stored before they were kept).
    """

    reference: str
    baseline: str
    seeds: tuple[McNemarSeed, ...]
    combined_p: float | None
    unpaired: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()

    @property
    def n(self) -> int:
        """Seeds tested."""
        return len(self.seeds)

    @property
    def n_significant(self) -> int:
        """Seeds with p < :data:`ALPHA`."""
        return sum(1 for s in self.seeds if s.p < ALPHA)

    @property
    def note(self) -> str:
        """Why seeds are missing from the test, or ""."""
        parts = []
        if self.missing:
            parts.append(
                f"seed(s) {_seeds(self.missing)} have no stored test predictions (trials "
                "stored before they were kept; re-run them to test)"
            )
        if self.unpaired:
            parts.append(f"seed(s) {_seeds(self.unpaired)} were tested on different pixels")
        return "; ".join(parts)


def _seeds(seeds: Iterable[int]) -> str:
    return ",".join(str(s) for s in seeds)


def mcnemar_seed(
    seed: int, truth: np.ndarray, reference: np.ndarray, baseline: np.ndarray
) -> McNemarSeed:
    """McNemar's exact test of two predictions of the same pixels.

    Args:
        seed: the seed (recorded).
        truth, reference, baseline: (n,) labels of the same pixels, in the same order.
    """
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    ref_right = np.asarray(reference) == np.asarray(truth)
    base_right = np.asarray(baseline) == np.asarray(truth)
    table = np.array(
        [
            [np.sum(ref_right & base_right), np.sum(ref_right & ~base_right)],
            [np.sum(~ref_right & base_right), np.sum(~ref_right & ~base_right)],
        ]
    )
    p = float(sm_mcnemar(table, exact=True).pvalue)
    return McNemarSeed(
        seed=int(seed),
        n=int(ref_right.size),
        reference_only=int(table[0, 1]),
        baseline_only=int(table[1, 0]),
        p=min(1.0, p),
    )


def combine(p_values: Sequence[float]) -> float | None:
    """Fisher's combination of independent p-values (None for none, the p for one)."""
    if not p_values:
        return None
    if len(p_values) == 1:
        return float(p_values[0])
    from scipy.stats import combine_pvalues

    # a p of exactly 0 (far beyond double precision) makes Fisher's statistic infinite
    floor = np.finfo(float).tiny
    return float(combine_pvalues([max(p, floor) for p in p_values], method="fisher").pvalue)


@dataclass(frozen=True)
class TestedTrial:
    """What pairing needs of a trial: its id, seed and test-set hash (None: not recorded)."""

    trial_id: int
    seed: int
    test_set: str | None


def mcnemar(
    reference: tuple[str, Sequence[TestedTrial]],
    baseline: tuple[str, Sequence[TestedTrial]],
    load: Callable[[int], Mapping[str, np.ndarray] | None],
) -> McNemar:
    """McNemar's test of two models of one group, on every seed they share.

    Trials pair when they ran with the same seed on the same test set (their
    ``test_set_sha256``; the loaded pixel indices are checked too). Several trials
    of one seed (the folds of ``block_cv``) pair fold by fold, each test set once.

    Args:
        reference, baseline: (row label, its trials).
        load: a trial's stored test predictions ({"index", "truth", "pred"}), or None
            when it has none.
    """
    ref_label, ref_trials = reference
    base_label, base_trials = baseline
    base_by_key = {(t.seed, t.test_set): t for t in base_trials if t.test_set is not None}
    base_seeds = {t.seed for t in base_trials}
    tests: list[McNemarSeed] = []
    missing: set[int] = set()
    unpaired: set[int] = set()
    for ref in sorted(ref_trials, key=lambda t: (t.seed, t.trial_id)):
        if ref.seed not in base_seeds:
            continue
        if ref.test_set is None:
            missing.add(ref.seed)
            continue
        other = base_by_key.get((ref.seed, ref.test_set))
        if other is None:
            if any(t.seed == ref.seed and t.test_set is None for t in base_trials):
                missing.add(ref.seed)
            else:
                unpaired.add(ref.seed)
            continue
        a, b = load(ref.trial_id), load(other.trial_id)
        if a is None or b is None:
            missing.add(ref.seed)
            continue
        if not np.array_equal(a["index"], b["index"]) or not np.array_equal(a["truth"], b["truth"]):
            unpaired.add(ref.seed)
            continue
        tests.append(mcnemar_seed(ref.seed, a["truth"], a["pred"], b["pred"]))
    tested = {t.seed for t in tests}
    return McNemar(
        reference=ref_label,
        baseline=base_label,
        seeds=tuple(tests),
        combined_p=combine([t.p for t in tests]),
        unpaired=tuple(sorted(unpaired - tested)),
        missing=tuple(sorted(missing - tested)),
    )


# --------------------------------------------------------------------------- intervals


def trial_intervals(confusion: np.ndarray, seed: int) -> dict[str, float | None]:
    """The bootstrap intervals of a stored trial (:func:`harness.metrics.bootstrap_intervals`
    of its confusion matrix and seed), for trials stored before the intervals were."""
    return bootstrap_intervals(confusion, seed)


# --------------------------------------------------------------------------- per-class table


@dataclass(frozen=True)
class ClassCell:
    """One class of one model over its seeds.

    Attributes:
        mean, std: of the seeds whose test set holds the class (std: sample, None
            for fewer than two); None when none does.
        n: seeds whose test set holds the class.
        absent: seeds whose test set does not (the class has no test pixel there).
    """

    mean: float | None
    std: float | None
    n: int
    absent: int


@dataclass
class ClassTable:
    """The classes x models table of one group.

    Attributes:
        metric: "recall" or "f1".
        models: the row labels of the models, in table order (the columns).
        classes: (label, name) of every class, in label order (the rows).
        cells: {(label, model): ClassCell}.
        best: {label: models with the highest mean} (classes with a value only; never
            a model that is not a result).
        summary: {(metric, model): {"mean", "std", "n"}} of :data:`CLASS_TABLE_SUMMARY`.
    """

    metric: str
    models: list[str]
    classes: list[tuple[int, str]]
    cells: dict[tuple[int, str], ClassCell]
    best: dict[int, set[str]] = field(default_factory=dict)
    summary: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def untested(self, label: int) -> bool:
        """True when no model's test set holds class ``label`` in any seed."""
        return all(self.cells[(label, m)].n == 0 for m in self.models)


def class_table(
    rows: Sequence[Mapping[str, Any]],
    class_rows: Iterable[Mapping[str, Any]],
    metric: str = "recall",
) -> ClassTable:
    """The per-class table of a group from its leaderboard rows and class metrics.

    Args:
        rows: the group's leaderboard rows, in table order (``label``, ``trial_ids``
            and ``metrics`` with the :data:`CLASS_TABLE_SUMMARY` names, where present).
        class_rows: the class metrics of those trials (``trial_id``, ``label``,
            ``name``, ``recall``, ``f1``, ``support``), e.g.
            :meth:`harness.store.ResultStore.class_metrics`.
        metric: "recall" (the per-class accuracy of HSI papers) or "f1".

    Raises:
        ValueError: an unknown ``metric``.
    """
    if metric not in CLASS_METRICS:
        raise ValueError(f"metric={metric!r} must be one of {', '.join(CLASS_METRICS)}.")
    model_of = {tid: row["label"] for row in rows for tid in row["trial_ids"]}
    models = [row["label"] for row in rows]
    values: dict[tuple[int, str], list[float]] = {}
    absent: dict[tuple[int, str], int] = {}
    names: dict[int, str] = {}
    for c in class_rows:
        model = model_of.get(int(c["trial_id"]))
        if model is None:
            continue
        label = int(c["label"])
        names.setdefault(label, str(c.get("name") or label))
        key = (label, model)
        value = c.get(metric)
        if not c.get("support") or value is None:  # no test pixel of the class
            absent[key] = absent.get(key, 0) + 1
        else:
            values.setdefault(key, []).append(float(value))
    classes = sorted(names.items())
    cells = {}
    for label, _ in classes:
        for model in models:
            got = values.get((label, model), [])
            mean = statistics.fmean(got) if got else None
            std = statistics.stdev(got) if len(got) > 1 else None
            cells[(label, model)] = ClassCell(
                mean=mean, std=std, n=len(got), absent=absent.get((label, model), 0)
            )
    # a model that is not a result (harness.analysis.seeds.leaderboard) is never the best
    ranked = [row["label"] for row in rows if not row.get("not_a_result")]
    best = {}
    for label, _ in classes:
        means: dict[str, float] = {}
        for m in ranked:
            value = cells[(label, m)].mean
            if value is not None:
                means[m] = value
        if means:
            top = max(means.values())
            best[label] = {m for m, v in means.items() if math.isclose(v, top, abs_tol=1e-12)}
    summary = {
        (name, row["label"]): row["metrics"][name]
        for row in rows
        for name in CLASS_TABLE_SUMMARY
        if name in row.get("metrics", {})
    }
    return ClassTable(
        metric=metric, models=models, classes=classes, cells=cells, best=best, summary=summary
    )
