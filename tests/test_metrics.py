"""harness.metrics: every score against scikit-learn and against hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from harness import embeddings as E
from harness import metrics as M
from harness.result import METRIC_NAMES


@pytest.fixture
def no_warnings():
    """Turn every warning into an error for the duration of a test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _sklearn_reference(y_true, y_pred) -> dict[str, float]:
    """The metrics computed directly with sklearn (warnings silenced here only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = skm.cohen_kappa_score(y_true, y_pred)
        return {
            "oa": skm.accuracy_score(y_true, y_pred),
            "ba": skm.balanced_accuracy_score(y_true, y_pred),
            "kappa": 0.0 if math.isnan(kappa) else kappa,
            "mcc": skm.matthews_corrcoef(y_true, y_pred),
            "ari": skm.adjusted_rand_score(y_true, y_pred),
            "macro_f1": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
            "aa": skm.recall_score(
                y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0
            ),
        }


def _one_hot(y, n_classes, confidence=0.9):
    proba = np.full((len(y), n_classes), (1 - confidence) / (n_classes - 1))
    proba[np.arange(len(y)), y] = confidence
    return proba


# name, y_true, y_pred, n_classes, hand-computed expected values
HAND_CASES = [
    (
        "perfect",
        [0, 0, 1, 1, 2, 2, 2],
        [0, 0, 1, 1, 2, 2, 2],
        3,
        dict(oa=1, ba=1, kappa=1, mcc=1, ari=1, macro_f1=1, aa=1),
    ),
    (
        # wrong everywhere, but a consistent relabelling: ARI (a clustering index) is 1
        "all_wrong_permuted",
        [0, 0, 1, 1, 2, 2],
        [1, 1, 2, 2, 0, 0],
        3,
        # po = 0, pe = 1/3 -> kappa = -1/2; MCC = (0 - 12) / sqrt(24 * 24) = -1/2
        dict(oa=0, ba=0, kappa=-0.5, mcc=-0.5, ari=1, macro_f1=0, aa=0),
    ),
    (
        "imbalanced_constant",
        [0] * 90 + [1] * 10,
        [0] * 100,
        2,
        # class 0: P = 0.9, R = 1 -> F1 = 18/19; class 1: F1 = 0 -> macro 9/19
        dict(oa=0.9, ba=0.5, kappa=0, mcc=0, ari=0, macro_f1=9 / 19, aa=0.5),
    ),
    (
        # class 3 predicted once but absent from y_true; class 0 half recalled
        "absent_from_truth_predicted",
        [0, 0, 1, 1, 2, 2],
        [0, 3, 1, 1, 2, 2],
        4,
        # BA over the 3 true classes: (1/2 + 1 + 1) / 3; kappa: po = 5/6, pe = 10/36;
        # macro-F1 over {0, 1, 2, 3}: (2/3 + 1 + 1 + 0) / 4
        dict(oa=5 / 6, ba=5 / 6, kappa=10 / 13, ari=None, mcc=None, macro_f1=2 / 3, aa=5 / 6),
    ),
    (
        # a single class, perfectly predicted: kappa and MCC undefined -> 0
        "single_class",
        [1, 1, 1, 1],
        [1, 1, 1, 1],
        3,
        dict(oa=1, ba=1, kappa=0, mcc=0, ari=1, macro_f1=1, aa=1),
    ),
    (
        "single_class_all_wrong",
        [2, 2, 2],
        [0, 0, 0],
        3,
        dict(oa=0, ba=0, kappa=0, mcc=0, ari=1, macro_f1=0, aa=0),
    ),
]


@pytest.mark.parametrize(
    "name, y_true, y_pred, n_classes, expected", HAND_CASES, ids=[c[0] for c in HAND_CASES]
)
def test_classification_metrics_hand_cases(no_warnings, name, y_true, y_pred, n_classes, expected):
    got = M.classification_metrics(np.array(y_true), np.array(y_pred), n_classes)
    assert tuple(got) == METRIC_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in got.values())
    for key, value in expected.items():
        if value is not None:
            assert got[key] == pytest.approx(value, abs=1e-12), key
    reference = _sklearn_reference(np.array(y_true), np.array(y_pred))
    for key in METRIC_NAMES:
        assert got[key] == pytest.approx(reference[key], abs=1e-12), key
    assert got["aa"] == pytest.approx(got["ba"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn_random(no_warnings, seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 6, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 6, 300))
    got = M.classification_metrics(y_true, y_pred, 6)
    reference = _sklearn_reference(y_true, y_pred)
    for key in METRIC_NAMES:
        assert got[key] == pytest.approx(reference[key], abs=1e-12), key


def test_classification_metrics_all_wrong_not_permutation(no_warnings):
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([1, 2, 0, 2, 0, 1])
    got = M.classification_metrics(y_true, y_pred, 3)
    assert got["oa"] == got["ba"] == got["aa"] == got["macro_f1"] == 0.0
    assert got["kappa"] == pytest.approx(-0.5)  # po = 0, pe = 1/3
    assert got["ari"] == pytest.approx(skm.adjusted_rand_score(y_true, y_pred))
    assert got["ari"] < 0.5


def test_classification_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="outside 0..2"):
        M.classification_metrics([0, 1, 3], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="differ in length"):
        M.classification_metrics([0, 1], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="at least one sample"):
        M.classification_metrics([], [], 3)
    with pytest.raises(ValueError, match="0-based"):
        M.classification_metrics([-1, 0], [0, 0], 3)


def test_confusion_shape_and_content(no_warnings):
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    cm = M.confusion(y_true, y_pred, 4)
    expected = np.array([[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(
        cm, skm.confusion_matrix(y_true, y_pred, labels=np.arange(4)).astype(np.int64)
    )
    single = M.confusion(np.array([1, 1]), np.array([1, 1]), 3)
    np.testing.assert_array_equal(single, [[0, 0, 0], [0, 2, 0], [0, 0, 0]])
    assert M.confusion(np.array([], int), np.array([], int), 2).shape == (2, 2)


def test_per_class_hand_values(no_warnings):
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    proba = _one_hot(y_pred, 3)
    rows = M.per_class_metrics(y_true, y_pred, proba, 3, ["a", "b", "c"])
    assert [r["label"] for r in rows] == [1, 2, 3]
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    # class 0: predicted at 0 and 5 -> P = 1/2, R = 1/2; class 1: P = 2/3, R = 1; class 2: P = 1, R = 1/2
    assert [r["precision"] for r in rows] == pytest.approx([0.5, 2 / 3, 1.0])
    assert [r["recall"] for r in rows] == pytest.approx([0.5, 1.0, 0.5])
    assert [r["f1"] for r in rows] == pytest.approx([0.5, 0.8, 2 / 3])
    assert [r["support"] for r in rows] == [2, 2, 2]
    for k, row in enumerate(rows):
        assert row["ap"] == pytest.approx(skm.average_precision_score(y_true == k, proba[:, k]))


def test_average_precision_hand_value(no_warnings):
    # ranked: + - + -  -> AP = 0.5 * 1 + 0.5 * 2/3 = 5/6
    y_true = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    proba = np.stack([1 - scores, scores], axis=1)
    rows = M.per_class_metrics(y_true, (scores > 0.5).astype(int), proba, 2, ["n", "p"])
    assert rows[1]["ap"] == pytest.approx(5 / 6)
    assert rows[1]["ap"] == pytest.approx(skm.average_precision_score(y_true, scores))


def test_per_class_class_absent_from_truth(no_warnings):
    """C = 4, labels 0..2 only: a row per class; the absent one has support 0, AP None."""
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 2, 2])
    proba = _one_hot(y_pred, 4)
    rows = M.per_class_metrics(y_true, y_pred, proba, 4, ["a", "b", "c", "d"])
    assert len(rows) == 4
    assert rows[3] == {
        "label": 4,
        "name": "d",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "ap": None,
        "support": 0,
    }
    assert all(r["ap"] is not None for r in rows[:3])
    metrics = M.classification_metrics(y_true, y_pred, 4)
    assert all(math.isfinite(v) for v in metrics.values())
    assert sorted(M.pr_curves(y_true, proba, 4)) == [1, 2, 3]


def test_per_class_class_absent_from_predictions(no_warnings):
    y_true = np.array([0] * 9 + [1])
    y_pred = np.zeros(10, dtype=int)
    rows = M.per_class_metrics(y_true, y_pred, _one_hot(y_pred, 2), 2, ["x", "y"])
    assert rows[1]["precision"] == rows[1]["recall"] == rows[1]["f1"] == 0.0
    assert rows[1]["support"] == 1
    assert rows[0]["f1"] == pytest.approx(18 / 19)


def test_per_class_rejects_wrong_names_or_proba():
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="class_names"):
        M.per_class_metrics(y, y, _one_hot(y, 2), 2, ["only one"])
    with pytest.raises(ValueError, match="proba must have shape"):
        M.per_class_metrics(y, y, np.ones((2, 3)) / 3, 2, ["a", "b"])


def test_pr_curves_small_equal_sklearn(no_warnings):
    y_true = np.array([0, 1, 1, 0, 2, 2, 1])
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=7)
    curves = M.pr_curves(y_true, proba, 3)
    assert sorted(curves) == [1, 2, 3]
    for k in range(3):
        p, r, _ = skm.precision_recall_curve(y_true == k, proba[:, k], drop_intermediate=True)
        precision, recall = curves[k + 1]
        assert precision.dtype == recall.dtype == np.float32
        np.testing.assert_allclose(precision, p, rtol=1e-6)
        np.testing.assert_allclose(recall, r, rtol=1e-6)


@pytest.mark.parametrize("max_points", [2, 17, 200])
def test_pr_curves_downsampling(no_warnings, max_points):
    rng = np.random.default_rng(1)
    n = 4000
    y_true = rng.integers(0, 2, n)
    proba1 = np.clip(0.3 * y_true + rng.random(n) * 0.7, 0, 1)
    proba = np.stack([1 - proba1, proba1], axis=1)
    full_p, full_r, _ = skm.precision_recall_curve(y_true == 1, proba1, drop_intermediate=True)
    assert full_p.size > 200  # the case actually down-samples
    precision, recall = M.pr_curves(y_true, proba, 2, max_points=max_points)[2]
    assert precision.size == recall.size <= max_points
    assert precision.size == max_points  # evenly spaced, no duplicates lost here
    # both ends kept
    assert (precision[0], recall[0]) == (np.float32(full_p[0]), np.float32(full_r[0]))
    assert (precision[-1], recall[-1]) == (np.float32(1.0), np.float32(0.0))
    # recall still non-increasing, and every kept point lies on the full curve
    assert np.all(np.diff(recall) <= 0)
    full = set(
        zip(full_p.astype(np.float32).tolist(), full_r.astype(np.float32).tolist(), strict=True)
    )
    assert set(zip(precision.tolist(), recall.tolist(), strict=True)) <= full


def test_pr_curves_rejects_one_point():
    with pytest.raises(ValueError, match="max_points"):
        M.pr_curves(np.array([0, 1]), np.eye(2), 2, max_points=1)


def _triangle_embeddings(side: float, extra_dims: int = 0):
    centroids = np.array([[0.0, 0.0], [side, 0.0], [side / 2, side * math.sqrt(3) / 2]])
    offsets = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [0.0, -0.5]])  # mean zero
    emb = np.concatenate([c + offsets for c in centroids])
    emb = np.hstack([emb, np.zeros((len(emb), extra_dims))])
    return emb, np.repeat([0, 1, 2], len(offsets))


def test_centroid_distance_equilateral_triangle():
    emb, y = _triangle_embeddings(side=2.0, extra_dims=5)
    assert E.centroid_distance(emb, y) == pytest.approx(2.0)
    # shuffled rows and non-contiguous labels do not matter
    perm = np.random.default_rng(0).permutation(len(y))
    assert E.centroid_distance(emb[perm], (y * 7)[perm]) == pytest.approx(2.0)


def test_centroid_distance_3_4_5_triangle_and_none():
    emb = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [0.0, 4.0]])
    y = np.array([0, 0, 1, 2, 2])
    assert E.centroid_distance(emb, y) == pytest.approx((3 + 4 + 5) / 3)
    assert E.centroid_distance(None, y) is None
    assert E.centroid_distance(emb, np.zeros(5, int)) is None
    with pytest.raises(ValueError, match="embeddings"):
        E.centroid_distance(emb[:3], y)


def test_stratified_subsample_proportions_and_determinism():
    counts = [500, 300, 200, 5, 1]
    y = np.repeat(np.arange(5), counts)
    y = y[np.random.default_rng(3).permutation(len(y))]
    idx = E.stratified_subsample(y, 100, seed=0)
    assert idx.dtype == np.int64 and idx.size == 100
    assert np.all(np.diff(idx) > 0)  # sorted, unique
    got = np.bincount(y[idx], minlength=5)
    # quotas 49.70, 29.82, 19.88, 0.50, 0.10 -> floors 49, 29, 19 and the minimum one each
    # (99), the last sample to the largest remainder (class 2)
    np.testing.assert_array_equal(got, [49, 29, 20, 1, 1])
    quota = 100 * np.array(counts) / sum(counts)
    assert np.all(np.abs(got - quota) <= 1)
    np.testing.assert_array_equal(idx, E.stratified_subsample(y, 100, seed=0))
    assert not np.array_equal(idx, E.stratified_subsample(y, 100, seed=1))


def test_stratified_subsample_minimum_taken_from_largest():
    # quotas 1.6, 0.2, 0.2 -> floors 1, 0, 0 -> minimum one each -> 3 = max_n exactly
    y = np.repeat([0, 1, 2], [80, 10, 10])
    idx = E.stratified_subsample(y, 3, seed=0)
    np.testing.assert_array_equal(np.bincount(y[idx]), [1, 1, 1])
    # many tiny classes force giving back from the big one
    y = np.repeat(np.arange(6), [95, 1, 1, 1, 1, 1])
    idx = E.stratified_subsample(y, 10, seed=0)
    np.testing.assert_array_equal(np.bincount(y[idx]), [5, 1, 1, 1, 1, 1])


def test_stratified_subsample_small_and_errors():
    y = np.array([0, 1, 1, 2])
    np.testing.assert_array_equal(E.stratified_subsample(y, 10, seed=0), np.arange(4))
    with pytest.raises(ValueError, match="max_n=2"):
        E.stratified_subsample(y, 2, seed=0)


def _blobs(n_per_class=20, n_classes=3, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10, size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.normal(size=(len(y), dim)), y


def test_tsne_shape_and_determinism(no_warnings):
    emb, _ = _blobs()
    a = E.tsne_2d(emb, seed=3)
    b = E.tsne_2d(emb, seed=3)
    assert a.shape == (60, 2) and a.dtype == np.float32
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)


def test_tsne_tiny_inputs(no_warnings):
    emb, _ = _blobs(n_per_class=1, n_classes=3)
    for n in range(4):
        out = E.tsne_2d(emb[:n], seed=0)
        assert out.shape == (n, 2) and out.dtype == np.float32
        np.testing.assert_array_equal(out, E.tsne_2d(emb[:n], seed=5))  # PCA: seed-free
    np.testing.assert_array_equal(E.tsne_2d(emb[:1], seed=0), np.zeros((1, 2)))
    two = E.tsne_2d(emb[:2], seed=0)
    assert np.all(two[:, 1] == 0)
    assert abs(two[0, 0] - two[1, 0]) == pytest.approx(np.linalg.norm(emb[0] - emb[1]), rel=1e-5)
    # just above the PCA fallback, with one feature: t-SNE with a clipped perplexity
    out = E.tsne_2d(np.arange(5.0)[:, None], seed=0, max_iter=250)
    assert out.shape == (5, 2) and np.all(np.isfinite(out))


def test_entropy(no_warnings):
    for c in (2, 5, 16):
        assert M.entropy(np.full((3, c), 1.0 / c)) == pytest.approx(np.full(3, math.log(c)))
    np.testing.assert_array_equal(M.entropy(np.eye(4)), np.zeros(4))
    proba = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=np.float16)
    got = M.entropy(proba)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, stats.entropy(proba.astype(np.float64), axis=1), rtol=1e-12)
    assert got[0] == pytest.approx(math.log(2))
    assert M.entropy(np.ones((2, 3, 4)) / 4).shape == (2, 3)


def test_evaluate_without_embeddings(no_warnings):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 50)
    proba = rng.dirichlet(np.ones(4), size=50)  # C = 4, class 3 absent from y
    out = M.evaluate(y, proba, 4, ["a", "b", "c", "d"])
    y_pred = proba.argmax(1)
    assert out["metrics"] == {
        **M.classification_metrics(y, y_pred, 4),
        **M.collapse_metrics(y, y_pred, 4),
    }
    assert out["per_class"] == M.per_class_metrics(y, y_pred, proba, 4, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(out["confusion"], M.confusion(y, y_pred, 4))
    assert sorted(out["pr_curves"]) == [1, 2, 3]
    assert out["centroid_distance"] is None
    assert out["embedding_2d"] is None and out["embedding_labels"] is None


def test_evaluate_with_embeddings(no_warnings):
    emb, y = _blobs(n_per_class=30, n_classes=3)
    proba = _one_hot(y, 3)
    out = M.evaluate(y, proba, 3, ["a", "b", "c"], embeddings=emb, seed=1, tsne_max=45)
    assert out["metrics"]["oa"] == 1.0 and out["metrics"]["ari"] == 1.0
    assert out["centroid_distance"] == pytest.approx(E.centroid_distance(emb, y))
    assert out["embedding_2d"].shape == (45, 2) and out["embedding_2d"].dtype == np.float32
    labels = out["embedding_labels"]
    assert labels.dtype == np.int16
    np.testing.assert_array_equal(np.bincount(labels), [0, 15, 15, 15])  # 1-based
    idx = E.stratified_subsample(y, 45, seed=1)
    np.testing.assert_array_equal(labels, y[idx] + 1)
    skipped = M.evaluate(y, proba, 3, ["a", "b", "c"], embeddings=emb, tsne_max=0)
    assert skipped["embedding_2d"] is None and skipped["centroid_distance"] is not None
    with pytest.raises(ValueError, match="embeddings"):
        M.evaluate(y, proba, 3, ["a", "b", "c"], embeddings=emb[:10])


# --------------------------------------------------------------------------- one class


def test_collapse_metrics_and_the_one_class_note():
    from harness.metrics import collapse_metrics, one_class_note

    y = np.array([0] * 30 + [1] * 50 + [2] * 20)
    constant = collapse_metrics(y, np.ones_like(y), 3)
    assert constant == {"majority_rate": 0.5, "top_prediction_share": 1.0}
    assert one_class_note(0.5, **constant) == "predicts one class"
    # varied predictions, but no better than always saying "1"
    weak = np.array([1, 0, 2, 1] * 25)
    assert one_class_note(0.53, 0.5, collapse_metrics(y, weak, 3)["top_prediction_share"]) == (
        "no better than the majority class"
    )
    assert one_class_note(0.9, 0.5, 0.55) is None
    assert one_class_note(None, None, None) is None
    evaluated = M.evaluate(y, np.eye(3)[y], 3, ["a", "b", "c"], tsne_max=0)["metrics"]
    assert evaluated["majority_rate"] == 0.5 and evaluated["top_prediction_share"] == 0.5


def test_run_summary_flags_a_model_that_predicts_one_class(tmp_path, capsys):
    """The terminal summary never prints a collapsed model's OA as a result."""
    from test_store import make_test_spec

    from harness.execute.options import RunSummary
    from harness.result import TrialResult
    from harness.run_output import print_summary
    from harness.store import ResultStore

    with ResultStore(tmp_path / "r.db") as store:
        run = store.start_run("test", "quick", {})
        good = make_test_spec("random_forest")
        bad = make_test_spec("claresnet")
        for spec, test in (
            (good, {"oa": 0.91, "majority_rate": 0.3, "top_prediction_share": 0.35}),
            (bad, {"oa": 0.296, "majority_rate": 0.296, "top_prediction_share": 1.0}),
        ):
            store.write(TrialResult(spec=spec, metrics={"test": test}), run)
        print_summary(store, RunSummary(run_id=run, planned=2, skipped=0))
    out = capsys.readouterr().out
    (claresnet,) = [
        line for line in out.splitlines() if line.startswith("indian_pines   claresnet")
    ]
    assert "PREDICTS ONE CLASS (OA 0.296, majority class 0.296: not a result)" in claresnet
    assert "0.2960" not in claresnet
    (forest,) = [line for line in out.splitlines() if "random_forest" in line]
    assert forest.rstrip().endswith("0.9100")


