"""Paper-style result tables from the results database (the layout of Tables III/IV).

    python -m harness.report --db results/bench.db [--scene indian_pines]
                             [--protocol paper] [--recipe unified] [--source real]
                             [--pca-fit scene|train] [--format markdown|latex|csv]

One table per group present (:data:`harness.spec.GROUP_KEY`: scene / protocol /
recipe / source / PCA fit, on the whole scene or on the training pixels): rows are models,
columns OA, BA, kappa, MCC, ARI and the average class-centroid distance (the
leaderboard rows of the metric table, :mod:`harness.metric_table`), each cell
"mean ± sample std (n)" over seeds (completed trials only, the latest completed
attempt of each spec, trials outside hyperparameter searches). Each table is
followed by a paired comparison of every baseline against CLAReSNet on test OA:
the seeds both completed, the mean difference, a paired t-test and a two-sided
Wilcoxon signed-rank test, with the smallest p the Wilcoxon test can reach at that
number of seeds stated next to it (2 / 2**n: 0.0625 for 5 seeds, so "p < 0.05" is
out of reach there whatever the data).

Exit status: 0 on success (an empty database included), 2 when the database cannot
be opened or the filters match nothing.

Under each table (:func:`add_details`, :mod:`harness.significance`): the classes x
models table (mean ± std over seeds of each class's recall, or F1 with
``--class-metric f1``; the best model per class marked; OA, AA and kappa underneath),
McNemar's exact test of every baseline against CLAReSNet on the test pixels they
share, seed by seed, with Fisher's combination, and each trial's bootstrap 95 %
intervals of OA, AA and kappa.

When the database holds a leakage study (``--suite leakage``), the markdown and
LaTeX reports end with its tables (:mod:`harness.leakage`: test OA per split x PCA
setting, Δ OA and the leakage gap with its 95 % confidence interval).

``--table`` picks one table: ``summary`` (the paper's layout and the paired
comparison), ``per-class``, ``mcnemar``, ``intervals`` or ``leakage``. CSV (for
scripts) holds one table, ``summary`` by default: one row per model and metric with
mean, std and n in the units stored (fractions for OA/BA, not percent); the others
one row per model and class, per baseline and seed, per trial and metric, per
model and setting.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import metric_table
from .metric_table import CI_METRICS, MetricInfo
from .significance import CLASS_METRICS, ClassTable, McNemar, TestedTrial, class_table, mcnemar
from .spec import group_fields, group_of
from .store import ResultStore, StoreError

FORMATS = ("markdown", "latex", "csv")
#: The tables of a report: the paper's layout, the per-class table, McNemar's test
#: against CLAReSNet, the bootstrap intervals of each trial.
TABLES = ("summary", "per-class", "mcnemar", "intervals", "leakage")
REFERENCE_FAMILY = "claresnet"
EMPTY_MESSAGE = "no completed trials yet — run python -m harness.run --suite quick"
SEARCHES_ONLY_MESSAGE = (
    "no completed trials outside hyperparameter searches yet (the tables count trials "
    "with study ''); run python -m harness.run --suite quick"
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


# --------------------------------------------------------------------------- statistics


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p of the exact Wilcoxon signed-rank test on n non-zero
    differences: all n signs agree, probability 2 / 2**n (1.0 for n = 0)."""
    return min(1.0, 2.0 / 2**n)


@dataclass(frozen=True)
class Paired:
    """Paired comparison of a baseline against the reference on common seeds.

    ``mean_diff`` is reference minus baseline (positive: the reference is better),
    in the metric's stored units. ``t_p`` / ``wilcoxon_p`` are None when n < 3
    (``note`` says why) or when the test is undefined (every difference zero).
    ``n_nonzero`` counts the differences the Wilcoxon test uses (zeros are dropped),
    ``min_p`` the smallest p it can reach with them.
    """

    reference: str
    baseline: str
    seeds: tuple[int, ...]
    mean_diff: float | None
    t_p: float | None
    wilcoxon_p: float | None
    n_nonzero: int
    min_p: float
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.seeds)


