"""Paper tables: Tables III and IV of the CLAReSNet paper beside this database's numbers,
the paired comparison against CLAReSNet, and the leakage table."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, queries, ui
from datasets.cli_options import python_command
from harness.analysis import cells, leakage, reference_numbers, tables
from harness.metric_table import Direction, leaderboard_metrics
from harness.spec import GROUP_KEY, group_of

LEADERBOARD_METRICS = leaderboard_metrics()  # the metric table's columns, read at every run
#: {column header: metric} of the leaderboard's columns.
HEADER_METRIC = {ui.header(m): m for m in LEADERBOARD_METRICS}
FLAGGED_STYLE = ui.FLAGGED_STYLE

TABLES = (("III", "indian_pines", "Indian Pines"), ("IV", "salinas", "Salinas"))
LEAK_DELTA = leakage.DELTA_HEADER


def _paper_cells() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """{(scene, family): {metric: paper row}}."""
    cells: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in queries.paper_numbers():
        cells.setdefault((row["scene"], row["model"]), {})[row["metric"]] = row
    return cells


def _fmt_paper(cell: dict[str, Any] | None, metric: str) -> str:
    if cell is None or cell["mean"] is None:
        return "–"
    column = ui.COLUMN_BY_METRIC[metric]
    text = f"{cell['mean']:.{column.decimals}f}"
    return text if cell["std"] is None else f"{text} ± {cell['std']:.{column.decimals}f}"


def _paper_order(row: dict[str, Any]) -> tuple[int, str]:
    family = row.get("family") or row["model"]
    rank = ui.PAPER_ORDER.index(family) if family in ui.PAPER_ORDER else len(ui.PAPER_ORDER)
    return rank, row["label"]


DELTA_ROW = "Δ (this − paper)"
#: The Δ line of a row that is not compared with the paper (followed by why).
NO_DELTA_ROW = "Δ: not compared"


def no_delta_reasons(row: dict[str, Any]) -> list[str]:
    """Why a leaderboard row is not compared with the paper's number ([] when it is).

    The paper's numbers are of its full models on the real scenes under its own random
    split; a difference means something only for the same: a full-sized model (not a
    tiny variant of the smoke suite) on real data
    (``source == "real"``) under the paper's protocol, and a result (not a model that
    predicts one class).
    """
    import models

    reasons = []
    if row["source"] != "real":
        reasons.append(f"{row['source']} data")
    try:
        tiny = models.get_model_entry(row["model"]).tiny
    except KeyError:  # a model this process does not register: by its name
        tiny = row["model"].endswith("_tiny")
    if tiny:
        reasons.append("smoke-sized model")
    if row["protocol"] != "paper":
        reasons.append(f"protocol {row['protocol']}")
    if ui.one_class_note(row):
        reasons.append("not a result")
    return reasons


#: The line of this project's own real-data result for the same configuration.
REFERENCE_ROW = "this project's reference run"


def _fmt_delta(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    return f"{value:+.{ui.COLUMN_BY_METRIC[metric].decimals}f}"


#: The metrics whose difference with the paper says better or worse (not the raw
#: centroid distance, in each model's own units).
COMPARED = tuple(
    m for m in LEADERBOARD_METRICS if ui.COLUMN_BY_METRIC[m].direction is not Direction.NONE
)


def _delta_colours(row: pd.Series) -> list[str]:
    if row["Row"] != DELTA_ROW:
        return [FLAGGED_STYLE if ui.NOT_A_RESULT in str(row["Row"]) else ""] * len(row)
    colours = []
    for column, value in row.items():
        metric = HEADER_METRIC.get(str(column))
        direction = ui.COLUMN_BY_METRIC[metric].direction if metric else Direction.NONE
        sign = str(value)[:1]
        if direction is Direction.NONE or sign not in "+-":
            colours.append("")
            continue
        better = (sign == "+") == (direction is Direction.HIGHER)
        colours.append("color: #1a7f37" if better else "color: #cf222e")
    return colours


def comparison_frame(rows: list[dict[str, Any]], scene: str) -> tuple[pd.DataFrame, Any]:
    """The paper's table with three lines per model: this database, the paper, the difference
    (no difference lines when no row of the table is compared: :func:`not_compared`)."""
    paper = _paper_cells()
    references = queries.reference_numbers()
    models = [r["model"] for r in rows]
    records = []
    # one reason for the whole table (said above it): no Δ lines at all
    no_deltas = not_compared(rows) is not None
    for row in sorted(rows, key=_paper_order):
        family = row.get("family") or row["model"]
        cells = paper.get((scene, family), {})
        paper_label = next(iter(cells.values()))["paper_label"] if cells else "no paper row"
        note = ui.one_class_note(row)
        reasons = no_delta_reasons(row)
        ours = {
            "Model": row["model"] if models.count(row["model"]) == 1 else row["label"],
            "Row": ui.flagged_label(f"this database ({ui.plural(len(row['seeds']), 'seed')})",
                                    note),
        }  # fmt: skip
        theirs = {"Model": "", "Row": f"paper: {paper_label}"}
        delta = {"Model": "", "Row": f"{NO_DELTA_ROW} ({'; '.join(reasons)})" if reasons
                 else DELTA_ROW}  # fmt: skip
        for metric in LEADERBOARD_METRICS:
            h = ui.header(metric)
            stats = row["metrics"][metric]
            cell = cells.get(metric)
            ours[h] = ui.fmt_stats(stats, metric, with_n=False)
            theirs[h] = _fmt_paper(cell, metric)
            mine = ui.scaled(stats["mean"], metric)
            published = None if cell is None else cell["mean"]
            compared = not reasons and metric in COMPARED
            delta[h] = _fmt_delta(
                None if not compared or ui.missing(mine) or published is None
                else mine - published,
                metric,
            )  # fmt: skip
        matched = reference_numbers.matching(references, row["config_hash"])
        if matched:
            n_ref = next(iter(matched.values())).n
            reference = {"Model": "", "Row": f"{REFERENCE_ROW} ({ui.plural(n_ref, 'seed')})"}
            for metric in LEADERBOARD_METRICS:
                r = matched.get(metric)
                reference[ui.header(metric)] = (
                    "–"
                    if r is None
                    else ui.fmt_stats(
                        {"mean": r.mean, "std": r.std, "n": r.n}, metric, with_n=False
                    )
                )
            records += [ours, reference, theirs]
        else:
            records += [ours, theirs]
        if not no_deltas:
            records.append(delta)
    frame = pd.DataFrame(records)
    numbers = [c for c in frame.columns if c not in ("Model", "Row")]
    styler = frame.style.hide(axis="index").apply(_delta_colours, axis=1)
    return frame, styler.format(ui.one_line, subset=numbers)


def not_compared(rows: list[dict[str, Any]]) -> str | None:
    """The line under a table none of whose rows is compared with the paper, saying why
    (None when some row is)."""
    reasons = [no_delta_reasons(r) for r in rows]
    if not rows or any(not r for r in reasons):
        return None
    common = [r for r in reasons[0] if all(r in other for other in reasons)]
    why = "; ".join(common) if common else "see each model's Δ line"
    return (
        f"Not compared with the paper ({why}): the paper's numbers are its full models on "
        "the real scenes under its own random split, and only such a result is compared "
        "with them. The numbers are shown side by side, with no difference."
    )


def _flags(rows: list[dict[str, Any]]) -> dict[str, str]:
    """{label: why it is not a result} of the rows that are not results."""
    return {r["label"]: note for r in rows if (note := ui.one_class_note(r))}


def _mark_first(line: list[Any], flags: dict[str, str]) -> list[Any]:
    """A table line whose first cell is a model's label, marked when it is not a result."""
    return [ui.flagged_label(str(line[0]), flags.get(str(line[0])), short=True), *line[1:]]


