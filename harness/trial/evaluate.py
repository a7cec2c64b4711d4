"""Evaluation: predictions on the test set and the whole scene (tree and deep
models), their metrics, maps and embeddings."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec import TrialSpec
from .data import DevicePatches, PreparedData, patch_tensor, pixel_table
from .fit import DeepFit, TrialModel
from .steps import predict_logits


@dataclass
class Predictions:
    """A fitted model's class probabilities, (n, C) NumPy arrays.

    Attributes:
        test: of the test pixels.
        val: of the validation pixels, or None without a validation set.
        embeddings: the test pixels' learned features (deep models), or None.
        scene: of every pixel of the scene, row-major.
        seconds: wall time of the predictions (``info["inference_seconds"]``).
    """

    test: np.ndarray
    val: np.ndarray | None
    embeddings: np.ndarray | None
    scene: np.ndarray
    seconds: float


@dataclass
class Evaluation:
    """What the trial stores about its predictions (the ``TrialResult`` fields of the same names)."""

    metrics: dict[str, dict[str, Any]]
    per_class: list[dict[str, Any]]
    confusion: np.ndarray
    pr_curves: dict[int, tuple[np.ndarray, np.ndarray]]
    embedding_2d: np.ndarray | None
    embedding_labels: np.ndarray | None
    class_map: np.ndarray
    entropy_map: np.ndarray
    test_predictions: dict[str, np.ndarray]


def predict_tree(model: Any, data: PreparedData, map_chunk: int) -> Predictions:
    """Test, validation and full-scene probabilities of a fitted tree model."""
    x_all = pixel_table(data)
    t0 = time.perf_counter()
    test = model.predict_proba(x_all[data.test])
    val = model.predict_proba(x_all[data.val]) if data.val.size else None
    scene = np.concatenate(
        [model.predict_proba(x_all[s : s + map_chunk]) for s in range(0, len(x_all), map_chunk)]
    )
    return Predictions(
        test=test, val=val, embeddings=None, scene=scene, seconds=time.perf_counter() - t0
    )


def predict_deep(
    built: TrialModel,
    spec: TrialSpec,
    data: PreparedData,
    fit: DeepFit,
    val: DevicePatches,
    map_chunk: int,
) -> Predictions:
    """Test probabilities and embeddings, validation probabilities (from the fit's
    validation patches) and the full-scene probabilities, with the fit's fast path."""
    x_test = patch_tensor(spec, data, data.test, built.device)
    batch = spec.training.eval_batch_size
    t0 = time.perf_counter()
    proba, emb = predict_logits(
        built.model, x_test, batch, fit.autocast, with_embed=True, forward=fit.forward
    )
    proba_val = (
        predict_logits(built.model, val.x, batch, fit.autocast, forward=fit.forward)[0]
        .cpu()
        .numpy()
        if data.val.size
        else None
    )
    scene = _predict_scene(built, spec, data, fit, max(batch, 256), map_chunk)
    return Predictions(
        test=proba.cpu().numpy(),
        val=proba_val,
        embeddings=emb.cpu().numpy(),
        scene=scene,
        seconds=time.perf_counter() - t0,
    )


def _predict_scene(
    built: TrialModel,
    spec: TrialSpec,
    data: PreparedData,
    fit: DeepFit,
    batch_size: int,
    map_chunk: int,
) -> np.ndarray:
    """Probabilities of every pixel of the scene, ``map_chunk`` windows at a time."""
    import torch

    import datasets

    chunks = []
    for _idx, patches in datasets.iter_scene_patches(
        data.image, spec.patch_size, chunk_size=map_chunk, pad_mode=spec.pad_mode
    ):
        x = torch.from_numpy(patches).to(built.device)
        proba = predict_logits(built.model, x, batch_size, fit.autocast, forward=fit.forward)[0]
        chunks.append(proba.cpu().numpy())
    return np.concatenate(chunks)


def evaluate_predictions(
    spec: TrialSpec, data: PreparedData, predictions: Predictions
) -> Evaluation:
    """Test metrics, per-class scores, confusion, PR curves, t-SNE, validation metrics and maps."""
    from ..metrics import classification_metrics, entropy, evaluate

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
        class_map=(predictions.scene.argmax(1) + 1).reshape(h, w).astype(np.int16),
        entropy_map=entropy(predictions.scene).reshape(h, w).astype(np.float16),
        test_predictions={
            "index": np.asarray(data.test, dtype=np.int64),
            "truth": (data.labels(data.test) + 1).astype(np.int16),
            "pred": (predictions.test.argmax(1) + 1).astype(np.int16),
        },
    )


def sha256_of_test_set(test: np.ndarray, shape: tuple[int, ...]) -> str:
    """sha256 of a test set (its sorted flat indices and the scene's shape): two trials
    with the same value were tested on the same pixels (McNemar's test pairs them)."""
    digest = hashlib.sha256(np.asarray(shape, dtype="<i8").tobytes())
    digest.update(np.sort(np.asarray(test, dtype="<i8")).tobytes())
    return digest.hexdigest()