def paired_comparison(
    reference: dict[int, float], baseline: dict[int, float], *, names: tuple[str, str] = ("", "")
) -> Paired:
    """Paired t-test and two-sided Wilcoxon signed-rank test on the common seeds.

    Args:
        reference: {seed: value} of the reference model (CLAReSNet).
        baseline: {seed: value} of the baseline.
        names: (reference, baseline) labels carried into the result.
    """
    from scipy import stats

    seeds = tuple(sorted(set(reference) & set(baseline)))
    ref = [reference[s] for s in seeds]
    base = [baseline[s] for s in seeds]
    diffs = [a - b for a, b in zip(ref, base, strict=True)]
    n_nonzero = sum(1 for d in diffs if d != 0)
    mean_diff = math.fsum(diffs) / len(diffs) if diffs else None
    common: dict[str, Any] = {"reference": names[0], "baseline": names[1], "seeds": seeds}
    if len(seeds) < 3:
        return Paired(
            **common,
            mean_diff=mean_diff,
            t_p=None,
            wilcoxon_p=None,
            n_nonzero=n_nonzero,
            min_p=min_wilcoxon_p(n_nonzero),
            note="n too small",
        )
    note = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance: scipy says NaN
        t_p = _p(stats.ttest_rel(ref, base).pvalue)
        if n_nonzero == 0:
            w_p, note = None, "all differences are zero"
        else:
            w_p = _p(stats.wilcoxon(ref, base, alternative="two-sided").pvalue)
    return Paired(
        **common,
        mean_diff=mean_diff,
        t_p=t_p,
        wilcoxon_p=w_p,
        n_nonzero=n_nonzero,
        min_p=min_wilcoxon_p(n_nonzero),
        note=note,
    )


def _p(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def is_reference(row: dict[str, Any]) -> bool:
    """CLAReSNet: the family "claresnet" or the model literally named "claresnet"."""
    return row["model"] == REFERENCE_FAMILY or row.get("family") == REFERENCE_FAMILY


# --------------------------------------------------------------------------- model


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
) -> list[Group]:
    """The groups of the leaderboard with their paired comparisons on test OA."""
    board = store.leaderboard(
        scene=scene,
        protocol=protocol,
        recipe=recipe,
        source=source,
        pca_fit=pca_fit,
        metrics=_with_aa(metric_table.leaderboard_metrics()),
    )
    keyed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in board:
        keyed.setdefault(group_of(row), []).append(row)

    def per_seed(key: tuple[str, ...]) -> Callable[[], dict[str, dict[int, float]]]:
        return lambda: store.per_seed(**group_fields(key), metric="oa")

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
    from .significance import trial_intervals

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
        rows: the group's :meth:`~harness.store.ResultStore.leaderboard` rows (sorted
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


# --------------------------------------------------------------------------- text


def _number(value: float | None, column: Column) -> str | None:
    return None if value is None else column.format(value)


def _cell(stats: dict[str, Any], column: Column, pm: str, dash: str) -> str:
    mean = _number(stats["mean"], column)
    if mean is None:
        return dash
    std = _number(stats["std"], column)
    body = mean if std is None else f"{mean}{pm}{std}"
    return f"{body} (n={stats['n']})"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _fmt_diff(d: float | None) -> str:
    return "–" if d is None else f"{d * 100:+.2f}"


def wilcoxon_notes(comparisons: Sequence[Paired], tex: bool = False) -> list[str]:
    """Notes under a comparison table: the floor of the Wilcoxon p at each number of seeds compared (never hidden)."""
    notes = []
    for n in sorted({c.n_nonzero for c in comparisons if c.n >= 3 and c.n_nonzero > 0}):
        floor = min_wilcoxon_p(n)
        formula = f"$2/2^{{{n}}}$" if tex else f"2/2^{n}"
        line = (
            f"with {n} seeds a two-sided Wilcoxon signed-rank p cannot go below "
            f"{floor:.4g} (= {formula})"
        )
        if floor > 0.05:
            line += ", so it cannot reach 0.05 at this number of seeds (that needs 6 or more)"
        notes.append(line + ".")
    if any(c.n_nonzero < c.n for c in comparisons if c.n >= 3):
        notes.append(
            "seeds with a zero difference are dropped by the Wilcoxon test (n above counts "
            "the others)."
        )
    return notes


