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

Under each table (:func:`add_details`, :mod:`harness.analysis.significance`): the classes x
models table (mean ± std over seeds of each class's recall, or F1 with
``--class-metric f1``; the best model per class marked; OA, AA and kappa underneath),
McNemar's exact test of every baseline against CLAReSNet on the test pixels they
share, seed by seed, with Fisher's combination, and each trial's bootstrap 95 %
intervals of OA, AA and kappa.

When the database holds a leakage study (``--suite leakage``), the markdown and
LaTeX reports end with its tables (:mod:`harness.analysis.leakage`: test OA per split x PCA
setting, Δ OA and the leakage gap with its 95 % confidence interval).

``--table`` picks one table: ``summary`` (the paper's layout and the paired
comparison), ``per-class``, ``mcnemar``, ``intervals`` or ``leakage``. CSV (for
scripts) holds one table, ``summary`` by default: one row per model and metric with
mean, std and n in the units stored (fractions for OA/BA, not percent) and a ``note``
("NOT A RESULT: predicts one class" for a collapsed model, marked in Markdown and
LaTeX too); the others
one row per model and class, per baseline and seed, per trial and metric, per
model and setting.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from datasets.cli_options import add_option

from .analysis import leakage, seeds
from .analysis.render import FORMATS, render
from .analysis.significance import CLASS_METRICS
from .analysis.tables import EMPTY_MESSAGE, SEARCHES_ONLY_MESSAGE, TABLES, add_details, collect
from .store import ResultStore, StoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report",
        description="Print paper-style tables (Tables III/IV) from a results database.",
    )
    add_option(parser, "--db")
    filters = parser.add_argument_group(
        "filters", "Only the trials that match (--scene takes one or more scenes)."
    )
    add_option(filters, "--scene", nargs="+")
    add_option(filters, "--protocol")
    add_option(filters, "--recipe")
    add_option(filters, "--source", choices=("real", "surrogate"))
    add_option(filters, "--pca-fit")
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
    parser.add_argument(
        "--include-not-results",
        action="store_true",
        help="keep the seeds that are not results (a model that predicts one class, or "
        "does no better than the majority class) in the means; by default they are left "
        "out and named under the table",
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
    filters: dict[str, Any] = {
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
            by_scene = {
                scene: collect(
                    store,
                    **{**filters, "scene": scene},
                    include_not_results=args.include_not_results,
                )
                for scene in dict.fromkeys(args.scene or [None])
            }
            groups = [group for found in by_scene.values() for group in found]
            unmatched = [scene for scene, found in by_scene.items() if scene and not found]
            if groups and unmatched:  # a scene that matches nothing is named, not skipped
                return _nothing_matches(store, {**filters, "scene": unmatched})
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
    """The leakage tables (:mod:`harness.analysis.leakage`) for the scene, recipe and source
    filters; none when the report is filtered to one protocol or PCA fit."""
    if args.protocol or args.pca_fit:
        return []
    return [
        table
        for scene in dict.fromkeys(args.scene or [None])
        for table in leakage.collect(store, scene=scene, recipe=args.recipe, source=args.source)
    ]


def _print_leakage(tables: list[Any], fmt: str) -> int:
    if not tables and fmt != "csv":
        print(leakage.EMPTY_MESSAGE)
        return 0
    if not tables:
        print(leakage.EMPTY_MESSAGE, file=sys.stderr)
    print(leakage.render(tables, fmt), end="")
    return 0


def _nothing_matches(store: ResultStore, filters: dict[str, Any]) -> int:
    """Error for filters that match no completed trial, with the values that exist."""
    board = seeds.leaderboard(store)
    given = ", ".join(
        f"--{k.replace('_', '-')} {' '.join(v) if isinstance(v, list) else v}"
        for k, v in filters.items()
        if v is not None
    )
    lines = [f"error: {given} matches no completed trial (outside searches)."]
    for key, value in filters.items():
        if value is not None:
            present = sorted({row[key] for row in board})
            lines.append(f"  {key}s with completed trials: {', '.join(present) or 'none'}")
    print("\n".join(lines), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
