"""The table model of a report: groups of leaderboard rows (:data:`harness.spec.GROUP_KEY`)
with their paired comparisons and detail tables, read from a store or from the
dashboard's cached queries; every renderer and the dashboard read it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from datasets.cli_options import python_command

from .. import metric_table
from ..metric_table import CI_METRICS, MetricInfo
from ..spec import group_fields, group_of
from ..store import ResultStore, StoreError
from . import seeds
from .paired import Paired, is_reference, paired_comparison
from .significance import ClassTable, McNemar, TestedTrial, class_table, mcnemar, trial_intervals

#: The tables of a report: the paper's layout, the per-class table, McNemar's test
#: against CLAReSNet, the bootstrap intervals of each trial.
TABLES = ("summary", "per-class", "mcnemar", "intervals", "leakage")


EMPTY_MESSAGE = f"no completed trials yet — run {python_command('harness.run --suite quick')}"


SEARCHES_ONLY_MESSAGE = (
    "no completed trials outside hyperparameter searches yet (the tables count trials "
    f"with study ''); run {python_command('harness.run --suite quick')}"
)


SURROGATE_NOTE = (
    "SURROGATE: not comparable to published numbers (synthetic spectra on the real "
    "ground-truth map)."
)


#: One table column: a row of the metric table (name, header, LaTeX header, scale,
#: decimals...).
Column = MetricInfo


#: The table's columns, in order: the leaderboard rows of the metric table (as
#: imported; the renderers read :func:`harness.metric_table.leaderboard_columns`).
COLUMNS = metric_table.LEADERBOARD_COLUMNS


@dataclass
class Group:
    """One table: a group (:data:`~harness.spec.GROUP_KEY`) and its leaderboard rows."""

    scene: str
    protocol: str
    recipe: str
    source: str
    pca_fit: str
    rows: list[dict[str, Any]]
    comparisons: list[Paired]
    references: list[str]
    #: the classes x models table (:func:`add_details`; None until then)
    classes: ClassTable | None = None
    #: McNemar's test of each baseline against each reference
    mcnemar: list[McNemar] = field(default_factory=list)
    #: one row per trial: label, trial_id, seed, and {metric: (value, low, high)}
    intervals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pca_text(self) -> str:
        """ "PCA fit on scene" (or "on train"): where the group's PCA was fitted."""
        return f"PCA fit on {self.pca_fit}"

    @property
    def title(self) -> str:
        return (
            f"Scene {self.scene} · protocol {self.protocol} · recipe {self.recipe} · "
            f"source {self.source} · {self.pca_text}"
        )


def collect(
    store: ResultStore,
    scene: str | None = None,
    protocol: str | None = None,
    recipe: str | None = None,
    source: str | None = None,
    pca_fit: str | None = None,
    include_not_results: bool = False,
) -> list[Group]:
    """The groups of the leaderboard with their paired comparisons on test OA (seeds that
    are not results left out of the means unless ``include_not_results``:
    :func:`harness.analysis.seeds.leaderboard`)."""
    board = seeds.leaderboard(
        store,
        include_not_results=include_not_results,
        scene=scene,
        protocol=protocol,
        recipe=recipe,
        source=source,
        pca_fit=pca_fit,
        metrics=(*_with_aa(metric_table.leaderboard_metrics()), *metric_table.COLLAPSE_METRICS),
    )
    keyed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in board:
        keyed.setdefault(group_of(row), []).append(row)

    def per_seed(key: tuple[str, ...]) -> Callable[[], dict[str, dict[int, float]]]:
        return lambda: seeds.per_seed(store, **group_fields(key), metric="oa")

    return [make_group(key, rows, per_seed(key)) for key, rows in keyed.items()]


#: The metrics of a trial the bootstrap intervals surround (in the intervals table).
INTERVAL_METRICS = ("oa", "aa", "kappa")


class DetailSource(Protocol):
    """What :func:`add_details` reads (a :class:`~harness.store.ResultStore`, or the
    dashboard's cached queries)."""

    def class_metrics(self, trial_ids: Iterable[int]) -> list[dict[str, Any]]: ...

    def trial_metrics(
        self, trial_ids: Iterable[int], names: Sequence[str]
    ) -> dict[int, dict[str, float | None]]: ...

    def test_sets(self, trial_ids: Iterable[int]) -> dict[int, tuple[int, str | None]]: ...

    def test_predictions(self, trial_ids: Iterable[int]) -> dict[int, Any]: ...

    def artifact(self, trial_id: int, name: str) -> Any: ...