def _paired(key: tuple[str, ...], rows: list[dict[str, Any]], run_id: int | None) -> None:
    group = tables.make_group(key, rows, lambda: queries.per_seed(key, "oa", run_id))
    if not group.references:
        st.info(
            "No CLAReSNet results in this group (no model of the claresnet family): no "
            "paired comparison.",
            icon=":material/info:",
        )
        return
    for ref in group.references:
        comparisons = [c for c in group.comparisons if c.reference == ref]
        st.markdown(f"**{cells.comparison_intro(ref)}**")
        if not comparisons:
            st.caption("No baseline in this group to compare with.")
            continue
        flags = _flags(rows)
        frame = pd.DataFrame(
            [_mark_first(cells.comparison_cells(c), flags) for c in comparisons],
            columns=cells.COMPARISON_HEADER,
        )
        ui.table(frame)
        for note in cells.wilcoxon_notes(comparisons):
            st.caption(f"Note: {note}")


def _table(number: str, scene: str, title: str, rows: list[dict[str, Any]], run_id: int | None):
    st.subheader(f"Table {number} — {title}")
    if not rows:
        st.info(
            f"No results for {scene} with these filters. Run the paper suite "
            f"(`{python_command('harness.run --suite paper')}`) to fill this table.",
            icon=":material/info:",
        )
        return
    key = group_of(rows[0])
    frame, styled = comparison_frame(rows, scene)
    why = not_compared(rows)
    if why:
        st.caption(why)
    ui.table(styled)
    if any(ui.one_class_note(r) for r in rows):
        st.caption(ui.NOT_A_RESULT_NOTE)
    variants = sorted({r["model"] for r in rows if r.get("family") and r["model"] != r["family"]})
    if variants:
        st.caption(
            f"{', '.join(variants)}: variants of the paper's models (e.g. tiny test sizes), "
            "shown beside the paper's row of their family; not the paper's configuration."
        )
    st.caption(
        "Mean ± sample std over seeds. OA and BA in %, Δ = this database − paper in the "
        "table's units (percentage points for OA and BA; green: better than the paper), "
        f"{ui.NA} for Avg. Dist., which is in each model's own feature units and not "
        "comparable. Paper numbers: Tables III and IV of the CLAReSNet paper "
        "(dashboard/paper_numbers.csv)."
    )
    if any(reference_numbers.matching(queries.reference_numbers(), r["config_hash"]) for r in rows):
        st.caption(
            f"{REFERENCE_ROW.capitalize()}: this project's own result on the real data for "
            "the same configuration (model, recipe, protocol, preprocessing, training and "
            "data), from dashboard/reference_numbers.csv (docs/RESULTS.md): a third column "
            "to hold your run against, beside the paper."
        )
    paper = _paper_cells()
    ordered = sorted(rows, key=_paper_order)
    compared = [not no_delta_reasons(r) for r in ordered]
    st.plotly_chart(
        charts.metric_bars(
            [r["label"] for r in ordered],
            [ui.scaled(r["metrics"]["oa"]["mean"], "oa") for r in ordered],
            [ui.scaled(r["metrics"]["oa"]["std"], "oa") for r in ordered],
            f"OA (%) on {title}: this database against the paper"
            if any(compared)
            else f"OA (%) on {title} (not compared with the paper: see above)",
            reference=[
                (paper.get((scene, r.get("family") or r["model"]), {}).get("oa") or {}).get("mean")
                if ok
                else None
                for r, ok in zip(ordered, compared, strict=True)
            ]
            if any(compared)
            else None,
            reference_name="paper",
            flagged=[bool(ui.one_class_note(r)) for r in ordered],
        ),
        width="stretch",
        key=f"paper_bars_{scene}",
    )
    _paired(key, rows, run_id)
    _details(key, rows, run_id, scene)


