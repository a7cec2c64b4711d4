"""Trial detail: per-class metrics, confusion matrix, PR curves, training curves, maps
(with their downloads) and the trial's saved model (as one zip)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, downloads, queries, ui
from harness.analysis import cells, tables
from harness.metric_table import leaderboard_metrics

LEADERBOARD_METRICS = leaderboard_metrics()  # the metric table's columns, read at every run


def _pick_trial(completed: list[dict[str, Any]]) -> dict[str, Any]:
    """Scene and model filters, then the trial; ``?trial=ID`` in the URL preselects one."""
    by_id = {t["id"]: t for t in completed}
    wanted = st.query_params.get("trial")
    if wanted is not None and wanted != st.session_state.get("td_from_url"):
        st.session_state["td_from_url"] = wanted
        if wanted.isdigit() and int(wanted) in by_id:
            t = by_id[int(wanted)]
            st.session_state.update(td_scene=t["scene"], td_model=t["model"], td_trial=t["id"])
        else:
            st.warning(f"No completed trial with id {wanted}; choose one below.")
    cols = st.columns([2, 2, 5])
    scene = ui.choose(
        "Scene", sorted({t["scene"] for t in completed}), key="td_scene", container=cols[0]
    )
    pool = [t for t in completed if t["scene"] == scene]
    model = ui.choose(
        "Model",
        sorted({t["model"] for t in pool}),
        key="td_model",
        preferred=("claresnet", "claresnet_tiny"),
        container=cols[1],
    )
    pool = [t for t in pool if t["model"] == model]
    chosen = ui.choose(
        "Trial",
        [t["id"] for t in reversed(pool)],
        key="td_trial",
        format_func=lambda i: ui.trial_label(by_id[i]),
        container=cols[2],
    )
    st.query_params["trial"] = str(chosen)
    st.session_state["td_from_url"] = str(chosen)
    return by_id[chosen]


#: What a trial's map phase predicted (``info["maps"]``; trials stored before it was
#: recorded mapped the whole scene).
MAPPED = {
    "scene": "the whole scene",
    "labelled": "the labelled pixels only",
    "none": "no map",
}


def mapped(detail: dict[str, Any]) -> str:
    """ "scene", "labelled" or "none": what the trial's map phase predicted."""
    return str((detail.get("info") or {}).get("maps") or "scene")


def _summary(detail: dict[str, Any]) -> None:
    ui.source_badge(detail["source"])
    test = detail["metrics"].get("test", {})
    note = ui.trial_note(test)
    if note:
        ui.not_a_result_warning([(f"Trial #{detail['id']} ({detail['model']})", note, test)])
    cols = st.columns(len(LEADERBOARD_METRICS))
    for col, metric in zip(cols, LEADERBOARD_METRICS, strict=True):
        col.metric(ui.header(metric), ui.fmt_value(test.get(metric), metric))
    intervals = [
        f"{ui.header(m)} {cells.interval_cell((test.get(m), test.get(f'{m}_ci_low'), test.get(f'{m}_ci_high')), m)}"
        for m in tables.INTERVAL_METRICS
        if test.get(f"{m}_ci_low") is not None
    ]
    if intervals:
        st.caption(
            "Bootstrap 95 % intervals over the test pixels (1,000 resamples): "
            + " · ".join(intervals)
        )
    info = detail.get("info") or {}
    facts = [
        f"model **{detail['model']}** ({detail['family']}), recipe {detail['recipe']}",
        f"scene {detail['scene']}, protocol {detail['protocol']}, seed {detail['seed']}",
    ]
    if detail.get("n_parameters"):
        facts.append(f"{detail['n_parameters']:,} parameters")
    if detail.get("fit_seconds") is not None:
        facts.append(f"fit {detail['fit_seconds']:.1f} s")
    if info.get("epochs_run") is not None:
        best = info.get("best_epoch")
        facts.append(
            ui.plural(int(info["epochs_run"]), "epoch") + ("" if best is None else f", best {best}")
        )
    if info.get("n_train") is not None:
        facts.append(
            f"{info['n_train']} train / {info.get('n_val')} val / {info.get('n_test')} test pixels"
        )
    if detail.get("device"):
        facts.append(f"device {ui.device_text(detail['device'])}")
    facts.append(f"mapped {MAPPED.get(mapped(detail), mapped(detail))}")
    if detail.get("study"):
        facts.append(f"study {detail['study']}")
    st.markdown(" · ".join(facts))
    cube = next((f for f in info.get("scene_files") or [] if f.get("role") == "cube"), None)
    if cube is not None:  # trials stored before scene_files was recorded have none
        st.caption(
            f"Data ({detail['source']}): cube {cube['file']} ({cube['copy']}), sha256 "
            f"{cube['sha256'][:16]}...; the scene's fingerprint is in the spec."
        )
    with st.expander("Specification and run information"):
        left, right = st.columns(2)
        left.caption("Spec (the trial's identity is its hash)")
        left.json(detail.get("spec") or {}, expanded=False)
        right.caption("Info")
        right.json(info, expanded=False)


