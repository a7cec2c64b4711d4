"""Evaluation: predictions on the test set and the map's pixels (tree and deep
models), their metrics, maps and embeddings.

The map phase (everything predicted after the fit) classifies the test and validation
pixels, then the map's: every pixel of the scene (``maps="scene"``, the paper's
figures), only the labelled pixels (``"labelled"``: the class map is 0 and the
entropy NaN elsewhere) or none (``"none"``: no class or entropy map at all). No
metric is computed from the map; the trial's ``info["maps"]`` records what it covers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec import TrialSpec
from .data import DevicePatches, PreparedData, patch_tensor, pixel_table
from .fit import DeepFit, TrialModel
from .steps import predict_logits
from .ticker import MAP_MODES, PhaseReporter, Ticker


@dataclass
class Predictions:
    """A fitted model's class probabilities, (n, C) NumPy arrays.

    Attributes:
        test: of the test pixels.
        val: of the validation pixels, or None without a validation set.
        embeddings: the test pixels' learned features (deep models), or None.
        scene: of the map's pixels (every pixel of the scene, row-major, or the
            labelled ones: ``map_index``), or None when no map was asked for.
        seconds: wall time of the predictions (``info["inference_seconds"]``).
        maps: what the map covers: "scene", "labelled" or "none" (``info["maps"]``).
        map_index: the flat indices of the map's pixels when they are not the whole
            scene, else None.
    """

    test: np.ndarray
    val: np.ndarray | None
    embeddings: np.ndarray | None
    scene: np.ndarray | None
    seconds: float
    maps: str = "scene"
    map_index: np.ndarray | None = None

    @property
    def map_pixels(self) -> int:
        """Pixels the map classified."""
        return 0 if self.scene is None else int(self.scene.shape[0])


@dataclass
class Evaluation:
    """What the trial stores about its predictions (the ``TrialResult`` fields of the same names)."""

    metrics: dict[str, dict[str, Any]]
    per_class: list[dict[str, Any]]
    confusion: np.ndarray
    pr_curves: dict[int, tuple[np.ndarray, np.ndarray]]
    embedding_2d: np.ndarray | None
    embedding_labels: np.ndarray | None
    class_map: np.ndarray | None
    entropy_map: np.ndarray | None
    test_predictions: dict[str, np.ndarray]


def map_index(data: PreparedData, maps: str) -> np.ndarray | None:
    """The flat indices of the pixels the map classifies: None for the whole scene
    ("scene"), the labelled pixels ("labelled"), none ("none").

    Raises:
        ValueError: ``maps`` is not one of :data:`~harness.trial.ticker.MAP_MODES`.
    """
    if maps == "scene":
        return None
    if maps == "labelled":
        return np.flatnonzero(np.asarray(data.gt).ravel() > 0)
    if maps == "none":
        return np.empty(0, dtype=np.int64)
    raise ValueError(
        f"maps={maps!r} is not a map mode; expected one of {', '.join(MAP_MODES)} "
        "(--maps scene|labelled|none)."
    )


def map_phase_parts(data: PreparedData, maps: str) -> tuple[tuple[str, int], ...]:
    """The map phase's pixels by what they are: test, validation, then the map's."""
    h, w = data.gt.shape
    index = map_index(data, maps)
    parts = [("test", int(data.test.size)), ("val", int(data.val.size))]
    if maps != "none":
        parts.append((maps, h * w if index is None else int(index.size)))
    return tuple(parts)


def predict_tree(
    model: Any,
    data: PreparedData,
    map_chunk: int,
    maps: str = "scene",
    reporter: PhaseReporter | None = None,
) -> Predictions:
    """Test, validation and map probabilities of a fitted tree model."""
    reporter = reporter or PhaseReporter()
    parts = map_phase_parts(data, maps)
    ticker = reporter.ticker("map", sum(n for _, n in parts), parts=parts)
    index = map_index(data, maps)
    x_all = pixel_table(data)
    t0 = time.perf_counter()
    test = model.predict_proba(x_all[data.test])
    val = model.predict_proba(x_all[data.val]) if data.val.size else None
    done = data.test.size + data.val.size
    ticker.update(done)
    rows = x_all if index is None else x_all[index]
    chunks = []
    for s in range(0, len(rows), map_chunk):
        chunks.append(model.predict_proba(rows[s : s + map_chunk]))
        ticker.update(done + s + len(chunks[-1]))
    return Predictions(
        test=test,
        val=val,
        embeddings=None,
        scene=np.concatenate(chunks) if maps != "none" else None,
        seconds=time.perf_counter() - t0,
        maps=maps,
        map_index=index,
    )


def predict_deep(
    built: TrialModel,
    spec: TrialSpec,
    data: PreparedData,
    fit: DeepFit,
    val: DevicePatches,
    map_chunk: int,
    maps: str = "scene",
    reporter: PhaseReporter | None = None,
) -> Predictions:
    """Test probabilities and embeddings, validation probabilities (from the fit's
    validation patches) and the map's probabilities, with the fit's fast path; the
    map phase reports its pixels through ``reporter``."""
    reporter = reporter or PhaseReporter()
    parts = map_phase_parts(data, maps)
    ticker = reporter.ticker("map", sum(n for _, n in parts), parts=parts)
    index = map_index(data, maps)
    x_test = patch_tensor(spec, data, data.test, built.device)
    batch = spec.training.eval_batch_size
    t0 = time.perf_counter()
    proba, emb = predict_logits(
        built.model,
        x_test,
        batch,
        fit.autocast,
        with_embed=True,
        forward=fit.forward,
        on_rows=ticker.update,
    )
    n_test = int(data.test.size)
    proba_val = (
        predict_logits(
            built.model,
            val.x,
            batch,
            fit.autocast,
            forward=fit.forward,
            on_rows=lambda rows: ticker.update(n_test + rows),
        )[0]
        .cpu()
        .numpy()
        if data.val.size
        else None
    )
    scene = (
        _predict_scene(
            built,
            spec,
            data,
            fit,
            max(batch, 256),
            map_chunk,
            index,
            ticker,
            n_test + data.val.size,
        )
        if maps != "none"
        else None
    )
    return Predictions(
        test=proba.cpu().numpy(),
        val=proba_val,
        embeddings=emb.cpu().numpy(),
        scene=scene,
        seconds=time.perf_counter() - t0,
        maps=maps,
        map_index=index,
    )


def _predict_scene(
    built: TrialModel,
    spec: TrialSpec,
    data: PreparedData,
    fit: DeepFit,
    batch_size: int,
    map_chunk: int,
    index: np.ndarray | None,
    ticker: Ticker,
    offset: int,
) -> np.ndarray:
    """Probabilities of the map's pixels (``index``; None: every pixel of the scene),
    ``map_chunk`` windows at a time; ``ticker`` counts them after ``offset`` pixels."""
    import torch

    chunks: list[np.ndarray] = []
    done = offset
    for _idx, patches in _map_windows(data.image, spec, map_chunk, index):
        x = torch.from_numpy(patches).to(built.device)

        def on_rows(rows: int, base: int = done) -> None:
            ticker.update(base + rows)

        proba = predict_logits(
            built.model, x, batch_size, fit.autocast, forward=fit.forward, on_rows=on_rows
        )[0]
        chunks.append(proba.cpu().numpy())
        done += len(patches)
    return np.concatenate(chunks) if chunks else np.empty((0, 0), dtype=np.float32)


def _map_windows(
    image: np.ndarray, spec: TrialSpec, chunk: int, index: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(flat indices, windows) of the map's pixels, ``chunk`` at a time: every pixel's
    (:func:`datasets.iter_scene_patches`) or those of ``index`` (the image padded once)."""
    import datasets

    if index is None:
        yield from datasets.iter_scene_patches(
            image, spec.patch_size, chunk_size=chunk, pad_mode=spec.pad_mode
        )
        return
    w = image.shape[1]
    padded = datasets.pad_image(
        image.astype(np.float32, copy=False), spec.patch_size, spec.pad_mode
    )
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, (spec.patch_size, spec.patch_size), axis=(0, 1)
    )
    for start in range(0, index.size, chunk):
        idx = index[start : start + chunk]
        rows, cols = np.divmod(idx, w)
        yield idx, np.ascontiguousarray(windows[rows, cols])