def class_frame(table: Any, flags: dict[str, str] | None = None) -> tuple[pd.DataFrame, Any]:
    """The per-class table (:class:`harness.analysis.significance.ClassTable`) as a frame, with
    the best model of each class in bold; a model that is not a result (``flags``: {label:
    why}) is marked in its header and never bold."""
    flags = flags or {}
    text = cells.class_rows(table, bold=("", ""))
    headers = [ui.flagged_label(m, flags.get(m), short=True) for m in table.models]
    frame = pd.DataFrame(text, columns=["Class", *headers])
    labels = [label for label, _ in table.classes]
    model_of = dict(zip(headers, table.models, strict=True))

    def bold(row: pd.Series) -> list[str]:
        if row.name >= len(labels):  # the OA / AA / kappa lines
            return [""] * len(row)
        best = table.best.get(labels[row.name], set())
        return [
            "font-weight: bold"
            if model_of.get(column) in best and model_of.get(column) not in flags
            else ""
            for column in row.index
        ]

    return frame, frame.style.hide(axis="index").apply(bold, axis=1)


def _details(key: tuple[str, ...], rows: list[dict[str, Any]], run_id: int | None, scene: str):
    """The per-class table, McNemar's tests and the bootstrap intervals of one table."""
    choice = f"pc_metric_{scene}"
    metric = st.session_state.get(choice, "recall")
    group = queries.group_details(key, [r["label"] for r in rows], run_id, metric)
    if group.classes is not None and group.classes.classes:  # trials with class metrics
        st.radio(
            "Per-class figure",
            ("recall", "f1"),
            format_func=lambda m: {"recall": "accuracy (recall)", "f1": "F1"}[m],
            horizontal=True,
            key=choice,
        )
        st.markdown(f"**{cells.CLASS_TITLES[metric]}**")
        frame, styled = class_frame(group.classes, _flags(rows))
        ui.table(styled)
        st.caption(f"Per class: {cells.CLASS_NOTE}")
    for ref in group.references:
        tests = [m for m in group.mcnemar if m.reference == ref]
        if not tests:
            continue
        if not any(m.n for m in tests):
            st.caption(cells.NO_MCNEMAR)
            continue
        st.markdown(f"**{cells.mcnemar_intro(ref)}**")
        flags = _flags(rows)
        ui.table(
            pd.DataFrame(
                [_mark_first(cells.mcnemar_cells(m), flags) for m in tests],
                columns=cells.MCNEMAR_HEADER,
            )
        )
        for m in tests:
            if m.note:
                st.caption(f"Note: {m.baseline}: {m.note}.")
        st.caption(f"Note: {cells.MCNEMAR_NOTE}")
    if cells.has_intervals(group):
        with st.expander(f"Bootstrap 95 % intervals of every trial ({len(group.intervals)})"):
            headers = [ui.header(m) for m in tables.INTERVAL_METRICS]
            notes = queries.trial_notes()
            ui.table(
                pd.DataFrame(
                    [
                        [ui.flagged_label(r["label"], notes.get(r.get("trial_id", -1)), short=True),
                         r["seed"]]
                        + [cells.interval_cell(r["values"][m], m) for m in tables.INTERVAL_METRICS]
                        for r in group.intervals
                    ],
                    columns=["Model", "Seed", *headers],
                )
            )  # fmt: skip
            st.caption(f"Intervals: {cells.INTERVALS_NOTE}")


