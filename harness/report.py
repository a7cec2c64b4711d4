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

CSV (for scripts): one row per model and metric with mean, std and n in the units
stored (fractions for OA/BA, not percent); the paired comparison is not included.

When the database holds a leakage study (``--suite leakage``), the markdown and
LaTeX reports end with its tables (:mod:`harness.leakage`: test OA per split x PCA
setting, Δ OA and the leakage gap with its 95 % confidence interval); ``--leakage``
prints those tables only, in any format (CSV included).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import metric_table
from .metric_table import MetricInfo
from .spec import group_fields, group_of
from .store import ResultStore, StoreError

FORMATS = ("markdown", "latex", "csv")
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
        metrics=metric_table.leaderboard_metrics(),
    )
    keyed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in board:
        keyed.setdefault(group_of(row), []).append(row)

    def per_seed(key: tuple[str, ...]) -> Callable[[], dict[str, dict[int, float]]]:
        return lambda: store.per_seed(**group_fields(key), metric="oa")

    return [make_group(key, rows, per_seed(key)) for key, rows in keyed.items()]


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


def render_markdown(groups: Sequence[Group]) -> str:
    columns = metric_table.leaderboard_columns()
    out = ["# Results (layout of the paper's Tables III/IV)", ""]
    for g in groups:
        out += [f"## {g.title}", ""]
        if g.source == "surrogate":
            out += [f"> **{SURROGATE_NOTE}**", ""]
        out.append("| Model | " + " | ".join(c.header for c in columns) + " |")
        out.append("| --- | " + " | ".join("---:" for _ in columns) + " |")
        for row in g.rows:
            cells = [_cell(row["metrics"][c.name], c, " ± ", "–") for c in columns]
            out.append(f"| {row['label']} | " + " | ".join(cells) + " |")
        out += ["", "Mean ± sample std (ddof=1) over seeds; n = seeds with a value.", ""]
        if not g.references:
            out += [_no_reference(), ""]
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
    return "\n".join(out).rstrip() + "\n"


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


def render_latex(groups: Sequence[Group]) -> str:
    out = ["% Results in the layout of the paper's Tables III/IV (generated by harness.report)."]
    columns = metric_table.leaderboard_columns()
    width = len(columns) + 1
    for g in groups:
        out += ["", f"% {g.title}"]
        if g.source == "surrogate":
            out.append(f"% {SURROGATE_NOTE}")
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
            continue
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
    return "\n".join(out) + "\n"


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


RENDERERS = {"markdown": render_markdown, "latex": render_latex, "csv": render_csv}


def render(groups: Sequence[Group], fmt: str = "markdown") -> str:
    """The report of ``groups`` in ``fmt`` ("markdown", "latex" or "csv")."""
    if fmt not in RENDERERS:
        raise ValueError(f"format={fmt!r} must be one of {', '.join(FORMATS)}.")
    return RENDERERS[fmt](groups)


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
        "--leakage",
        action="store_true",
        help="only the leakage tables (split x PCA settings, the leakage gap with its 95%% "
        "CI); markdown and LaTeX reports append them when the database holds a leakage study",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    filters = {
        "scene": args.scene,
        "protocol": args.protocol,
        "recipe": args.recipe,
        "source": args.source,
        "pca_fit": args.pca_fit,
    }
    if args.leakage and (args.protocol or args.pca_fit):
        print(
            "error: --leakage spans the protocols and PCA fits. Fix: drop --protocol and "
            "--pca-fit.",
            file=sys.stderr,
        )
        return 2
    try:
        with ResultStore(args.db, readonly=True) as store:
            leak = _leakage_tables(store, args)
            if args.leakage:
                return _print_leakage(leak, args.format)
            groups = collect(store, **filters)
            if not groups and any(v is not None for v in filters.values()):
                return _nothing_matches(store, filters)
            searches_only = not groups and bool(store.completed_hashes())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not groups:
        message = SEARCHES_ONLY_MESSAGE if searches_only else EMPTY_MESSAGE
        if args.format == "csv":
            print(render_csv([]), end="")
            print(message, file=sys.stderr)
        else:
            print(message)
        return 0
    print(render(groups, args.format), end="")
    if leak and args.format != "csv":  # one table per CSV: --leakage --format csv
        print()
        _print_leakage(leak, args.format)
    return 0


def _leakage_tables(store: ResultStore, args: argparse.Namespace) -> list[Any]:
    """The leakage tables (:mod:`harness.leakage`) for the scene, recipe and source
    filters; none when the report is filtered to one protocol or PCA fit, or is a CSV
    of the results tables."""
    from . import leakage

    if args.protocol or args.pca_fit or (args.format == "csv" and not args.leakage):
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