def comparison_cells(c: Paired) -> list[str]:
    """The text cells of one comparison row (columns of :data:`COMPARISON_HEADER`)."""
    if c.note == "n too small":
        p_cells = ["n too small", "n too small", "–"]
    else:
        wilcoxon = _fmt_p(c.wilcoxon_p) + (f" ({c.note})" if c.note else "")
        p_cells = [_fmt_p(c.t_p), wilcoxon, f"{c.min_p:.4g}"]
    seeds = ",".join(str(s) for s in c.seeds) or "none"
    return [c.baseline, seeds, str(c.n), _fmt_diff(c.mean_diff), *p_cells]


COMPARISON_HEADER = [
    "Baseline",
    "Common seeds",
    "n",
    "Mean ΔOA (pp)",
    "t-test p",
    "Wilcoxon p",
    "Min. Wilcoxon p",
]


def comparison_intro(ref: str) -> str:
    """The title of the paired comparison against ``ref``."""
    return (
        f"Paired comparison vs {ref} (test OA per seed; ΔOA = {ref} − baseline in "
        "percentage points; two-sided paired t-test and Wilcoxon signed-rank test)"
    )


def _no_reference() -> str:
    return (
        "No CLAReSNet results in this group (no model of the claresnet family): "
        "paired comparison skipped."
    )


def render_markdown(groups: Sequence[Group], summary: bool = True) -> str:
    """Markdown: per group the paper's layout with its paired comparisons (``summary``)
    and the detail tables the group holds."""
    columns = metric_table.leaderboard_columns()
    out = ["# Results (layout of the paper's Tables III/IV)", ""]
    for g in groups:
        out += [f"## {g.title}", ""]
        if g.source == "surrogate":
            out += [f"> **{SURROGATE_NOTE}**", ""]
        if not summary:
            out += _markdown_classes(g)
            for ref in g.references:
                out += _markdown_mcnemar(g, ref)
            out += _markdown_intervals(g)
            continue
        out.append("| Model | " + " | ".join(c.header for c in columns) + " |")
        out.append("| --- | " + " | ".join("---:" for _ in columns) + " |")
        for row in g.rows:
            cells = [_cell(row["metrics"][c.name], c, " ± ", "–") for c in columns]
            out.append(f"| {row['label']} | " + " | ".join(cells) + " |")
        out += ["", "Mean ± sample std (ddof=1) over seeds; n = seeds with a value.", ""]
        out += _markdown_reference(g)
        out += _markdown_classes(g)
        if not g.references:
            out += [_no_reference(), ""]
            out += _markdown_intervals(g)
            continue
        for ref in g.references:
            comps = [c for c in g.comparisons if c.reference == ref]
            out += [f"### {comparison_intro(ref)}", ""]
            if not comps:
                out += ["No baseline in this group to compare with.", ""]
                continue
            out.append("| " + " | ".join(COMPARISON_HEADER) + " |")
            out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
            for c in comps:
                out.append("| " + " | ".join(comparison_cells(c)) + " |")
            out.append("")
            out += [f"Note: {line}" for line in wilcoxon_notes(comps)]
            out.append("")
            out += _markdown_mcnemar(g, ref)
        out += _markdown_intervals(g)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- reference run

REFERENCE_TITLE = "Against the paper and this project's reference run"
REFERENCE_NOTE = (
    "Reference run: this project's own real-data result for the same configuration "
    "(model, recipe, protocol, preprocessing, training and data: the same config hash), "
    "mean ± sample std over its seeds with the 95 % t-interval of the mean "
    "(dashboard/reference_numbers.csv, docs/RESULTS.md). Paper: Tables III and IV of the "
    "CLAReSNet paper, for its protocol only."
)


def reference_cells(g: Group) -> list[list[str]]:
    """Per row of the group with a reference configuration and per metric of the
    reference table: model, metric, the paper, the reference run, this database.
    Empty when no row of the group is a reference configuration."""
    from . import reference_numbers as ref

    rows = ref.load()
    paper = ref.paper_cells() if g.protocol == "paper" and g.source == "real" else {}
    out = []
    for row in g.rows:
        matched = ref.matching(rows, row["config_hash"])
        for metric in ref.METRICS:
            r = matched.get(metric)
            if r is None:
                continue
            column = metric_table.get_metric(metric)
            cell = paper.get((g.scene, row.get("family") or row["model"], metric))
            theirs = "–" if cell is None else _pm(cell[0], cell[1], column)
            mine = _pm(r.mean, r.std, column)
            if r.ci_low is not None and r.ci_high is not None:
                mine += f" [{_number(r.ci_low, column)}, {_number(r.ci_high, column)}]"
            stats = row["metrics"].get(metric) or {"mean": None, "std": None, "n": 0}
            yours = _cell(stats, column, " ± ", "–")
            out.append([row["label"], column.header, theirs, f"{mine} (n={r.n})", yours])
    return out


