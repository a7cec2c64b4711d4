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
    "Test metrics over seeds: mean ± sample std (n = seeds with a value), completed trials "
    "outside hyperparameter searches, the latest attempt of each. Best value per column in "
    "green. Click a column header to sort. Avg. Dist. (class-centroid distance of the "
    "embeddings) is None for tree models, which have no embedding."
)
filters = st.columns([1] * len(GROUP_KEY) + [2])
run_id = ui.run_filter(container=filters[-1], key="lb_run")
rows = queries.leaderboard(run_id=run_id)
if not rows:
    ui.no_completed_trials(run_id)
    st.stop()
key = ui.group_filters(rows, "lb", columns=filters[:-1])
group = [r for r in rows if group_of(r) == key]
ui.source_badge(group_fields(key)["source"])

for row in group:
    note = ui.one_class_note(row)
    if note:
        st.warning(
            f"{row['label']}: {note} (test OA {ui.percent(row['metrics']['oa']['mean'])}, "
            "majority-class share of the test pixels "
            f"{ui.percent((row['metrics'].get('majority_rate') or {}).get('mean'))}). "
            "Its numbers below are not a result: the model did not learn the task "
            "(too short a schedule, or an input it cannot train on).",
            icon=":material/warning:",
        )

options = st.columns([1, 1, 4])
sort_by = options[0].selectbox("Sort by", LEADERBOARD_METRICS, format_func=ui.header, key="lb_sort")
descending = options[1].toggle("Best first", value=True, key="lb_desc")
frame, styled = ui.stats_table(group, LEADERBOARD_METRICS, sort_by=sort_by, descending=descending)
st.dataframe(
    styled,
    hide_index=True,
    width="stretch",
    height=38 + 35 * min(len(frame), 30),
    key="lb_table",
)

by_label = {r["label"]: r for r in group}
ordered = [by_label[label] for label in frame["Model"]]
st.plotly_chart(
    charts.metric_bars(
        [r["label"] for r in ordered],
        [ui.scaled(r["metrics"][sort_by]["mean"], sort_by) for r in ordered],
        [ui.scaled(r["metrics"][sort_by]["std"], sort_by) for r in ordered],
        f"{ui.header(sort_by)}: mean ± std over seeds",
    ),
    width="stretch",
    key="lb_bars",
)

csv_text, latex = ui.downloads(key, group, run_id)
name = "_".join(key) + (f"_run{run_id}" if run_id is not None else "")
downloads = st.columns([1, 1, 4])
downloads[0].download_button(
    "Download CSV",
    csv_text,
    file_name=f"leaderboard_{name}.csv",
    mime="text/csv",
    icon=":material/download:",
)
downloads[1].download_button(
    "Download LaTeX",
    latex,
    file_name=f"leaderboard_{name}.tex",
    mime="text/x-tex",
    icon=":material/download:",
)

with st.expander("Trials behind a row"):
    label = st.selectbox("Model", [r["label"] for r in ordered], key="lb_model")
    row = by_label[label]
    st.write(
        f"{len(row['trial_ids'])} trial(s), seeds {', '.join(map(str, row['seeds']))}; "
        f"configuration {row['config_hash'][:12]}"
    )
    links = st.columns(min(len(row["trial_ids"]), 6) or 1)
    for i, trial_id in enumerate(row["trial_ids"][:30]):
        links[i % len(links)].page_link(
            ui.PAGE_TRIAL,
            label=f"Trial #{trial_id}",
            query_params={"trial": str(trial_id)},
            icon=":material/zoom_in:",
        )
