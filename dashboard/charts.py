"""Plotly figures of the dashboard: plain functions from plain data to a figure."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

# the class colours live in the harness (map files use them too); re-exported here
from harness.maps import BACKGROUND as BACKGROUND
from harness.maps import class_colour as class_colour

#: Bars of models that are not a result.
FLAGGED_COLOUR = "#c9b48a"

STATUS_COLOURS = {
    "completed": "#2ca02c",
    "pruned": "#ff7f0e",
    "failed": "#d62728",
    "interrupted": "#9467bd",
    "running": "#1f77b4",
    "pending": "#7f7f7f",
}


def class_name(names: Sequence[str], label: int) -> str:
    if 1 <= label <= len(names):
        return str(names[label - 1])
    return "unlabelled" if label == 0 else f"class {label}"


def plot_text(text: str) -> str:
    """``text`` (a class name from a scene file, a study name...) for a plotly label:
    plotly reads a subset of HTML in its labels, so ``<``, ``>`` and ``&`` are escaped
    and the text shows as written."""
    return html.escape(text, quote=False)


def _layout(fig: go.Figure, title: str = "", height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": plot_text(title), "x": 0.0, "xanchor": "left"} if title else None,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        template="plotly_white",
    )
    return fig


# --------------------------------------------------------------------------- leaderboard


def metric_bars(
    labels: Sequence[str],
    means: Sequence[float | None],
    stds: Sequence[float | None],
    title: str,
    *,
    reference: Sequence[float | None] | None = None,
    reference_name: str = "paper",
    name: str = "this database",
    flagged: Sequence[bool] | None = None,
) -> go.Figure:
    """Mean ± std per model (error bars), optionally beside a reference value per model.

    ``flagged``: the models that are not a result, drawn hatched in grey and named so
    under their bar."""
    flags = list(flagged) if flagged is not None else [False] * len(labels)
    ticks = [
        plot_text(label) + ("<br>(not a result)" if f else "")
        for label, f in zip(labels, flags, strict=True)
    ]
    fig = go.Figure()
    fig.add_bar(
        x=ticks,
        y=[m if m is not None else None for m in means],
        error_y={"type": "data", "array": [s or 0.0 for s in stds], "visible": True},
        name=name,
        marker={
            "color": [FLAGGED_COLOUR if f else "#1f77b4" for f in flags],
            "pattern": {"shape": ["/" if f else "" for f in flags]},
        },
    )
    if reference is not None:
        fig.add_bar(x=ticks, y=list(reference), name=reference_name, marker_color="#aaaaaa")
        fig.update_layout(
            barmode="group",
            legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "xanchor": "left"},
        )
    fig.update_xaxes(automargin=True, tickangle=0)
    _layout(fig, title, height=360)
    if reference is not None:  # the legend above the plot, under the title
        fig.update_layout(margin={"t": 70}, title={"y": 0.97, "yanchor": "top"})
    return fig


# --------------------------------------------------------------------------- trial detail


def confusion_height(n_classes: int) -> int:
    """The confusion matrix's height in pixels: a row of about 26 px per class, the
    rotated class names under it, the title above."""
    return 240 + 26 * max(n_classes, 2)


def confusion_heatmap(
    confusion: np.ndarray, names: Sequence[str], *, normalise: bool = False
) -> go.Figure:
    """Rows: true class, columns: predicted class (counts, or recall per row).

    Every class is named on both axes (``tickmode="array"``: plotly would otherwise drop
    every other name when they crowd), in a font sized to the number of classes, with
    margins that hold the longest name; counts are written in the cells up to 20
    classes."""
    matrix = np.asarray(confusion, dtype=float)
    n = matrix.shape[0]
    labels = [plot_text(class_name(names, k + 1)) for k in range(n)]
    counts = np.asarray(confusion)
    if normalise:
        sums = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
    text = [[f"{v:.2f}" if normalise else f"{int(v)}" for v in row] for row in matrix]
    font = 11 if n <= 12 else 10 if n <= 20 else 8
    positions = list(range(n))
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=positions,
            y=positions,
            text=text if n <= 20 else None,
            texttemplate="%{text}" if n <= 20 else None,
            textfont={"size": font - 1},
            customdata=[[[counts[i, j], labels[i], labels[j]] for j in range(n)] for i in range(n)],
            colorscale="Blues",
            hovertemplate="true %{customdata[1]}<br>predicted %{customdata[2]}<br>"
            "count %{customdata[0]}<extra></extra>",
            colorbar={"title": {"text": "recall" if normalise else "pixels"}, "thickness": 12},
        )
    )
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": labels,
             "tickfont": {"size": font}, "automargin": True}  # fmt: skip
    fig.update_yaxes(autorange="reversed", title="true class", **ticks)
    fig.update_xaxes(title="predicted class", tickangle=-60, **ticks)
    return _layout(fig, "Confusion matrix (test pixels)", height=confusion_height(n))


def pr_curves(
    curves: dict[int, tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    ap: dict[int, float | None],
) -> go.Figure:
    """One precision-recall curve per class, AP in the legend (beside the plot, in a
    fixed right margin, so that the plot keeps its width whatever the class names)."""
    fig = go.Figure()
    for label in sorted(curves):
        precision, recall = curves[label]
        value = ap.get(label)
        ap_text = "AP –" if value is None else f"AP {value:.3f}"
        fig.add_scatter(
            x=np.asarray(recall, dtype=float),
            y=np.asarray(precision, dtype=float),
            mode="lines",
            name=f"{plot_text(class_name(names, label))} ({ap_text})",
            line={"color": class_colour(label), "width": 1.5},
        )
    fig.update_xaxes(title="recall", range=[0, 1.02])
    fig.update_yaxes(title="precision", range=[0, 1.05])
    _layout(fig, "Precision-recall per class (test)", height=max(420, 120 + 20 * len(curves)))
    fig.update_layout(
        legend={"x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 11}},
        margin={"r": 280},
    )
    return fig


def training_curves(curves: dict[str, np.ndarray]) -> tuple[go.Figure | None, go.Figure | None]:
    """(loss figure, accuracy figure) over epochs: training and validation."""
    figs = []
    for kind, title in (("loss", "Loss"), ("acc", "Accuracy")):
        fig = go.Figure()
        for split, dash in (("train", "solid"), ("val", "dash")):
            values = curves.get(f"{split}_{kind}")
            if values is None or len(values) == 0:
                continue
            y = np.asarray(values, dtype=float)
            fig.add_scatter(
                x=np.arange(1, len(y) + 1),
                y=y,
                mode="lines+markers",
                name="training" if split == "train" else "validation",
                line={"dash": dash},
            )
        if not fig.data:
            figs.append(None)
            continue
        fig.update_xaxes(title="epoch", dtick=1 if len(fig.data[0].x) <= 20 else None)
        fig.update_yaxes(title=kind if kind == "loss" else "accuracy")
        figs.append(_layout(fig, f"{title} per epoch", height=320))
    return figs[0], figs[1]


def _image_axes(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return fig


def rgb_image(rgb: np.ndarray, title: str) -> go.Figure:
    """An (H, W, 3) image in [0, 1]."""
    z = (np.clip(np.asarray(rgb, dtype=float), 0, 1) * 255).astype(np.uint8)
    fig = go.Figure(go.Image(z=z, hovertemplate="row %{y}, col %{x}<extra></extra>"))
    return _image_axes(_layout(fig, title, height=360))


def label_map(labels: np.ndarray, names: Sequence[str], title: str) -> go.Figure:
    """A label map (0 = unlabelled, black) in the class colours, class names on hover."""
    labels = np.asarray(labels, dtype=int)
    top = max(int(labels.max(initial=0)), len(names), 1)
    colourscale = []
    for k in range(top + 1):
        colour = class_colour(k)
        colourscale += [(k / (top + 1), colour), ((k + 1) / (top + 1), colour)]
    lookup = np.array([plot_text(class_name(names, k)) for k in range(top + 1)], dtype=object)
    fig = go.Figure(
        go.Heatmap(
            z=labels,
            zmin=-0.5,
            zmax=top + 0.5,
            colorscale=colourscale,
            showscale=False,
            customdata=lookup[np.clip(labels, 0, top)],
            hovertemplate="row %{y}, col %{x}<br>%{customdata}<extra></extra>",
        )
    )
    return _image_axes(_layout(fig, title, height=360))


def entropy_map(entropy: np.ndarray, title: str) -> go.Figure:
    """Prediction entropy (nats) per pixel."""
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(entropy, dtype=float),
            colorscale="Viridis",
            colorbar={
                "title": {"text": "nats", "side": "right"},
                "thickness": 10,
                "orientation": "h",
                "y": -0.02,
                "yanchor": "top",
                "len": 0.9,
            },
            hovertemplate="row %{y}, col %{x}<br>entropy %{z:.3f} nats<extra></extra>",
        )
    )
    return _image_axes(_layout(fig, title, height=360))


def class_legend_html(labels: Sequence[int], names: Sequence[str]) -> str:
    """Colour chips with class names (the legend shared by the maps and the scatters)."""
    chips = []
    for label in labels:
        chips.append(
            '<span style="display:inline-flex;align-items:center;margin:0 14px 4px 0;'
            'font-size:0.85rem;white-space:nowrap">'
            f'<span style="width:14px;height:14px;border:1px solid #888;margin-right:5px;'
            f'background:{class_colour(label)}"></span>{label}. '
            f"{html.escape(class_name(names, label))}</span>"  # a scene file's text, as text
        )
    return '<div style="display:flex;flex-wrap:wrap">' + "".join(chips) + "</div>"


# --------------------------------------------------------------------------- embeddings


def embedding_scatter(
    points: np.ndarray, labels: np.ndarray | None, names: Sequence[str], title: str
) -> go.Figure:
    """The 2-D t-SNE of test embeddings coloured by class, class centroids as crosses."""
    points = np.asarray(points, dtype=float)
    fig = go.Figure()
    if labels is None:
        fig.add_scattergl(x=points[:, 0], y=points[:, 1], mode="markers", name="test pixels")
    else:
        labels = np.asarray(labels, dtype=int)
        for label in np.unique(labels):
            mask = labels == label
            fig.add_scattergl(
                x=points[mask, 0],
                y=points[mask, 1],
                mode="markers",
                marker={"size": 5, "color": class_colour(int(label)), "opacity": 0.8},
                name=plot_text(class_name(names, int(label))),
                legendgroup=str(label),
            )
            cx, cy = points[mask].mean(axis=0)
            fig.add_scatter(
                x=[cx],
                y=[cy],
                mode="markers",
                marker={
                    "symbol": "x",
                    "size": 12,
                    "color": class_colour(int(label)),
                    "line": {"width": 1.5, "color": "black"},
                },
                name=f"{plot_text(class_name(names, int(label)))} centroid",
                legendgroup=str(label),
                showlegend=False,
            )
    fig.update_xaxes(title="t-SNE 1", showticklabels=False)
    fig.update_yaxes(title="t-SNE 2", showticklabels=False, scaleanchor="x")
    _layout(fig, title, height=560)
    fig.update_layout(  # below the plot: the scatter keeps the figure's width
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.08, "yanchor": "top",
                "font": {"size": 11}},
    )  # fmt: skip
    return fig


# --------------------------------------------------------------------------- search


def search_history(trials: Sequence[dict[str, Any]], mode: str, metric: str) -> go.Figure:
    """Objective per trial number by status, and the best so far."""
    fig = go.Figure()
    for status in sorted({t["status"] for t in trials}):
        chosen = [t for t in trials if t["status"] == status and t["value"] is not None]
        if not chosen:
            continue
        fig.add_scatter(
            x=[t["number"] for t in chosen],
            y=[t["value"] for t in chosen],
            mode="markers",
            name=status,
            marker={"color": STATUS_COLOURS.get(status, "#333"), "size": 9},
            customdata=[[t["id"], _params_text(t["params"])] for t in chosen],
            hovertemplate="trial %{x} (id %{customdata[0]})<br>value %{y:.4f}<br>"
            "%{customdata[1]}<extra>" + status + "</extra>",
        )
    best, xs, ys = None, [], []
    better = max if mode == "max" else min
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["status"] == "completed" and t["value"] is not None:
            best = t["value"] if best is None else better(best, t["value"])
        if best is not None:
            xs.append(t["number"])
            ys.append(best)
    if xs:
        fig.add_scatter(
            x=xs, y=ys, mode="lines", name="best so far", line={"shape": "hv", "color": "#444"}
        )
    fig.update_xaxes(title="trial number")
    fig.update_yaxes(title=metric)
    return _layout(fig, f"{metric} per trial", height=380)


def _params_text(params: dict[str, Any]) -> str:
    return "<br>".join(f"{k} = {v}" for k, v in sorted(params.items()))


def param_vs_value(
    trials: Sequence[dict[str, Any]], param: str, dist: dict[str, Any], metric: str
) -> go.Figure:
    """One parameter against the objective (log axis for a log-scaled parameter)."""
    fig = go.Figure()
    for status in sorted({t["status"] for t in trials}):
        chosen = [
            t
            for t in trials
            if t["status"] == status and t["value"] is not None and param in t["params"]
        ]
        if not chosen:
            continue
        fig.add_scatter(
            x=[_display(t["params"][param]) for t in chosen],
            y=[t["value"] for t in chosen],
            mode="markers",
            name=status,
            marker={"color": STATUS_COLOURS.get(status, "#333"), "size": 9},
            text=[f"trial {t['number']}" for t in chosen],
        )
    if dist.get("type") == "categorical":
        fig.update_xaxes(
            type="category",
            categoryorder="array",
            categoryarray=[_display(c) for c in dist.get("choices", [])],
        )
    elif dist.get("log"):
        fig.update_xaxes(type="log")
    fig.update_xaxes(title=param)
    fig.update_yaxes(title=metric)
    return _layout(fig, f"{param} against {metric}", height=380)


def _display(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "-".join(str(v) for v in value)
    return value


def parallel_coordinates(
    trials: Sequence[dict[str, Any]], space: dict[str, dict[str, Any]], metric: str
) -> go.Figure | None:
    """Every trial with a value as a line through its parameters and the objective."""
    chosen = [t for t in trials if t["value"] is not None]
    if not chosen or not space:
        return None
    dims = []
    for name in sorted(space):
        dist = space[name]
        raw = [t["params"].get(name) for t in chosen]
        if dist.get("type") == "categorical" or any(
            v is not None and not isinstance(v, int | float) for v in raw
        ):
            choices = [_display(c) for c in dist.get("choices", [])] or sorted(
                {str(_display(v)) for v in raw}
            )
            index = {str(c): i for i, c in enumerate(choices)}
            values = [index.get(str(_display(v)), -1) for v in raw]
            dims.append(
                {
                    "label": name,
                    "values": values,
                    "tickvals": list(range(len(choices))),
                    "ticktext": [str(c) for c in choices],
                }
            )
        elif dist.get("log"):
            values = [math.log10(v) if v and v > 0 else None for v in raw]
            dims.append({"label": f"log10 {name}", "values": values})
        else:
            dims.append({"label": name, "values": raw})
    values = [t["value"] for t in chosen]
    dims.append({"label": metric, "values": values})
    fig = go.Figure(
        go.Parcoords(
            line={"color": values, "colorscale": "Viridis", "showscale": True},
            dimensions=dims,
        )
    )
    _layout(fig, "Parallel coordinates (trials with a value)", height=460)
    fig.update_layout(margin={"l": 70, "r": 50, "t": 110, "b": 30})
    return fig


def importance_bars(importances: dict[str, float]) -> go.Figure:
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h"))
    fig.update_xaxes(title="importance (fANOVA, sums to 1)")
    return _layout(fig, "Parameter importance", height=80 + 40 * len(items))


# --------------------------------------------------------------------------- runs


def status_bars(counts: dict[str, dict[str, int]]) -> go.Figure:
    """Trials per run, stacked by status. ``counts``: {run label: {status: n}}."""
    fig = go.Figure()
    statuses = sorted({s for c in counts.values() for s in c})
    for status in statuses:
        fig.add_bar(
            x=list(counts),
            y=[c.get(status, 0) for c in counts.values()],
            name=status,
            marker_color=STATUS_COLOURS.get(status, "#333"),
        )
    fig.update_layout(barmode="stack", bargap=0.6 if len(counts) < 4 else 0.2)
    fig.update_yaxes(title="trials")
    return _layout(fig, "Trials per run by status", height=320)
