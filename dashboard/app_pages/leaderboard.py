"""Leaderboard: one row per model configuration of one group (scene / protocol / recipe /
source / PCA fit: :data:`harness.spec.GROUP_KEY`)."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, queries, ui
from harness.metric_table import leaderboard_metrics
from harness.spec import GROUP_KEY, group_fields, group_of

LEADERBOARD_METRICS = leaderboard_metrics()  # the metric table's columns, read at every run

st.title("Leaderboard")
st.caption(
    "Test metrics over seeds: mean ± sample std over the Seeds column's seeds ((n=k) when "
    "only k of them have a value), completed trials "
    "outside hyperparameter searches, the latest attempt of each. Best result per column in "
    f"green; a model marked {ui.NOT_A_RESULT} is not ranked. Avg. Dist. (class-centroid "
    f"distance of the embeddings, in each model's own units: never ranked) is {ui.NA} for "
    "tree models, which have no embedding."
)
filters = st.columns(len(GROUP_KEY))
run_id = ui.run_filter(container=st.columns([3, 2])[0], key="lb_run")
rows = queries.leaderboard(run_id=run_id)
if not rows:
    ui.no_completed_trials(run_id)
    st.stop()
key = ui.group_filters(rows, "lb", columns=filters)
group = [r for r in rows if group_of(r) == key]
ui.source_badge(group_fields(key)["source"])

ui.not_a_result_warning(
    [
        (row["label"], note, {name: (s or {}).get("mean") for name, s in row["metrics"].items()})
        for row in group
        if (note := ui.one_class_note(row))
    ]
)

options = st.columns([1, 1, 4])
sort_by = options[0].selectbox("Sort by", LEADERBOARD_METRICS, format_func=ui.header, key="lb_sort")
descending = options[1].toggle("Best first", value=True, key="lb_desc")
frame, styled = ui.stats_table(group, LEADERBOARD_METRICS, sort_by=sort_by, descending=descending)
ui.table(styled)

by_label = {ui.flagged_label(r["label"], ui.one_class_note(r)): r for r in group}
ordered = [by_label[label] for label in frame["Model"]]
st.plotly_chart(
    charts.metric_bars(
        [r["label"] for r in ordered],
        [ui.scaled(r["metrics"][sort_by]["mean"], sort_by) for r in ordered],
        [ui.scaled(r["metrics"][sort_by]["std"], sort_by) for r in ordered],
        f"{ui.header(sort_by)}: mean ± std over seeds",
        flagged=[bool(ui.one_class_note(r)) for r in ordered],
    ),
    width="stretch",
    key="lb_bars",
)

csv_text, latex = ui.downloads(key, group, run_id)
name = "_".join(key) + (f"_run{run_id}" if run_id is not None else "")
downloads = st.container(horizontal=True)  # each button as wide as its label
downloads.download_button(
    "Download CSV",
    csv_text,
    file_name=f"leaderboard_{name}.csv",
    mime="text/csv",
    icon=":material/download:",
)
downloads.download_button(
    "Download LaTeX",
    latex,
    file_name=f"leaderboard_{name}.tex",
    mime="text/x-tex",
    icon=":material/download:",
)

with st.expander("Trials behind a row"):
    label = st.selectbox("Model", [r["label"] for r in ordered], key="lb_model")
    row = by_label[label]
    n_seeds = len(row["seeds"])
    st.write(
        f"{ui.plural(len(row['trial_ids']), 'trial')}, {'seed' if n_seeds == 1 else 'seeds'} "
        f"{', '.join(map(str, row['seeds']))}; configuration {row['config_hash'][:12]}"
    )
    links = st.columns(min(len(row["trial_ids"]), 6) or 1)
    for i, trial_id in enumerate(row["trial_ids"][:30]):
        links[i % len(links)].page_link(
            ui.PAGE_TRIAL,
            label=f"Trial #{trial_id}",
            query_params={"trial": str(trial_id)},
            icon=":material/zoom_in:",
        )