# --------------------------------------------------------------------------- separation


def test_silhouette_is_scale_free_where_the_centroid_distance_is_not():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    emb = np.eye(8)[y] * 3.0 + rng.normal(0, 0.5, (y.size, 8))
    wide = np.concatenate([emb, emb], axis=1) * 40.0  # a wider, larger-scale feature space
    from sklearn.metrics import silhouette_score

    assert E.silhouette(emb, y) == pytest.approx(silhouette_score(emb, y))
    assert E.silhouette(emb * 1000.0, y) == pytest.approx(E.silhouette(emb, y))
    assert E.silhouette(wide, y) == pytest.approx(E.silhouette(emb, y))
    assert E.centroid_distance(wide, y) > 50 * E.centroid_distance(emb, y)
    assert -1.0 <= E.silhouette(rng.normal(size=(200, 8)), y) <= 1.0
    assert E.silhouette(None, y) is None and E.silhouette(emb, np.zeros(200, int)) is None


def test_silhouette_subsamples_large_sets_by_class():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), [3000, 800, 200])
    emb = np.eye(3)[y] + rng.normal(0, 0.3, (y.size, 3))
    idx = E.stratified_subsample(y, 500, 7)
    from sklearn.metrics import silhouette_score

    assert E.silhouette(emb, y, seed=7, max_n=500) == pytest.approx(
        silhouette_score(emb[idx], y[idx])
    )