def leakage_frame(table: leakage.Table) -> pd.DataFrame:
    """The leakage table of one scene: OA per setting, Δ OA (a number, pp) and the
    leakage gap with its 95 % interval (text)."""
    data: dict[str, list[Any]] = {"Model": [row.label for row in table.rows]}
    for setting in table.settings:
        data[setting.title] = [leakage.fmt_cell(row.cells.get(setting.key)) for row in table.rows]
    data[LEAK_DELTA] = [
        None if row.delta is None else round(leakage.PP * row.delta, 2) for row in table.rows
    ]
    data[leakage.GAP_HEADER] = [leakage.fmt_gap(row.gap) for row in table.rows]
    return pd.DataFrame(data)


def _leakage(run_id: int | None, recipe: str, source: str) -> None:
    st.header("Leakage: random vs disjoint split, PCA on the scene vs on training pixels")
    tables = queries.leakage(run_id, recipe, source)
    for table in tables:
        st.subheader(table.scene)
        ui.table(leakage_frame(table))
    if tables:
        for line in leakage.caption([s for t in tables for s in t.settings]):
            st.caption(line)
        st.caption(
            "The paper's setting (random split, PCA fitted on the whole scene) lets test pixels "
            "shape the features and sit next to training pixels; the disjoint split with PCA "
            "on training pixels only removes both. A large Δ or gap is optimism from leakage."
        )
    else:
        st.info(
            "This database holds no leakage study for this recipe and source (no trial with "
            "the disjoint or block_cv protocol or PCA fitted on training pixels). Run "
            f"`{python_command('harness.run --suite leakage')}` to fill this table.",
            icon=":material/info:",
        )


st.title("Paper tables")
st.caption(
    "The layout of Tables III (Indian Pines) and IV (Salinas) of the CLAReSNet paper: this "
    "database's test results (mean ± sample std over seeds) beside the published numbers "
    "for the same cells, with the difference; then the paired comparison against CLAReSNet."
)
#: The group's fields but the scene (each table is one scene).
FIELDS = tuple(f for f in GROUP_KEY if f != "scene")
filters = st.columns([1] * len(FIELDS) + [2])
run_id = ui.run_filter(container=filters[-1], key="pt_run")
all_rows = queries.leaderboard(run_id=run_id)
if not all_rows:
    ui.no_completed_trials(run_id)
    st.stop()
paper_rows = [r for r in all_rows if r["scene"] in {scene for _, scene, _ in TABLES}]
if not paper_rows:
    st.info(
        "Tables III and IV cover Indian Pines and Salinas; this database has no results on "
        "either (the Leaderboard page shows every scene).",
        icon=":material/info:",
    )
else:
    values = ui.group_filters(paper_rows, "pt", columns=filters[:-1], fields=FIELDS)
    where = dict(zip(FIELDS, values, strict=True))
    protocol, recipe, source = where["protocol"], where["recipe"], where["source"]
    chosen = [r for r in paper_rows if all(r[f] == v for f, v in where.items())]
    settings = ui.config_settings(chosen)
    if settings:
        setting = ui.choose(
            "Setting",
            sorted(set(settings.values())),
            container=st.columns([2, 3])[0],
            key="pt_setting",
            help="Some models ran in several configurations; one table per configuration.",
        )
        chosen = [r for r in chosen if settings.get(r["label"], setting) == setting]
    ui.source_badge(source)
    if protocol != "paper":
        st.warning(
            f"Protocol {protocol!r}: the paper's numbers were measured under its own random "
            "split (protocol 'paper'); the differences below compare different protocols.",
            icon=":material/warning:",
        )
    for number, scene, title in TABLES:
        _table(number, scene, title, [r for r in chosen if r["scene"] == scene], run_id)
    _leakage(run_id, recipe, source)