REFERENCE_HEADER = ["Model", "Metric", "Paper", "Reference run", "This database"]


def _pm(mean: float, std: float | None, column: Column) -> str:
    text = _number(mean, column) or "–"
    return text if std is None else f"{text} ± {_number(std, column)}"


def _markdown_reference(g: Group) -> list[str]:
    cells = reference_cells(g)
    if not cells:
        return []
    out = [f"### {REFERENCE_TITLE}", "", "| " + " | ".join(REFERENCE_HEADER) + " |"]
    out.append("| --- | --- | ---: | ---: | ---: |")
    out += ["| " + " | ".join(c) + " |" for c in cells]
    return [*out, "", REFERENCE_NOTE, ""]


# --------------------------------------------------------------------------- detail tables

CLASS_TITLES = {"recall": "Per-class accuracy (recall, %)", "f1": "Per-class F1 (%)"}
NO_TEST_PIXEL = "no test pixel"
CLASS_NOTE = (
    "mean ± sample std over seeds; best model per class in bold; (n=k): only k of the "
    'model\'s seeds had test pixels of the class; "no test pixel": the class has none in '
    "any trial of this protocol."
)
MCNEMAR_HEADER = [
    "Baseline",
    "Seeds tested",
    "p per seed (ref-only / baseline-only correct pixels)",
    "Seeds p < 0.05",
    "Fisher combined p",
]
MCNEMAR_NOTE = (
    "McNemar's exact test on the test pixels one model classifies correctly and the other "
    "does not, for trials of one seed on the same test pixels; Fisher's combination assumes "
    "independent seeds (each its own split and models): with a fixed split the seeds share "
    "their test pixels and the combined p is optimistic."
)
INTERVALS_NOTE = (
    "Value [95 % interval]: percentile bootstrap over the trial's test pixels (1,000 "
    "resamples seeded by the trial's seed): the uncertainty of one trained model's score "
    "from the finite test set, beside the spread over seeds in the table above."
)


def class_cell(table: ClassTable, label: int, model: str, bold: tuple[str, str]) -> str:
    """One cell of the per-class table (percent), ``bold`` wrapping the best model's."""
    cell = table.cells[(label, model)]
    if cell.mean is None:
        return "–"
    text = f"{100 * cell.mean:.2f}"
    if cell.std is not None:
        text += f" ± {100 * cell.std:.2f}"
    if model in table.best.get(label, ()):
        text = f"{bold[0]}{text}{bold[1]}"
    if cell.absent:
        text += f" (n={cell.n})"
    return text


def class_rows(table: ClassTable, bold: tuple[str, str] = ("**", "**")) -> list[list[str]]:
    """The per-class table's text rows: one per class ("label name", then a cell per
    model), then OA, AA and kappa (mean ± std over seeds)."""
    out = []
    for label, name in table.classes:
        first = f"{label} {name}" if name != str(label) else str(label)
        if table.untested(label):
            out.append([first] + [NO_TEST_PIXEL] * len(table.models))
        else:
            out.append([first] + [class_cell(table, label, m, bold) for m in table.models])
    for name in ("oa", "aa", "kappa"):
        column = metric_table.get_metric(name)
        cells = []
        for model in table.models:
            stats = table.summary.get((name, model))
            cells.append(
                "–" if stats is None else _cell(stats, column, " ± ", "–").split(" (n=")[0]
            )
        out.append([column.header] + cells)
    return out


def _markdown_classes(g: Group) -> list[str]:
    t = g.classes
    if t is None or not t.classes:
        return []
    out = [f"### {CLASS_TITLES[t.metric]}", ""]
    out.append("| Class | " + " | ".join(t.models) + " |")
    out.append("| --- | " + " | ".join("---:" for _ in t.models) + " |")
    out += ["| " + " | ".join(r) + " |" for r in class_rows(t)]
    return out + ["", f"Per class: {CLASS_NOTE}", ""]


