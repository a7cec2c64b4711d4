"""Evaluation of one trial: the paper's metrics, per-class scores, curves and embeddings.

Every score comes from scikit-learn; this module only chooses the labels, silences
the warnings of the degenerate cases it defines, and turns results into plain
floats and compact arrays for :class:`harness.result.TrialResult`.

Labels are 0-based integers ``0..C-1`` everywhere in the inputs; the outputs that
name a class (``per_class``, ``pr_curves``, ``embedding_labels``) use the 1-based
labels of the ground-truth maps.

Degenerate cases (all results stay finite floats, no warning leaks):

* **A class absent from the predictions**: its precision is 0 (``zero_division=0``),
  its recall 0, its F1 0.
* **A class absent from y_true** (a class with no test pixel): it still gets its row
  in :func:`per_class_metrics` and :func:`confusion` (support 0, recall 0, AP None),
  it does not count in balanced accuracy / average accuracy (mean recall over the
  classes *present in y_true*), and it counts in macro-F1 only when it is predicted
  (sklearn's default label set, the union of y_true and y_pred; a wrongly predicted
  absent class then scores F1 0).
* **A single class in y_true and y_pred** (perfect, trivially): OA, BA, AA, macro-F1
  and ARI are 1; Cohen's kappa and MCC are undefined (0 / 0) and reported as **0**,
  the value sklearn's ``matthews_corrcoef`` returns (``cohen_kappa_score`` would
  return NaN with a warning; it is replaced by 0 too).
* **A constant predictor** on several classes: kappa and MCC are 0, ARI is 0.
* **All wrong**: OA, BA, AA and macro-F1 are 0; kappa and MCC are negative. ARI is
  a clustering index, invariant to renaming the labels: a prediction that is wrong
  everywhere but *consistently* permutes the classes scores ARI 1.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from . import metric_table
from .embeddings import centroid_distance, silhouette, stratified_subsample, tsne_2d
from .metric_table import CLASSIFICATION, COLLAPSE, check_computed

__all__ = [
    "bootstrap_intervals",
    "classification_metrics",
    "confusion",
    "entropy",
    "evaluate",
    "per_class_metrics",
    "pr_curves",
]

# The warnings sklearn raises for the degenerate cases documented above; the values
# they concern are defined by this module, so they are silenced (and only they).
_BENIGN_MESSAGES = (
    r"A single label was found",
    r"y_pred contains classes not in y_true",
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence sklearn's warnings about the degenerate cases this module defines."""
    with warnings.catch_warnings():
        for message in _BENIGN_MESSAGES:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
        warnings.filterwarnings("ignore", message=r"invalid value", category=RuntimeWarning)
        yield


