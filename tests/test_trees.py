"""Random Forest and XGBoost (models/trees.py): accuracy, early stopping, class columns, checks.

The accuracy tests use a 72 x 72 crop of the Indian Pines surrogate (seed 0; 11
of the 16 classes occur in it), the paper split (72/8/20, split seed 0) and
every 5th band of the raw spectra (40 of 200, to keep XGBoost fast on two shared
cores). Everything is seeded, so the accuracies are fixed numbers; measured when
the test was written: RF (50 trees) 75.1 %, XGBoost (depth 4, lr 0.3, early
stopping 10) 76.3 %, against a majority-class rate of 26.9 % on the test pixels.
The tests ask for 30 points above the majority rate: far above anything a model
that ignored the spectra could reach, and still ~15 points below what was
measured, which leaves room for library versions to change the trees.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import datasets
import models
from models import HyperparameterError
from models import trees as T

N_CLASSES = 16  # Indian Pines: the crop lacks some classes, their columns must be zero
MARGIN = 0.30


@pytest.fixture(scope="module")
def crop_data(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    crop = scene.crop_to(0, 72, 0, 72)
    train, val, test = datasets.split(crop.gt, "paper", seed=0)
    labels = crop.gt.ravel().astype(np.int64) - 1

    def part(idx):
        return datasets.extract_spectra(crop.cube, idx)[:, ::5], labels[idx]

    return {"train": part(train), "val": part(val), "test": part(test)}


def fitted(name, data, **hparams):
    (xtr, ytr), (xva, yva) = data["train"], data["val"]
    model = models.build_model(name, n_bands=xtr.shape[1], n_classes=N_CLASSES, **hparams)
    return model.fit(xtr, ytr, xva, yva)


@pytest.fixture(scope="module")
def rf(crop_data):
    return fitted("random_forest", crop_data, n_estimators=50, n_jobs=1)


XGB_HP = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.3, "early_stopping_rounds": 10}


@pytest.fixture(scope="module")
def xgb(crop_data):
    return fitted("xgboost", crop_data, n_jobs=1, **XGB_HP)


def majority_rate(y):
    return np.bincount(y).max() / len(y)


@pytest.mark.parametrize("which", ["rf", "xgb"])
def test_trees_beat_the_majority_class_clearly(which, request, crop_data):
    model = request.getfixturevalue(which)
    x, y = crop_data["test"]
    acc = float((model.predict(x) == y).mean())
    base = majority_rate(y)
    assert acc >= base + MARGIN, f"{model.name}: OA {acc:.3f}, majority rate {base:.3f}"
    assert model.fit_info["val_accuracy"] >= majority_rate(crop_data["val"][1]) + MARGIN


@pytest.mark.parametrize("which", ["rf", "xgb"])
def test_every_class_has_a_column_and_absent_ones_are_zero(which, request, crop_data):
    model = request.getfixturevalue(which)
    x, _ = crop_data["test"]
    proba = model.predict_proba(x)
    seen = model.fit_info["classes_seen"]
    absent = model.fit_info["classes_absent"]
    assert proba.shape == (len(x), N_CLASSES) and proba.dtype == np.float64
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-9) and (proba >= 0).all()
    assert absent and sorted(seen + absent) == list(range(N_CLASSES))
    assert (proba[:, absent] == 0).all()
    assert seen == sorted(np.unique(crop_data["train"][1]).tolist())


def test_xgboost_stops_early_and_records_the_best_round(xgb):
    info = xgb.fit_info
    assert info["early_stopped"] and info["rounds_trained"] < XGB_HP["n_estimators"]
    assert info["best_iteration"] + XGB_HP["early_stopping_rounds"] + 1 == info["rounds_trained"]
    k = len(info["classes_seen"])
    assert info["n_trees"] == (info["best_iteration"] + 1) * k  # softprob: K trees a round
    assert xgb.complexity()["n_trees"] == info["n_trees"] and info["val_mlogloss"] > 0
    assert info["val_rows_unseen_class"] == 0


def test_xgboost_stops_early_on_an_easy_synthetic_problem():
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    x = rng.normal(size=(300, 4)).astype(np.float32)
    x[:, 0] += 3 * y  # three well separated classes ...
    flip = rng.random(300) < 0.1  # ... with some label noise, which later rounds overfit
    y = np.where(flip, rng.integers(0, 3, 300), y)
    model = models.build_model(
        "xgboost", n_bands=4, n_classes=3, n_estimators=300, early_stopping_rounds=5, n_jobs=1
    )
    model.fit(x[:200], y[:200], x[200:], y[200:])
    info = model.fit_info
    assert info["early_stopped"] and info["best_iteration"] < 300
    assert info["rounds_trained"] == info["best_iteration"] + 6
    # without a validation set there is no early stopping: every round is trained
    full = models.build_model(
        "xgboost_tiny", n_bands=4, n_classes=3, n_estimators=15, early_stopping_rounds=5
    ).fit(x[:200], y[:200])
    assert full.fit_info["rounds_trained"] == 15 and full.fit_info["best_iteration"] == 14


def test_random_forest_records_its_trees(rf):
    info, cx = rf.fit_info, rf.complexity()
    assert info["n_trees"] == cx["n_trees"] == 50 and info["val_used_for_fitting"] is False
    assert cx["n_nodes"] == sum(e.tree_.node_count for e in rf.estimator.estimators_)
    assert rf.n_parameters() == cx["n_nodes"] and 0 < cx["n_leaves"] < cx["n_nodes"]
    assert rf.embed(np.zeros((2, 40), dtype=np.float32)) is None


@pytest.mark.parametrize("name", ["random_forest_tiny", "xgboost_tiny"])
def test_a_class_missing_from_training_but_present_in_validation(name):
    rng = np.random.default_rng(1)
    y = np.arange(120) % 4
    x = rng.normal(size=(120, 5)).astype(np.float32) + y[:, None]
    train = y[:90] != 2  # class 2 only in the validation rows
    model = models.build_model(name, n_bands=5, n_classes=5, patch_size=1)
    model.fit(x[:90][train], y[:90][train], x[90:], y[90:])
    proba = model.predict_proba(x)
    assert proba.shape == (120, 5) and (proba[:, [2, 4]] == 0).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert model.fit_info["classes_absent"] == [2, 4]
    if name.startswith("xgboost"):
        assert model.fit_info["val_rows_unseen_class"] == int((y[90:] == 2).sum())


@pytest.mark.parametrize("name", ["random_forest_tiny", "xgboost_tiny"])
@pytest.mark.parametrize("classes", [[3], [1, 3]])
def test_one_or_two_training_classes(name, classes):
    rng = np.random.default_rng(2)
    y = np.array(classes * 20)
    x = rng.normal(size=(len(y), 3)).astype(np.float32) + y[:, None]
    model = models.build_model(name, n_bands=3, n_classes=4).fit(x, y, x, y)
    proba = model.predict_proba(x)
    assert proba.shape == (len(y), 4)
    assert (proba[:, [c for c in range(4) if c not in classes]] == 0).all()
    assert (model.predict(x) == y).mean() > 0.9
    if name.startswith("xgboost"):
        assert model.fit_info["constant"] is (len(classes) == 1)


@pytest.mark.parametrize(
    ("name", "hparams"),
    [
        ("random_forest", {"n_estimators": 20, "max_features": 0.5, "n_jobs": 2}),
        ("xgboost", {"n_estimators": 20, "subsample": 0.7, "colsample_bytree": 0.6, "n_jobs": 1}),
    ],
)
def test_same_seed_same_model_other_seed_other_model(name, hparams):
    rng = np.random.default_rng(3)
    y = np.arange(150) % 3
    x = rng.normal(size=(150, 6)).astype(np.float32) + 0.7 * y[:, None]

    def proba(seed):
        m = models.build_model(name, n_bands=6, n_classes=3, seed=seed, **hparams)
        return m.fit(x[:100], y[:100], x[100:], y[100:]).predict_proba(x)

    a, b, c = proba(7), proba(7), proba(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("name", "hparams", "needle"),
    [
        ("random_forest", {"n_estimators": 0}, "n_estimators=0 must be a positive integer"),
        ("xgboost", {"n_estimators": 0}, "n_estimators=0 must be a positive integer"),
        ("xgboost", {"learning_rate": -1}, r"learning_rate=-1 must be a number in \(0, 1\]"),
        ("xgboost", {"subsample": 0.0}, r"subsample=0.0 must be a number in \(0, 1\]"),
        ("xgboost", {"reg_lambda": -0.5}, "reg_lambda=-0.5 must be a finite number >= 0"),
        (
            "random_forest",
            {"max_features": "all"},
            r"max_features='all' must be one of 'sqrt', 'log2', a float in \(0, 1\]",
        ),
        ("random_forest", {"max_features": 1.5}, r"max_features=1.5 must be one of"),
        ("random_forest", {"max_features": True}, r"max_features=True must be one of"),
        ("random_forest", {"max_features": 13}, "max_features=13 exceeds the 12 features"),
        ("random_forest", {"max_depth": 0}, r"max_depth=0 must be .* or None \(no depth limit\)"),
        ("random_forest", {"min_samples_leaf": 0.5}, "min_samples_leaf=0.5 must be a positive"),
        ("random_forest", {"n_jobs": 0}, "n_jobs=0 must be a positive integer .* or -1"),
        ("xgboost", {"seed": -1}, r"seed=-1 must be an integer in 0\.\.4294967295"),
        (
            "xgboost",
            {"early_stopping_rounds": 0},
            r"early_stopping_rounds=0 must be .* or None \(no early stopping\)",
        ),
        ("xgboost", {"device": "tpu"}, "device='tpu' must be one of 'cpu', 'cuda' or 'cuda:<"),
        ("xgboost", {"device": "cuda:x"}, "device='cuda:x' must be one of"),
        (
            "xgboost",
            {"n_estimator": 10},
            r"Unknown XGBoost hyperparameter\(s\) 'n_estimator' \(did you mean 'n_estimators'\?\)"
            r"\. Allowed: n_estimators, max_depth",
        ),
        (
            "random_forest_tiny",
            {"learning_rate": 0.1},
            r"Unknown Random Forest hyperparameter\(s\) 'learning_rate'\. Allowed: n_estimators",
        ),
        ("xgboost_tiny", {"patch_size": 3}, "patch_size=3 must be 1"),
    ],
)
def test_invalid_hyperparameters_name_the_value_and_the_range(name, hparams, needle):
    args = {"n_bands": 12, "n_classes": 6, **hparams}
    with pytest.raises(HyperparameterError, match=needle):
        models.build_model(name, **args)


def test_numpy_scalars_from_a_search_are_accepted():
    model = models.build_model(
        "xgboost", n_bands=4, n_classes=3, n_estimators=np.int64(5), learning_rate=np.float32(0.5)
    )
    assert model.config.n_estimators == 5 and type(model.config.n_estimators) is int


def test_cuda_without_a_gpu_is_refused_with_a_fix():
    if T.cuda_problem("cuda") is None:
        pytest.skip("a GPU is visible to xgboost here")
    with pytest.raises(HyperparameterError) as err:
        models.build_model("xgboost", n_bands=12, n_classes=6, device="cuda")
    msg = str(err.value)
    assert "device='cuda'" in msg and "Fix:" in msg and "device='cpu'" in msg
    assert "no GPU is visible" in msg or "no CUDA support" in msg


def test_cuda_with_a_cpu_only_xgboost_build_is_refused(monkeypatch):
    import xgboost

    monkeypatch.setattr(xgboost, "build_info", lambda: {"USE_CUDA": False})
    T.cuda_problem.cache_clear()
    try:
        with pytest.raises(HyperparameterError, match="has no CUDA support.*Fix: install"):
            models.build_model("xgboost_tiny", n_bands=12, n_classes=6, device="cuda:0")
    finally:
        T.cuda_problem.cache_clear()


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(4)
    y = np.arange(30) % 3
    x = rng.normal(size=(30, 4)).astype(np.float32) + y[:, None]
    return models.build_model("random_forest_tiny", n_bands=4, n_classes=3).fit(x, y), x, y


@pytest.mark.parametrize(
    ("call", "exc", "needle"),
    [
        ("fit_3d", ValueError, r"x_train must be a 2-D array N x T .*got shape \(30, 4, 1\)"),
        ("fit_t", ValueError, "x_train has T=3 features per row but .* n_bands=4"),
        ("fit_nan", ValueError, r"x_train has 1 non-finite value\(s\) \(first: nan at row 2"),
        ("fit_str", TypeError, "x_train must hold real numbers"),
        ("fit_label", ValueError, r"y_train has label\(s\) 3 outside 0\.\.2 .*\(gt - 1\)"),
        ("fit_neg", ValueError, r"y_train has label\(s\) -1 outside"),
        ("fit_float_y", TypeError, "y_train must hold integer labels 0..2; got dtype float64"),
        ("fit_len", ValueError, r"y_train must be a 1-D array of 30 labels; got shape \(29,\)"),
        ("fit_half_val", ValueError, "pass both x_val and y_val, or neither"),
        ("fit_val_t", ValueError, "x_val has T=5 features"),
        ("predict_t", ValueError, "x has T=2 features per row"),
    ],
)
def test_inputs_are_checked_with_clear_errors(small, call, exc, needle):
    model, x, y = small
    fresh = models.build_model("xgboost_tiny", n_bands=4, n_classes=3)
    nan = x.copy()
    nan[2, 1] = np.nan
    calls = {
        "fit_3d": lambda: fresh.fit(x[:, :, None], y),
        "fit_t": lambda: fresh.fit(x[:, :3], y),
        "fit_nan": lambda: fresh.fit(nan, y),
        "fit_str": lambda: fresh.fit(x.astype(str), y),
        "fit_label": lambda: fresh.fit(x, y + 1),
        "fit_neg": lambda: fresh.fit(x, y - 1),
        "fit_float_y": lambda: fresh.fit(x, y.astype(float)),
        "fit_len": lambda: fresh.fit(x, y[:29]),
        "fit_half_val": lambda: fresh.fit(x, y, x),
        "fit_val_t": lambda: fresh.fit(x, y, np.zeros((3, 5)), np.zeros(3, dtype=int)),
        "predict_t": lambda: model.predict_proba(x[:, :2]),
    }
    with pytest.raises(exc, match=needle):
        calls[call]()
    assert fresh.fit_info == {} and fresh.classes_ is None


def test_unfitted_model_and_empty_input(small):
    from sklearn.exceptions import NotFittedError

    model, _, _ = small
    fresh = models.build_model("xgboost_tiny", n_bands=4, n_classes=3)
    with pytest.raises(NotFittedError, match="xgboost_tiny is not fitted yet"):
        fresh.predict_proba(np.zeros((2, 4)))
    with pytest.raises(NotFittedError):
        fresh.n_parameters()
    assert model.predict_proba(np.zeros((0, 4))).shape == (0, 3)
    assert model.predict_proba(np.zeros((2, 4), dtype=np.int16)).shape == (2, 3)


def test_registry_entries_and_recipes():
    for name, family in [
        ("random_forest", "random_forest"),
        ("random_forest_tiny", "random_forest"),
        ("xgboost", "xgboost"),
        ("xgboost_tiny", "xgboost"),
    ]:
        entry = models.get_model_entry(name)
        assert (entry.kind, entry.input, entry.patch_size, entry.family) == (
            "sklearn",
            "spectrum",
            1,
            family,
        )
        assert entry.tiny == name.endswith("_tiny")
        unified, published = entry.recipe("unified"), entry.recipe("published")
        assert (unified.n_components, unified.pca_fit, unified.patch_size) == (30, "scene", 1)
        assert (unified.optimizer, unified.augment, unified.epochs, unified.batch_size) == (
            "sklearn",
            False,
            1,
            1,
        )
        assert (published.n_components, published.scale, published.optimizer) == (
            None,
            "standard",
            "sklearn",
        )
        assert "raw bands" in published.notes.lower()
