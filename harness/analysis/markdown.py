"""A report as Markdown: per group the paper's layout, the reference run, the paired
comparisons and the detail tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import metric_table
from .cells import (
    CLASS_NOTE,
    CLASS_TITLES,
    COMPARISON_HEADER,
    INTERVALS_NOTE,
    MCNEMAR_HEADER,
    MCNEMAR_NOTE,
    NO_MCNEMAR,
    REFERENCE_HEADER,
    REFERENCE_NOTE,
    REFERENCE_TITLE,
    class_rows,
    comparison_cells,
    comparison_intro,
    has_intervals,
    interval_cell,
    mcnemar_cells,
    mcnemar_intro,
    no_reference,
    reference_cells,
    stats_cell,
    wilcoxon_notes,
)
from .tables import (
    INTERVAL_METRICS,
    NOT_A_RESULT,
    NOT_A_RESULT_NOTE,
    SURROGATE_NOTE,
    Group,
    left_out_note,
    not_a_result,
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
        flagged = False
        for row in g.rows:
            cells = [stats_cell(row["metrics"][c.name], c, " ± ", "–") for c in columns]
            label, note = row["label"], not_a_result(row)
            if note:
                label, flagged = f"{label} **({NOT_A_RESULT}: {note})**", True
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out += ["", "Mean ± sample std (ddof=1) over seeds; n = seeds with a value.", ""]
        out += [f"- {row['label']}: {n}" for row in g.rows if (n := left_out_note(row))]
        if out[-1] != "":
            out.append("")
        if flagged:
            out += [f"**{NOT_A_RESULT_NOTE}**", ""]
        out += _markdown_reference(g)
        out += _markdown_classes(g)
        if not g.references:
            out += [no_reference(), ""]
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


def _markdown_reference(g: Group) -> list[str]:
    cells = reference_cells(g)
    if not cells:
        return []
    out = [f"### {REFERENCE_TITLE}", "", "| " + " | ".join(REFERENCE_HEADER) + " |"]
    out.append("| --- | --- | ---: | ---: | ---: |")
    out += ["| " + " | ".join(c) + " |" for c in cells]
    return [*out, "", REFERENCE_NOTE, ""]


def _markdown_classes(g: Group) -> list[str]:
    t = g.classes
    if t is None or not t.classes:
        return []
    out = [f"### {CLASS_TITLES[t.metric]}", ""]
    out.append("| Class | " + " | ".join(t.models) + " |")
    out.append("| --- | " + " | ".join("---:" for _ in t.models) + " |")
    out += ["| " + " | ".join(r) + " |" for r in class_rows(t)]
    return out + ["", f"Per class: {CLASS_NOTE}", ""]


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