def mcnemar_cells(m: McNemar) -> list[str]:
    """The text cells of one McNemar row (columns of :data:`MCNEMAR_HEADER`)."""
    per_seed = "; ".join(
        f"{t.seed}: {_fmt_p(t.p)} ({t.reference_only}/{t.baseline_only})" for t in m.seeds
    )
    return [
        m.baseline,
        str(m.n),
        per_seed or "none",
        f"{m.n_significant} of {m.n}" if m.n else "–",
        _fmt_p(m.combined_p),
    ]


def mcnemar_intro(ref: str) -> str:
    """The title of McNemar's tests against ``ref``."""
    return f"McNemar's test vs {ref} (the same test pixels, seed by seed)"


NO_MCNEMAR = (
    "McNemar's test: no trials of this group share a seed and a test set with stored test "
    "predictions (trials stored before they were kept have none; re-run them to test)."
)


def _markdown_mcnemar(g: Group, ref: str) -> list[str]:
    tests = [m for m in g.mcnemar if m.reference == ref]
    if not tests:
        return []
    if not any(m.n for m in tests):
        return [NO_MCNEMAR, ""]
    out = [f"### {mcnemar_intro(ref)}", ""]
    out.append("| " + " | ".join(MCNEMAR_HEADER) + " |")
    out.append("| --- | ---: | --- | ---: | ---: |")
    out += ["| " + " | ".join(mcnemar_cells(m)) + " |" for m in tests]
    out.append("")
    out += [f"Note: {m.baseline}: {m.note}." for m in tests if m.note]
    return out + [f"Note: {MCNEMAR_NOTE}", ""]


def interval_cell(value: tuple[float | None, float | None, float | None], metric: str) -> str:
    """ "value [low, high]" in the metric's units ("–" without a value)."""
    column = metric_table.get_metric(metric)
    point, low, high = value
    if point is None:
        return "–"
    if low is None or high is None:
        return column.format(point)
    return f"{column.format(point)} [{column.format(low)}, {column.format(high)}]"


def has_intervals(g: Group) -> bool:
    """Whether any trial of the group has a bootstrap interval to show."""
    return any(r["values"][m][1] is not None for r in g.intervals for m in INTERVAL_METRICS)


def _markdown_intervals(g: Group) -> list[str]:
    if not has_intervals(g):
        return []
    headers = [metric_table.get_metric(m).header for m in INTERVAL_METRICS]
    out = ["### Bootstrap 95 % intervals per trial", ""]
    out.append("| Model | Seed | " + " | ".join(headers) + " |")
    out.append("| --- | ---: | " + " | ".join("---:" for _ in headers) + " |")
    for r in g.intervals:
        cells = [interval_cell(r["values"][m], m) for m in INTERVAL_METRICS]
        out.append(f"| {r['label']} | {r['seed']} | " + " | ".join(cells) + " |")
    return out + ["", f"Intervals: {INTERVALS_NOTE}", ""]


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_cell(stats: dict[str, Any], column: Column) -> str:
    mean = _number(stats["mean"], column)
    if mean is None:
        return "--"
    std = _number(stats["std"], column)
    body = f"${mean}$" if std is None else f"${mean} \\pm {std}$"
    return f"{body} ({stats['n']})"