def _class_names(detail: dict[str, Any], fallback: tuple[str, ...]) -> list[str]:
    per_class = detail.get("per_class") or []
    if per_class:
        names = [""] * max(c["label"] for c in per_class)
        for c in per_class:
            names[c["label"] - 1] = c["name"]
        return names
    return list(fallback)


def per_class_frame(per_class: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-class table of a trial as text: three decimals, :data:`dashboard.ui.NA`
    where a value does not apply (AP of a class with no test pixel)."""
    return pd.DataFrame(
        [
            {
                "Label": c["label"],
                "Class": c["name"],
                **{
                    title: ui.fmt_number(c[name])
                    for title, name in (
                        ("Precision", "precision"),
                        ("Recall", "recall"),
                        ("F1", "f1"),
                        ("AP", "ap"),
                    )  # fmt: skip
                },
                "Support": f"{c['support']:,}",
            }
            for c in per_class
        ],
        columns=["Label", "Class", "Precision", "Recall", "F1", "AP", "Support"],
    )


def _per_class(detail: dict[str, Any], names: list[str]) -> None:
    left, right = st.columns([5, 6])
    with left:
        st.subheader("Per-class metrics (test)")
        frame = per_class_frame(detail["per_class"])
        if frame.empty:
            st.caption("No per-class metrics stored.")
        else:
            ui.table(frame)
            st.caption(
                f"AP is {ui.NA} for a class with no test pixel (support 0): there is no "
                "precision-recall curve to measure."
            )
    with right:
        confusion = queries.artifact(detail["id"], "confusion")
        if confusion is None:
            st.caption("No confusion matrix stored.")
        else:
            normalise = st.toggle("Normalise rows (recall)", key="td_norm")
            st.plotly_chart(
                charts.confusion_heatmap(confusion, names, normalise=normalise),
                width="stretch",
                key="td_confusion",
                config={"responsive": True},
            )


def _curves(detail: dict[str, Any], names: list[str]) -> None:
    pr = queries.artifact(detail["id"], "pr_curves")
    if pr:
        ap = {c["label"]: c["ap"] for c in detail["per_class"]}
        st.plotly_chart(charts.pr_curves(pr, names, ap), width="stretch", key="td_pr")
    else:
        st.caption("No precision-recall curves stored.")
    curves = queries.artifact(detail["id"], "curves")
    loss, acc = charts.training_curves(curves or {})
    if loss is None and acc is None:
        st.info(
            "No training curves: this model is not trained by epochs (a tree model).",
            icon=":material/info:",
        )
        return
    left, right = st.columns(2)
    for column, fig, key in ((left, loss, "td_loss"), (right, acc, "td_acc")):
        if fig is not None:
            column.plotly_chart(fig, width="stretch", key=key)


#: Where a map would be shown for a trial whose map phase was skipped.
NO_MAP = "No map: this trial ran with --maps none."


def _maps(detail: dict[str, Any], names: list[str]) -> None:
    st.subheader("Maps")
    class_map = queries.artifact(detail["id"], "class_map")
    entropy = queries.artifact(detail["id"], "entropy_map")
    images = queries.scene_images(detail["spec"])
    if images.note:
        st.warning(images.note, icon=":material/warning:")
    if images.detail:
        with st.expander("Why the scene could not be loaded"):
            st.code(images.detail, language="text")
    if not names:
        names = list(images.class_names)
    gt = images.gt
    if gt is not None and class_map is not None and gt.shape != class_map.shape:
        st.warning(
            f"The scene's ground truth here is {gt.shape[0]} x {gt.shape[1]} but the trial's "
            f"map is {class_map.shape[0]} x {class_map.shape[1]}: not shown side by side."
        )
        gt, images = None, queries.SceneImages(None, None, images.class_names, images.note)
    mask = False
    if gt is not None and class_map is not None:
        mask = st.toggle("Show the classification on labelled pixels only", key="td_mask")
    panels = st.columns(4)
    crop = detail["spec"].get("crop")
    if crop:
        st.caption(
            f"The trial's crop of {detail['scene']}: rows {crop[0]}:{crop[1]}, "
            f"columns {crop[2]}:{crop[3]}."
        )
    with panels[0]:
        if images.rgb is not None:
            st.plotly_chart(
                charts.rgb_image(images.rgb, "RGB composite"), width="stretch", key="td_rgb"
            )
        else:
            st.caption("RGB composite: not available (see above).")
    with panels[1]:
        if gt is not None:
            st.plotly_chart(
                charts.label_map(gt, names, "Ground truth"), width="stretch", key="td_gt"
            )
        else:
            st.caption("Ground truth: not available (see above).")
    with panels[2]:
        if class_map is None and mapped(detail) == "none":
            st.markdown("**Classification map**")
            st.info(NO_MAP, icon=":material/info:")
        elif class_map is not None:
            shown = np.where(gt > 0, class_map, 0) if mask else class_map
            st.plotly_chart(
                charts.label_map(shown, names, "Classification map"),
                width="stretch",
                key="td_class_map",
            )
        else:
            st.caption("No classification map stored.")
    with panels[3]:
        if entropy is None and mapped(detail) == "none":
            st.markdown("**Uncertainty (entropy)**")
            st.info(NO_MAP, icon=":material/info:")
        elif entropy is not None:
            st.plotly_chart(
                charts.entropy_map(entropy, "Uncertainty (entropy)"),
                width="stretch",
                key="td_entropy",
            )
        else:
            st.caption("No entropy map stored.")
    present = set()
    for array in (gt, class_map):
        if array is not None:
            present |= {int(v) for v in np.unique(array) if v > 0}
    if class_map is not None and mapped(detail) == "labelled":
        st.caption(
            "This trial ran with --maps labelled: its maps cover the labelled pixels only "
            "(black elsewhere)."
        )
    if present:
        st.html(charts.class_legend_html(sorted(present), names))
        st.caption(
            "Black: unlabelled pixels. Entropy of the predicted class probabilities, in nats."
        )
    if class_map is not None:
        _map_downloads(detail, names)


def _map_downloads(detail: dict[str, Any], names: list[str]) -> None:
    """The stored class map as a GeoTIFF (colour table) and a PNG (legend), made on a click."""
    tid = detail["id"]
    row = st.container(horizontal=True)
    row.download_button(
        "Class map (GeoTIFF)",
        data=lambda: queries.class_map_file(tid, "tif", names),
        file_name=downloads.map_file_name(detail, ".tif"),
        mime="image/tiff",
        icon=":material/download:",
        on_click="ignore",
        key="td_dl_tif",
        help="One band of 1-based labels (0: no class) with the class colours as its colour "
        "table and the class names as tags; georeferenced like the training scene when the "
        "scene has a georeference and the trial a saved model.",
    )
    row.download_button(
        "Class map (PNG)",
        data=lambda: queries.class_map_file(tid, "png", names),
        file_name=downloads.map_file_name(detail, ".png"),
        mime="image/png",
        icon=":material/download:",
        on_click="ignore",
        key="td_dl_png",
        help="The class map in the class colours, with a legend.",
    )


def _saved_model(detail: dict[str, Any]) -> None:
    st.subheader("Saved model")
    tid = detail["id"]
    files = detail.get("model_files") or []
    if not files:
        _no_saved_model(detail)
        return
    problem = queries.model_files_problem(tid)
    total = sum(f["size"] or 0 for f in files)
    st.caption(
        "The trained model, its fitted preprocessing and its manifest, as the run saved them "
        "in the artifact folder beside the database. The zip holds the three files under "
        "readable names and a README on applying the model."
    )
    left, right = st.columns([3, 2])
    with left:
        ui.table(pd.DataFrame(downloads.files_table(files)))
    with right:
        if problem:
            st.error(problem, icon=":material/error:")
        st.download_button(
            f"Download model (.zip, {downloads.human_size(total)})",
            data=lambda: queries.model_zip(tid),
            file_name=downloads.model_zip_name(detail),
            mime="application/zip",
            icon=":material/download:",
            on_click="ignore",
            disabled=bool(problem),
            key="td_dl_model",
        )
    st.caption("Apply it to a cube (MATLAB, NumPy, ENVI or GeoTIFF; output by suffix):")
    db = queries.store().location
    st.code(downloads.predict_command(tid, db), language="bash")
    st.code(
        f"import harness.predict\n\nmodel = harness.predict.load({tid}, {db!r})\n"
        "labels, entropy = model.predict(cube)  # (H, W, bands) -> (H, W) labels, nats",
        language="python",
    )


def _no_saved_model(detail: dict[str, Any]) -> None:
    info = detail.get("info") or {}
    why = info.get("model_not_saved")
    if why:
        reason = f"its model files could not be written: {why}"
    else:
        reason = (
            "it ran with --no-save-models or before models were saved (or with a server "
            "database and no --artifacts folder)"
        )
    st.info(
        f"This trial has no saved model: {reason}. To get one, run it again with models "
        "saved (the default), keeping the run's options and adding --fresh:",
        icon=":material/info:",
    )
    st.code(queries.rerun_command(detail["id"]), language="bash")


st.title("Trial detail")
completed = queries.trials(status="completed")
if not completed:
    ui.no_completed_trials()
    st.stop()
selected = _pick_trial(completed)
detail = queries.trial(selected["id"])
_summary(detail)
class_names = _class_names(detail, ())
_per_class(detail, class_names)
_curves(detail, class_names)
_maps(detail, class_names)
_saved_model(detail)