def evaluate_predictions(
    spec: TrialSpec, data: PreparedData, predictions: Predictions
) -> Evaluation:
    """Test metrics, per-class scores, confusion, PR curves, t-SNE, validation metrics and maps."""
    from ..metrics import classification_metrics, evaluate

    h, w = data.gt.shape
    evaluation = evaluate(
        data.labels(data.test),
        predictions.test,
        data.n_classes,
        data.class_names,
        embeddings=predictions.embeddings,
        seed=spec.seed,
    )
    metrics = {"test": dict(evaluation["metrics"])}
    metrics["test"]["centroid_distance"] = evaluation["centroid_distance"]
    metrics["test"]["silhouette"] = evaluation["silhouette"]
    metrics["test"].update(evaluation["intervals"])
    if predictions.val is not None:
        metrics["val"] = classification_metrics(
            data.labels(data.val), predictions.val.argmax(1), data.n_classes
        )
    return Evaluation(
        metrics=metrics,
        per_class=evaluation["per_class"],
        confusion=evaluation["confusion"],
        pr_curves=evaluation["pr_curves"],
        embedding_2d=evaluation["embedding_2d"],
        embedding_labels=evaluation["embedding_labels"],
        **_maps(predictions, h, w),
        test_predictions={
            "index": np.asarray(data.test, dtype=np.int64),
            "truth": (data.labels(data.test) + 1).astype(np.int16),
            "pred": (predictions.test.argmax(1) + 1).astype(np.int16),
        },
    )


def _maps(predictions: Predictions, h: int, w: int) -> dict[str, np.ndarray | None]:
    """The class and entropy maps: of every pixel ("scene"); of the labelled pixels,
    the others 0 (no class) and NaN ("labelled"); none ("none")."""
    from ..metrics import entropy

    scene = predictions.scene
    if scene is None:
        return {"class_map": None, "entropy_map": None}
    labels = (scene.argmax(1) + 1).astype(np.int16)
    ent = entropy(scene).astype(np.float16)
    if predictions.map_index is None:
        return {"class_map": labels.reshape(h, w), "entropy_map": ent.reshape(h, w)}
    class_map = np.zeros(h * w, dtype=np.int16)
    entropy_map = np.full(h * w, np.nan, dtype=np.float16)
    class_map[predictions.map_index] = labels
    entropy_map[predictions.map_index] = ent
    return {"class_map": class_map.reshape(h, w), "entropy_map": entropy_map.reshape(h, w)}


def sha256_of_test_set(test: np.ndarray, shape: tuple[int, ...]) -> str:
    """sha256 of a test set (its sorted flat indices and the scene's shape): two trials
    with the same value were tested on the same pixels (McNemar's test pairs them)."""
    digest = hashlib.sha256(np.asarray(shape, dtype="<i8").tobytes())
    digest.update(np.sort(np.asarray(test, dtype="<i8")).tobytes())
    return digest.hexdigest()
