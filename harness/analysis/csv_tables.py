"""A report as CSV, one table a file, in the units stored (fractions): the summary, the
per-class table, McNemar's tests or the intervals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from .. import metric_table
from .tables import INTERVAL_METRICS, NOT_A_RESULT, Group, left_out_note, not_a_result

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
    # "NOT A RESULT: predicts one class" (...) for a row whose numbers are not results;
    # "seed 2 left out of the means (NOT A RESULT: ...)" for a row that lost seeds
    "note",
)


def render_csv(groups: Sequence[Group]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    columns = metric_table.leaderboard_columns()
    for g in groups:
        for row in g.rows:
            note = not_a_result(row)
            flag = f"{NOT_A_RESULT}: {note}" if note else (left_out_note(row) or "")
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
                        flag,
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