def _check_labels(y: Any, n_classes: int, name: str) -> np.ndarray:
    """``y`` as a 1-D int64 array of labels in ``0..n_classes-1``, or ValueError."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0):
        raise ValueError(f"{name} must hold integer labels 0..{n_classes - 1}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name} holds labels in [{arr.min()}, {arr.max()}], outside 0..{n_classes - 1} "
            f"(n_classes={n_classes}); labels must be 0-based"
        )
    return arr


def _check_proba(proba: Any, n: int, n_classes: int) -> np.ndarray:
    """``proba`` as an (n, n_classes) float64 array, or ValueError."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.shape != (n, n_classes):
        raise ValueError(
            f"proba must have shape (n_samples, n_classes) = ({n}, {n_classes}), got {arr.shape}"
        )
    return arr


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, float]:
    """The paper's scalar metrics (Section III.D), from scikit-learn.

    Args:
        y_true: (n,) true labels ``0..C-1``.
        y_pred: (n,) predicted labels ``0..C-1``.
        n_classes: C, the number of classes of the scene.

    Returns:
        ``{name: float}`` with the keys of :data:`harness.result.METRIC_NAMES` (the
        rows of the metric table, :mod:`harness.metric_table`, computed by this
        function), in table order:

        * ``oa``: overall accuracy (``accuracy_score``).
        * ``ba``: balanced accuracy (``balanced_accuracy_score``, not adjusted): the
          mean recall over the classes present in y_true.
        * ``kappa``: Cohen's kappa (``cohen_kappa_score``); 0 when undefined.
        * ``mcc``: Matthews correlation coefficient (``matthews_corrcoef``); 0 when
          undefined (sklearn's value).
        * ``ari``: adjusted Rand index (``adjusted_rand_score``).
        * ``macro_f1``: unweighted mean F1 over the labels present in y_true or y_pred
          (``f1_score(average="macro", zero_division=0)``).
        * ``aa``: average accuracy, the remote-sensing name of the mean per-class
          recall over the classes present in y_true (``recall_score`` on those
          labels, ``average="macro"``); equal to ``ba`` by definition, kept as its
          own column because the literature reports both names.

        See the module docstring for the degenerate cases.

    Raises:
        ValueError: empty input, different lengths, or labels outside ``0..C-1``.
        harness.metric_table.MetricTableError: a score computed here has no row in
            the metric table (or a row says this function computes a score it does
            not); nothing is silently dropped.
    """
    yt = _check_labels(y_true, n_classes, "y_true")
    yp = _check_labels(y_pred, n_classes, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {yt.size} != {yp.size}")
    if yt.size == 0:
        raise ValueError("classification_metrics needs at least one sample, got none")
    values = _scores(yt, yp, n_classes)
    names = check_computed(values, CLASSIFICATION)
    # Every value is finite by sklearn's contract; the guard keeps the promise regardless.
    return {name: float(values[name]) if np.isfinite(values[name]) else 0.0 for name in names}


def _scores(yt: np.ndarray, yp: np.ndarray, n_classes: int) -> dict[str, Any]:
    """The raw scores of :func:`classification_metrics` (checked labels, not empty).

    A new classification metric is one more entry here and one row of the metric
    table (:mod:`harness.metric_table`, ``computed_by=CLASSIFICATION``).
    """
    labels = np.arange(n_classes)
    present = np.unique(yt)
    with _quiet():
        kappa = skm.cohen_kappa_score(yt, yp, labels=labels)
        return {
            "oa": skm.accuracy_score(yt, yp),
            "ba": skm.balanced_accuracy_score(yt, yp),
            "kappa": kappa if np.isfinite(kappa) else 0.0,
            "mcc": skm.matthews_corrcoef(yt, yp),
            "ari": skm.adjusted_rand_score(yt, yp),
            "macro_f1": skm.f1_score(yt, yp, average="macro", zero_division=0),
            "aa": skm.recall_score(yt, yp, labels=present, average="macro", zero_division=0),
        }


#: Test diagnostics stored beside the metrics (split "test"): the share of the test
#: pixels in their most frequent class, and the share of the predictions in the most
#: predicted class. :func:`one_class_note` reads them. The rows of the metric table
#: computed by :func:`collapse_metrics`.
COLLAPSE_METRICS = metric_table.COLLAPSE_METRICS
#: A trial whose OA is at most this far above the majority-class rate learned
#: nothing a constant guess would not give ("within a few points").
MAJORITY_MARGIN = 0.05
#: A trial that puts at least this share of its test predictions in one class.
ONE_CLASS_SHARE = 0.9


def collapse_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, float]:
    """The :data:`COLLAPSE_METRICS` of a test set and its predictions (labels ``0..C-1``)."""
    yt = _check_labels(y_true, n_classes, "y_true")
    yp = _check_labels(y_pred, n_classes, "y_pred")
    if yt.size == 0:
        raise ValueError("collapse_metrics needs at least one sample, got none")
    values = {
        "majority_rate": float(np.bincount(yt, minlength=n_classes).max() / yt.size),
        "top_prediction_share": float(np.bincount(yp, minlength=n_classes).max() / yp.size),
    }
    return {name: values[name] for name in check_computed(values, COLLAPSE)}


def one_class_note(
    oa: float | None, majority_rate: float | None, top_prediction_share: float | None
) -> str | None:
    """Why a result is not a result, or None: "predicts one class" (at least
    :data:`ONE_CLASS_SHARE` of the predictions in one class) or "no better than the
    majority class" (OA within :data:`MAJORITY_MARGIN` of the majority-class rate)."""
    if top_prediction_share is not None and top_prediction_share >= ONE_CLASS_SHARE:
        return "predicts one class"
    if oa is not None and majority_rate is not None and oa <= majority_rate + MAJORITY_MARGIN:
        return "no better than the majority class"
    return None


