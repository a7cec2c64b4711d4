"""Search: the trials of one hyperparameter search (Optuna inside Ray Tune)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, queries, ui
from datasets.cli_options import python_command


def _fmt(value: Any) -> str:
    """A parameter value for a table (floats to 4 significant digits; :data:`ui.NA` for
    none)."""
    if ui.missing(value):
        return ui.NA
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


st.title("Search")
st.caption(
    "Hyperparameter searches: Optuna's seeded TPE sampler asking through Ray Tune, every "
    "trial stored like any other (tagged with its study). The objective is the validation "
    "OA; the test set plays no part in the search."
)
studies = queries.studies()
if not studies:
    st.info(
        "No hyperparameter searches in this database yet — run one with "
        f"`{python_command('harness.run --suite search --trials 30')}` (it stores its study and "
        "every trial here).",
        icon=":material/info:",
    )
    st.stop()

by_name = {s["name"]: s for s in studies}
name = ui.choose(
    "Study",
    [s["name"] for s in reversed(studies)],
    key="search_study",
    format_func=lambda n: (
        f"{n} · {by_name[n]['model']} · {by_name[n]['scene']} · {by_name[n]['status']}"
    ),
)
study = by_name[name]
ui.source_badge(study.get("source"))
trials = queries.study_trials(name)
space: dict[str, dict[str, Any]] = study.get("search_space") or {}
metric = study.get("metric") or "value"
counts: dict[str, int] = {}
for t in trials:
    counts[t["status"]] = counts.get(t["status"], 0) + 1

cols = st.columns(5)
cols[0].metric("Trials stored / asked", f"{len(trials)} / {study['n_trials']}")
cols[1].metric("Completed", counts.get("completed", 0))
cols[2].metric("Pruned", counts.get("pruned", 0))
cols[3].metric("Failed", counts.get("failed", 0))
best = study.get("best_value")
cols[4].metric(f"Best {metric}", "–" if best is None else f"{best:.4f}")
st.markdown(
    f"Model **{study['model']}** on {study['scene']} · objective {metric} ({study['mode']}) · "
    f"sampler {(study.get('sampler') or {}).get('name', '?')} (seed {study['seed']}) · "
    f"scheduler {(study.get('scheduler') or {}).get('name') or 'none'} · status "
    f"{study['status']}"
)

left, right = st.columns(2)
with left:
    st.subheader("Best configuration")
    if study.get("best_params"):
        ui.table(
            pd.DataFrame(
                [
                    {"Parameter": k, "Value": _fmt(v)}
                    for k, v in sorted(study["best_params"].items())
                ]
            )
        )
        if study.get("best_trial_id") is not None:
            st.page_link(
                ui.PAGE_TRIAL,
                label=f"Open the best trial (#{study['best_trial_id']})",
                query_params={"trial": str(study["best_trial_id"])},
                icon=":material/zoom_in:",
            )
    else:
        st.caption("No best trial recorded yet (no completed trial, or the search is running).")
with right:
    st.subheader("Search space")
    ui.table(
        pd.DataFrame(
            [
                {
                    "Parameter": k,
                    "Type": d.get("type") or ui.NA,
                    "Range / choices": ", ".join(map(str, d["choices"]))
                    if d.get("choices")
                    else f"{d.get('low')} – {d.get('high')}" + (" (log)" if d.get("log") else ""),
                }
                for k, d in sorted(space.items())
            ]
        )
    )

if not trials:
    st.info("The study has no trials yet.", icon=":material/info:")
    st.stop()

st.plotly_chart(
    charts.search_history(trials, study["mode"], metric), width="stretch", key="search_history"
)
params = sorted(space) or sorted({k for t in trials for k in t["params"]})
left, right = st.columns(2)
with left:
    if params:
        param = st.selectbox("Parameter", params, key="search_param")
        st.plotly_chart(
            charts.param_vs_value(trials, param, space.get(param, {}), metric),
            width="stretch",
            key="search_param_value",
        )
with right:
    result = queries.param_importances(name)
    if result.importances:
        st.plotly_chart(
            charts.importance_bars(result.importances), width="stretch", key="search_importance"
        )
        st.caption(result.note)
    else:
        st.subheader("Parameter importance")
        st.info(result.note, icon=":material/info:")
parallel = charts.parallel_coordinates(trials, space, metric)
if parallel is not None:
    st.plotly_chart(parallel, width="stretch", key="search_parallel")

st.subheader("Trials")
notes = queries.trial_notes()
ui.table(
    pd.DataFrame(
        [
            {
                "Number": t["number"],
                "Trial id": t["id"],
                "Status": t["status"]
                + (f" ({ui.flag_text(notes[t['id']])})" if t["id"] in notes else ""),
                metric: _fmt(t["value"]),
                **{k: _fmt(v) for k, v in sorted(t["params"].items())},
                "Epochs": _fmt(t.get("epochs_run")),
                "Fit (s)": ui.fmt_number(t.get("fit_seconds"), "{:.1f}"),
                "Error": t.get("error") or "",
            }
            for t in trials
        ]
    )
)