# --------------------------------------------------------------------------- bootstrap


def _predictions(n: int, accuracy: float, n_classes: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    wrong = (y + rng.integers(1, n_classes, n)) % n_classes
    return y, np.where(rng.random(n) < accuracy, y, wrong)


def test_bootstrap_intervals_cover_the_estimate_with_the_binomial_width():
    y, p = _predictions(4000, 0.9)
    cm = M.confusion(y, p, 5)
    ci = M.bootstrap_intervals(cm, seed=3)
    assert tuple(ci) == (
        "oa_ci_low", "oa_ci_high", "aa_ci_low", "aa_ci_high", "kappa_ci_low", "kappa_ci_high"
    )  # fmt: skip
    scores = M.classification_metrics(y, p, 5)
    for name in ("oa", "aa", "kappa"):
        assert ci[f"{name}_ci_low"] < scores[name] < ci[f"{name}_ci_high"]
    oa = scores["oa"]
    normal_width = 2 * 1.959964 * np.sqrt(oa * (1 - oa) / y.size)
    assert ci["oa_ci_high"] - ci["oa_ci_low"] == pytest.approx(normal_width, rel=0.15)
    # a test set four times larger halves the interval
    y4, p4 = _predictions(16000, 0.9, seed=1)
    ci4 = M.bootstrap_intervals(M.confusion(y4, p4, 5), seed=3)
    ratio = (ci["oa_ci_high"] - ci["oa_ci_low"]) / (ci4["oa_ci_high"] - ci4["oa_ci_low"])
    assert ratio == pytest.approx(2.0, rel=0.2)


def test_bootstrap_intervals_are_seeded_and_depend_on_the_confusion_only():
    y, p = _predictions(1500, 0.8)
    cm = M.confusion(y, p, 5)
    assert M.bootstrap_intervals(cm, seed=1) == M.bootstrap_intervals(cm.copy(), seed=1)
    assert M.bootstrap_intervals(cm, seed=1) != M.bootstrap_intervals(cm, seed=2)
    perm = np.random.default_rng(0).permutation(y.size)  # pixel order does not matter
    assert M.bootstrap_intervals(M.confusion(y[perm], p[perm], 5), seed=1) == (
        M.bootstrap_intervals(cm, seed=1)
    )


def test_bootstrap_intervals_of_degenerate_matrices():
    empty = M.bootstrap_intervals(np.zeros((3, 3), int))
    assert set(empty.values()) == {None}
    one_class = np.zeros((3, 3), int)
    one_class[1, 1] = 40  # one class in truth and prediction: kappa undefined
    ci = M.bootstrap_intervals(one_class)
    assert ci["oa_ci_low"] == ci["oa_ci_high"] == 1.0 and ci["aa_ci_low"] == 1.0
    assert ci["kappa_ci_low"] is None and ci["kappa_ci_high"] is None
    with pytest.raises(ValueError, match="square count matrix"):
        M.bootstrap_intervals(np.ones((2, 3), int))


def test_evaluate_stores_the_intervals_and_the_silhouette():
    y, p = _predictions(600, 0.85)
    emb = np.eye(5)[y] * 2 + np.random.default_rng(0).normal(0, 0.4, (600, 5))
    out = M.evaluate(y, np.eye(5)[p], 5, list("abcde"), embeddings=emb, seed=4, tsne_max=0)
    assert out["intervals"] == M.bootstrap_intervals(out["confusion"], seed=4)
    assert out["silhouette"] == pytest.approx(E.silhouette(emb, y, seed=4))