def add_details(
    group: Group,
    source: DetailSource,
    tables: Sequence[str] = TABLES,
    class_metric: str = "recall",
) -> Group:
    """Fill a group's per-class table, McNemar tests and bootstrap intervals.

    Args:
        group: a group of :func:`collect` or :func:`make_group` (its rows should carry
            "aa" among their metrics for the per-class table's AA line).
        source: where the trials' class metrics, metrics and predictions are read.
        tables: which of "per-class", "mcnemar" and "intervals" to fill.
        class_metric: "recall" (the per-class accuracy) or "f1".

    Returns:
        ``group``, filled in place.
    """
    ids = [t for row in group.rows for t in row["trial_ids"]]
    if "per-class" in tables:
        group.classes = class_table(group.rows, source.class_metrics(ids), class_metric)
    if "mcnemar" in tables and group.references:
        sets = source.test_sets(ids)
        trials = {
            row["label"]: [TestedTrial(t, *sets[t]) for t in row["trial_ids"] if t in sets]
            for row in group.rows
        }
        tested = [t for t, (_, sha) in sets.items() if sha is not None]
        predictions = source.test_predictions(tested)  # one read for the whole group
        group.mcnemar = [
            mcnemar((ref, trials[ref]), (row["label"], trials[row["label"]]), predictions.get)
            for ref in group.references
            for row in group.rows
            if not is_reference(row)
        ]
    if "intervals" in tables:
        group.intervals = _intervals(group, source, ids)
    return group


def _intervals(group: Group, source: DetailSource, ids: list[int]) -> list[dict[str, Any]]:
    """One row per trial of the group: its OA, AA and kappa with their 95 % intervals."""
    values = source.trial_metrics(ids, (*INTERVAL_METRICS, *CI_METRICS))
    out = []
    for row in group.rows:
        for trial_id, seed in zip(row["trial_ids"], row["trial_seeds"], strict=True):
            got = values.get(trial_id, {})
            if any(name not in got for name in CI_METRICS):  # stored before the intervals
                with contextlib.suppress(StoreError):  # no confusion stored either: none
                    got = {**got, **trial_intervals(source.artifact(trial_id, "confusion"), seed)}
            out.append(
                {
                    "label": row["label"],
                    "model": row["model"],
                    "trial_id": trial_id,
                    "seed": seed,
                    "values": {
                        m: (got.get(m), got.get(f"{m}_ci_low"), got.get(f"{m}_ci_high"))
                        for m in INTERVAL_METRICS
                    },
                }
            )
    return out


#: How a row that is not a result is marked wherever its numbers are shown.
NOT_A_RESULT = "NOT A RESULT"
NOT_A_RESULT_NOTE = (
    "NOT A RESULT: a model that predicts one class (at least 90 % of its test pixels in "
    "one class) or does no better than the majority class is shown for the record only; "
    "its numbers are not results and are not to be compared."
)


def not_a_result(row: dict[str, Any]) -> str | None:
    """Why a leaderboard row is not a result ("predicts one class", "no better than the
    majority class"), or None: :func:`harness.metrics.one_class_note` on its means (the
    rows of :func:`collect` carry the collapse diagnostics)."""
    if "not_a_result" in row:  # a row of harness.analysis.seeds.leaderboard
        return row["not_a_result"]
    from ..metrics import one_class_note  # sklearn: only when a report is made

    def mean(name: str) -> float | None:
        return (row["metrics"].get(name) or {}).get("mean")

    return one_class_note(mean("oa"), mean("majority_rate"), mean("top_prediction_share"))


def left_out_note(row: dict[str, Any]) -> str | None:
    """The seeds of a row left out of its means because they are not results, e.g.
    "seed 2 left out of the means: predicts one class", or None."""
    left = row.get("left_out") or {}
    if not left:
        return None
    word = "seed" if len(left) == 1 else "seeds"
    seeds_text = ", ".join(str(s) for s in left)
    why = "; ".join(sorted(set(left.values())))
    return f"{word} {seeds_text} left out of the means ({NOT_A_RESULT}: {why})"


def _with_aa(names: Sequence[str]) -> tuple[str, ...]:
    """The leaderboard's metrics and AA (the per-class table's summary line)."""
    return tuple(names) if "aa" in names else (*names, "aa")


def make_group(
    key: Sequence[str],
    rows: list[dict[str, Any]],
    per_seed: Callable[[], dict[str, dict[int, float]]],
) -> Group:
    """One table from its leaderboard rows, with the paired comparisons on test OA.

    Args:
        key: the group's :data:`~harness.spec.GROUP_KEY` values.
        rows: the group's :func:`~harness.analysis.seeds.leaderboard` rows (sorted
            here in the paper's order: baselines first, CLAReSNet last).
        per_seed: returns {label: {seed: test OA}} of the group; called only when the
            group holds a CLAReSNet row.
    """
    rows = sorted(rows, key=lambda r: (is_reference(r), r["label"]))
    references = [r["label"] for r in rows if is_reference(r)]
    comparisons = []
    if references:
        values = per_seed()
        for ref in references:
            for row in rows:
                if not is_reference(row):
                    comparisons.append(
                        paired_comparison(
                            values.get(ref, {}),
                            values.get(row["label"], {}),
                            names=(ref, row["label"]),
                        )
                    )
    return Group(**group_fields(key), rows=rows, comparisons=comparisons, references=references)