def render_latex(groups: Sequence[Group], summary: bool = True) -> str:
    """LaTeX tabulars: per group the paper's layout with its paired comparisons
    (``summary``) and the detail tables the group holds."""
    out = ["% Results in the layout of the paper's Tables III/IV (generated by harness.report)."]
    columns = metric_table.leaderboard_columns()
    width = len(columns) + 1
    for g in groups:
        out += ["", f"% {g.title}"]
        if g.source == "surrogate":
            out.append(f"% {SURROGATE_NOTE}")
        if not summary:
            out += _latex_details(g)
            continue
        out.append(r"\begin{tabular}{l" + "r" * len(columns) + "}")
        out.append(r"\hline")
        out.append(
            rf"\multicolumn{{{width}}}{{l}}{{{_tex(g.scene)}, protocol {_tex(g.protocol)}, "
            rf"recipe {_tex(g.recipe)}, source {_tex(g.source)}, {_tex(g.pca_text)}}} \\"
        )
        out.append(r"\hline")
        out.append("Model & " + " & ".join(c.latex for c in columns) + r" \\")
        out.append(r"\hline")
        for row in g.rows:
            cells = [_tex_cell(row["metrics"][c.name], c) for c in columns]
            out.append(f"{_tex(row['label'])} & " + " & ".join(cells) + r" \\")
        out.append(r"\hline")
        out.append(
            rf"\multicolumn{{{width}}}{{l}}{{\footnotesize Mean $\pm$ sample std over seeds "
            r"(n = seeds).} \\"
        )
        if g.source == "surrogate":
            out.append(
                rf"\multicolumn{{{width}}}{{l}}{{\footnotesize\textbf{{{_tex(SURROGATE_NOTE)}}}}} \\"
            )
        out.append(r"\end{tabular}")
        if not g.references:
            out.append(f"% {_no_reference()}")
        for ref in g.references:
            comps = [c for c in g.comparisons if c.reference == ref]
            out += ["", f"% {comparison_intro(ref)}"]
            if not comps:
                out.append("% No baseline in this group to compare with.")
                continue
            out.append(r"\begin{tabular}{llrrrrr}")
            out.append(r"\hline")
            out.append(
                r"Baseline & Common seeds & $n$ & Mean $\Delta$OA (pp) & $t$-test $p$ & "
                r"Wilcoxon $p$ & Min.\ Wilcoxon $p$ \\"
            )
            out.append(r"\hline")
            for c in comps:
                cells = [_tex(x).replace("–", "--") for x in comparison_cells(c)]
                out.append(" & ".join(cells) + r" \\")
            out.append(r"\hline")
            for line in wilcoxon_notes(comps, tex=True):  # plain text and $math$ only
                out.append(rf"\multicolumn{{7}}{{l}}{{\footnotesize Note: {line}}} \\")
            out.append(r"\end{tabular}")
        out += _latex_details(g)
    return "\n".join(out) + "\n"


def _latex_tabular(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], align: str, note: str
) -> list[str]:
    """A titled tabular: ``header`` cells are LaTeX already; ``rows`` are LaTeX cells."""
    width = len(header)
    out = ["", f"% {title}", rf"\begin{{tabular}}{{{align}}}", r"\hline"]
    out.append(rf"\multicolumn{{{width}}}{{l}}{{{_tex_text(title)}}} \\")
    out += [r"\hline", " & ".join(header) + r" \\", r"\hline"]
    out += [" & ".join(row) + r" \\" for row in rows]
    out.append(r"\hline")
    out.append(rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {_tex_text(note)}}} \\")
    return out + [r"\end{tabular}"]


def _tex_text(cell: str) -> str:
    return _tex(cell).replace("–", "--").replace("±", r"$\pm$")


def _latex_details(g: Group) -> list[str]:
    out: list[str] = []
    t = g.classes
    if t is not None and t.classes:
        rows = [  # \x01 and \x02 mark the best cell, untouched by the escaping
            [_tex_text(c).replace("\x01", r"\textbf{").replace("\x02", "}") for c in row]
            for row in class_rows(t, bold=("\x01", "\x02"))
        ]
        out += _latex_tabular(
            f"{CLASS_TITLES[t.metric]} -- {g.title}",
            ["Class", *(_tex(m) for m in t.models)],
            rows,
            "l" + "r" * len(t.models),
            f"Per class: {CLASS_NOTE}",
        )
    for ref in g.references:
        tests = [m for m in g.mcnemar if m.reference == ref]
        if tests and not any(m.n for m in tests):
            out.append(f"% {NO_MCNEMAR}")
        elif tests:
            notes = " ".join(f"{m.baseline}: {m.note}." for m in tests if m.note)
            out += _latex_tabular(
                mcnemar_intro(ref),
                [_tex(h) for h in MCNEMAR_HEADER],
                [[_tex_text(c) for c in mcnemar_cells(m)] for m in tests],
                "lrp{6cm}rr",
                f"{notes} {MCNEMAR_NOTE}".strip(),
            )
    if has_intervals(g):
        out += _latex_tabular(
            f"Bootstrap 95 % intervals per trial -- {g.title}",
            ["Model", "Seed", *(metric_table.get_metric(m).latex for m in INTERVAL_METRICS)],
            [
                [_tex(r["label"]), str(r["seed"])]
                + [_tex_text(interval_cell(r["values"][m], m)) for m in INTERVAL_METRICS]
                for r in g.intervals
            ],
            "lr" + "r" * len(INTERVAL_METRICS),
            INTERVALS_NOTE,
        )
    return out


