"""Runs: provenance of every run, trial status counts, failed trials with their errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, queries, ui

#: Failed trials listed with their traceback (the newest first).
MAX_FAILURES = 50
#: Runs whose environment is tabulated side by side (the newest).
MAX_ENVIRONMENTS = 8


def _duration(run: dict[str, Any]) -> str:
    start, end = run.get("started_at"), run.get("finished_at")
    if start is None or end is None:
        return "–"
    seconds = (end - start).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _commit(run: dict[str, Any]) -> str:
    commit = run.get("git_commit")
    if not commit:
        return "–"
    return commit[:10] + (" (uncommitted changes)" if run.get("git_dirty") else "")


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One line per run, newest first: what ran, when, from which code."""
    return pd.DataFrame(
        [
            {
                "Run": r["id"],
                "Suite": r.get("suite") or ui.NA,
                "Status": r["status"],
                "Started (UTC)": r["started_at"].strftime("%Y-%m-%d %H:%M:%S")
                if r.get("started_at")
                else ui.NA,
                "Duration": _duration(r),
                "Git commit": _commit(r),
                "Command": r.get("command") or ui.NA,
            }
            for r in reversed(runs)
        ]
    )


def environment_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Hardware and software of the newest runs, one column per run."""
    packages = sorted({p for r in runs for p in (r.get("packages") or {})})
    fields = [
        ("Host", lambda r: r.get("host")),
        ("CPU", lambda r: r.get("cpu")),
        ("GPU", lambda r: r.get("gpu") or "none"),
        ("CUDA", lambda r: r.get("cuda_version")),
        ("Python", lambda r: r.get("python_version")),
        ("Platform", lambda r: (r.get("extra") or {}).get("platform")),
        *[(p, lambda r, p=p: (r.get("packages") or {}).get(p)) for p in packages],
    ]
    shown = list(reversed(runs))[:MAX_ENVIRONMENTS]
    return pd.DataFrame(
        {
            "": [name for name, _ in fields],
            **{f"run {r['id']}": [str(get(r) or "–") for _, get in fields] for r in shown},
        }
    )


st.title("Runs")
st.caption(
    "Every invocation of the harness that wrote to this database: its command, the code "
    "(git commit), the software versions and the hardware, and what became of its trials."
)
runs = queries.runs()
trials = queries.trials()
if not runs and not trials:
    st.info(ui.empty_message(), icon=":material/info:")
    st.stop()
ui.sources_badges(queries.overview()["sources"])

st.subheader("Provenance")
ui.table(runs_frame(runs))
if runs:
    st.markdown(
        "**Hardware and software**"
        + (f" (the newest {MAX_ENVIRONMENTS} runs)" if len(runs) > MAX_ENVIRONMENTS else "")
    )
    ui.table(environment_frame(runs))

st.subheader("Trial status per run")
counts: dict[str, dict[str, int]] = {}
labels = {r["id"]: f"run {r['id']} ({r.get('suite') or 'no suite'})" for r in runs}
for t in trials:
    label = labels.get(t["run_id"], "no run")
    counts.setdefault(label, {})
    counts[label][t["status"]] = counts[label].get(t["status"], 0) + 1
statuses = sorted({s for c in counts.values() for s in c})
frame = pd.DataFrame(
    [
        {"Run": label, **{s: c.get(s, 0) for s in statuses}, "total": sum(c.values())}
        for label, c in counts.items()
    ]
)
left, right = st.columns([2, 3])
with left:
    ui.table(frame)
with right:
    st.plotly_chart(charts.status_bars(counts), width="stretch", key="runs_status_chart")
st.caption(
    "Every attempt counts: a trial re-run after a failure or an interruption is a new attempt "
    "of the same spec."
)

st.subheader("Failed trials")
failed = [t for t in trials if t["status"] == "failed"]
if not failed:
    st.success("No failed trials.", icon=":material/check_circle:")
else:
    ui.table(
        pd.DataFrame(
            [
                {
                    "Trial": t["id"],
                    "Run": t["run_id"],
                    "Model": t["model"],
                    "Scene": t["scene"],
                    "Protocol": t["protocol"],
                    "Seed": t["seed"],
                    "Study": t["study"] or ui.NA,
                    "Finished (UTC)": t["finished_at"].strftime("%Y-%m-%d %H:%M:%S")
                    if t.get("finished_at")
                    else "",
                    "Error": t.get("error") or "",
                }
                for t in reversed(failed)
            ]
        )
    )
    for t in list(reversed(failed))[:MAX_FAILURES]:
        with st.expander(f"Trial #{t['id']} · {t['model']} · seed {t['seed']}: {t.get('error')}"):
            st.code(
                queries.trial(t["id"]).get("traceback") or "(no traceback stored)", language="text"
            )
    if len(failed) > MAX_FAILURES:
        st.caption(f"Tracebacks of the newest {MAX_FAILURES} failures shown.")

with st.expander("Full provenance of one run"):
    if runs:
        chosen = st.selectbox(
            "Run",
            [r["id"] for r in reversed(runs)],
            format_func=lambda i: ui.run_label(next(r for r in runs if r["id"] == i)),
            key="runs_detail",
        )
        st.json(queries.dumps(next(r for r in runs if r["id"] == chosen)), expanded=True)
