"""The result bundle of one trial: plain data, ready for the single database writer.

Arrays are NumPy; everything else is JSON-able. A failed trial carries only its
spec, the error and the traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import metric_table
from .spec import TrialSpec

#: What :func:`harness.metrics.classification_metrics` returns, in order: the rows of
#: the metric table (:mod:`harness.metric_table`) it computes.
METRIC_NAMES = metric_table.METRIC_NAMES


@dataclass
class TrialResult:
    """Everything a trial produced.

    Attributes:
        spec: the trial's specification (``spec.spec_hash`` is its identity).
        status: "completed", "failed", "pruned" or "interrupted".
        metrics: {"test": {name: value}, "val": {...}} with the names of
            :data:`METRIC_NAMES`; plus "centroid_distance" under "test" for deep
            models (None for tree models) and the collapse diagnostics. Every name
            must have a row in the metric table (:mod:`harness.metric_table`).
        per_class: one dict per class: label (1-based), name, precision, recall, f1,
            ap, support (test set).
        confusion: (C, C) int64 test confusion matrix (rows: truth, columns: prediction).
        pr_curves: {label: (precision, recall)} float32 arrays, at most ~200 points each.
        embedding_2d: (n, 2) float32 t-SNE coordinates of up to 2,000 stratified test
            embeddings, or None; ``embedding_labels`` their labels (1-based).
        class_map: (H, W) int16 predicted label (1-based) of every pixel; ``entropy_map``
            (H, W) float16 prediction entropy (nats).
        curves: per-epoch lists: "train_loss", "train_acc", "val_loss", "val_acc", "lr".
        info: scalars about the run: fit_seconds, inference_seconds,
            train_samples_per_second, inference_samples_per_second, n_parameters,
            peak_memory_bytes, device, epochs_run, best_epoch, n_train, n_val, n_test,
            and model-specific extras (tree sizes, XGBoost's best iteration...).
        error, traceback: for a failed trial.
        split_counts: per-class (train, val, test, dropped) pixel counts.
        test_predictions: the test set pixel by pixel: "index" (flat row-major indices
            into the trial's scene, sorted), "truth" and "pred" (1-based labels); what
            McNemar's test pairs two models on (``harness.analysis.significance``).
        model_files: the fitted model and its preprocessing as files
            (:class:`harness.saved_model.ModelFile`: model, preprocessing, manifest),
            when the trial saved them; the store keeps them in its artifact folder.
    """

    spec: TrialSpec
    status: str = "completed"
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion: np.ndarray | None = None
    pr_curves: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    embedding_2d: np.ndarray | None = None
    embedding_labels: np.ndarray | None = None
    class_map: np.ndarray | None = None
    entropy_map: np.ndarray | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    split_counts: np.ndarray | None = None
    test_predictions: dict[str, np.ndarray] | None = None
    model_files: list[Any] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None

    def __post_init__(self) -> None:
        """Refuse metric names the metric table does not know.

        Raises:
            harness.metric_table.UnknownMetricError: a metric without a row in the
                table (the message names it and says where to add the row).
        """
        for split, values in (self.metrics or {}).items():
            metric_table.check_names(values, f"TrialResult.metrics[{split!r}]")

    @property
    def spec_hash(self) -> str:
        return self.spec.spec_hash

    @classmethod
    def failed(
        cls, spec: TrialSpec, error: BaseException, tb: str, status: str = "failed"
    ) -> TrialResult:
        """A result holding only the error (nothing else of a failed trial is stored)."""
        return cls(spec=spec, status=status, error=f"{type(error).__name__}: {error}", traceback=tb)
