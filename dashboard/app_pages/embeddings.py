"""Embeddings: the 2-D t-SNE of test embeddings, one trial or two side by side."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, queries, ui
from harness.spec import group_fields, group_of


def _candidates(rows: list[dict[str, Any]]) -> list[int]:
    """Trials whose configuration has a centroid distance (so an embedding): the deep models."""
    ids = []
    for row in rows:
        if row["metrics"]["centroid_distance"]["n"]:
            ids.extend(row["trial_ids"])
    return sorted(ids)


def _show(trial_id: int, key: str) -> None:
    detail = queries.trial(trial_id)
    test = detail["metrics"].get("test", {})
    emb = queries.artifact(trial_id, "embedding_2d")
    dist = test.get("centroid_distance")
    names = [c["name"] for c in sorted(detail["per_class"], key=lambda c: c["label"])]
    title = f"#{trial_id} · {detail['model']} · seed {detail['seed']}"
    st.markdown(f"#### {title}")
    note = ui.trial_note(test)
    if note:
        ui.not_a_result_warning([(f"Trial #{trial_id} ({detail['model']})", note, test)])
    cols = st.columns(4)
    cols[0].metric(
        ui.header("centroid_distance"),
        ui.fmt_value(dist, "centroid_distance"),
        help="Average distance between class centroids in the model's own embedding units: "
        "it compares seeds of one model, not models.",
    )
    cols[1].metric("Silhouette", ui.fmt_value(test.get("silhouette"), "silhouette"))
    cols[2].metric("OA (%)", ui.fmt_value(test.get("oa"), "oa"))
    cols[3].metric("Points", ui.NA if emb is None else f"{len(emb['embedding_2d']):,}")
    if emb is None:
        st.info(
            f"Trial #{trial_id} has no embedding (tree models have none).", icon=":material/info:"
        )
        return
    st.plotly_chart(
        charts.embedding_scatter(
            emb["embedding_2d"],
            emb["embedding_labels"],
            names,
            f"t-SNE of test embeddings, #{trial_id}",
        ),
        width="stretch",
        key=key,
    )


st.title("Embeddings")
st.caption(
    "t-SNE of the penultimate-layer embeddings of up to 2,000 stratified test pixels, "
    "coloured by true class (crosses: class centroids in the t-SNE plane). The average "
    "centroid distance is the paper's Avg. Dist., measured in the embedding space itself, "
    "not in this 2-D projection: in the model's own feature units, so it compares seeds of "
    "one model, not models of different widths. The silhouette (in [-1, 1], scale-free, on "
    "the same pixels) compares models."
)
rows = queries.leaderboard(study=None)
if not rows:
    ui.no_completed_trials()
    st.stop()
key = ui.group_filters(rows, "emb")
group = [r for r in rows if group_of(r) == key]
ui.source_badge(group_fields(key)["source"])
ids = _candidates(group)
if not ids:
    st.info(
        "No trial in this group has an embedding (only deep models produce one).",
        icon=":material/info:",
    )
    st.stop()
trials = {t["id"]: t for t in queries.trials(status="completed") if t["id"] in set(ids)}
ids = [i for i in ids if i in trials]
claresnet = [i for i in ids if trials[i]["family"] == "claresnet"]
first_default = claresnet[0] if claresnet else ids[0]
compare = st.toggle("Compare with a second trial", value=len(ids) > 1, key="emb_compare")
cols = st.columns(2)
first = ui.choose(
    "Trial",
    ids,
    key="emb_first",
    preferred=(first_default,),
    format_func=lambda i: ui.trial_label(trials[i], short=True),
    container=cols[0],
)
second = None
if compare:
    others = [i for i in ids if i != first]
    if others:
        same_seed = [
            i
            for i in others
            if trials[i]["seed"] == trials[first]["seed"] and trials[i]["family"] != "claresnet"
        ]
        second = ui.choose(
            "Second trial",
            others,
            key="emb_second",
            preferred=same_seed[:1],
            format_func=lambda i: ui.trial_label(trials[i], short=True),
            container=cols[1],
        )
if second is None:
    _show(first, "emb_plot_first")
else:
    left, right = st.columns(2)
    with left:
        _show(first, "emb_plot_first")
    with right:
        _show(second, "emb_plot_second")