def trial_note(trial: Mapping[str, Any]) -> str | None:
    """Why a stored trial (:meth:`harness.store.ResultStore.trial`) is not a result, or
    None: :func:`one_class_note` on its test OA and collapse diagnostics."""
    test = (trial.get("metrics") or {}).get("test") or {}
    return one_class_note(
        test.get("oa"), test.get("majority_rate"), test.get("top_prediction_share")
    )


def confusion(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """The confusion matrix over all C classes, even those absent from both inputs.

    Args:
        y_true: (n,) true labels ``0..C-1``.
        y_pred: (n,) predicted labels ``0..C-1``.
        n_classes: C.

    Returns:
        (C, C) int64 matrix; rows are the true class, columns the predicted class
        (sklearn's ``confusion_matrix`` with ``labels=range(C)``). All zeros for
        empty inputs.
    """
    yt = _check_labels(y_true, n_classes, "y_true")
    yp = _check_labels(y_pred, n_classes, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {yt.size} != {yp.size}")
    if yt.size == 0:
        return np.zeros((n_classes, n_classes), dtype=np.int64)
    with _quiet():
        cm = skm.confusion_matrix(yt, yp, labels=np.arange(n_classes))
    return cm.astype(np.int64)


def per_class_metrics(
    y_true: Any,
    y_pred: Any,
    proba: Any,
    n_classes: int,
    class_names: Sequence[str],
) -> list[dict[str, Any]]:
    """Precision, recall, F1, average precision and support of every class.

    Args:
        y_true: (n,) true labels ``0..C-1``.
        y_pred: (n,) predicted labels ``0..C-1``.
        proba: (n, C) class scores (probabilities); ``proba[:, k]`` ranks the
            samples for class k's average precision.
        n_classes: C.
        class_names: C names, in label order.

    Returns:
        C dicts in label order, one per class even when absent: ``label`` (1-based
        int), ``name``, ``precision``, ``recall``, ``f1`` (floats from
        ``precision_recall_fscore_support(labels=range(C), zero_division=0)``: 0 where
        undefined), ``ap`` (``average_precision_score`` one-vs-rest on
        ``proba[:, k]``; None when the class has no sample in y_true) and
        ``support`` (int, samples of the class in y_true).
    """
    yt = _check_labels(y_true, n_classes, "y_true")
    yp = _check_labels(y_pred, n_classes, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {yt.size} != {yp.size}")
    scores = _check_proba(proba, yt.size, n_classes)
    names = list(class_names)
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} names, expected n_classes={n_classes}")
    if yt.size:
        with _quiet():
            precision, recall, f1, support = skm.precision_recall_fscore_support(
                yt, yp, labels=np.arange(n_classes), average=None, zero_division=0
            )
    else:
        precision = recall = f1 = np.zeros(n_classes)
        support = np.zeros(n_classes, dtype=np.int64)
    rows = []
    for k in range(n_classes):
        positive = yt == k
        ap = None
        if positive.any():
            with _quiet():
                ap = float(skm.average_precision_score(positive, scores[:, k]))
        rows.append(
            {
                "label": k + 1,
                "name": str(names[k]),
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "ap": ap,
                "support": int(support[k]),
            }
        )
    return rows


def _even_indices(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` increasing indices evenly spread over ``0..n-1``, ends kept."""
    if n <= max_points:
        return np.arange(n)
    # floor of an evenly spaced grid with step > 1: strictly increasing, 0 and n-1 exact.
    return np.unique(np.linspace(0, n - 1, max_points).astype(np.int64))


def pr_curves(
    y_true: Any, proba: Any, n_classes: int, max_points: int = 200
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """One-vs-rest precision-recall curves, down-sampled for storage.

    Each curve is sklearn's ``precision_recall_curve(y_true == k, proba[:, k],
    drop_intermediate=True)`` (thresholds that cannot show on a plotted curve are
    dropped). When it still has more than ``max_points`` points, points evenly spaced
    along the curve's index are kept, always including both end points (recall 1 at
    the lowest threshold, and sklearn's final point precision 1, recall 0); recall
    stays non-increasing.

    Args:
        y_true: (n,) true labels ``0..C-1``.
        proba: (n, C) class scores.
        n_classes: C.
        max_points: the most points kept per curve (>= 2).

    Returns:
        ``{label: (precision, recall)}`` keyed by the 1-based label, float32 arrays
        of equal length; classes with no sample in y_true are left out.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2 (both end points are kept), got {max_points}")
    yt = _check_labels(y_true, n_classes, "y_true")
    scores = _check_proba(proba, yt.size, n_classes)
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in range(n_classes):
        positive = yt == k
        if not positive.any():
            continue
        with _quiet():
            precision, recall, _ = skm.precision_recall_curve(
                positive, scores[:, k], drop_intermediate=True
            )
        keep = _even_indices(precision.size, max_points)
        curves[k + 1] = (
            precision[keep].astype(np.float32),
            recall[keep].astype(np.float32),
        )
    return curves


#: Resamples and level of the test-set bootstrap (:func:`bootstrap_intervals`).
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.95


def bootstrap_intervals(
    confusion_matrix: Any, seed: int = 0, n_resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, float | None]:
    """Percentile bootstrap 95 % intervals of OA, AA and kappa over the test pixels.

    The test pixels are resampled with replacement (``scipy.stats.bootstrap``,
    ``method="percentile"``, vectorised in batches): the interval is the spread of the
    figure over other draws of a test set of the same size from the same population,
    for this one trained model. OA, AA and kappa depend on the pixels only through
    their (truth, prediction) pairs, so the pixels are rebuilt from the confusion
    matrix (one code ``truth * C + prediction`` per pixel, in code order): the same
    matrix and seed give the same interval, at the trial and from a stored trial's
    confusion. AA is the mean recall over the classes present in a resample.

    Args:
        confusion_matrix: (C, C) counts (rows: truth, columns: prediction).
        seed: the seed of the resampling (a trial uses its own seed).
        n_resamples: resamples (1,000).

    Returns:
        ``{"oa_ci_low", "oa_ci_high", "aa_ci_low", "aa_ci_high", "kappa_ci_low",
        "kappa_ci_high"}`` (:data:`~harness.metric_table.CI_METRICS`); every value is
        None for an empty matrix, and kappa's ends are None where kappa is undefined
        (one class in truth and prediction).
    """
    from scipy import stats

    cm = np.asarray(confusion_matrix, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or (cm < 0).any():
        raise ValueError(f"confusion_matrix must be a square count matrix, got shape {cm.shape}")
    names = metric_table.metric_names(computed_by=metric_table.BOOTSTRAP)
    c = cm.shape[0]
    if cm.sum() == 0:
        return dict.fromkeys(names, None)
    codes = np.repeat(np.arange(c * c), cm.ravel())

    def statistic(sample: np.ndarray, axis: int = -1) -> np.ndarray:
        sample = np.moveaxis(sample, axis, -1)
        lead = sample.shape[:-1]
        flat = sample.reshape(-1, sample.shape[-1])
        m = flat.shape[0]
        offsets = (np.arange(m) * (c * c))[:, None]
        counts = np.bincount((flat + offsets).ravel(), minlength=m * c * c)
        mats = counts.reshape(m, c, c).astype(np.float64)
        n = mats.sum(axis=(1, 2))
        diag = np.diagonal(mats, axis1=1, axis2=2)
        truth, pred = mats.sum(axis=2), mats.sum(axis=1)
        oa = diag.sum(axis=1) / n
        present = truth > 0
        aa = np.where(present, diag / np.maximum(truth, 1), 0).sum(axis=1) / present.sum(axis=1)
        chance = (truth * pred).sum(axis=1) / n**2
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = np.where(chance < 1, (oa - chance) / (1 - chance), np.nan)
        return np.stack([oa, aa, kappa]).reshape(3, *lead)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # kappa undefined in some resample
        result = stats.bootstrap(
            (codes,),
            statistic,
            n_resamples=n_resamples,
            confidence_level=BOOTSTRAP_LEVEL,
            method="percentile",
            vectorized=True,
            batch=max(1, 2_000_000 // codes.size),
            rng=np.random.default_rng(np.random.SeedSequence([int(seed), 0xB007])),
        )
    ends = []
    for k in range(3):
        ends += [result.confidence_interval.low[k], result.confidence_interval.high[k]]
    values = [float(v) if np.isfinite(v) else None for v in ends]
    out = dict(zip(names, values, strict=True))
    check_computed(out, metric_table.BOOTSTRAP)
    return out


def entropy(proba: Any) -> np.ndarray:
    """Prediction entropy in nats of each row of class probabilities.

    ``-sum_k p_k log p_k`` with ``0 log 0 = 0`` (``scipy.special.entr``); tiny
    negative values (floating-point noise) are clipped to 0. Rows are not
    renormalised.

    Args:
        proba: (..., C) probabilities (any float dtype).

    Returns:
        (...) float64 entropies: ``log C`` for a uniform row, 0 for a one-hot row.
    """
    from scipy.special import entr

    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, None)
    return entr(p).sum(axis=-1)


def evaluate(
    y_true: Any,
    proba: Any,
    n_classes: int,
    class_names: Sequence[str],
    embeddings: Any | None = None,
    seed: int = 0,
    tsne_max: int = 2000,
) -> dict[str, Any]:
    """Everything the trial stores about its test set, from true labels and scores.

    The prediction is ``argmax(proba, axis=1)``.

    Args:
        y_true: (n,) true labels ``0..C-1``.
        proba: (n, C) class probabilities.
        n_classes: C.
        class_names: C names, in label order.
        embeddings: (n, d) learned features of the same samples, or None.
        seed: seed of the t-SNE subsample and of the t-SNE.
        tsne_max: the most samples projected by t-SNE (a stratified subsample);
            0 skips the t-SNE.

    Returns:
        A dict with ``metrics`` (:func:`classification_metrics` and
        :func:`collapse_metrics`), ``per_class``
        (:func:`per_class_metrics`), ``confusion`` (:func:`confusion`),
        ``pr_curves`` (:func:`pr_curves`), ``centroid_distance``
        (:func:`centroid_distance` over *all* test embeddings; None without
        embeddings), ``silhouette`` (:func:`silhouette` of the same stratified
        subsample the t-SNE projects; None without embeddings), ``intervals``
        (:func:`bootstrap_intervals` of the confusion matrix, seeded by ``seed``),
        ``embedding_2d`` ((m, 2) float32 :func:`tsne_2d` of the
        :func:`stratified_subsample` of the embeddings) and ``embedding_labels``
        ((m,) int16 1-based *true* labels of those samples); the last two are None
        without embeddings or with ``tsne_max=0``.
    """
    yt = _check_labels(y_true, n_classes, "y_true")
    scores = _check_proba(proba, yt.size, n_classes)
    if yt.size == 0:
        raise ValueError("evaluate needs at least one test sample, got none")
    y_pred = scores.argmax(axis=1)
    emb = None
    if embeddings is not None:
        emb = np.asarray(embeddings)
        if emb.ndim != 2 or emb.shape[0] != yt.size:
            raise ValueError(
                f"embeddings must be (n, d) with n = len(y_true) = {yt.size}, got {emb.shape}"
            )
    embedding_2d = embedding_labels = None
    if emb is not None and tsne_max > 0:
        idx = stratified_subsample(yt, tsne_max, seed)
        embedding_2d = tsne_2d(emb[idx], seed)
        embedding_labels = (yt[idx] + 1).astype(np.int16)
    matrix = confusion(yt, y_pred, n_classes)
    return {
        "metrics": {
            **classification_metrics(yt, y_pred, n_classes),
            **collapse_metrics(yt, y_pred, n_classes),
        },
        "intervals": bootstrap_intervals(matrix, seed),
        "per_class": per_class_metrics(yt, y_pred, scores, n_classes, class_names),
        "confusion": matrix,
        "pr_curves": pr_curves(yt, scores, n_classes),
        "centroid_distance": centroid_distance(emb, yt),
        "silhouette": silhouette(emb, yt, seed, tsne_max or 2000),
        "embedding_2d": embedding_2d,
        "embedding_labels": embedding_labels,
    }