CSV_FIELDS = (
    "scene",
    "protocol",
    "recipe",
    "source",
    "pca_fit",
    "model",
    "label",
    "config_hash",
    "metric",
    "mean",
    "std",
    "n",
)


def render_csv(groups: Sequence[Group]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    columns = metric_table.leaderboard_columns()
    for g in groups:
        for row in g.rows:
            for c in columns:
                stats = row["metrics"][c.name]
                writer.writerow(
                    [
                        g.scene,
                        g.protocol,
                        g.recipe,
                        g.source,
                        g.pca_fit,
                        row["model"],
                        row["label"],
                        row["config_hash"],
                        c.name,
                        "" if stats["mean"] is None else repr(stats["mean"]),
                        "" if stats["std"] is None else repr(stats["std"]),
                        stats["n"],
                    ]
                )
    return buffer.getvalue()


_GROUP_FIELDS = ("scene", "protocol", "recipe", "source", "pca_fit")
CSV_DETAIL_FIELDS = {
    "per-class": (*_GROUP_FIELDS, "model", "class_label", "class_name", "metric", "mean",
                  "std", "n", "seeds_without_test_pixels", "best"),
    "mcnemar": (*_GROUP_FIELDS, "reference", "baseline", "seed", "test_pixels",
                "reference_only_correct", "baseline_only_correct", "p", "combined_p"),
    "intervals": (*_GROUP_FIELDS, "model", "trial_id", "seed", "metric", "value", "ci_low",
                  "ci_high"),
}  # fmt: skip


def render_csv_detail(groups: Sequence[Group], table: str) -> str:
    """One detail table as CSV, in stored units (fractions): "per-class" (one row per
    model and class), "mcnemar" (one row per baseline and seed) or "intervals" (one row
    per trial and metric)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_DETAIL_FIELDS[table])

    def num(value: float | None) -> str:
        return "" if value is None else repr(float(value))

    for g in groups:
        key = [g.scene, g.protocol, g.recipe, g.source, g.pca_fit]
        if table == "per-class" and g.classes is not None:
            t = g.classes
            for label, name in t.classes:
                for model in t.models:
                    c = t.cells[(label, model)]
                    best = model in t.best.get(label, ())
                    writer.writerow([*key, model, label, name, t.metric, num(c.mean),
                                     num(c.std), c.n, c.absent, best])  # fmt: skip
        elif table == "mcnemar":
            for m in g.mcnemar:
                for s in m.seeds:
                    writer.writerow([*key, m.reference, m.baseline, s.seed, s.n,
                                     s.reference_only, s.baseline_only, num(s.p),
                                     num(m.combined_p)])  # fmt: skip
        elif table == "intervals":
            for r in g.intervals:
                for metric in INTERVAL_METRICS:
                    value, low, high = r["values"][metric]
                    writer.writerow([*key, r["label"], r["trial_id"], r["seed"], metric,
                                     num(value), num(low), num(high)])  # fmt: skip
    return buffer.getvalue()


RENDERERS = {"markdown": render_markdown, "latex": render_latex, "csv": render_csv}


def render(groups: Sequence[Group], fmt: str = "markdown", table: str = "all") -> str:
    """The report of ``groups`` in ``fmt`` ("markdown", "latex" or "csv").

    Markdown and LaTeX hold the paper's layout and its paired comparisons (unless
    ``table`` names one detail table) and every table the groups were filled with
    (:func:`add_details`); CSV holds one table, ``table`` ("all" means "summary").
    """
    if fmt not in RENDERERS:
        raise ValueError(f"format={fmt!r} must be one of {', '.join(FORMATS)}.")
    if table not in ("all", *TABLES) or table == "leakage":
        raise ValueError(
            f"table={table!r} must be one of all, {', '.join(TABLES[:-1])} (the leakage "
            "tables: harness.leakage.render)."
        )
    if fmt == "csv":
        return (
            render_csv(groups) if table in ("all", "summary") else render_csv_detail(groups, table)
        )
    if fmt == "markdown":
        return render_markdown(groups, summary=table in ("all", "summary"))
    return render_latex(groups, summary=table in ("all", "summary"))


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report",
        description="Print paper-style tables (Tables III/IV) from a results database.",
    )
    parser.add_argument("--db", required=True, help="results database: a file path or a URL")
    parser.add_argument("--scene", help="only this scene")
    parser.add_argument("--protocol", help="only this split protocol")
    parser.add_argument("--recipe", help="only this recipe (unified, published)")
    parser.add_argument("--source", choices=("real", "surrogate"), help="only this data source")
    parser.add_argument(
        "--pca-fit",
        choices=("scene", "train"),
        help="only this PCA fit (on the whole scene, or on the training pixels only)",
    )
    parser.add_argument("--format", choices=FORMATS, default="markdown", help="output format")
    parser.add_argument(
        "--table",
        choices=("all", *TABLES),
        help="which tables: the paper's layout (summary), the classes x models table "
        "(per-class), McNemar's test against CLAReSNet (mcnemar), the bootstrap intervals "
        "of every trial (intervals), the leakage study's tables (leakage: split x PCA "
        "settings, the leakage gap with its 95%% CI); default: all of them, for CSV (one "
        "table per file) summary",
    )
    parser.add_argument(
        "--class-metric",
        choices=CLASS_METRICS,
        default="recall",
        help="the per-class figure: recall (the per-class accuracy of HSI papers) or f1",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    table = args.table or ("summary" if args.format == "csv" else "all")
    if args.format == "csv" and table == "all":
        parser.error(
            "--format csv writes one table: choose --table summary, per-class, mcnemar, "
            "intervals or leakage."
        )
    details = ("per-class", "mcnemar", "intervals") if table == "all" else (table,)
    filters = {
        "scene": args.scene,
        "protocol": args.protocol,
        "recipe": args.recipe,
        "source": args.source,
        "pca_fit": args.pca_fit,
    }
    if table == "leakage" and (args.protocol or args.pca_fit):
        print(
            "error: --table leakage spans the protocols and PCA fits. Fix: drop --protocol "
            "and --pca-fit.",
            file=sys.stderr,
        )
        return 2
    try:
        with ResultStore(args.db, readonly=True) as store:
            if table == "leakage":
                return _print_leakage(_leakage_tables(store, args), args.format)
            leak = _leakage_tables(store, args) if table == "all" else []
            groups = collect(store, **filters)
            if not groups and any(v is not None for v in filters.values()):
                return _nothing_matches(store, filters)
            for group in groups:
                add_details(group, store, details, args.class_metric)
            searches_only = not groups and bool(store.completed_hashes())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not groups:
        message = SEARCHES_ONLY_MESSAGE if searches_only else EMPTY_MESSAGE
        if args.format == "csv":
            print(render([], "csv", table), end="")
            print(message, file=sys.stderr)
        else:
            print(message)
        return 0
    print(render(groups, args.format, table), end="")
    if leak:  # markdown and LaTeX, every table: the leakage study's too
        print()
        _print_leakage(leak, args.format)
    return 0


def _leakage_tables(store: ResultStore, args: argparse.Namespace) -> list[Any]:
    """The leakage tables (:mod:`harness.leakage`) for the scene, recipe and source
    filters; none when the report is filtered to one protocol or PCA fit."""
    from . import leakage

    if args.protocol or args.pca_fit:
        return []
    return leakage.collect(store, scene=args.scene, recipe=args.recipe, source=args.source)


def _print_leakage(tables: list[Any], fmt: str) -> int:
    from . import leakage

    if not tables and fmt != "csv":
        print(leakage.EMPTY_MESSAGE)
        return 0
    if not tables:
        print(leakage.EMPTY_MESSAGE, file=sys.stderr)
    print(leakage.render(tables, fmt), end="")
    return 0


def _nothing_matches(store: ResultStore, filters: dict[str, str | None]) -> int:
    """Error for filters that match no completed trial, with the values that exist."""
    board = store.leaderboard()
    given = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in filters.items() if v is not None)
    lines = [f"error: {given} matches no completed trial (outside searches)."]
    for key, value in filters.items():
        if value is not None:
            present = sorted({row[key] for row in board})
            lines.append(f"  {key}s with completed trials: {', '.join(present) or 'none'}")
    print("\n".join(lines), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
