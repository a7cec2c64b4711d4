"""The text of a report's cells, shared by its formats, the leakage table and the
dashboard: numbers, p-values, comparison, reference-run, per-class, McNemar and
interval cells, their headers and notes, and LaTeX escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import metric_table
from . import reference_numbers as ref
from .paired import Paired, min_wilcoxon_p
from .significance import ClassTable, McNemar
from .tables import INTERVAL_METRICS, Column, Group


def number(value: float | None, column: Column) -> str | None:
    return None if value is None else column.format(value)


def stats_cell(stats: dict[str, Any], column: Column, pm: str, dash: str) -> str:
    mean = number(stats["mean"], column)
    if mean is None:
        return dash
    std = number(stats["std"], column)
    body = mean if std is None else f"{mean}{pm}{std}"
    return f"{body} (n={stats['n']})"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def fmt_diff(d: float | None) -> str:
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
        wilcoxon = fmt_p(c.wilcoxon_p) + (f" ({c.note})" if c.note else "")
        p_cells = [fmt_p(c.t_p), wilcoxon, f"{c.min_p:.4g}"]
    seeds = ",".join(str(s) for s in c.seeds) or "none"
    return [c.baseline, seeds, str(c.n), fmt_diff(c.mean_diff), *p_cells]


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


def no_reference() -> str:
    return (
        "No CLAReSNet results in this group (no model of the claresnet family): "
        "paired comparison skipped."
    )


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
            theirs = "–" if cell is None else pm(cell[0], cell[1], column)
            mine = pm(r.mean, r.std, column)
            if r.ci_low is not None and r.ci_high is not None:
                mine += f" [{number(r.ci_low, column)}, {number(r.ci_high, column)}]"
            stats = row["metrics"].get(metric) or {"mean": None, "std": None, "n": 0}
            yours = stats_cell(stats, column, " ± ", "–")
            out.append([row["label"], column.header, theirs, f"{mine} (n={r.n})", yours])
    return out


REFERENCE_HEADER = ["Model", "Metric", "Paper", "Reference run", "This database"]


def pm(mean: float, std: float | None, column: Column) -> str:
    text = number(mean, column) or "–"
    return text if std is None else f"{text} ± {number(std, column)}"


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
                "–" if stats is None else stats_cell(stats, column, " ± ", "–").split(" (n=")[0]
            )
        out.append([column.header] + cells)
    return out


def mcnemar_cells(m: McNemar) -> list[str]:
    """The text cells of one McNemar row (columns of :data:`MCNEMAR_HEADER`)."""
    per_seed = "; ".join(
        f"{t.seed}: {fmt_p(t.p)} ({t.reference_only}/{t.baseline_only})" for t in m.seeds
    )
    return [
        m.baseline,
        str(m.n),
        per_seed or "none",
        f"{m.n_significant} of {m.n}" if m.n else "–",
        fmt_p(m.combined_p),
    ]


def mcnemar_intro(ref: str) -> str:
    """The title of McNemar's tests against ``ref``."""
    return f"McNemar's test vs {ref} (the same test pixels, seed by seed)"


NO_MCNEMAR = (
    "McNemar's test: no trials of this group share a seed and a test set with stored test "
    "predictions (trials stored before they were kept have none; re-run them to test)."
)


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


LATEX_ESCAPES = {
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


def tex(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def tex_text(cell: str) -> str:
    return tex(cell).replace("–", "--").replace("±", r"$\pm$")
